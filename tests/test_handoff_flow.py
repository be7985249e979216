"""Handoff end to end through the dispatcher (both storage backends): request → card →
take-over (kf state 3) → bot silent → release → bot back; decline and SLA escalation with an
injected clock; outside working hours; 95014; adverse-event escalations reaching the rep."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.escalation import EscalationReason, request_escalation
from bot.models import ConversationMode, MessageKind
from bot.storage.base import Storage
from skills.handoff.briefing import open_ae_cases_key
from skills.handoff.kf_control import TransferRefused
from skills.handoff.service import ACCEPT_PREFIX, DECLINE_PREFIX, MI_REQUEST_CLICK
from skills.handoff.state import HandoffStatus
from tests.handoff_support import OPEN_KFID, SATURDAY_10PM, Harness, conversation_key


@dataclass
class RecordingKf:
    """Stands in for the WeCom kf API (the network boundary) until the simulator is wired."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    refuse_with: int | None = None
    refuse_move_with: int | None = None  # the servicer check passes, the move itself fails

    async def check_servicer(self, open_kfid: str, servicer: str) -> None:
        if self.refuse_with is not None:
            raise TransferRefused(self.refuse_with, "refused")

    async def hand_to_servicer(self, open_kfid: str, external_userid: str, servicer: str) -> None:
        refusal = self.refuse_with or self.refuse_move_with
        if refusal is not None:
            raise TransferRefused(refusal, "refused")
        self.calls.append(("servicer", external_userid, servicer))

    async def end_session(self, open_kfid: str, external_userid: str) -> None:
        self.calls.append(("end", external_userid, ""))


@pytest.fixture
def bot(storage: Storage) -> Harness:
    harness = Harness(storage)
    harness.service.kf = RecordingKf()
    return harness


def handoff_id_of(bot: Harness, rep: str) -> str:
    card = bot.reps_out.cards_for(rep)[-1]
    return card.buttons[0].key.removeprefix(ACCEPT_PREFIX)


async def test_take_over_silences_the_bot_and_release_brings_it_back(bot: Harness) -> None:
    await bot.doctor_says("二甲双胍的用法用量是什么？")
    replies = await bot.doctor_says("转人工")
    assert "张伟" in replies[0]  # the sample roster's rep for "doctor"
    assert await bot.drain() == 1
    card = bot.reps_out.cards_for("rep_zhang")[0]
    assert card.title.endswith("doctor")
    assert {b.key.split(":")[1] for b in card.buttons} == {"accept", "decline"}
    context = bot.reps_out.texts_for("rep_zhang")[0]
    assert "二甲双胍" in context and "医生要求联系代表" in context

    bot.clock.advance(minutes=3)
    answer = await bot.rep_sends(
        "rep_zhang", click_id=ACCEPT_PREFIX + handoff_id_of(bot, "rep_zhang"), code="rc-1"
    )
    assert "已接管" in answer[0]
    assert "doctor（doctor）" not in answer[0]  # no name known: the id once (trial #34)
    kf = bot.service.kf
    assert isinstance(kf, RecordingKf)
    assert kf.calls == [("servicer", "doctor", "rep_zhang")]
    assert bot.reps_out.updates[0][:2] == ("rep_zhang", "rc-1")
    assert "张伟已接管" in bot.reps_out.updates[0][2]
    assert any("正在接入" in t for t in bot.doctor_out.texts())
    assert (await bot.conversation()).mode is ConversationMode.HUMAN

    sent_before = len(bot.doctor_out.sent)
    assert await bot.doctor_says("代表您好，我想了解一下最新的研究") == []
    assert len(bot.doctor_out.sent) == sent_before  # silent, but the turn is kept for the rep
    assert "最新的研究" in str((await bot.conversation()).data)
    audited = [r for r in await bot.audit_records() if r.get("text", "").startswith("代表您好")]
    notes = audited[0]["annotations"]  # audit_rep: the doctor's rep, for the analytics
    assert notes == {"audit_human_mode": "rep_zhang", "audit_rep": "rep_zhang"}

    answer = await bot.rep_sends("rep_zhang", "/release doctor")
    assert "交还" in answer[0]
    assert kf.calls[-1] == ("end", "doctor", "")
    assert (await bot.conversation()).mode is ConversationMode.BOT
    replies = await bot.doctor_says("你好")
    assert "助手继续为您服务" in replies[0]  # kf: told at the first message after the end
    events = await bot.audit_events()
    assert events[:4] == ["requested", "offered", "taken_over", "closed"]
    histogram = bot.services.metrics.handoff_takeover_seconds.labels("explicit_request")
    assert histogram._sum.get() == 180.0  # type: ignore[attr-defined]


