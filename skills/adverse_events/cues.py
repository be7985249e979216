"""Cue lexicon for adverse-event screening, Chinese first, English too.

The lexicon does two jobs. It names the special-situation categories a message touches
(pregnancy, overdose, medication error …), which a statistical classifier cannot do from
a few hundred examples; and it marks the contexts that turn a symptom word into something
that is *not* a report — negation ("没有出现任何不良反应"), hypotheticals ("如果出现…怎么办"),
general questions about a product's known effects ("常见不良反应有哪些"). Its signals are
inputs to the trained classifier (see ``features.py``) and drive the recall rules in
``detector.py``; every match is kept as audit evidence.

The patterns were written by hand for this project (see ``PROVENANCE.md``); none are taken
from the evaluation corpora.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Categories the detector can name, in the order used for output. ``adverse_event`` is the
# plain case; the rest are the special situations PV must receive even without an AE.
CATEGORIES: tuple[str, ...] = (
    "adverse_event",
    "pregnancy",
    "lactation",
    "overdose",
    "abuse",
    "misuse",
    "medication_error",
    "off_label",
    "lack_of_efficacy",
    "occupational_exposure",
    "quality_complaint",
    "interaction",
)

_CJK = re.compile(r"[\u3400-\u9fff]")


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def detect_language(text: str) -> str:
    """``"zh"`` when the message carries at least two CJK characters, else ``"en"``."""
    return "zh" if len(_CJK.findall(text)) >= 2 else "en"


# A patient writing about themselves (forum style) rather than a clinician about a patient.
# "I" as a Roman numeral ("type I", "grade I", "phase I") is not a person.
_FIRST_PERSON = re.compile(
    r"\b((?<!type )(?<!grade )(?<!phase )(?<!class )(?<!stage )(?<!factor )(?<!complex )"
    r"(?<!group )(?<!part )i|i'm|i've|i'd|me|my(?! (patient|pt)s?\b))\b",
    re.IGNORECASE,
)


def register(text: str) -> str:
    """Threshold key: ``"zh"``, ``"en_self"`` (first-person English) or ``"en"``."""
    language = detect_language(text)
    if language == "en" and _FIRST_PERSON.search(text):
        return "en_self"
    return language


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


_NUM = r"[\d一二两三四五六七八九十几好多半整]"

# --- special situations ----------------------------------------------------------------
SPECIAL_CUES: dict[str, re.Pattern[str]] = {
    "pregnancy": _rx(
        r"怀孕|怀上|妊娠|孕期|孕早期|孕中期|孕晚期|早孕|孕\s*\d+\s*周|备孕|受孕|胎儿|流产|"
        r"唇腭裂|出生缺陷|畸形|验出来.{0,3}(怀|阳)",
        r"\bpregnan|\bconceived\b|\btrimester\b|\bfo?etus\b|\bfetal\b|\bbirth defect|\bmiscarr",
    ),
    "lactation": _rx(
        r"哺乳|喂奶|母乳|吃奶|吐奶",
        r"breast-?feed|\blactat|nursing mother|breast milk",
    ),
    "overdose": _rx(
        r"过量|超量|吃多了|多吃了|吞了|误服|偷吃|当糖吃|加倍|两倍|双倍|几倍|整瓶|"
        rf"一次(性)?(吃|服|吞)了?{_NUM}+(片|粒|颗)|{_NUM}+(片|粒|颗)一起|吃成了?一次|重复吃|"
        r"多打了|多喝了|多吃|超过(了)?说明书|最大剂量的",
        r"\boverdos|\btoo much\b|\bdouble dose|\btimes the (prescribed |recommended )?dose|"
        r"\bingested\b|\bswallowed\b.{0,40}\b(pills|tablets|capsules)|\bextra dose",
    ),
    "abuse": _rx(
        r"滥用|上瘾|成瘾|药物依赖|嗨|鼻吸|戒不掉|离不开",
        r"\babus(e|ed|ing)\b|\baddict|\bget(ting)? high\b|\bsnort|\brecreational",
    ),
    "misuse": _rx(
        r"当成.{0,6}(药|吃|用)|当.{0,3}药(在)?吃|拿来.{0,4}(口服|给|用)|外用.{0,8}口服|"
        r"直接口服|掰开嚼|嚼碎|给(他|她)?(老婆|老公|爱人|家里|孩子|老人|朋友).{0,6}(吃|用)",
        r"\bmisus|\b(his|her) (wife|husband|friend|mother|father)'s\b|someone else's|"
        r"\bin (her|his) ears?\b",
    ),
    "medication_error": _rx(
        r"发错|拿错|配错|用错|给错|打错|拨错|输错|搞错|搞反|弄混|看错|写错|配成了|理解成|"
        r"差点|过期|名字太像|静推了|每天都吃|当成每天|两天一次",
        r"\bdispensed\b.{0,40}\binstead\b|\bby mistake\b|\bwrong (dose|drug|patient|strength|"
        r"route|product)|\bmix-?up\b|\bnearly (gave|given)|\bexpired\b|\bmedication error|"
        r"\bweekly\b.{0,30}\bdaily\b",
    ),
    "off_label": _rx(
        r"超说明书|超适应症|说明书(上)?(没有|没写|未|不包括|外)|说明书.{0,4}禁用|是禁用的|"
        r"儿童用法|不在说明书",
        r"\boff-?label\b|\bnot in the (label|smpc)\b|\bunlicensed\b|\bnot approved for\b",
    ),
    "lack_of_efficacy": _rx(
        r"(一点|完全|还是|仍然|依然|根本|都)(没|不)(降|退|效|用|管用|缓解|好转|下来)|没效果|"
        r"没有效果|无效|不管用|没作用|没用|(反而|更)(差|高|重)|还是.{0,8}(发作|阴性|不退|没降|"
        r"\d{3})|上不去|降不下来|控制不住",
        r"\b(did not|didn't|does not|doesn't) work|\bnot working\b|\bno effect\b|\bfailed\b|"
        r"\bineffective\b|\black of (efficacy|effect)|\bseizures have returned|\bunchanged\b",
    ),
    "occupational_exposure": _rx(
        r"配药|配置|分装|溅到|溅进|针头扎|扎到|针刺|吸入了|皮肤接触|手套破|划破手",
        r"\boccupational|\bsplash|\bneedle-?stick|\bwhile preparing",
    ),
    "quality_complaint": _rx(
        r"批号|批次|颜色不一样|变色|空的|絮状物|异物|沉淀|结块|破的|裂了|漏|打不开|推不动|"
        r"少了一板|假药|包装.{0,6}(模糊|破|鼓)|鼓起|气味|黑点|受潮|没有药雾|一根头发|"
        r"摇不匀|发黄",
        r"\blot\b|\bbatch\b|\bparticles?\b|\bcrumbl|\bcrack|\bjammed\b|\bbroke (off)?\b|"
        r"\bcounterfeit|\bfake\b|\bdiscolou?r|\bleak|\bdefect|\bempty capsule",
    ),
    "interaction": _rx(
        r"同时(在)?(吃|服|用)|合用|联用|加用|加了.{0,12}(后|以后)|西柚|喝了酒|喝酒后|"
        r"两种.{0,4}药",
        r"\binteraction|\btogether with\b|\bcombined with\b|\bon warfarin\b|"
        r"\bst john'?s wort\b|\bafter (the )?addition of\b|\b(added|adding)\b.{0,30}\bto\b",
    ),
}

# --- context ---------------------------------------------------------------------------
# A patient (or the writer) took / was given something, then something happened.
EXPOSURE = _rx(
    r"(吃|用|服|打|输|贴|喷|涂|换|加|注射|输注|服用|使用|换用|用药|服药|吃药|打针|输液)"
    r"(了|完|过)?.{0,12}(后|以后|之后|期间|过程中|时)",
    r"自从.{0,10}(吃|用|换)|吃了|用了|打了|输了|服了|吃着|用着",
    r"\bafter (starting|taking|the (first|second|third|last)|each|every|being|receiving|"
    r"initiation|administration)\b|\bsince (starting|going|i started|taking|the dose)|"
    r"\b(on|while on|taking|receiving) (your|the|this|his|her)\b|\bstarted (on|taking)\b|"
    r"\b(induced|associated|related|attributed|secondary|due|owing)\b|\bfollowing\b",
)

# A patient, or the writer speaking of themselves.
PATIENT = _rx(
    r"患者|病人|病患|\bpt\b|老人|孩子|小孩|宝宝|婴儿|小朋友|阿姨|大爷|老太太|老先生|产妇|妈妈|"
    r"家属|护士|药师|药剂师|有个|有一个|有位|一位|一个",
    r"\b(my|a|the|one|our|this) (patient|pt|man|woman|boy|girl|child|infant|nurse)s?\b|"
    r"\bpatients?\b|\b(he|she)\b|\bi('ve| have| had| was| am|'m)?\b|\bmy\b|\bme\b",
)

NEGATION = _rx(
    r"(没有|没|未|无)(出现|发生|发现|见|有)?(任何|什么|明显)?.{0,4}"
    r"(不良反应|副作用|不适|不舒服|异常|问题|过敏|皮疹|低血糖|反应)",
    r"耐受(性)?(很|良|挺|非常)?好|无不适|未见明显|都正常|一直正常|都没问题|没一例|没有一例",
    r"\bno (side effects?|adverse|problems?|issues?|reactions?)\b|\bwithout (any )?(side effects|"
    r"problems|adverse)|\btolerated (it |the drug )?well\b|\b(didn't|did not|haven't|have not|"
    r"hasn't|has not) (notice|had|seen|experienced) any\b|\bno negative effects\b",
)

HYPOTHETICAL = _rx(
    r"如果|要是|假如|万一|假设|一旦|担心|害怕|怕|会不会|是否会|能不能|可不可以|可以.{0,6}吗|"
    r"能否|问.{0,6}(会|能)",
    r"\bif\b|\bin case\b|\bwhat if\b|\bworried\b|\bconcerned\b|\bcould it\b|\bwill it\b|"
    r"\bcan it\b|\bdoes it cause\b|\bhow likely\b|\bwould\b",
)

# Asking about a product's known effects (either a general medical-information question or
# a report that ends with "is that known?").
KNOWN_EFFECT_QUESTION = _rx(
    r"已知|正常吗|常见吗|常见的|是.{0,4}(不良反应|副作用)吗|(跟|和|与)(药|药物)?.{0,4}有关|"
    r"说明书.{0,8}(有|写|提到)|有没有.{0,8}(副作用|不良反应|报道|风险)|发生率|比例|"
    r"(不良反应|副作用).{0,6}(有哪些|是什么|大不大|多吗)|会(不会)?(引起|导致|影响|伤|掉|发胖|"
    r"有)|安全性|毒性|是药(物)?的问题吗|是不是药",
    r"\bknown\b|\bexpected\b|\bcommon\b|\bhow often\b|\bside effects?\b\??$|\bis (this|that|it) "
    r"(normal|listed|documented|related)|\bdoes it cause\b|\bsignal\b|\bin the label\b",
)

# A general question: question words, with no sign that anything happened to anyone.
GENERAL_QUESTION = _rx(
    r"怎么(办|处理|用|吃|算|判断|解释|上报|监测)|如何|吗[?？]?$|呢[?？]?$|什么|哪些|多少|多久|"
    r"是否|能否|可以吗|需要.{0,8}吗|[?？]$",
    # "When" opens a question only before a verb of asking ("when should …"); "When X was
    # added, Y occurred" is case-report narrative.
    r"^(what|how|can|could|is|are|does|do|should|which|where|any)\b|"
    r"^when (should|can|could|do|does|is|are|will|would|to)\b|\?$",
)


# Another patient than the one being reported ("另一位患者", "还有个病人", "another patient").
ANOTHER_PATIENT = _rx(
    r"(另|另外)(一)?(个|位|名|例)?(患者|病人|病例|病患)|还有(一)?(个|位|名|例)(患者|病人|病例)|"
    r"别的(患者|病人)|第二(个|位|名|例)(患者|病人)|新的?病例",
    r"\b(another|a second|a different|one more|other) (patient|pt|case)\b|\bnew case\b",
)


def another_patient(text: str) -> bool:
    """Whether the message tells of another patient than the one being reported."""
    return ANOTHER_PATIENT.search(normalize(text)) is not None


@dataclass(frozen=True)
class CueMatches:
    """Every cue group found in one message, with the phrases that matched."""

    special: dict[str, tuple[str, ...]]
    exposure: tuple[str, ...]
    patient: tuple[str, ...]
    negation: tuple[str, ...]
    hypothetical: tuple[str, ...]
    known_effect_question: tuple[str, ...]
    general_question: tuple[str, ...]

    def evidence(self) -> tuple[str, ...]:
        """The matched phrases worth showing an auditor, de-duplicated, in message order."""
        seen: list[str] = []
        for phrases in (*self.special.values(), self.exposure):
            for phrase in phrases:
                if phrase not in seen:
                    seen.append(phrase)
        return tuple(seen)


def _found(pattern: re.Pattern[str], text: str) -> tuple[str, ...]:
    return tuple(m.group(0).strip() for m in pattern.finditer(text) if m.group(0).strip())


def match_cues(text: str) -> CueMatches:
    """Run every cue group over the normalized ``text``."""
    norm = normalize(text)
    special = {name: hits for name, rx in SPECIAL_CUES.items() if (hits := _found(rx, norm))}
    return CueMatches(
        special=special,
        exposure=_found(EXPOSURE, norm),
        patient=_found(PATIENT, norm),
        negation=_found(NEGATION, norm),
        hypothetical=_found(HYPOTHETICAL, norm),
        known_effect_question=_found(KNOWN_EFFECT_QUESTION, norm),
        general_question=_found(GENERAL_QUESTION, norm),
    )
