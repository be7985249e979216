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
from skills.handoff.triggers import is_explicit_request

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
    r"么\s*$|[能可会要行好][\u4e00-\u9fff]{0,4}不\s*$|"
    r"(?:早上|晚上|饭前|饭后|空腹|睡前|白天|一次|分次|整片|掰开)[\u4e00-\u9fff]{0,6}还是|"
    r"(?:^|[,;:] ?)(?:what|how|which|where|when|who|why)(?![a-z])|"
    r"^(?:would|should|could|can|do|does|is|are) (?:you|i|we|it|this|that|they)(?![a-z])|"
    r"(?<![a-z])(?:what (?:now|next|to do|(?:should|shall|do|can) (?:i|we|they|he|she|you) "
    r"(?:do|tell|say))|a question|wondering)(?![a-z])"
)
# Requesting something of the bot ("帮我…", "please", "tell me").
_REQUEST = (
    r"帮我|给我|发我|我想|我要|麻烦|想(?:看|要|了解|知道|问|咨询|查)|"
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


# Withdrawing rather than answering ("算了不报了", "never mind, don't report"): no statement that
# nothing followed the medicine, so not a clear no (recall first: the case opens, "停止" ends it).
_WITHDRAWS = re.compile(
    r"^(?:算了|不报|不用报|别报|不要报|不想报|不必报|"
    r"never ?mind|forget (?:it|about it)|don'?t (?:report|file)|no need to report)"
)


def read_confirmation(text: str) -> YesNo | None:
    """The answer to the confirmation question, or ``NOT_AN_ANSWER`` for a new question."""
    norm = normalize(text)
    if not norm or _WITHDRAWS.match(norm):
        return YesNo.UNCLEAR
    if is_explicit_request(text):  # "没用，转人工": the handoff skill takes it, then asks again
        return NOT_AN_ANSWER
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
    r"baby|nurse)|patient|pt|he|she|him|her|his|i'm|i've|i'd|my|me|myself|himself|herself)\b|"
    r"\bi\s+(?:had|have|got|was|am|feel|felt|took|take|started|stopped)\b"
)
_REQUEST_ME = re.compile(r"\b(?:tell|give|show|send|let)\s+me\b")
# Told, not asked: a medicine taken or given ("吃了", "误服", "took 10 tablets"), a state someone
# has been in ("has been so tired"), a pregnancy that began ("怀孕了", "got pregnant").
_TOLD = re.compile(
    r"(?:吃|服|用|打|喝|注射|输)了|吃多了|多吃了|误服|误用|吃错|用错|(?:超|过)量了|"
    r"怀(?:孕|上)了|\b(?:got|became|is|was) pregnant\b|"
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


def names_a_query_topic(text: str) -> bool:
    """The message names what a query is about: a dose or regimen, data, efficacy, safety, use
    together ("noravex max dose" typed without a question word)."""
    return _QUERY_TOPIC.search(normalize(text)) is not None


# A time relation, which ``_SYMPTOM`` also reads as telling of an effect.
_TIME_RELATION = re.compile(r"\b(?:after|since|following)\b")
# A medicine named: the sample product (typos too) or another drug.
_DRUGS = re.compile(
    rf"诺拉[维唯为未威伟韦]|noravex|{DRUG.pattern}|"
    r"[\u4e00-\u9fff]{1,3}(?:素|平|汀|林|酮|唑|嗪|胺|洛尔|沙坦|普利|他汀|霉素|西汀|齐)"
)
# A query typed without asking ("noravex in dialysis patients", "诺拉维和环孢素合用剂量") is at
# most this long; one that asks may be longer.
QUERY_UNITS = 24
QUERY_WORDS = 12


# Taking the product as the frame of a question, not as something told: "吃noravex期间",
# "服用诺拉维时", "while on noravex", "on noravex" ("吃noravex期间葡萄柚汁能喝么", "can I drink
# alcohol on noravex"). Without "了" (told: "吃了诺拉维以后") and only in a message that names
# no person, no reaction, no symptom and nothing that happened (``asks_without_telling``).
_WHILE_TAKING_ZH = re.compile(
    r"(?:在)?(?:吃|服用?|用|使用)着?\s*(?:诺拉[维唯为未威伟韦]|noravex)\s*"
    r"(?:期间|的时候|时|过程中|后|以后|之后)?"
)
_WHILE_TAKING_EN = re.compile(r"\b(?:while\s+)?(?:on|taking|using)\s+noravex\b")


def names_a_person(norm: str) -> bool:
    """Whether the (normalised) text names a person it is about (``_PERSON_ZH``/``_PERSON_EN``;
    "me" in a request such as "tell me" is the reader, not a person)."""
    return bool(_PERSON_ZH.search(norm) or _PERSON_EN.search(_REQUEST_ME.sub(" ", norm)))


def without_population(text: str) -> str:
    """``text`` (normalised) with every population or condition it is about taken out."""
    norm = normalize(text)
    return _POPULATION_EN.sub(" ", _POPULATION_ZH.sub(" ", norm))


def _without_frame(rest: str) -> str:
    """``rest`` with the taking of the medicine taken out where it frames a question."""
    return _WHILE_TAKING_EN.sub(" noravex ", _WHILE_TAKING_ZH.sub(" 诺拉维 ", rest))


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
    framed = _without_frame(rest)
    if names_a_reaction(framed) or _SYMPTOM.search(framed) or match_cues(framed).exposure:
        return False  # an effect, or someone taking the medicine ("on the drug", "吃着")
    if rest == norm and not _DRUGS.search(norm):
        return False  # about neither a medicine nor a population
    if names_a_person(rest):
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


# A course that went well: the target reached, a lab value down or normal, the response good,
# the drug tolerated or taken as told, a stable course ("血脂控制得很好", "加量后达标了",
# "LDL从4.2降到1.8", "复查肝功能正常", "well tolerated, at goal").
_GOOD_COURSE = re.compile(
    r"控制得?(?:很|挺|非常|比较)?(?:好|不错|理想|满意|稳定)|控制(?:良好|理想|满意|稳定|住了)|达标|"
    r"(?:ldl|ldl-c|血脂|胆固醇|甘油三酯|tc|tg)[^，,。；;]{0,12}?(?:降|下降|达到|减少)|"
    r"(?:ck|肌酸激酶|肝酶|转氨酶|alt|ast|肝功能?|肾功能?|肌酐|指标|复查)[^，,。；;]{0,6}?"
    r"(?:都|均|也)?正常|"
    r"(?:效果|疗效|反应|感觉|状态|情况|一切)(?:都)?(?:很|挺|非常|比较|还)?(?:好|不错|明显|满意|稳定|正常)|"
    r"稳定|满意|耐受(?:良好|性?(?:很|挺)?好|得?不错)|(?:缓解|好转|改善)(?:了|得)|"
    r"依从性(?:不错|好|挺好|很好)|按时(?:吃|服)|接受度(?:挺|很)?高|反馈(?:都)?(?:还行|不错|很好|挺好)|"
    r"\b(?:at (?:goal|target)|well[- ]controlled|well tolerated|tolerat(?:ed|ing) (?:it )?well|"
    r"(?:doing|responded|responding) (?:very |really )?(?:well|great|fine)|good response|stable|"
    r"(?:ldl|ldl-c|cholesterol|lipids?)(?: \w+){0,4}? (?:dropped|fell|came down|went down|"
    r"improved|normali[sz]ed|down|better|lower))\b"
)
# Nothing happened yet: a dose changed, a plan ("上周把诺拉维从10mg加到20mg，目前在观察",
# "准备开诺拉维", "下周来复查", "continue same dose").
_DOSE_CHANGE = re.compile(
    r"加量|减量|调(?:整)?(?:了)?剂量|从\s*\d+\s*(?:mg|毫克)?\s*(?:加|减|调|增|降)(?:到|至)\s*\d+|"
    r"(?:减|加|调)(?:到|至)了?\s*\d+\s*(?:mg|毫克)?|准备(?:开|用|换|维持|加)|打算|想换成|"
    r"(?:下周|下次|准备|过几天)来?复查|"
    r"\b(?:increased|decreased|reduced|titrated|uptitrated|raised|lowered) (?:the |his |her )?"
    r"(?:dose|dosage)\b|\b(?:plan(?:ning)? to|going to) (?:start|switch|add)\b|"
    r"\bcont(?:inue)?d? (?:on )?(?:the )?(?:same|current) dose\b"
)
# Nothing untoward said as such ("没什么不舒服", "无不良反应", "没啥反应", "no side effects"):
# taken out before the message is searched for a reaction.
_NOTHING_UNTOWARD = re.compile(
    r"(?:没|没有|无|未|未见|未出现|没出现|没发现|也没)(?:什么|任何|明显|啥)?(?:的)?"
    r"(?:不舒服|不适|不良反应|副作用|副反应|异常|问题|反应|感觉|肌肉?痛|肌痛)|"
    r"(?:没|没有|未)再?(?:发生|出现)|"
    r"\b(?:no|without|denies|never had)(?: any)? (?:side effects?|complaints?|adverse (?:events?|"
    r"effects?|reactions?)|problems?|issues?|muscle (?:pain|aches?))\b"
)
# Not a good course after all: the target missed, no effect, stopped, switched away, or the
# dose changed by the patient rather than the prescriber ("病人自己加量到一天80mg吃了半个月" is
# misuse or a medication error, a special situation PV must see).
_BAD_COURSE = re.compile(
    r"自己|自行|擅自|私自|偷偷|超量|过量|翻倍|双倍|多吃|吃多|"
    r"\b(?:on (?:his|her|their) own|himself|herself|themselves|doubled|overdos\w*|"
    r"too (?:much|many))\b|"
    r"不(?:太|怎么|是很)?(?:好|理想|满意|达标|明显|稳定)|(?:没|没有|未|还没)(?:达标|效果|降|下降|用)|"
    r"不降|无效|没用|反而|升高|上升|停|换药|换掉|(?:诺拉[维唯为]|noravex)换成|相互作用|"
    # a value that rose, or stands against the upper limit ("肝酶升到正常上限4倍", "ALT 3x ULN")
    r"升到|升至|涨到|涨了|高到|高达|上限|\d\s*倍|超过正常|超出正常|"
    r"\b(?:elevat\w*|uln|upper limit|above (?:the )?normal|rose|spiked?)\b|"
    r"\b(?:not (?:at goal|at target|controlled|working|well|tolerat\w*)|didn'?t|did not|"
    r"no (?:effect|response|improvement)|still high|went up|stopp?\w*|discontinu\w*|quit|"
    r"switch\w* (?:\w+ )?(?:from|off) noravex|off noravex|interact\w*)\b"
)


def tells_a_good_course(text: str, categories: tuple[str, ...]) -> bool:
    """A narrative of a course with nothing untoward in it: the target reached or the drug
    tolerated ("患者吃了诺拉维两周后血脂控制得很好，没什么不舒服", "加量后达标了"), or only a dose
    changed or is planned. It names no reaction or plain symptom once the good-course phrases and
    "no side effects"-like phrases are taken out, nothing that went wrong (missed target, stopped,
    switched away), no second medicine (an interaction is PV's to judge), and no special
    situation but an interaction category (adding the product is how the course went). Such a
    message is answered like any other: neither a case nor a question.
    """
    if not categories or not set(categories) <= {"adverse_event", "interaction"}:
        return False
    norm = normalize(text)
    if not (_GOOD_COURSE.search(norm) or _DOSE_CHANGE.search(norm)) or _BAD_COURSE.search(norm):
        return False
    rest = _NOTHING_UNTOWARD.sub(" ", _DOSE_CHANGE.sub(" ", _GOOD_COURSE.sub(" ", norm)))
    symptom = _SYMPTOM.search(_TIME_RELATION.sub(" ", rest))
    two_medicines = len(_DRUGS.findall(norm)) >= 2  # "interaction between tacrolimus and …"
    return not (names_a_reaction(rest) or symptom or two_medicines)


# Telling how something is related in time or cause ("after", "since", "吃了…以后", "引起"):
# a search that says it is no topic query ("rash after noravex" is asked about).
_TEMPORAL = re.compile(
    r"后|以来|自从|开始|引起|导致|造成|\b(?:after|since|following|caused|induced|due to|"
    r"from|started|when)\b"
)


def reads_like_a_topic(text: str) -> bool:
    """A search-like topic query: a few words with a medicine and a topic, typed like a search
    (``reads_like_a_search``: no patient or person, nothing that happened), that tell no time,
    cause or exposure either ("rhabdomyolysis with noravex", "CYP3A4 inhibitors with noravex",
    "noravex 肝损"). It is answered; when it names an effect, the answer invites a report
    (``names_a_reaction``)."""
    norm = normalize(text)
    return (
        reads_like_a_search(text)
        and _DRUGS.search(norm) is not None
        and not (_TEMPORAL.search(norm) or _TOLD.search(norm) or match_cues(norm).exposure)
        and not names_a_person(norm)
    )


# Effects named as a topic, in the short forms a search uses ("肝损", "rhabdo").
_EFFECT_TOPIC = re.compile(
    r"[肝肾]损|肝毒|肾毒|横纹肌|肌溶|肌病|肌炎|转氨酶|血糖|脱发|失眠|"
    r"\b(?:rhabdo\w*|myopath\w*|myalg\w*|myositis|hepatotox\w*|nephrotox\w*|"
    r"(?:liver|kidney|renal|muscle) (?:injury|damage|toxicity)|transaminase\w*|alt|ast|ck|"
    r"side effects?|adverse (?:effects?|events?|reactions?))\b"
)


def names_an_effect(text: str) -> bool:
    """Whether a topic query names an effect (a reaction, a plain symptom, an effect's short
    form): its answer invites a report."""
    norm = normalize(text)
    symptom = _SYMPTOM.search(_TIME_RELATION.sub(" ", norm))
    return bool(names_a_reaction(norm) or symptom or _EFFECT_TOPIC.search(norm))


# An overdose told as a fact about someone ("患者吃超量了", "病人多吃了两片"), not supposed
# ("如果吃多了", "what if he takes too much").
_OVERDOSE_TOLD = re.compile(
    r"(?:吃|服|用)(?:超量|过量|多|重)了|多(?:吃|服)了|(?:超|过)量(?:服用|用药)?了|误服了?|"
    r"一次(?:性)?(?:吃|服)了|\b(?:took|taken|had|swallowed|ingested) (?:too (?:many|much)|"
    r"an overdose|a double dose|\d+ (?:tablets|pills))|\boverdosed\b"
)
_SUPPOSED = re.compile(r"如果|假如|万一|要是|若|的话|\b(?:if|what if|suppose|in case|whether)\b")


def tells_an_overdose(text: str) -> bool:
    """An overdose that happened to someone named ("患者吃超量了怎么办"): a special situation PV
    must receive, whatever the detector scored; the question it asks is answered after the
    case's acknowledgement."""
    norm = normalize(text)
    return names_a_person(norm) and bool(_OVERDOSE_TOLD.search(norm)) and not _SUPPOSED.search(norm)


# A supposition opening the question ("如果病人…出现肌痛应该怎么办", "what to do if a pt
# overdoses"): what follows is supposed, not told.
_SUPPOSE = re.compile(r"如果|假如|万一|要是|若是|假设|\b(?:if|what if|suppose|in case)\b")


def asks_about_a_supposition(text: str, categories: tuple[str, ...]) -> bool:
    """A question about what to do if something happened ("如果病人吃诺拉维出现肌痛应该怎么办",
    "if a patient develops muscle pain on noravex what should they do"): the person, reaction
    or overdose it names come after the supposition, before it nothing is told (no person, no
    reaction, no symptom), and nothing is told as having happened. Answered like a question
    that only asks; a report with a conditional question ("病人肌痛，如果继续吃会怎样？") is
    not one."""
    norm = normalize(text)
    supposed = _SUPPOSE.search(norm)
    if supposed is None or not set(categories) <= _ASKABLE or not asks_a_question(text):
        return False
    before = norm[: supposed.start()]
    person = names_a_person(before)
    told = tells_of_something_that_happened(text) or _TOLD.search(norm)
    return not (person or told or names_a_reaction(before) or _SYMPTOM.search(before))


# What to tell patients, or material for them ("what do i tell pts on noravex about muscle
# pain", "跟病人怎么交代肌肉痛", "有没有给患者看的用药须知"): the patients are the audience and the
# effect is the topic.
_COUNSEL = re.compile(
    r"(?:跟|和|给|向|对)(?:患者|病人)(?:们)?(?:怎么|如何|该怎么)?(?:交代|说|讲|解释|宣教|介绍)|"
    r"给(?:患者|病人)(?:看|用|发)的|(?:患者|病人)(?:用药)?(?:须知|教育|手册|宣教)|"
    r"\b(?:tell|counsel|advise|explain to|warn) (?:my |our )?(?:pts|patients)\b|"
    r"\bpatient (?:leaflets?|information|handouts?|education)\b"
)


def asks_how_to_counsel(text: str) -> bool:
    """A question about what to tell patients or what to give them: the people are the
    audience, an effect named is the topic; nothing is told as having happened and no one
    patient is named outside the audience phrase."""
    norm = normalize(text)
    if not (_COUNSEL.search(norm) and asks_a_question(text)):
        return False
    if tells_of_something_that_happened(text) or _TOLD.search(norm):
        return False
    rest = _COUNSEL.sub(" ", norm)
    return not names_a_person(rest)