async def test_kf_session_end_event_resumes_the_bot(bot: Harness) -> None:
    await bot.doctor_says("I want to talk to a rep")
    await bot.drain()
    await bot.rep_sends("rep_zhang", click_id=ACCEPT_PREFIX + handoff_id_of(bot, "rep_zhang"))
    ended = bot.doctor_message(
        kind=MessageKind.EVENT,
        event="kf_session_status_change",
        extra={"service_state": 4, "change_type": 3},
    )
    await bot.dispatcher.feed(ended)
    assert (await bot.conversation()).mode is ConversationMode.BOT
    handoff = await bot.service.store.open_for(conversation_key("doctor"))
    assert handoff is None
    replies = await bot.doctor_says("hello")
    assert "assistant is back" in replies[0]


async def test_decline_then_timeout_walks_the_ladder(bot: Harness) -> None:
    await bot.doctor_says("找代表")
    await bot.drain()
    handoff_id = handoff_id_of(bot, "rep_zhang")
    answer = await bot.rep_sends("rep_zhang", click_id=DECLINE_PREFIX + handoff_id, code="rc-d")
    assert "已拒绝" in answer[0]
    assert bot.reps_out.cards_for("rep_li")  # the backup
    assert bot.services.metrics.handoff_declines.labels("explicit_request")._value.get() == 1  # type: ignore[attr-defined]

    bot.clock.advance(minutes=9)
    assert await bot.services.scheduler.run_due() == 0
    assert not bot.reps_out.cards_for("rep_wang")
    bot.clock.advance(minutes=2)
    assert await bot.services.scheduler.run_due() == 1  # rep_li's SLA ran out → the pool
    assert bot.reps_out.cards_for("rep_wang")  # the pool minus those already asked
    breaches = bot.services.metrics.handoff_sla_breaches.labels("backup")
    assert breaches._value.get() == 1  # type: ignore[attr-defined]

    bot.clock.advance(minutes=11)
    await bot.services.scheduler.run_due()
    handoff = await bot.service.store.get(handoff_id)
    assert handoff is not None and handoff.status is HandoffStatus.UNANSWERED
    assert "暂时没有代表" in str(bot.doctor_out.sent[-1].replies)
    # A late tap still works: the rep gets the conversation.
    await bot.rep_sends("rep_li", click_id=ACCEPT_PREFIX + handoff_id)
    assert (await bot.conversation()).mode is ConversationMode.HUMAN


async def test_pool_card_taken_by_one_rep_tells_the_others(bot: Harness) -> None:
    await bot.doctor_says("人工客服", doctor="walkin")  # no assigned rep: straight to the pool
    await bot.drain()
    assert bot.reps_out.cards_for("rep_wang") and bot.reps_out.cards_for("rep_li")
    handoff_id = handoff_id_of(bot, "rep_wang")
    await bot.rep_sends("rep_wang", click_id=ACCEPT_PREFIX + handoff_id)
    assert any("Taken over" in t for t in bot.reps_out.texts_for("rep_li"))
    late = await bot.rep_sends("rep_li", click_id=ACCEPT_PREFIX + handoff_id, code="rc-late")
    assert "王磊" in late[0]


async def test_outside_working_hours_tells_when_and_offers_an_mi_request(
    storage: Storage,
) -> None:
    bot = Harness(storage, now=SATURDAY_10PM)
    replies = await bot.doctor_says("转人工")
    assert "非工作时间" in replies[0] and "06-23 09:00" in replies[0]
    await bot.drain()
    # The SLA counts working minutes: nothing moves over the weekend.
    bot.clock.advance(hours=34)  # Monday 08:00
    assert await bot.services.scheduler.run_due() == 0
    bot.clock.advance(hours=1, minutes=11)  # Monday 09:11
    assert await bot.services.scheduler.run_due() == 1

    click = bot.doctor_message(
        "提交医学信息申请", kind=MessageKind.CLICK, click_id=MI_REQUEST_CLICK
    )
    ctx = await bot.dispatcher.feed(click)
    assert "医学问题" in ctx.replies[0].text  # type: ignore[union-attr]
    replies = await bot.doctor_says("阿托伐他汀和克拉霉素合用需要调整剂量吗？")
    assert "医学信息申请" in replies[0]
    await bot.drain()
    assert bot.reps_out.cards_for("msl_chen")


