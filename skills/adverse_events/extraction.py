"""What a report message already tells, so the guided form can skip those questions.

``extract(text, products=...)`` pulls the ICSR fields a doctor tends to volunteer: patient
initials / age / sex, suspect product(s) as written, batch/lot, the event wording, onset
hints, seriousness criteria, outcome hints and special situations. Everything is verbatim
from the message (E2B wants the reporter's words) and best-effort: a missing field is
``None``/empty and the form asks for it.

``mask_identifiers(text)`` removes what must never be stored — patient full names, Chinese
ID-card numbers, phone numbers — and keeps initials, age and sex.
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
    _rx(
        r"((?:\d+|one|two|three|four|five|six|a few|several)\s+(?:minutes?|hours?|days?|weeks?|"
        r"months?)\s+(?:after|into|later|of)|on day \d+|within (?:\d+|a|an|one|two) (?:minutes?|"
        r"hours?|days?|weeks?))"
    ),
)
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
            r"住院|入院|收住|收入院|ICU|CCU|重症监护|\bhospitali[sz]|\badmitted\b|\badmission\b|"
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
        _rx(r"好转|缓解|减轻|改善|在恢复|\bimprov|\brecovering|\bbetter\b|\bsubsid"),
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
    seriousness = tuple(name for name, rx in _SERIOUSNESS if rx.search(text))
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
        onset=_unique(m.group(1) for rx in _ONSET for m in rx.finditer(text)),
        seriousness=seriousness,
        outcome=outcome,
        special_situations=tuple(name for name, rx in SPECIAL_CUES.items() if rx.search(norm)),
    )


# --- masking ---------------------------------------------------------------------------
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
    r"[\dXx](?![0-9A-Za-z])"
)
_PHONE = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9])|"
    r"(?<![0-9])0\d{2,3}-\d{7,8}(?![0-9])|"
    r"(?<![0-9])\+?\d{1,3}[ -]\(?\d{2,4}\)?[ -]\d{3,4}[ -]\d{3,4}(?![0-9])"
)
# Common Chinese surnames (single and double); a name is a surname plus one or two characters.
_SURNAMES = (
    "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|令狐|夏侯|"
    "王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|林|罗|郑|梁|谢|宋|唐|许|韩|冯|邓|曹|彭|曾|"
    "肖|田|董|袁|潘|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|钟|谭|陆|汪|范|金|石|廖|贾|"
    "夏|韦|付|傅|方|邹|孟|熊|秦|邱|江|尹|薛|闫|阎|段|雷|侯|龙|史|陶|黎|贺|顾|毛|郝|龚|邵|万|钱|"
    "严|覃|武|戴|莫|孔|向|汤|常|温|康|施|文|牛|樊|葛|邢|安|齐|易|乔|伍|庞|颜|倪|庄|聂|章|鲁|岳|"
    "翟|殷|詹|申|欧|耿|关|兰|焦|俞|左|柳|甘|祝|包|宁|尚|符|舒|阮|柯|纪|梅|童|凌|毕|单|季|裴|霍|"
    "涂|成|苗|谷|盛|曲|翁|冉|骆|蓝|路|游|辛|靳|管|柴|蒙|鲍|华|喻|祁|蒲|房|滕|屈|饶|解|牟|艾|尤|"
    "阳|时|穆|农|司|卓|古|吉|缪|简|车|项|连|芦|麦|褚|娄|窦|戚|岑|景|党|宫|费|卜|冷|晏|席|卫|米|"
    "柏|宗|瞿|桂|全|佟|应|臧|闵|苟|邬|边|卞|姬|师|和|仇|栾|隋|商|刁|沙|荣|巫|寇|桑|郎|甄|丛|仲|"
    "虞|敖|巩|明|佘|池|查|麻|苑|迟|邝|高|于|白|吕"
)
_PATIENT_WORD = r"(?:患者|病人|病患|患儿|姓名|名字|叫)"
# What may follow a name: punctuation, a space, sex, age, a verb a sentence would continue with.
_AFTER_NAME = (
    r"(?=[\s，,。；;:：、（(）)0-9]|男|女|今年|先生|女士|吃|用|服|打|输|说|在|是|因|出现|的|之前|$)"
)
_ZH_NAME = re.compile(
    rf"(?P<lead>{_PATIENT_WORD}\s*[:：]?\s*)(?P<name>(?:{_SURNAMES})[\u4e00-\u9fff]{{1,2}}?){_AFTER_NAME}"
)
# Words that start like "surname + character" after 患者 but are not names.
_NOT_NAME = re.compile(
    r"^(高血压|高血糖|高血脂|高热|高烧|高龄|白细胞|白天|常规|常常|于是|方便|马上|明显|明天|"
    r"和家属|和家人|安全|成人|时间|全身|单位|应该|连续|有|同时|包括|平时|史上)"
)
_EN_NAME = re.compile(
    r"\b(?P<lead>(?i:patient|pt|mr|mrs|ms|miss|named|name[:：]?)\.?\s+)"
    r"(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})\b"
)
_EN_NOT_NAME = re.compile(
    r"^(The|This|That|With|Who|Was|Is|Has|Had|And|On|In|After|Since|Developed|Reported|Presented)\b"
)


def _mask_zh_name(m: re.Match[str]) -> str:
    name = m.group("name")
    if _NOT_NAME.match(name) or name.endswith("某"):
        return m.group(0)
    return f"{m.group('lead')}[姓名已隐藏]"


def _mask_en_name(m: re.Match[str]) -> str:
    if _EN_NOT_NAME.match(m.group("name")):
        return m.group(0)
    return f"{m.group('lead')}[name withheld]"


def mask_identifiers(text: str) -> str:
    """``text`` with patient full names, Chinese ID-card numbers and phone numbers masked.

    Initials ("患者ZS", "patient J.S."), ages and sex are kept: they are the minimum
    patient identification PV needs. Names are masked only where they are given as the
    patient's (after 患者/病人/patient …), so drug and place names are left alone.
    """
    zh = detect_language(text) == "zh"
    masked = _ID_CARD.sub("[身份证号已隐藏]" if zh else "[ID number withheld]", text)
    masked = _PHONE.sub("[电话已隐藏]" if zh else "[phone withheld]", masked)
    masked = _ZH_NAME.sub(_mask_zh_name, masked)
    return _EN_NAME.sub(_mask_en_name, masked)
