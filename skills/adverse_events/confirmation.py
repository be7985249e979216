"""How the doctor's next message is read after the confirmation question, and when the question
is not asked at all.

The question ("您提到的情况是患者用药后发生的吗？…请回复“是”或“不是”") expects a yes or a no. A
message counts as its **answer** only when it is one: it opens with a yes/no word ("是的",
"不是", "没有，只是问问", "对，吃了诺拉维以后", "no, just asking", "yse", "nope") — read with its
negation by ``bot.yesno`` — or it is a short reply ("不知道", "?", "嗯……不太确定"), which is an
unclear answer.
A longer message that opens with neither and asks or requests something ("诺拉维的剂量是多少",
"帮我报名下周的会议", "Is it OK in pregnancy?") is **not an answer**: it is a new question, and
the caller lets it go to its own skill (``NOT_AN_ANSWER``). Anything else — a statement, a
message telling of an event — is an unclear answer: when in doubt, report.

``plainly_asks`` decides the earlier step: a message in the confirmation band is not asked
about when the Q&A classifier is sure it is a question (p ≥ ``QUESTION_SURE``), it asks
something, and it tells of nothing that happened (``HAPPENED``). Such a message goes straight
to its skill (an off-label, advice or injection question gets its category's response).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final

from bot.yesno import YesNo, read_yes_no
from skills.adverse_events.causality import DRUG
from skills.adverse_events.cues import PATIENT, detect_language, match_cues, normalize
from skills.adverse_events.detector import names_a_reaction

# The caller's reading of a message that is not an answer to the question.
NOT_AN_ANSWER: Final = None

# At most this many "units" (a CJK character, a Latin word, any other symbol run) make a reply
# short: a short reply is always an answer, read with its negation.
SHORT_UNITS = 4

# Probability of the Q&A classifier's top, non-small-talk category above which a question that
# tells of nothing that happened is answered without the confirmation question.
QUESTION_SURE = 0.8

# At most this many characters (Chinese) or words (English), with no patient or person named,
# read like a search box entry.
SEARCH_UNITS = 10
SEARCH_WORDS = 6

# What a Q&A classifier says about a message: its top category and that category's probability.
QuestionGauge = Callable[[str], Awaitable[tuple[str, float]]]

# Unsure, although it opens with a negation ("不是很确定", "不记得了", "not really sure").
_UNSURE = re.compile(
    r"不是很(确定|清楚|肯定|了解)|不(太|大)?(记得|清楚|确定|肯定)|没(想好|注意|留意|问)|说不(清|准|好)|"
    r"(?<![a-z])(?:not (?:really |quite |entirely )?(?:sure|certain)|(?:can'?t|don'?t|do not) "
    r"(?:remember|recall|know))(?![a-z])"
)
_UNIT = re.compile(r"[\u3400-\u9fff]|[a-z0-9']+|[^\s\w]+")
_CLAUSE_END = re.compile(r"[，,。.!！;；:：…~～\n]|\s-\s")

# Asking something: a question mark or particle, a question word; in English a question mark,
# an opening question word, "what now" ("The patient is fine", "Can't sleep", "Do not take it"
# ask nothing).
_QUESTION = (
    r"[?？]|吗|呢\s*$|能否|可否|是否|怎么|怎样|如何|多少|什么|哪|几(次|片|粒|毫克|mg|天|周)|"
    r"能不能|可不可以|要不要|行不行|有没有|会不会|请问|想了解|问一?下|问个|咨询|请教|"
    r"多大|多久|多长|该不该|能用不|(该|要|应该).{0,12}还是|咋办|"
    r"(?:^|[,;:] ?)(?:what|how|which|where|when|who|why)(?![a-z])|"
    r"^(?:would|should|could|can|do|does|is|are) (?:you|i|we|it|this|that|they)(?![a-z])|"
    r"(?<![a-z])(?:what (?:now|next|to do|should (?:i|we) do)|a question|wondering)(?![a-z])"
)
# Requesting something of the bot ("帮我…", "please", "tell me").
_REQUEST = (
    r"帮我|给我|发我|我想|我要|麻烦|"
    r"(?<![a-z])(?:please|pls|tell me|send me|i'd like|i would like|i want to|help me|"
    r"sign me up|show me|let me know)(?![a-z])"
)
_ASKS_QUESTION = re.compile(_QUESTION)
_ASKS = re.compile(f"{_QUESTION}|{_REQUEST}")

# After the confirmation question, a message opening with an auxiliary ("can I add …", "is it
# safe …") is a new question too (a statement such as "Can't sleep" is read by ``_UNSURE`` or
# tells of an event).
_ASKS_AUX = re.compile(r"^(?:can|could|should|may|is|are|does|do|would|will)(?![a-z'])")

# Telling of something that happened: an aspect marker after an onset or outcome verb ("出现了",
# "吃了…以后"), a time in the past ("昨天", "上周", "最近"), a stay in hospital; in English a
# person with a past-tense experience verb, "since starting", "made me …".
HAPPENED = re.compile(
    r"(出现|发生|开始|变得|引起|导致|起|长|得|发|肿|疼|痛|晕|吐|拉|升|降|高|低|掉|黄|黑|红)了|"
    r"了.{0,12}(以后|之后|后)|过后|已经|后来|结果|自从|昨天|前天|今天|今早|上周|上个月|这几天|最近|"
    r"一直|送(去|到)?(急诊|医院)|住院|停(了|药)|"
    r"\b(i|he|she|they|we|patient|pt|my \w+)\b.{0,25}\b(had|got|developed|became|felt|started|"
    r"noticed|was|were|went|ended up|broke out|passed out|fainted|gained|lost|stopped|quit|"
    r"complained|presented|died|admitted)\b|\bsince (starting|i started|taking|going on|the dose|"
    r"then)\b|\bever since\b|\b(made|gave|left|kept) (me|him|her)\b|"
    r"\b(i've|i have|he has|she has|he's|she's) (had|been)\b|"
    r"\b(was|were) (admitted|hospitali[sz]ed)"
)


def _units(text: str) -> int:
    return len(_UNIT.findall(text))


def _lead(text: str) -> str:
    """The first clause: up to the first comma, full stop or similar."""
    return _CLAUSE_END.split(text, maxsplit=1)[0].strip()


def _opens_with_answer(lead: str) -> bool:
    """Whether the clause starts with a yes/no word ("是…", "不是…", "没有…", "yes …", "nope")."""
    first = lead.split()[0] if lead.split() else ""
    # A Latin word (or an emoji) leads, or the first two characters of Chinese.
    head = first if first and not re.match(r"[\u3400-\u9fff]", first) else lead[:2]
    if read_yes_no(head) is not YesNo.UNCLEAR:
        return True
    # One yes/no character followed by more words ("是吃了药以后", "对他说了") leads too.
    return read_yes_no(lead[:1]) is not YesNo.UNCLEAR and bool(re.match(r"[是对嗯恩不没否]", lead))


def read_confirmation(text: str) -> YesNo | None:
    """The answer to the confirmation question, or ``NOT_AN_ANSWER`` for a new question."""
    norm = normalize(text)
    if not norm:
        return YesNo.UNCLEAR
    lead = _lead(norm)
    if lead and _opens_with_answer(lead) and not _UNSURE.search(norm):
        answer = read_yes_no(lead)
        if answer is YesNo.NO or (answer is YesNo.YES and read_yes_no(norm) is YesNo.YES):
            return answer
        if answer is YesNo.YES:
            return YesNo.UNCLEAR  # "是的，不过也不确定": a yes with a hedge or a question
    if _units(norm) <= SHORT_UNITS or not (_ASKS.search(norm) or _ASKS_AUX.search(norm)):
        return YesNo.UNCLEAR  # a short reply, or a statement: when in doubt, report
    return NOT_AN_ANSWER


def tells_of_something_that_happened(text: str) -> bool:
    return HAPPENED.search(normalize(text)) is not None


def _search_query(norm: str) -> bool:
    """A few words typed like a search ("诺拉维 肾损伤 剂量", "noravex breastfeeding"), naming no
    patient or person and not ending as a sentence: a question in all but its form. (Case-report
    and forum sentences of that length end with a full stop: "brain fog memory loss.")"""
    limit = SEARCH_UNITS if detect_language(norm) == "zh" else SEARCH_WORDS
    return (
        _units(norm) <= limit
        and not PATIENT.search(norm)
        and not norm.rstrip().endswith((".", "。", "!", "！"))
    )


def reads_like_a_search(text: str) -> bool:
    """A few words typed like a search that tell of nothing that happened (see
    ``_search_query``): a clear score on one is asked about, not a case at once."""
    return _search_query(normalize(text)) and not tells_of_something_that_happened(text)


async def plainly_asks(text: str, gauge: QuestionGauge | None) -> tuple[str, float] | None:
    """The classifier's category and probability when ``text`` is plainly a question that tells
    of nothing that happened (so no confirmation is asked), else None."""
    norm = normalize(text)
    if gauge is None or tells_of_something_that_happened(text):
        return None
    if not (_ASKS.search(norm) or _search_query(norm)):
        return None
    label, probability = await gauge(text)
    if label == "chitchat" or probability < QUESTION_SURE:
        return None
    return label, probability


# Who or what a question is about: a population or condition (renal or hepatic impairment, CKD,
# dialysis, Child-Pugh, CrCl/eGFR, pregnancy or breastfeeding, an age, an indication), with the
# people word that follows it ("肾功能不全患者", "Child-Pugh B级的病人", "dialysis patients"; in
# English only a plural: "a dialysis patient" is someone). Named
# so, it is the question's subject, not an occurrence; it is taken out before the message is
# searched for a reaction ("renal failure" is then no event) or a person.
_POPULATION_ZH = re.compile(
    r"(?:(?:重度|中度|轻度|严重|终末期|慢性)?(?:肾|肝)(?:功能)?(?:不全|损害|损伤|异常|减退|受损|衰竭?|"
    r"病|硬化)|慢性肾脏?病|ckd\s*\d?期?|(?:血液|腹膜)?透析|child[- ]?pugh\s*[abc]?\s*级?|"
    r"(?:肌酐清除率|crcl|egfr)\s*(?:<|>|≤|≥|<=|>=|低于|小于|大于|高于|不到)?\s*\d*|"
    r"(?:喂奶|哺乳期?|母乳喂养)的?(?:妈妈|母亲|女性|妇女)|"
    r"孕妇|孕期|妊娠期?|怀孕期间|备孕|哺乳期?|母乳喂养|喂奶期?|儿童|青少年|未成年人?|老年人?|高龄|"
    r"\d+\s*岁(?:以上|以下)?|(?:家族性|纯合子|杂合子)?高胆固醇血症|高脂血症|高血脂|\bfh\b|糖尿病|"
    r"慢阻肺|冠心病)(?:的)?(?:患者|病人|人群|人|期间|时)?"
)
_POPULATION_EN = re.compile(
    r"(?:(?:severe|moderate|mild|end[- ]stage|chronic)\s+)?(?:renal|kidney|hepatic|liver)\s+"
    r"(?:impairment|disease|failure|insufficiency|dysfunction|injury|damage|function|problems?)|"
    r"\b(?:ckd(?:\s*stage)?\s*\d?|esrd|(?:hemo|haemo|peritoneal\s)?dialysis|"
    r"child[- ]?pugh(?:\s*class)?\s*[abc]?|(?:crcl|egfr|creatinine clearance)"
    r"(?:\s*(?:under|below|over|above|<|>|<=|>=|less than|of))?\s*\d*|pregnan\w*|"
    r"breast[- ]?feed\w*|lactat\w*|nursing mothers?|elderly|older adults|children|child|kids?|"
    r"p(?:a)?ediatric\w*|adolescents?|teen\w*|\d+[- ]?(?:year|yr)s?[- ]?olds?|aged?\s*\d+|"
    r"hefh|hofh|fh|(?:familial\s)?hypercholesterol\w*|hyperlipid\w*|diabet\w*|copd)"
    r"(?:\s+(?:patients|pts|population|women|mothers))?\b"
)
# A person the message is about, after populations are taken out: a patient, a relative, the
# writer as the one who took the medicine. "我" alone is the doctor asking ("我能…吗"); "me" in
# a request ("tell me") is the reader.
_PERSON_ZH = re.compile(
    r"患者|病人|病患|老人|孩子|小孩|宝宝|婴儿|小朋友|阿姨|大爷|老太太|老先生|产妇|妈妈|家属|"
    r"护士|有个|有一个|有位|一位|这位|他|她|我(?:自己|本人)"
)
_PERSON_EN = re.compile(
    r"\b(?:(?:my|a|the|one|our|this|that)\s+(?:man|woman|lady|guy|boy|girl|child|kid|infant|"
    r"baby|nurse)|patient|pt|he|she|him|her|his|i'm|i've|i'd|my|me)\b|"
    r"\bi\s+(?:had|have|got|was|am|feel|felt|took|take|started|stopped)\b"
)
_REQUEST_ME = re.compile(r"\b(?:tell|give|show|send|let)\s+me\b")
# Told, not asked: a medicine taken or given ("吃了", "误服", "took 10 tablets"), a state someone
# has been in ("has been so tired").
_TOLD = re.compile(
    r"(?:吃|服|用|打|喝|注射|输)了|吃多了|多吃了|误服|误用|吃错|用错|"
    r"\b(?:took|taken|ingested|swallowed|overdosed|injected|given|gave|missed|(?:has|have|had|"
    r"'s|'ve) been|feels?|feeling|felt)\b"
)
# Symptoms in plain words that the reaction lexicon leaves to the classifier ("muscle aches
# after noravex, what now?", "腿没劲"), and a time relation to a medicine ("after noravex").
_SYMPTOM = re.compile(
    r"酸|麻|抖|乏力|没劲|无力|累|困|失眠|心悸|心慌|胸闷|气短|脱发|掉头发|黄|黑便|尿|不适|难受|"
    r"\b(?:ach\w*|sore\w*|weak\w*|tired\w*|fatigue\w*|exhaust\w*|numb\w*|tingl\w*|cramp\w*|"
    r"swoll\w*|bruis\w*|insomnia|sleepless\w*|palpitat\w*|headaches?|dark urine|hair loss|"
    r"weight gain|gained|lost|after|since|following)\b"
)
# Special situations a question can be about without anything having happened (asked, not
# told); the others (a quality complaint, misuse, a medication error, lack of efficacy…) are
# told, whatever the form, and stay with the detector's verdict.
_ASKABLE = frozenset(
    {"adverse_event", "pregnancy", "lactation", "overdose", "interaction", "off_label"}
)
# What a query typed without a question asks about: a dose or regimen, data, efficacy, safety,
# use together.
_QUERY_TOPIC = re.compile(
    r"剂量|用量|用法|最大|最多|起始|药代|数据|资料|效果|疗效|合用|联用|一起|同服|安全|相互作用|"
    r"\b(?:dos(?:e|es|ing|age)|max(?:imum)?|starting|regimen|daily|every other day|pk|"
    r"pharmacokinetics?|data|efficacy|safety|interactions?|together|co-?administ\w*)\b"
)
# A medicine named: the sample product (typos too) or another drug.
_DRUGS = re.compile(
    rf"诺拉[维唯为未威伟韦]|noravex|{DRUG.pattern}|"
    r"[\u4e00-\u9fff]{1,3}(?:素|平|汀|林|酮|唑|嗪|胺|洛尔|沙坦|普利|他汀|霉素|西汀|齐)"
)
# A query typed without asking ("noravex in dialysis patients", "诺拉维和环孢素合用剂量") is at
# most this long; one that asks may be longer.
QUERY_UNITS = 24
QUERY_WORDS = 12


def without_population(text: str) -> str:
    """``text`` (normalised) with every population or condition it is about taken out."""
    norm = normalize(text)
    return _POPULATION_EN.sub(" ", _POPULATION_ZH.sub(" ", norm))


def asks(text: str) -> bool:
    """Whether the message asks or requests something (``_QUESTION``, ``_REQUEST``)."""
    return _ASKS.search(normalize(text)) is not None


def asks_a_question(text: str) -> bool:
    """Whether the message asks a question (not only a request such as "请帮忙上报"), in any
    position ("有个患者肌痛，我要不要给他换药", "pt got pregnant on noravex what now"): a report
    that does is answered after the case's acknowledgement."""
    norm = normalize(text)
    return bool(_ASKS_QUESTION.search(norm) or _ASKS_AUX.search(norm))


