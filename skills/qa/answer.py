"""Offline answers: approved passages verbatim, trimmed to whole sentences, each with its source.

Also the fixed texts the skill sends (no-information, off-label, comparative, individual-advice
and injection notices). They are standard wording written for this project; the Q&A tests
check that every sentence the bot sends is either one of these or approved content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from bot.models import Locale
from bot.outbound import WECOM_TEXT_LIMIT_BYTES
from skills.qa.textutil import trim_to_sentences, utf8_len

# One passage, one source line: a reply is read on a phone, and a second passage was most
# often the patient leaflet's wording of what the standard response had just said.
MAX_PASSAGES = 1
# A passage in the doctor's language is chosen over the best one when it scores nearly as well.
SECOND_PASSAGE_MARGIN = 0.05


class HitLike(Protocol):
    """The ``knowledge.base.Hit`` fields an answer uses."""

    @property
    def text(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def dense_score(self) -> float | None: ...
    @property
    def rerank_score(self) -> float | None: ...
    @property
    def doc_id(self) -> str: ...
    @property
    def chunk_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def section(self) -> str: ...
    @property
    def approval_code(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def citation(self) -> str: ...
    @property
    def product(self) -> str | None: ...
    @property
    def content_type(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def language(self) -> str: ...


# The question line of a standard response, up to its answer ("问题：… 标准回复：", "Question: …
# Standard response:"): the doctor asked the question already and gets the answer part only.
_SCAFFOLD = re.compile(
    r"^\s*(?:(?:问题|question)\s*[:：].*?)?(?:标准回复|standard\s+response)\s*[:：]\s*",
    re.IGNORECASE | re.DOTALL,
)


_QUESTION_ONLY = re.compile(r"^\s*(?:问题|question)\s*[:：][^\n]*\s*$", re.IGNORECASE)


def is_question_only(text: str) -> bool:
    """A chunk holding only the question line of a standard response (no answer)."""
    return bool(_QUESTION_ONLY.match(text))


def answer_part(text: str) -> str:
    """The passage without the question scaffolding of a standard response."""
    return _SCAFFOLD.sub("", text, count=1)


def section_label(title: str, section: str) -> str:
    """The section path without the document title, empty when it only repeats the title."""
    label = section.removeprefix(title).lstrip(" >")
    return "" if not label or label in title else label


def citation_line(
    hit: HitLike, locale: Locale, number: int | None = None, reference: str | None = None
) -> str:
    """Title, section, approval code and version, plus the publication ``reference`` if any."""
    section = section_label(hit.title, hit.section)
    # Title marks of the reply's language: 《…》 in Chinese, quotation marks in English.
    title = f"《{hit.title}》" if locale is Locale.ZH else f'"{hit.title}"'
    where = title + (f" · {section}" if section else "")
    if locale is Locale.ZH:
        line = f"来源：{where}｜批准编号 {hit.approval_code}｜版本 {hit.version}"
        line += f"｜文献：{reference}" if reference else ""
    else:
        line = f"Source: {where} | approval {hit.approval_code} | version {hit.version}"
        line += f" | reference: {reference}" if reference else ""
    return (f"[{number}] " if number is not None else "") + line


@dataclass(frozen=True)
class ComposedAnswer:
    text: str
    cited: tuple[HitLike, ...]


def select_passages(hits: Sequence[HitLike], locale: Locale) -> list[HitLike]:
    """The best hit, or a near-equal one in the doctor's language (``MAX_PASSAGES``).

    "Near-equal" is judged on the fused retrieval score even when a rerank service ordered the
    hits: the service's scale is unknown (and differs between services), the fused one is
    calibrated here, and the best hit is the service's choice either way.
    """
    if not hits:
        return []
    best = hits[0]
    close = [h for h in hits[1:] if h.score >= best.score - SECOND_PASSAGE_MARGIN]
    same_language = [h for h in [best, *close] if h.language == locale.value]
    ordered = same_language + [h for h in [best, *close] if h not in same_language]
    chosen: list[HitLike] = []
    for hit in ordered:
        if all(hit.chunk_id != c.chunk_id and hit.text != c.text for c in chosen):
            chosen.append(hit)
    return chosen[:MAX_PASSAGES]


def compose_offline(
    passages: Sequence[HitLike],
    locale: Locale,
    *,
    suffix: str = "",
    references: Mapping[str, str] | None = None,
    max_bytes: int = WECOM_TEXT_LIMIT_BYTES,
) -> ComposedAnswer | None:
    """Passages verbatim (whole sentences only) with their citations, within ``max_bytes``.

    ``suffix`` (a reminder, the compliance footer) is reserved first; ``references`` maps a
    doc_id to its publication reference. None when not even one sentence fits.
    """
    blocks: list[str] = []
    cited: list[HitLike] = []
    budget = max_bytes - utf8_len(suffix) - 4
    for hit in passages:
        citation = citation_line(hit, locale, reference=(references or {}).get(hit.doc_id))
        room = budget - sum(utf8_len(b) + 2 for b in blocks) - utf8_len(citation) - 1
        body = ""
        if room > 0 and not is_question_only(hit.text):
            body = trim_to_sentences(answer_part(hit.text), room)
        if not body:
            continue
        blocks.append(f"{body}\n{citation}")
        cited.append(hit)
    if not blocks:
        return None
    text = "\n\n".join(blocks) + (f"\n\n{suffix}" if suffix else "")
    return ComposedAnswer(text=text, cited=tuple(cited))


# --- standard wording ---------------------------------------------------------------------
def no_information(locale: Locale) -> str:
    return (
        "抱歉，关于这个问题目前没有经批准的信息可以提供。您可以提交医学信息请求，由医学部同事解答，"
        "或联系您的医药代表。"
        if locale is Locale.ZH
        else "Sorry, there is no approved information on that. You can submit a medical "
        "information request for our medical team to answer, or talk to your representative."
    )


def source_language(locale: Locale, language: str) -> str:
    """Said before an answer whose approved source is in another language than the doctor's
    (a study published in English answering a Chinese question): the passage is quoted as
    approved, not translated."""
    if locale is Locale.ZH:
        return (
            "以下回答来自英文版经批准资料："
            if language == "en"
            else "以下回答来自经批准资料（原文）："
        )
    return (
        "The approved source for this answer is in Chinese:"
        if language == "zh"
        else "The approved source for this answer is in another language:"
    )


def off_label(locale: Locale) -> str:
    return (
        "您询问的内容不在该产品已获批准的适应症、适用人群或用法用量范围内。按照合规要求，我们不能就"
        "未经批准的用法提供信息。如需进一步了解，您可以提交医学信息请求，由医学部同事回复。"
        if locale is Locale.ZH
        else "Your question concerns a use outside the product's approved indications, "
        "populations or dosing. We cannot provide information on unapproved uses. If you need "
        "more, you can submit a medical information request and our medical team will reply."
    )


def comparative(locale: Locale) -> str:
    return (
        "抱歉，我们不能与其他公司的产品进行比较或作出比较性的陈述。如需了解我们产品经批准的信息，"
        "请直接提问；也可以提交医学信息请求。"
        if locale is Locale.ZH
        else "Sorry, we cannot compare our products with other companies' products or make "
        "comparative claims. Ask about our product's approved information directly, or submit "
        "a medical information request."
    )


def physician_decision(locale: Locale) -> str:
    return (
        "以上为产品说明书等经批准资料中的信息。具体患者的治疗决定应由主治医生根据患者情况作出。"
        if locale is Locale.ZH
        else "The above is from approved product information. Treatment decisions for an "
        "individual patient rest with the treating physician."
    )


def individual_no_information(locale: Locale) -> str:
    return (
        "我们不能针对具体患者提供治疗建议，具体治疗决定应由主治医生作出。关于这个问题暂无可提供的"
        "经批准信息，您可以提交医学信息请求。"
        if locale is Locale.ZH
        else "We cannot give treatment advice for an individual patient; that decision rests "
        "with the treating physician. There is no approved information on this question; you "
        "can submit a medical information request."
    )


def injection_notice(locale: Locale) -> str:
    return (
        "我是医学信息助手，只能提供经批准的产品与文献信息，这一点无法更改。"
        if locale is Locale.ZH
        else "I am the medical information assistant and can only share approved product and "
        "literature information; that cannot be changed."
    )


def hcp_only(locale: Locale) -> str:
    return (
        "相关信息仅面向经过身份确认的医疗卫生专业人士。完成身份确认后即可查看。"
        if locale is Locale.ZH
        else "That information is for verified healthcare professionals only. It becomes "
        "available once your identity is confirmed."
    )


def verified_notice(locale: Locale) -> str:
    return (
        "您的医生身份已确认，现在可以查看面向医疗卫生专业人士的内容。"
        if locale is Locale.ZH
        else "Your identity as a healthcare professional is confirmed; professional content "
        "is now available to you."
    )


def not_current(
    locale: Locale, title: str, withdrawn: bool, expired_on: date, current: str | None
) -> str:
    """A withdrawn or expired document asked for by name: it is no longer approved, nothing
    of it is given, and the current one (by its title) is what can be asked about."""
    if locale is Locale.ZH:
        why = "已撤回，已被更新的内容取代" if withdrawn else f"已于 {expired_on.isoformat()} 过期"
        now = f"当前经批准的相关内容是“{current}”，如需了解请直接询问；" if current else ""
        return (
            f"您询问的“{title}”{why}，不再是经批准的内容，我不能提供其中的信息。"
            f"{now}也可以提交医学信息请求。"
        )
    if withdrawn:
        why = "was withdrawn and replaced by newer content"
    else:
        why = f"expired on {expired_on.isoformat()}"
    now = (
        f"The current approved content is '{current}': ask about it directly, or s"
        if current
        else "S"
    )
    return (
        f"'{title}' {why}; it is no longer approved content and I cannot share anything from "
        f"it. {now}ubmit a medical information request."
    )
