"""What a report message already tells, so the guided form can skip those questions.

``extract(text, products=...)`` pulls the ICSR fields a doctor tends to volunteer: patient
initials / age / sex, suspect product(s) as written, batch/lot, the event wording, onset
hints, seriousness criteria, outcome hints and special situations. Everything is verbatim
from the message (E2B wants the reporter's words) and best-effort: a missing field is
``None``/empty and the form asks for it.

Masking of what must never be stored (patient names, ID-card and phone numbers, e-mail
addresses) is ``bot.masking.mask_identifiers``, the one masking function of the bot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from skills.adverse_events.cues import SPECIAL_CUES, detect_language, normalize

Sex = Literal["male", "female"]
Outcome = Literal["recovered", "recovering", "not_recovered", "fatal"]

# E2B(R3) E.i.3.2a–f, in that order.
SERIOUSNESS_CRITERIA: tuple[str, ...] = (
    "death",
    "life_threatening",
    "hospitalisation",
    "disability",
    "congenital_anomaly",
    "other_medically_important",
)


@dataclass(frozen=True)
class AEExtraction:
    """Fields found in one message; ``None``/empty means "not said — ask"."""

    patient_initials: str | None
    age: str | None  # as written: "67岁", "8个月", "54-year-old"
    age_group: str | None  # neonate / infant / child / adolescent / adult / elderly
    sex: Sex | None
    products: tuple[str, ...]
    batch_numbers: tuple[str, ...]
    events: tuple[str, ...]
    onset: tuple[str, ...]
    seriousness: tuple[str, ...]  # subset of SERIOUSNESS_CRITERIA
    outcome: Outcome | None
    special_situations: tuple[str, ...]  # names from cues.SPECIAL_CUES


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_STOP = r"[，,。；;！!？?\n]"
_INITIALS = (
    re.compile(
        r"(?i:患者|病人|患儿|缩写|首字母|initials?|patient|pt)[:：\s]*"
        r"([A-Z](?:\.?[A-Z]){1,3}\.?)(?![A-Za-z])"
    ),
)
_AGE = (
    _rx(r"(\d{1,3}\s*(?:周岁|岁半|岁))"),
    _rx(r"(\d{1,2}\s*(?:个月|个多月)(?:大)?)(?:的)?(?:婴儿|宝宝|孩子|小孩|患儿)"),
    _rx(r"(\d{1,3}[- ](?:year|yr|month)s?[- ]old)"),
    _rx(r"\b(aged \d{1,3})\b"),
    _rx(r"\b(\d{1,3} ?(?:yo|y/o|yrs?))\b"),
    re.compile(r"(?<![\w.])(\d{1,3})\s?[MF](?![A-Za-z])"),
)
_AGE_GROUPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("neonate", _rx(r"新生儿|neonat|newborn")),
    ("infant", _rx(r"婴儿|宝宝|\d+\s*个月|\binfant|\bbaby\b|\btoddler")),
    ("child", _rx(r"小孩|孩子|儿童|小朋友|患儿|\bchild|\bboy\b|\bgirl\b|\bkid")),
    ("adolescent", _rx(r"青少年|中学生|\badolescen|\bteen")),
    (
        "elderly",
        _rx(r"老人|老年|老太太|老先生|大爷|奶奶|爷爷|高龄|\belderly\b|(?<!year-)\bold (man|woman)"),
    ),
)
_FEMALE = _rx(
    r"女性|女孩|女患|女病人|女士|老太太|阿姨|奶奶|孕妇|产妇|妈妈|她|(?<![男])女(?![儿])|"
    r"\b(woman|female|girl|she|her|mrs|ms|pregnant|mother)\b|(?<![\w.])\d{1,3}\s?F(?![A-Za-z])"
)
_MALE = _rx(
    r"男性|男孩|男患|男病人|先生|老先生|大爷|爷爷|他(?!们|汀)|(?<![女])男|"
    r"\b(man|male|boy|he|his|him|mr)\b|(?<![\w.])\d{1,3}\s?M(?![A-Za-z])"
)
_PRODUCT_PATTERNS = (
    _rx(
        r"(?:吃了|用了|服用了?|服了|打了|换了|换用了?|输了|注射了?|使用了?|开始吃|开始用|加用了?|"
        r"合用了?|吃着|用着|在吃|在用)([^\s，,。；;、]{1,14}?)(?:后|以后|之后|期间|的时候|时|一|两|三|"
        r"\d|[，,。；;]|$)"
    ),
    _rx(
        r"\b(?:after (?:starting|taking|receiving|the first dose of|initiation of)|on|taking|"
        r"receiving|treated with|started on) ([a-z][a-z0-9-]{3,30})\b"
    ),
    _rx(r"\b([a-z][a-z0-9]{3,30})-(?:induced|associated|related)\b"),
)
# The company's product as doctors write it, typos too ("诺拉为", "noravx"): named anywhere in a
# report ("病人吃诺拉维后有点乏力", "吃诺拉维的病人…"), it is the suspect product.
OWN_PRODUCT = re.compile(r"诺拉[维唯为未威伟韦]|(?<![a-z])norav[a-z]{0,3}(?![a-z])", re.IGNORECASE)
_NOT_PRODUCT = re.compile(
    r"^(药|这个药|这药|药物|以后|之后|the|a|an|it|this|that|your|his|her|my|our|day|days|"
    r"weeks?|the drug|therapy|treatment|medication|dose)$",
    re.IGNORECASE,
)
_BATCH = _rx(
    r"(?:批号|批次号?|生产批号|lot(?:\s*(?:number|no\.?|#))?|batch(?:\s*(?:number|no\.?|#))?)"
    r"\s*(?:是|为|:|：|#)?\s*([A-Za-z0-9][A-Za-z0-9-]{2,19})"
)
_EVENT_ZH = (
    re.compile(rf"(?:出现了?|发生了?|引起了?|导致了?|诱发了?)((?:(?!{_STOP}).){{1,24}})"),
    re.compile(
        rf"(?:后|以后|之后)[，,]?(?:开始|就|一直|老是|总是|有点)?((?:(?!{_STOP}|出现|发生).){{2,20}})"
    ),
)
_EVENT_EN = (
    _rx(
        r"\b(?:developed|experienced|had|got|reported|presented with|suffered(?: from)?|"
        r"complained of|died (?:of|from))\s+"
        r"((?:(?![,.;]| after| since| following| while| on day| \d).){3,60})"
    ),
    _rx(
        r"^((?:(?![,.;:]).){3,60}?)\s+(?:after|following|due to|secondary to|induced by|"
        r"associated with)\b"
    ),
    _rx(r"\b[a-z0-9]+-(?:induced|associated|related) ((?:(?![,.;:]).){3,50})"),
)
_ONSET = (
    re.compile(
        r"((?:用药|服药|吃药|打针|输液|用了|吃了|打完)?(?:第)?[\d一二两三四五六七八九十半几]+\s*"
        r"(?:个)?(?:分钟|小时|天|日|周|星期|个月|月|年)(?:后|以后|之后|左右|内)|当天|第二天|次日|"
        r"当晚|马上|立刻)"
    ),
    # "3天前开始", "上周开始": a time before now, unless it dates the start of the medicine
    # ("3天前开始吃诺拉维").
    re.compile(
        r"((?:[\d一二两三四五六七八九十半几]+\s*(?:个)?(?:多)?(?:分钟|小时|天|日|周|星期|个月|月|年)前|"
        r"昨天|前天|上周|上个?星期|上个?月|前几天)(?:开始)?)(?!\s*(?:开始)?(?:吃|服|用|使用|加用|换))"
    ),
    _rx(
        r"((?:\d+|one|two|three|four|five|six|a few|several)\s+(?:minutes?|hours?|days?|weeks?|"
        r"months?)\s+(?:after|into|later|of)|on day \d+|within (?:\d+|a|an|one|two) (?:minutes?|"
        r"hours?|days?|weeks?))"
    ),
    # "since last wk", "2 days ago": not the start of the medicine ("started noravex 2 wks ago").
    _rx(
        r"((?:since )?(?:(?:\d+|one|two|three|"
        r"four|five|six|a few|several|a couple of) (?:minutes?|hours?|days?|d|weeks?|wks?|months?)"
        r" ago|since (?:last (?:week|wk|night|month)|yesterday|(?:mon|tues|wednes|thurs|fri|"
        r"satur|sun)day)|yesterday|last (?:night|week|wk)))\b"
    ),
)
# A time in the same clause as starting the medicine dates the start, not the event ("started
# noravex 2 weeks ago").
_STARTED_IN_CLAUSE = _rx(r"(?:\bstart|\bbegan|\bbegun|\binitiat|\bcommenc|\bput on)[^,.;，。；]*$")
_SERIOUSNESS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("death", _rx(r"死亡|去世|猝死|身亡|走了|\bdied\b|\bdeath\b|\bfatal|\bpassed away")),
    (
        "life_threatening",
        _rx(
            r"抢救|危及生命|生命危险|休克|心跳骤停|心脏骤停|呼吸骤停|插管|\blife[- ]threatening|"
            r"\bresuscitat|\bcardiac arrest|\bintubat|\banaphyla"
        ),
    ),
    (
        "hospitalisation",
        _rx(
            r"住院|入院|收住|收入院|住了.{0,4}院|ICU|CCU|重症监护|\bhospitali[sz]|\badmitted\b|\badmission\b|"
            r"\bintensive care"
        ),
    ),
    (
        "disability",
        _rx(
            r"残疾|失明|瘫痪|永久|后遗症|听力丧失|丧失劳动|\bdisabilit|\bpermanent|\bblind|"
            r"\bparalys|\bincapacit"
        ),
    ),
    (
        "congenital_anomaly",
        _rx(r"畸形|出生缺陷|先天|唇腭裂|\bbirth defect|\bcongenital|\bmalformation"),
    ),
    (
        "other_medically_important",
        _rx(
            r"透析|横纹肌溶解|肝衰竭|肾衰竭|急性肾损伤|史蒂文斯|表皮坏死|粒细胞缺乏|抽搐|癫痫|"
            r"昏迷|消化道大?出血|脑出血|\bdialysis|\brhabdomyolysis|\bliver failure|"
            r"\bstevens-johnson|\bepidermal necrolysis|\bagranulocytosis|\bseizure|\bcoma\b"
        ),
    ),
)
# A criterion denied in its own clause ("没有住院", "未住院", "不需要住院", "was not
# hospitalised", "no admission", "did not need ICU"); not across "and"/"but" ("did not
# improve and was admitted" is an admission).
_DENIED_BEFORE = re.compile(
    r"(?:没|没有|未|无(?![效法])|无需|不需要|不用|否认|并未|并没有?)[^，,。.；;！!？?\n]{0,4}$|"
    r"(?:\b(?:not|no|never|without|nor)|n't)\s+(?:(?!(?:and|but|then|so|later)\b)[\w-]+\s+){0,3}$",
    re.IGNORECASE,
)


def _said(rx: re.Pattern[str], text: str) -> bool:
    """Whether ``rx`` matches somewhere ``text`` does not deny it."""
    return any(not _DENIED_BEFORE.search(text[: m.start()]) for m in rx.finditer(text))


def denied_seriousness(text: str) -> tuple[str, ...]:
    """The criteria ``text`` denies ("没住院，门诊处理的", "不对，没住院", "he was not admitted")
    and does not also state: a correction, or the answer "none" to the seriousness question."""
    return tuple(
        name
        for name, rx in _SERIOUSNESS
        if not _said(rx, text)
        and any(_DENIED_BEFORE.search(text[: m.start()]) for m in rx.finditer(text))
    )


_CARE_AND_DEATH = tuple(rx for name, rx in _SERIOUSNESS if name in ("death", "hospitalisation"))


def without_care_or_death(text: str) -> str:
    """``text`` without the words saying the patient was admitted or died ("住院", "ICU",
    "died"): a reply saying only that tells how an event went, not which event it was."""
    for rx in _CARE_AND_DEATH:
        text = rx.sub(" ", text)
    return text


_OUTCOMES: tuple[tuple[Outcome, re.Pattern[str]], ...] = (
    ("fatal", _SERIOUSNESS[0][1]),
    (
        "not_recovered",
        _rx(
            r"还没好|没好|还没消|未缓解|没缓解|没有好转|仍然|依然|持续|一直没|还在|"
            r"\bnot (yet )?(resolved|recovered)|\bpersist|\bongoing|\bstill\b"
        ),
    ),
    (
        "recovering",
        _rx(
            r"好转|缓解|减轻|改善|在恢复|好(?:一)?(?:点|些)了?|好多了|轻(?:一)?(?:点|些)了|"
            r"\bimprov|\brecovering|\bbetter\b|\bsubsid"
        ),
    ),
    (
        "recovered",
        _rx(
            r"好了|恢复了|恢复正常|痊愈|消失了|消退|已经没事|\bresolved|\brecovered|\bdisappeared"
            r"|\bback to normal"
        ),
    ),
)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        item = item.strip(" ，,。.;；:：")
        if item and item not in out:
            out.append(item)
    return tuple(out)


def _first(patterns: Iterable[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        if m := pattern.search(text):
            return m.group(1).strip()
    return None


def _products(text: str, lexicon: Iterable[str]) -> tuple[str, ...]:
    lowered = text.lower()
    found = [name for name in lexicon if name and name.lower() in lowered]
    found += [m.group(0) for m in OWN_PRODUCT.finditer(text)]
    for pattern in _PRODUCT_PATTERNS:
        for m in pattern.finditer(text):
            candidate = m.group(1).strip()
            if _NOT_PRODUCT.match(candidate):
                continue
            lowered_candidate = candidate.lower()
            if not any(
                lowered_candidate in known.lower() or known.lower() in lowered_candidate
                for known in found
            ):
                found.append(candidate)
    return _unique(found)


def _sex(text: str) -> Sex | None:
    female, male = _FEMALE.search(text), _MALE.search(text)
    if female and male:
        return "female" if female.start() < male.start() else "male"
    if female:
        return "female"
    return "male" if male else None


def _age_group(text: str, age: str | None) -> str | None:
    """The age group a word names, else the one a stated age in years falls in."""
    named = next((name for name, rx in _AGE_GROUPS if rx.search(text)), None)
    if named or age is None or re.search(r"月|month", age, re.IGNORECASE):
        return named
    years = int(re.findall(r"\d+", age)[0])
    if years < 2:
        return "infant"
    if years < 12:
        return "child"
    if years < 18:
        return "adolescent"
    return "elderly" if years >= 65 else "adult"


def extract(text: str, products: Iterable[str] = ()) -> AEExtraction:
    """The report fields ``text`` already gives; ``products`` is a known-product lexicon."""
    norm = normalize(text)
    zh = detect_language(text) == "zh"
    events = _EVENT_ZH if zh else _EVENT_EN
    seriousness = tuple(name for name, rx in _SERIOUSNESS if _said(rx, text))
    outcome = next((name for name, rx in _OUTCOMES if rx.search(text)), None)
    age = _first(_AGE, text)
    return AEExtraction(
        patient_initials=_first(_INITIALS, text),
        age=age,
        age_group=_age_group(text, age),
        sex=_sex(text),
        products=_products(text, products),
        batch_numbers=_unique(m.group(1) for m in _BATCH.finditer(text)),
        events=_unique(m.group(1) for rx in events for m in rx.finditer(text)),
        onset=_unique(
            m.group(1)
            for rx in _ONSET
            for m in rx.finditer(text)
            if not _STARTED_IN_CLAUSE.search(text[: m.start()])
        ),
        seriousness=seriousness,
        outcome=outcome,
        special_situations=tuple(name for name, rx in SPECIAL_CUES.items() if rx.search(norm)),
    )