def asks_without_telling(text: str, categories: tuple[str, ...]) -> bool:
    """A question that tells of nothing that happened: answered, never asked about or reported.

    It asks (or is a short query without a final full stop), names no person it happened to
    once the population it is about is taken out ("Child-Pugh B级的病人诺拉维最多吃多少",
    "noravex in dialysis patients" — the people are the question's subject), names no reaction
    or event, tells of no medicine taken and nothing that happened, and names only special
    situations a question can be about (pregnancy or breastfeeding as a population, a dose, an
    interaction, off-label use). A report said as a question ("病人吃了诺拉维以后转氨酶升高了，
    还能继续吃吗？", "pt got pregnant on noravex what now") tells of something, so it is not one.
    """
    if not set(categories) <= _ASKABLE:
        return False
    norm = normalize(text)
    if not norm or tells_of_something_that_happened(text) or _TOLD.search(norm):
        return False
    rest = without_population(text)
    if names_a_reaction(rest) or _SYMPTOM.search(rest) or match_cues(rest).exposure:
        return False  # an effect, or someone taking the medicine ("on the drug", "吃着")
    if rest == norm and not _DRUGS.search(norm):
        return False  # about neither a medicine nor a population
    person = _PERSON_ZH.search(rest) or _PERSON_EN.search(_REQUEST_ME.sub(" ", rest))
    if person:
        return False
    if asks(norm):
        return True
    # A query that does not ask must say what it is about: a population, a dose or another
    # question topic, or two medicines together ("noravex and warfarin"). "noravex overdose" or
    # "药瓶里有根头发" name none and stay with the detector.
    if not set(categories) <= {"adverse_event", "interaction"}:
        return False
    about = rest != norm or _QUERY_TOPIC.search(norm) or len(_DRUGS.findall(norm)) >= 2
    limit = QUERY_UNITS if detect_language(norm) == "zh" else QUERY_WORDS
    short = _units(norm) <= limit and not norm.rstrip().endswith((".", "。", "!", "！"))
    return bool(about) and short
