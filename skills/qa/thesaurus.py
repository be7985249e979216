"""A small bilingual thesaurus: the words doctors type for a concept, and the library's words.

Two uses, one table:

- **Query expansion** (``expand``): a question says "coumadin", "nursing", "转氨酶", "避光",
  "indicated in"; the approved passages say "warfarin"/"华法林", "breastfeeding"/"哺乳期",
  "肝功能", "贮藏", "Indications". Neither the lexical index nor the topic head knows the
  doctor's word, so the question fell below both the topic head's and the calibrated
  thresholds ("no approved information" for a question the library answers). The library's
  words are appended to what the topic head and the retrievers read (the doctor's own words
  stay; the guardrails read only those).
- **Relevance check** (``subjects_of`` / ``mentions``): some concepts are the *subject* of a
  question — a co-medication, a lab value, a population, a measure. A passage that never
  mentions the subject does not answer the question, however close its topic: "2型糖尿病患者
  血糖控制目标是多少" is not answered by a lipid study's LDL-C results, "noravex with coumadin"
  only by a passage that speaks of warfarin or the INR. Such a question, when no passage
  mentions its subject, gets "no approved information" and the medical-information offer.

Entries are concepts, not phrasings: each lists the surface forms of one thing in both
languages. A question's language picks the words appended (an English question gets English
words only: a Chinese character would make it read as Chinese).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from skills.qa.textutil import normalise


@dataclass(frozen=True)
class Concept:
    name: str
    asked: re.Pattern[str]  # how a doctor says it (normalised text)
    zh: str  # the library's words for it, appended to a Chinese question
    en: str  # ... and to an English one
    # How an approved passage says it; None when the concept is a cue for the question's
    # topic (indication, storage) rather than its subject.
    said: re.Pattern[str] | None = None
    # A question asking for evidence: study summaries answer it first.
    evidence: bool = False


def _c(
    name: str,
    asked: str,
    zh: str,
    en: str,
    said: str | None = None,
    *,
    evidence: bool = False,
) -> Concept:
    return Concept(
        name,
        re.compile(asked),
        zh,
        en,
        re.compile(said) if said is not None else None,
        evidence=evidence,
    )


# Latin words are matched whole (no letter before or after).
_B = r"(?<![a-z])"
_E = r"(?![a-z])"

CONCEPTS: Final[tuple[Concept, ...]] = (
    _c(
        "anticoagulant",
        rf"{_B}(?:coumadin|warfarin|anticoagula\w*|inr|blood thinners?){_E}|华法|香豆素|抗凝",
        "华法林 监测INR",
        "warfarin monitor the INR",
        rf"{_B}(?:warfarin|inr){_E}|华法林",
    ),
    _c(
        "lactation",
        rf"{_B}(?:nursing|breast-?feed\w*|breast ?milk|lactat\w*|human milk){_E}|哺乳|母乳|喂奶",
        "哺乳期",
        "breastfeeding",
        rf"{_B}(?:breast-?feed\w*|lactat\w*|human milk){_E}|哺乳|乳汁",
    ),
    # Checking the liver (not the transaminase rise as an adverse reaction, whose rate the
    # adverse-reaction answer gives).
    _c(
        "liver tests",
        rf"{_B}(?:check|monitor|test|measur)\w*(?: the)? (?:liver|transaminases?|lfts?|alt|ast)"
        rf"|{_B}(?:liver (?:function|enzyme) tests?|lfts?){_E}"
        r"|(?:查|检查|检测|监测|复查|测)(?:一下)?(?:转氨酶|肝酶|肝功)|肝功能检查|转氨酶检查",
        "肝功能",
        "liver function",
        rf"{_B}(?:transaminases?|liver|hepatic){_E}|转氨酶|肝功能|肝病",
    ),
    _c(
        "hepatic class",
        rf"{_B}child[- ]?pugh{_E}",
        "肝功能不全",
        "hepatic impairment",
    ),
    _c(
        "elderly",
        rf"{_B}(?:elderly|geriatric|older (?:adults?|patients?|people)){_E}|老年|老人|高龄",
        "老年患者",
        "elderly patients",
        rf"{_B}(?:elderly|geriatric){_E}|老年|高龄",
    ),
    _c(
        "blood glucose",
        rf"{_B}(?:glucose|blood sugar|hba1c|a1c|glycaemic|glycemic){_E}|血糖|糖化",
        "血糖",
        "blood glucose",
        rf"{_B}(?:glucose|hba1c|glyc(?:a)?emic){_E}|血糖|糖化",
    ),
    _c(
        "blood pressure",
        rf"{_B}blood pressure{_E}|血压(?:值|目标|控制)",
        "血压",
        "blood pressure",
        rf"{_B}blood pressure{_E}|血压",
    ),
    # A treatment target is answered only by a passage that states one (a value), not by
    # one that mentions "the LDL-C goal" or a study's attainment rate.
    _c(
        "treatment target",
        rf"{_B}(?:targets?|goals?){_E}(?! dose)|目标|(?:要|应|应该|需要|需)(?:降|控制)(?:到|至|在)",
        "目标",
        "target",
        rf"(?:{_B}(?:targets?|goals?){_E}|目标)[^。.;；]*?\d(?:\.\d+)?\s*(?:mmol|mg/dl)"
        rf"|(?:<|＜|≤|低于|{_B}below{_E})\s*\d+(?:\.\d+)?\s*(?:mmol|mg/dl)",
    ),
    # A dose asked as an amount is answered by a passage that states one ("take one tablet as
    # prescribed" does not say how high the dose may go).
    _c(
        "dose amount",
        rf"{_B}(?:max(?:imum)? dose|highest dose|top dose|starting dose|dose (?:cap|limit)"
        rf"|upper limit|ceiling|how many mg){_E}"
        r"|最大剂量|最高剂量|起始剂量|最多(?:吃|服|用|能吃|可以吃)|上限|封顶|几\s*(?:mg|毫克)"
        r"|多少\s*(?:mg|毫克)",
        "剂量",
        "dose",
        r"\d+(?:\.\d+)?\s*(?:mg|毫克)",
    ),
    _c(
        "hypersensitivity",
        rf"{_B}(?:allerg\w*|hypersensitiv\w*|anaphyla\w*){_E}|过敏",
        "过敏反应",
        "hypersensitivity reactions",
        rf"{_B}(?:allerg\w*|hypersensitiv\w*|anaphyla\w*){_E}|过敏",
    ),
    _c(
        "triglycerides",
        rf"{_B}(?:triglycerides?|trigs){_E}|甘油三[酯脂]",
        "甘油三酯 triglycerides",
        "triglycerides",
        rf"{_B}triglycerides?{_E}|甘油三酯",
    ),
    _c(
        "missed dose",
        rf"{_B}(?:miss(?:ed)?|forg[eo]t\w*|skipp?(?:ed)?)(?: to take)?(?: a| the| one| his| her)?"
        rf" (?:dose|pill|tablet){_E}"
        r"|忘(?:记|了)?(?:吃|服)|漏(?:服|吃)|少吃了?一(?:次|顿)",
        "漏服",
        "missed dose",
    ),
    _c(
        "overdose",
        rf"{_B}(?:overdos\w*|too many (?:tablets|pills)){_E}|过量|吃多了|超量|多吃了",
        "药物过量",
        "overdose",
    ),
    _c(
        "storage",
        rf"{_B}(?:store[ds]?|storage|storing|fridge|refrigerat\w*|room temperature|"
        rf"(?:away from|protect\w* from) (?:light|moisture)){_E}"
        r"|避光|防潮|冰箱|冷藏|存放|保存|贮藏|贮存|室温",
        "贮藏 保存",
        "storage",
    ),
    _c(
        "indication",
        rf"{_B}(?:indicat\w*|(?:approved|used|licen[cs]ed) for|(?:approved|licen[cs]ed) uses?"
        rf"|licen[cs]ed){_E}|what'?s \w+ for\b"
        r"|治什么|适应症|适应证|用于什么|用来治|干什么用",
        "适应症",
        "indications",
    ),
    _c(
        "mixed dyslipidaemia",
        rf"{_B}mixed (?:dyslipid|hyperlipid)\w*|混合型血脂异常|混合性血脂异常|混合型高脂血症"
        r"|高甘油三酯|甘油三酯高",
        "混合型血脂异常 mixed dyslipidaemia",
        "mixed dyslipidaemia",
    ),
    _c(
        "chinese patients",
        rf"{_B}(?:in china|chinese (?:patients|population|people|subjects)){_E}"
        r"|中国(?:人|患者|人群)|国人|华人",
        "中国患者",
        "Chinese patients",
    ),
    _c(
        "evidence",
        # ... and the parameters only a study reports (exposure, half-life)
        rf"{_B}(?:data|evidence|stud(?:y|ies)|trials?|pharmacokinetics?|pk|auc|cmax|exposure"
        rf"|half-?life){_E}|研究|数据|试验|证据|药代|药动学|暴露量|半衰期",
        "",
        "",
        evidence=True,
    ),
)


def concepts_in(text: str) -> tuple[Concept, ...]:
    """The concepts a question names."""
    norm = normalise(text)
    return tuple(concept for concept in CONCEPTS if concept.asked.search(norm))


def expand(text: str, chinese: bool) -> str:
    """``text`` with the library's words for each concept it names appended (see module)."""
    words = [word for c in concepts_in(text) if (word := c.zh if chinese else c.en)]
    return " ".join([text, *words]) if words else text


def translate(text: str, chinese: bool) -> str:
    """``text`` with each concept's words replaced by the library's words for it: what the
    share of a question's words a passage holds is counted on ("coumadin" is covered by a
    passage that says "warfarin"; "data" asks for a kind of passage, not for a word in it)."""
    out = normalise(text)
    for concept in concepts_in(out):
        out = concept.asked.sub(f" {concept.zh if chinese else concept.en} ", out)
    return out


def subjects_of(text: str) -> tuple[Concept, ...]:
    """The concepts a passage must mention to answer the question (see module)."""
    return tuple(c for c in concepts_in(text) if c.said is not None)


def mentions(passage: str, subjects: tuple[Concept, ...]) -> bool:
    """Whether ``passage`` speaks of every one of ``subjects``."""
    norm = normalise(passage)
    return all(c.said is not None and c.said.search(norm) for c in subjects)


def asks_for_evidence(text: str) -> bool:
    """Whether a question asks for study data ("… data", "…的研究")."""
    return any(c.evidence for c in concepts_in(text))
