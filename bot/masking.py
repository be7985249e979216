"""The one masking function: personal identifiers out of every text the bot keeps or sends.

``mask_identifiers(text)`` replaces patient full names (after 患者/病人/patient, Mr./Ms.),
Chinese 15/18-digit ID-card numbers, mobile and landline numbers and e-mail addresses with a
marker in the text's language, and keeps initials, age and sex (the minimum patient
identification PV needs). It is idempotent, so a text may pass through it more than once:
every free-text answer entering a case, the exports and cards built from a case, the handoff
summary and the conversation state (``mask_strings`` walks stored JSON). The reporter's own
contact details, given with consent, live in a separate record and are not passed through it.
"""

from __future__ import annotations

import re
from typing import Any

_CJK = re.compile(r"[\u4e00-\u9fff]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ID_CARD = re.compile(  # 18 digits (the last may be X) or the older 15-digit form
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
    r"[\dXx](?![0-9A-Za-z])|"
    r"(?<![0-9A-Za-z])[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])"
)
_PHONE = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9])|"
    r"(?<![0-9])0\d{2,3}[- ]?\d{7,8}(?![0-9])|"
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
    r"(?=[\s，,。；;:：、（(）)0-9]|男|女|今年|先生|女士|吃|用|服|打|输|说|在|是|因|出现|的|之前|身份|电话|手机|邮箱|"
    r"联系|住院|家属|年龄|性别|岁|$)"
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
    """``text`` with patient full names, ID-card numbers, phone numbers and e-mails masked.

    Initials ("患者ZS", "patient J.S."), ages and sex are kept: they are the minimum
    patient identification PV needs. Names are masked only where they are given as the
    patient's (after 患者/病人/patient …), so drug and place names are left alone.
    """
    if not text:
        return text
    zh = len(_CJK.findall(text)) >= 2
    masked = _EMAIL.sub("[邮箱已隐藏]" if zh else "[e-mail withheld]", text)
    masked = _ID_CARD.sub("[身份证号已隐藏]" if zh else "[ID number withheld]", masked)
    masked = _PHONE.sub("[电话已隐藏]" if zh else "[phone withheld]", masked)
    masked = _ZH_NAME.sub(_mask_zh_name, masked)
    return _EN_NAME.sub(_mask_en_name, masked)


# Keys whose values are identifiers the bot routes by (ids, keys, codes), not free text.
_ID_KEYS = re.compile(r"(?:^|_)(?:id|ids|key|keys|code|msgid|open_kfid|userid|external_userid)$")


def mask_strings(value: Any, key: str = "") -> Any:
    """``value`` (JSON-shaped) with every free-text string masked; identifiers are kept."""
    if isinstance(value, str):
        return value if _ID_KEYS.search(key) else mask_identifiers(value)
    if isinstance(value, list):
        return [mask_strings(item, key) for item in value]
    if isinstance(value, dict):
        return {k: mask_strings(v, str(k)) for k, v in value.items()}
    return value
