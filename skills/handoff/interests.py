"""The HCP interest profile: what a doctor asks about, counted per topic, product and area.

Updated from each message the bot handles (``note_interests``) and shown on the rep's card and
with ``/profile DOCTOR``. Only counts of fixed keywords are kept — never message text — and a
message touching an adverse event is skipped altogether, so the profile cannot carry case
details. Products also come from other skills' annotations (``ctx.data["products"]``, e.g. the
product of the Q&A answer's source).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.profiles import DoctorProfile

# label → keywords (zh first). Labels are what the rep reads.
THERAPEUTIC_AREAS: dict[str, tuple[str, ...]] = {
    "肿瘤 oncology": ("肿瘤", "癌", "化疗", "靶向", "免疫治疗", "cancer", "tumor", "oncolog"),
    "心血管 cardiology": ("高血压", "心衰", "心力衰竭", "冠心病", "血脂", "房颤", "心血管",
                          "hypertension", "heart failure", "cardio", "cholesterol", "atrial"),
    "糖尿病/内分泌 diabetes": ("糖尿病", "血糖", "胰岛素", "甲状腺", "diabet", "insulin",
                               "glyc", "thyroid"),
    "呼吸 respiratory": ("哮喘", "慢阻肺", "copd", "asthma", "肺炎", "respirat"),
    "神经/精神 neuro-psychiatry": ("抑郁", "焦虑", "癫痫", "阿尔茨海默", "帕金森", "depress",
                                   "anxiety", "epilep", "alzheimer", "parkinson"),
    "感染 infectious disease": ("感染", "抗生素", "抗菌", "病毒", "infection", "antibiotic",
                                "antiviral"),
    "免疫/风湿 immunology": ("类风湿", "银屑病", "狼疮", "风湿", "rheumat", "psoria", "lupus"),
}  # fmt: skip
TOPICS: dict[str, tuple[str, ...]] = {
    "用法用量 dosing": ("剂量", "用量", "用法", "怎么吃", "dose", "dosing", "dosage"),
    "疗效 efficacy": ("疗效", "有效率", "效果", "efficacy", "effective", "outcome"),
    "安全性 safety": ("安全性", "禁忌", "副作用", "不良反应", "safety", "contraindicat",
                      "side effect"),
    "相互作用 interactions": ("相互作用", "合用", "联用", "interaction", "combined with"),
    "临床研究 clinical studies": ("临床试验", "研究", "文献", "数据", "trial", "study",
                                  "literature", "evidence"),
    "指南 guidelines": ("指南", "共识", "guideline", "consensus"),
    "医保/准入 access": ("医保", "价格", "报销", "进院", "reimburse", "price", "insurance"),
    "学术会议 meetings": ("会议", "讲座", "直播", "meeting", "webinar", "congress"),
}  # fmt: skip
# International non-proprietary names commonly asked about; products of the knowledge base
# arrive as annotations instead.
PRODUCTS: dict[str, tuple[str, ...]] = {
    "metformin": ("二甲双胍", "metformin"),
    "atorvastatin": ("阿托伐他汀", "atorvastatin"),
    "amlodipine": ("氨氯地平", "amlodipine"),
    "pembrolizumab": ("帕博利珠单抗", "pembrolizumab"),
    "osimertinib": ("奥希替尼", "osimertinib"),
    "dapagliflozin": ("达格列净", "dapagliflozin"),
    "sacubitril/valsartan": ("沙库巴曲缬沙坦", "sacubitril", "entresto"),
    "rivaroxaban": ("利伐沙班", "rivaroxaban"),
    "semaglutide": ("司美格鲁肽", "semaglutide"),
    "adalimumab": ("阿达木单抗", "adalimumab"),
}
_MAX_LABELS = 50  # per category, so a profile stays small


def _matches(text: str, lexicon: dict[str, tuple[str, ...]]) -> list[str]:
    lowered = text.lower()
    return [label for label, keys in lexicon.items() if any(key in lowered for key in keys)]


def _count(counts: dict[str, int], labels: Iterable[str]) -> None:
    for label in labels:
        if label in counts or len(counts) < _MAX_LABELS:
            counts[label] = counts.get(label, 0) + 1


def note_interests(profile: DoctorProfile, text: str, products: Iterable[str] = ()) -> bool:
    """Count the areas, topics and products ``text`` mentions; True when anything changed."""
    areas = _matches(text, THERAPEUTIC_AREAS)
    topics = _matches(text, TOPICS)
    found_products = {*_matches(text, PRODUCTS), *(p for p in products if p)}
    _count(profile.therapeutic_areas, areas)
    _count(profile.topics, topics)
    _count(profile.products, sorted(found_products))
    return bool(areas or topics or found_products)


def top(counts: dict[str, int], limit: int = 3) -> list[str]:
    """The most frequent labels, most frequent first (ties alphabetically)."""
    return [label for label, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def summary(profile: DoctorProfile, limit: int = 3) -> str:
    """One line for a card: top areas, products and topics."""
    parts = [*top(profile.therapeutic_areas, limit), *top(profile.products, limit)]
    parts += top(profile.topics, limit)
    return "; ".join(parts) or "—"


def describe(profile: DoctorProfile) -> str:
    """The full profile for ``/profile DOCTOR`` (bilingual labels)."""

    def fmt(counts: dict[str, int]) -> str:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{label} ×{n}" for label, n in ranked) or "—"

    last = profile.last_contact_at
    return "\n".join(
        [
            f"医生 Doctor: {profile.display_name} ({profile.doctor_id})",
            f"医院 Hospital: {profile.hospital or '—'} / {profile.department or '—'}",
            f"认证 Verified: {'是 yes' if profile.verified else '否 no'}",
            f"治疗领域 Areas: {fmt(profile.therapeutic_areas)}",
            f"产品 Products: {fmt(profile.products)}",
            f"话题 Topics: {fmt(profile.topics)}",
            f"已报名会议 Meetings registered: {', '.join(profile.meetings_registered) or '—'}",
            f"已参加会议 Meetings attended: {', '.join(profile.meetings_attended) or '—'}",
            f"最近联系 Last contact: {last.isoformat(timespec='minutes') if last else '—'}",
        ]
    )