async def test_servicer_not_active_goes_back_to_the_rep(bot: Harness) -> None:
    kf = bot.service.kf
    assert isinstance(kf, RecordingKf)
    kf.refuse_with = 95014
    await bot.doctor_says("转人工")
    await bot.drain()
    handoff_id = handoff_id_of(bot, "rep_zhang")
    answer = await bot.rep_sends("rep_zhang", click_id=ACCEPT_PREFIX + handoff_id, code="rc-x")
    assert "95014" in answer[0] and "接待中" in answer[0]
    assert bot.reps_out.updates == []  # the response code stays usable for the retry
    assert (await bot.conversation()).mode is ConversationMode.BOT
    kf.refuse_with = None
    await bot.rep_sends("rep_zhang", click_id=ACCEPT_PREFIX + handoff_id, code="rc-x")
    assert (await bot.conversation()).mode is ConversationMode.HUMAN


async def test_the_doctor_is_told_a_rep_joins_only_when_wecom_accepts_the_rep(
    bot: Harness,
) -> None:
    kf = bot.service.kf
    assert isinstance(kf, RecordingKf)
    kf.refuse_with = 95014  # not a receiving servicer: nothing is said to the doctor
    await bot.doctor_says("转人工")
    await bot.drain()
    handoff_id = handoff_id_of(bot, "rep_zhang")
    told = len(bot.doctor_out.sent)
    await bot.rep_sends("rep_zhang", click_id=ACCEPT_PREFIX + handoff_id)
    assert len(bot.doctor_out.sent) == told
    kf.refuse_with, kf.refuse_move_with = None, 95016  # listed, but the move still fails
    answer = await bot.rep_sends("rep_zhang", click_id=ACCEPT_PREFIX + handoff_id)
    assert "95016" in answer[0]
    said = [t for m in bot.doctor_out.sent[told:] for t in bot.doctor_out.texts(m.conversation_key)]
    assert any("正在接入" in t for t in said) and "暂时无法接入" in said[-1]
    assert (await bot.conversation()).mode is ConversationMode.BOT


async def test_serious_adverse_event_reaches_the_rep(bot: Harness) -> None:
    await bot.doctor_says("你好")
    await bot.services.storage.set_add(open_ae_cases_key("doctor"), "AE-2025-0001")
    await request_escalation(
        bot.services.storage,
        conversation_key=conversation_key("doctor"),
        doctor_id="doctor",
        reason=EscalationReason.SERIOUS_ADVERSE_EVENT,
        at=bot.clock(),
        reference="AE-2025-0001",
    )
    sent_to_doctor = len(bot.doctor_out.sent)
    await bot.drain()
    card = bot.reps_out.cards_for("rep_zhang")[0]
    assert "严重不良事件" in card.description
    assert ("不良事件", "AE-2025-0001") in card.fields
    assert len(bot.doctor_out.sent) == sent_to_doctor  # the AE skill talks to the doctor

    # During the rep's chat, a new AE is passed to the rep as a warning (no new card).
    await bot.rep_sends("rep_zhang", click_id=ACCEPT_PREFIX + handoff_id_of(bot, "rep_zhang"))
    await request_escalation(
        bot.services.storage,
        conversation_key=conversation_key("doctor"),
        doctor_id="doctor",
        reason=EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE,
        at=bot.clock(),
        reference="AE-2025-0002",
    )
    await bot.drain()
    assert len(bot.reps_out.cards_for("rep_zhang")) == 1
    assert any("AE-2025-0002" in t for t in bot.reps_out.texts_for("rep_zhang"))


async def test_rep_commands_takeover_and_profile(bot: Harness) -> None:
    await bot.doctor_says("达格列净治疗心衰的临床试验数据有哪些？")
    profile = await bot.rep_sends("rep_zhang", "/profile doctor")
    assert "心血管" in profile[0] and "dapagliflozin" in profile[0]
    answer = await bot.rep_sends("rep_zhang", "/takeover doctor")
    assert "已接管" in answer[0]
    assert (await bot.conversation()).mode is ConversationMode.HUMAN
    unknown = await bot.rep_sends("rep_zhang", "/takeover nobody")
    assert "找不到" in unknown[0]
    assert OPEN_KFID  # the kf route was used
