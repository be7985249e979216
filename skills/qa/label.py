"""Approved label facts per product, derived from the knowledge base's document metadata.

The prescribing-information summaries carry ``approved_indications``, ``approved_populations``
and ``approved_dose`` (free text such as "10–20 mg 每日一次") in their front matter. The off-label
guardrail needs them in a comparable form: indication phrases, canonical population codes and a
numeric dose range in milligrams. This module does that derivation once, when the skill starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from skills.qa.textutil import normalise

# Canonical population codes and the words that name them (normalised text, zh and en).
POPULATION_PATTERNS: dict[str, re.Pattern[str]] = {
    code: re.compile(pattern)
    for code, pattern in {
        "pediatric": r"儿童|小儿|儿科|婴儿|婴幼儿|新生儿|幼儿|青少年|未成年|孩子|小孩|宝宝"
        # "Child-Pugh" grades hepatic impairment; it is not about children.
        r"|\b(child(?![- ]?pugh)|children|pediatric|paediatric|infants?|neonat\w*|newborns?"
        r"|adolescents?|kids|teenagers?|toddlers?)\b",
        "pregnancy": r"孕妇|妊娠|怀孕|孕期|孕早期|孕晚期|\bpregnan\w*",
        "lactation": r"哺乳|母乳|喂奶|\b(breast-?feed\w*|lactat\w*|nursing mothers?)\b",
        "elderly": r"老年|高龄|老人|\b(elderly|older (adults?|patients?)|geriatric)\b",
        "adult": r"成人|成年|\badults?\b",
    }.items()
}
# Populations an approval of "adults" does not cover: a question about them is off-label
# unless the label names them. (Elderly patients are adults; renal or hepatic impairment is a
# dosing matter the label itself addresses.)
SPECIAL_POPULATIONS = frozenset({"pediatric", "pregnancy", "lactation"})
ADULT_AGE = 18

_AGE = re.compile(r"(\d{1,3})\s*(?:岁|周岁|个月大|-?\s*years?[- ]old|yo\b|y/o)")
_MONTHS = re.compile(r"(\d{1,2})\s*(?:个月|months?[- ]old)")
_DOSE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(mg|毫克|μg|µg|ug|mcg|微克|g|克)(?!\s*/\s*(?:dl|l|ml|d?l))",
)
# How a product is given (normalised text, zh and en): the label's ``approved_dose`` names its
# route ("口服", "orally"); a question naming another route, or a tube or crushing, asks about
# use the label does not give.
ROUTE_PATTERNS: dict[str, re.Pattern[str]] = {
    code: re.compile(pattern)
    for code, pattern in {
        "oral": r"口服|\b(?:orally|oral|by\s+mouth|p\.?o\.?)\b",
        # Giving the product this way, not a condition or another treatment ("静脉血栓",
        # "在输液的病人", "patients on insulin injections").
        "intravenous": r"静脉(?:注射|滴注|给药|输注|推注|用)|静注|静滴|[打走]静脉|\biv\b"
        r"|\bintravenous(?:ly)?\b|\b(?:by|as\s+an?)\s+infusion\b",
        "injection": r"(?:能|可以|可不可以|能不能|打|做成|改成|改为)注射|注射给药|肌注|肌肉注射"
        r"|皮下注射|打针|\b(?:be\s+injected|inject\s+it|by\s+injection|as\s+an?\s+injection"
        r"|intramuscular(?:ly)?|subcutaneous(?:ly)?)\b",
        "enteral tube": r"鼻饲|胃管|\b(?:feeding|ng|peg|g)[- ]?tubes?\b|\bnasogastric\b",
        # Chewing or crushing the tablet; "chewable" names a dosage form (is one made?).
        "crushed": r"磨碎|碾碎|压碎|研碎|嚼碎|嚼着|\b(?:crush\w*|chew(?:s|ed|ing)?)\b",
        "topical": r"外用|涂抹|\btopical\w*\b",
        "inhaled": r"吸入|雾化|\b(?:inhal\w*|nebuli[sz]\w*)\b",
        "sublingual": r"舌下|\bsublingual\w*\b",
        "rectal": r"直肠给药|栓剂|\b(?:rectal\w*|suppositor\w*)\b",
    }.items()
}
_ZH_COUNT = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_COUNT = r"(\d|[一两二三四五六七])"
# How often (doses per day, as a fraction): "每日一次" 1, "bid" 2, "隔天" 1/2, "一周两次" 2/7.
# A bare "daily" is not a frequency ("daily max dose" of a twice-daily product).
_PER_DAY = re.compile(
    rf"(?:每日|每天|一天|一日|日)(?:吃|服|服用|用|给药)?{_COUNT}次"
    rf"|(?:每周|一周|每星期|一星期|一个星期){_COUNT}次"
    r"|\b(once|twice|thrice|one|two|three|four|\d)\s*(?:times?\s*)?(?:a|per|each)?\s*"
    r"(day|daily|week|weekly)\b"
    r"|隔天|隔日|\b(?:every\s+other\s+day|alternate\s+days?|qod)\b"
    r"|\b(qd|bid|tid|qid)\b"
)
_EN_COUNT = {"once": 1, "one": 1, "twice": 2, "two": 2, "thrice": 3, "three": 3, "four": 4}
_ABBREV = {"qd": 1.0, "bid": 2.0, "tid": 3.0, "qid": 4.0}


def routes_in(text: str) -> set[str]:
    """Route codes a (normalised) text names (see ``ROUTE_PATTERNS``)."""
    return {code for code, pattern in ROUTE_PATTERNS.items() if pattern.search(text)}


def frequencies_in(text: str) -> set[float]:
    """Dosing frequencies a (normalised) text states, in doses per day."""
    found: set[float] = set()
    for match in _PER_DAY.finditer(text):
        daily_zh, weekly_zh, count_en, unit_en, abbrev = match.groups()
        if daily_zh or weekly_zh:
            raw = daily_zh or weekly_zh
            count = _ZH_COUNT.get(raw) or int(raw)
            found.add(float(count) if daily_zh else round(count / 7, 3))
        elif count_en:
            count = _EN_COUNT.get(count_en) or int(count_en)
            found.add(float(count) if unit_en in ("day", "daily") else round(count / 7, 3))
        elif abbrev:
            found.add(_ABBREV[abbrev])
        else:
            found.add(0.5)
    return found


_PER_KG = re.compile(r"(mg|毫克|μg|µg|ug|mcg|微克)\s*/\s*(kg|公斤|千克)")
_TO_MG = {"mg": 1.0, "毫克": 1.0, "g": 1000.0, "克": 1000.0}
_MICRO = ("μg", "µg", "ug", "mcg", "微克")


class LabelMeta(Protocol):
    """The document metadata fields this module reads (``knowledge.schema.DocumentMeta``)."""

    @property
    def doc_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def product(self) -> str | None: ...
    @property
    def content_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def expires_on(self) -> date: ...
    @property
    def approved_indications(self) -> tuple[str, ...]: ...
    @property
    def approved_populations(self) -> tuple[str, ...]: ...
    @property
    def approved_dose(self) -> str | None: ...


@dataclass(frozen=True)
class ProductLabel:
    """What one product is approved for, in forms a question can be compared with."""

    product: str
    names: tuple[str, ...]  # normalised names a doctor may type (brand, generic, zh, en)
    indications: tuple[str, ...]  # normalised approved indication phrases
    populations: frozenset[str]  # canonical population codes
    dose_min_mg: float | None
    dose_max_mg: float | None
    weight_based: bool  # the label doses in mg/kg
    dose_text: str
    routes: frozenset[str] = frozenset()  # how it is given ("oral"); empty: not stated
    frequencies: frozenset[float] = frozenset()  # doses per day; empty: not stated

    def population_approved(self, code: str) -> bool:
        if code in self.populations:
            return True
        return code not in SPECIAL_POPULATIONS and "adult" in self.populations


def populations_in(text: str) -> set[str]:
    """Canonical population codes a (normalised) text mentions, ages included."""
    found = {code for code, pattern in POPULATION_PATTERNS.items() if pattern.search(text)}
    for match in _AGE.finditer(text):
        found.add("pediatric" if int(match.group(1)) < ADULT_AGE else "adult")
    if _MONTHS.search(text):
        found.add("pediatric")
    return found


def doses_in(text: str) -> list[float]:
    """Every dose a (normalised) text states, in milligrams."""
    doses = []
    for match in _DOSE.finditer(text):
        value, unit = float(match.group(1)), match.group(2)
        doses.append(value / 1000.0 if unit in _MICRO else value * _TO_MG[unit])
    return doses


def is_weight_based(text: str) -> bool:
    return bool(_PER_KG.search(text))


# A registered brand name ("诺拉维®") and the generic name in brackets after a brand
# ("Noravex® (nolavastatin calcium tablets)", "诺拉维®（诺拉伐他汀钙片）"), in normalised titles.
_BRAND = re.compile(r"([\u4e00-\u9fff]{2,8})\s*®")
_GENERIC = re.compile(
    r"®\s*\(\s*([a-z]{4,}|[\u4e00-\u9fff]{2,10}?)(?=\s|钙|钠|钾|片|胶囊|注射液|\))"
)
_NOT_NAMES = frozenset({"tablets", "capsules", "injection"})


def _names(product: str, titles: Iterable[str]) -> tuple[str, ...]:
    """Names a doctor may type: the metadata name, its parts, and aliases found in titles.

    The metadata has no alias field, so Chinese and generic names are taken from titles:
    a name paired with the product name in brackets ("诺维莎（Norvexa）…"), a registered
    brand ("诺拉维®…") and the generic name bracketed after a brand.
    """
    names = {normalise(product).strip()}
    for part in re.split(r"[()（）/、,，;；\[\]【】]", product):
        cleaned = normalise(part).strip()
        if len(cleaned) >= 2:
            names.add(cleaned)
    key = re.escape(normalise(product))
    paired = re.compile(
        rf"([\u4e00-\u9fff]{{2,8}})\s*\(\s*{key}\s*\)|{key}\s*\(\s*([\u4e00-\u9fff]{{2,8}})\s*\)"
    )
    for title in titles:
        norm = normalise(title)
        for match in paired.finditer(norm):
            names.add(match.group(1) or match.group(2))
        names.update(_BRAND.findall(norm))
        if key in norm or _BRAND.search(norm):
            names.update(m for m in _GENERIC.findall(norm) if m not in _NOT_NAMES)
    return tuple(sorted(names, key=len, reverse=True))


def build_labels(metas: Iterable[LabelMeta], today: date) -> dict[str, ProductLabel]:
    """One ``ProductLabel`` per product from its current prescribing-information metadata.

    Withdrawn or expired documents do not count. When a product has several PI documents
    (e.g. one per language) their facts are merged.
    """
    grouped: dict[str, list[LabelMeta]] = {}
    titles: dict[str, list[str]] = {}
    for meta in metas:
        if meta.product is not None:
            titles.setdefault(meta.product, []).append(meta.title)
        if meta.product is None or meta.status != "approved" or meta.expires_on < today:
            continue
        has_facts = meta.approved_indications or meta.approved_populations or meta.approved_dose
        if meta.content_type == "prescribing_information" or has_facts:
            grouped.setdefault(meta.product, []).append(meta)
    labels = {}
    for product, metas_of in grouped.items():
        indications = {normalise(i) for m in metas_of for i in m.approved_indications}
        populations: set[str] = set()
        for meta in metas_of:
            for phrase in meta.approved_populations:
                populations |= populations_in(normalise(phrase))
        dose_texts = [m.approved_dose for m in metas_of if m.approved_dose]
        doses = [d for text in dose_texts for d in doses_in(normalise(text))]
        labels[product] = ProductLabel(
            product=product,
            names=_names(product, titles.get(product, ())),
            indications=tuple(sorted(indications)),
            populations=frozenset(populations or {"adult"}),
            dose_min_mg=min(doses) if doses else None,
            dose_max_mg=max(doses) if doses else None,
            weight_based=any(is_weight_based(normalise(t)) for t in dose_texts),
            dose_text="；".join(dict.fromkeys(dose_texts)),
            routes=frozenset(r for t in dose_texts for r in routes_in(normalise(t))),
            frequencies=frozenset(f for t in dose_texts for f in frequencies_in(normalise(t))),
        )
    return labels


def products_named(text: str, labels: dict[str, ProductLabel]) -> list[ProductLabel]:
    """The products a (normalised) text names; when none exactly, those named with one typo
    ("诺拉为", "noravx"): the guardrails then still know which label the question is about."""
    exact = [label for label in labels.values() if any(n in text for n in label.names)]
    return exact or [
        label for label in labels.values() if any(_typo_of(n, text) for n in label.names)
    ]


_LATIN_NAME = re.compile(r"[a-z]{6,}")
_CJK_NAME = re.compile(r"[\u4e00-\u9fff]{3,}")


def _typo_of(name: str, text: str) -> bool:
    """Whether ``text`` has ``name`` with one edit, its first character kept: a changed
    character in a Chinese name of three or more characters; a changed, dropped or added
    letter in a Latin name of six or more letters (shorter names are too easily hit)."""
    if _CJK_NAME.fullmatch(name):
        sizes: tuple[int, ...] = (len(name),)
    elif _LATIN_NAME.fullmatch(name):
        sizes = (len(name) - 1, len(name), len(name) + 1)
    else:
        return False
    for start, char in enumerate(text):
        if char == name[0] and any(_one_edit(name, text[start : start + n]) for n in sizes):
            return True
    return False


def _one_edit(a: str, b: str) -> bool:
    """Exactly one substitution, insertion or deletion turns ``a`` into ``b``."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))
