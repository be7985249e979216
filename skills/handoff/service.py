"""The handoff workflow: escalation → cards to reps → take-over → hand-back.

``HandoffService`` is the one place that changes handoff records, the doctor's conversation
mode and the kf service state. Its entry points are called by the escalation worker (queued
requests), the router (card clicks, rep commands) and the human-mode gate (session ended).

Ladder: the assigned rep, each backup, then the on-duty pool (MI requests: the MI/MSL group).
Each stage has an SLA of ``VREP_HANDOFF_SLA_MINUTES`` *working* minutes; a decline by everyone
offered, or the SLA running out, moves to the next stage. Every step is audited (kind
``handoff``) and counted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.escalation import EscalationReason
from bot.i18n import counted, pick
from bot.masking import mask_identifiers
from bot.middlewares import load_conversation, save_conversation
from bot.models import (
    CardButton,
    CardReply,
    Channel,
    Conversation,
    ConversationMode,
    Locale,
    MenuOption,
    MenuReply,
    OutboundMessage,
    Reply,
    TextReply,
)
from bot.proactive import Unreachable, send_to_doctor
from bot.profiles import DoctorProfile, ProfileStore
from bot.services import Services
from bot.storage.base import ScheduledItem
from skills.handoff import briefing
from skills.handoff.kf_control import KfControl, TransferRefused
from skills.handoff.roster import Roster, Stage
from skills.handoff.state import (
    HANDOFF_TTL_S,
    LANE_MI,
    LANE_REP,
    Handoff,
    HandoffStatus,
    HandoffStore,
    StageRecord,
)

log = logging.getLogger(__name__)

SLA_SCHEDULE = "handoff-sla"
BOTH_LANES = (LANE_REP, LANE_MI)
ACCEPT_PREFIX = "handoff:accept:"
DECLINE_PREFIX = "handoff:decline:"
MI_REQUEST_CLICK = "handoff:mi"  # "leave a medical-information request" (out of hours)
CONVERSATION_HANDOFF_KEY = "handoff"  # Conversation.data: {"id", "rep", "since"} while human
RESUME_NOTICE_KEY = "handoff_resume_notice"  # Conversation.data: tell the doctor we're back

# Reasons where the doctor is not told about the rep search (the rep is informed in the
# background; the AE skill already told the doctor about the pharmacovigilance follow-up).
_SILENT_REASONS = frozenset(
    {
        EscalationReason.SERIOUS_ADVERSE_EVENT,
        EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE,
        EscalationReason.REP_TAKEOVER,
    }
)
_AE_REASONS = frozenset(
    {EscalationReason.SERIOUS_ADVERSE_EVENT, EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE}
)
_REASON_LABELS: dict[EscalationReason, tuple[str, str]] = {
    EscalationReason.EXPLICIT_REQUEST: ("医生要求联系代表", "Doctor asked for a rep"),
    EscalationReason.NOT_HELPED: ("助手连续两次未能解答", "Bot could not help twice in a row"),
    EscalationReason.MEDICAL_INFORMATION: ("医学信息请求", "Medical information request"),
    EscalationReason.SERIOUS_ADVERSE_EVENT: (
        "严重不良事件（已转药物警戒）",
        "Serious adverse event (sent to PV)",
    ),
    EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE: (
        "人工对话中的不良事件（已转药物警戒）",
        "Adverse event during human chat (sent to PV)",
    ),
    EscalationReason.COMPLAINT: ("投诉/强烈不满", "Complaint / strong dissatisfaction"),
    EscalationReason.REP_TAKEOVER: ("代表主动接管", "Rep take-over"),
}


@runtime_checkable
class CardUpdater(Protocol):
    """A sender that can rewrite a clicked card (WeCom update_template_card)."""

    async def update_card(
        self, userid: str, response_code: str, replace_name: str, card: CardReply | None = None
    ) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    """What a rep action produced: the answer for the rep (Chinese, English), and whether it
    changed anything."""

    zh: str
    en: str
    changed: bool = False

    def text(self, locale: Locale) -> str:
        return pick(locale, self.zh, self.en)


def reason_label(reason: EscalationReason) -> str:
    zh, en = _REASON_LABELS[reason]
    return f"{zh} / {en}"


def handoff_id_for(entry_id: str) -> str:
    """A stable handoff id for a queue entry: a redelivered request finds its own record."""
    return hashlib.sha1(entry_id.encode()).hexdigest()[:16]


class HandoffService:
    def __init__(self, services: Services, roster: Roster, kf: KfControl | None) -> None:
        self.services = services
        self.roster = roster
        self.kf = kf
        self.store = HandoffStore(services.storage)
        self.profiles = ProfileStore(services.storage)

    # -- small helpers -------------------------------------------------------------------------
    @property
    def _sla(self) -> timedelta:
        return timedelta(minutes=self.services.settings.handoff_sla_minutes)

    @property
    def rep_channel(self) -> Channel:
        """Reps are reached through the self-built app; the console stands in for it locally."""
        return Channel.APP if Channel.APP in self.services.senders else Channel.CONSOLE

    def _local(self, at: datetime) -> str:
        return at.astimezone(self.roster.timezone).strftime("%m-%d %H:%M")

    async def _audit(self, event: str, handoff: Handoff, **fields: Any) -> None:
        self.services.metrics.handoff_events.labels(event, handoff.reason.value).inc()
        await self.services.audit.record(
            "handoff",
            self.services.clock(),
            event=event,
            handoff_id=handoff.handoff_id,
            conversation=handoff.conversation_key,
            doctor=handoff.doctor_id,
            reason=handoff.reason.value,
            reference=handoff.reference,
            **fields,
        )

    async def tell_rep(self, userid: str, *replies: Reply, reference: str) -> None:
        await self.services.sender(self.rep_channel).send(
            OutboundMessage(
                channel=self.rep_channel,
                conversation_key=f"{self.rep_channel.value}:{userid}",
                recipient_id=userid,
                replies=replies,
                in_reply_to=reference,
            )
        )

    async def _tell_doctor(
        self, handoff: Handoff, profile: DoctorProfile, replies: tuple[Reply, ...], ref: str
    ) -> None:
        try:
            await send_to_doctor(self.services, profile, replies, reference=ref)
        except Unreachable as exc:
            await self._audit("doctor_unreachable", handoff, why=exc.reason.value)

    async def _doctor_locale(self, conversation_key: str) -> Locale:
        conversation = await load_conversation(self.services.storage, conversation_key)
        return conversation.locale if conversation else Locale.ZH

    async def update_conversation(
        self, conversation_key: str, change: Callable[[Conversation], None]
    ) -> None:
        """Apply ``change(conversation)`` under the conversation's lock (from outside it)."""
        storage = self.services.storage
        async with storage.lock(f"lock:conv:{conversation_key}", timeout_s=30.0) as fence:
            conversation = await load_conversation(storage, conversation_key)
            if conversation is None:
                return
            change(conversation)
            conversation.updated_at = self.services.clock()
            await save_conversation(
                storage, conversation, self.services.settings.conversation_ttl_s, fence=fence
            )

    # -- what the doctor is told when a rep is being looked for -----------------------------------
    def request_notice(
        self, profile: DoctorProfile, reason: EscalationReason, locale: Locale
    ) -> tuple[Reply, ...]:
        """In working hours: who and how soon; outside: when, plus an MI request option."""
        now = self.services.clock()
        stages = self.roster.stages(profile, reason)
        if not stages:
            return (TextReply(text=_no_rep_text(locale)),)
        stage = next((s for s in stages if self.roster.on_duty(s.userids, now)), None)
        who = self._stage_name(stage or stages[0], locale)
        minutes = self.services.settings.handoff_sla_minutes
        if stage is not None:
            return (
                TextReply(
                    text=pick(
                        locale,
                        f"好的，已为您联系{who}，通常会在 {minutes} 分钟内接入本对话，请稍候。",
                        f"Sure — I have asked {who} to join this chat; that usually takes less "
                        f"than {counted(minutes, 'minute')}.",
                    )
                ),
            )
        opening = self.roster.next_opening(stages[0].userids, now)
        when = (
            self._local(opening)
            if opening
            else pick(locale, "下一个工作日", "the next working day")
        )
        return (
            MenuReply(
                head=pick(
                    locale,
                    f"现在是非工作时间。已为您通知{who}，预计 {when} 之后联系您。"
                    "如有医学问题，也可以现在留下医学信息申请，由医学团队书面回复。",
                    f"It is outside working hours. I have notified {who}; expect contact after "
                    f"{when}. For a medical question you can also leave a medical-information "
                    "request now and the medical team will answer in writing.",
                ),
                options=(
                    MenuOption(
                        id=MI_REQUEST_CLICK,
                        label=pick(locale, "提交医学信息申请", "Leave an MI request"),
                    ),
                ),
            ),
        )

    def _stage_name(self, stage: Stage, locale: Locale) -> str:
        if stage.kind in ("rep", "backup"):
            return self.roster.name_of(stage.userids[0])
        if stage.kind == "mi":
            return pick(locale, "医学信息团队", "the medical information team")
        return pick(locale, "值班代表", "the rep on duty")

    # -- escalation requests (from the durable queue) --------------------------------------------
    async def handle_request(self, entry_id: str, payload: dict[str, Any]) -> None:
        """Act on one queued escalation once (a redelivery finds its record and stops)."""
        reason = EscalationReason(payload["reason"])
        conversation_key = str(payload["conversation_key"])
        doctor_id = str(payload["doctor_id"])
        extra = dict(payload.get("extra") or {})
        handoff_id = handoff_id_for(entry_id)
        storage = self.services.storage
        async with storage.lock(f"lock:handoff-conv:{conversation_key}", timeout_s=60.0):
            if await self.store.get(handoff_id) is not None:
                return  # redelivery of a request already acted on
            profile = await self.profiles.get_or_create(doctor_id)
            handoff = Handoff(
                handoff_id=handoff_id,
                conversation_key=conversation_key,
                doctor_id=doctor_id,
                reason=reason,
                detail=str(payload.get("detail") or ""),
                reference=payload.get("reference"),
                requested_at=_parse_time(payload.get("at"), self.services.clock()),
                stages=[
                    StageRecord(kind=s.kind, userids=list(s.userids))
                    for s in self.roster.stages(profile, reason)
                ],
            )
            if profile.contact is not None and profile.contact.conversation_key == conversation_key:
                handoff.channel = profile.contact.channel
                handoff.recipient_id = profile.contact.recipient_id
                handoff.route_extra = dict(profile.contact.extra)
            if reason in _AE_REASONS and handoff.reference:
                await storage.set_add(briefing.open_ae_cases_key(doctor_id), handoff.reference)
            running = await self.store.open_for(conversation_key, (handoff.lane,))
            if running is not None:
                if await storage.claim(f"handoff:joined:{handoff_id}", HANDOFF_TTL_S):
                    await self._join_running(running, handoff)
                return
            if reason is EscalationReason.MEDICAL_INFORMATION:
                await storage.set_add(
                    briefing.open_mi_requests_key(doctor_id), handoff.reference or handoff_id
                )
            await self.store.save(handoff)
            await self._audit("requested", handoff, detail=handoff.detail)
            if reason not in _SILENT_REASONS and not extra.get("doctor_notified"):
                locale = await self._doctor_locale(conversation_key)
                notice = self.request_notice(profile, reason, locale)
                await self._tell_doctor(handoff, profile, notice, f"handoff-{handoff_id}-ack")
            await self._offer_stage(handoff, profile, 0)

    async def _join_running(self, running: Handoff, new: Handoff) -> None:
        """A second request while a handoff runs: no new cards; adverse events reach the rep."""
        await self._audit("joined", running, joined_reason=new.reason.value, detail=new.detail)
        if new.reason in _AE_REASONS:
            reps = [running.taken_by] if running.taken_by else running.offered_to
            text = (
                f"⚠️ {reason_label(new.reason)}\n"
                f"医生 Doctor: {running.doctor_id}  病例 Case: {new.reference or '—'}\n"
                "病例已转药物警戒；请在对话中按流程收集随访信息，勿自行评估因果关系。\n"
                "The case went to pharmacovigilance; collect follow-up information as the SOP "
                "says and do not assess causality yourself."
            )
            for rep in reps:
                await self.tell_rep(
                    rep, TextReply(text=text), reference=f"handoff-{running.handoff_id}-ae-{rep}"
                )

    # -- offering cards --------------------------------------------------------------------------
    async def _offer_stage(self, handoff: Handoff, profile: DoctorProfile, index: int) -> None:
        """Send the cards of stage ``index`` and schedule its SLA; past the last: unanswered."""
        now = self.services.clock()
        if index >= len(handoff.stages):
            await self._unanswered(handoff, profile)
            return
        stage = handoff.stages[index]
        userids = tuple(stage.userids)
        later = [tuple(s.userids) for s in handoff.stages[index + 1 :]]
        if not self.roster.on_duty(userids, now) and any(
            self.roster.on_duty(others, now) for others in later
        ):  # off duty while someone further down the ladder works: don't let the doctor wait
            await self._audit("skipped_off_duty", handoff, stage=stage.kind, reps=list(userids))
            await self._offer_stage(handoff, profile, index + 1)
            return
        if stage.kind in ("pool", "mi"):
            userids = self.roster.on_duty_among(userids, now)
        handoff.stage_index = index
        handoff.offered_to = list(userids)
        handoff.offered_at = now
        handoff.declined_by = []
        handoff.ever_offered = sorted({*handoff.ever_offered, *userids})
        handoff.status = HandoffStatus.OFFERED
        await self.store.save(handoff)
        conversation = await load_conversation(self.services.storage, handoff.conversation_key)
        brief = await briefing.gather(self.services.storage, profile, conversation)
        for number, userid in enumerate(userids):
            context_text, card = rep_card(handoff, brief, userid, number)
            await self.tell_rep(
                userid,
                TextReply(text=context_text),
                card,
                reference=f"handoff-{handoff.handoff_id}-{index}-{userid}",
            )
        due = self.roster.add_working_time(userids, now, self._sla)
        await self.services.storage.schedule(
            SLA_SCHEDULE,
            handoff.handoff_id,
            due,
            {"handoff_id": handoff.handoff_id, "stage": index},
        )
        await self._audit(
            "offered", handoff, stage=stage.kind, reps=list(userids), due=due.isoformat()
        )

    async def _unanswered(self, handoff: Handoff, profile: DoctorProfile) -> None:
        handoff.status = HandoffStatus.UNANSWERED
        handoff.offered_to = []
        await self.store.save(handoff)
        await self._audit("unanswered", handoff)
        if handoff.reason not in _SILENT_REASONS:
            locale = await self._doctor_locale(handoff.conversation_key)
            notice = MenuReply(
                head=_no_rep_text(locale),
                options=(
                    MenuOption(
                        id=MI_REQUEST_CLICK,
                        label=pick(locale, "提交医学信息申请", "Leave an MI request"),
                    ),
                ),
            )
            await self._tell_doctor(handoff, profile, (notice,), f"handoff-{handoff.handoff_id}-na")

    async def on_sla_due(self, item: ScheduledItem) -> None:
        """Scheduler handler: the SLA of a stage ran out — next stage, if still unanswered."""
        handoff_id = str(item.payload["handoff_id"])
        self.services.sender(self.rep_channel)  # NoSender: left to a process that reaches reps
        async with self.services.storage.lock(HandoffStore.lock_name(handoff_id), timeout_s=60.0):
            handoff = await self.store.get(handoff_id)
            if (
                handoff is None
                or handoff.status is not HandoffStatus.OFFERED
                or handoff.stage_index != int(item.payload["stage"])
            ):
                return
            self.services.metrics.handoff_sla_breaches.labels(handoff.stage_kind).inc()
            await self._audit(
                "sla_breached", handoff, stage=handoff.stage_kind, reps=handoff.offered_to
            )
            for userid in handoff.offered_to:
                if userid not in handoff.declined_by:
                    await self.tell_rep(
                        userid,
                        TextReply(
                            text="⏰ 未在时限内响应，已转给下一位。"
                            f"Not answered in time; passed on. ({handoff.doctor_id})"
                        ),
                        reference=f"handoff-{handoff_id}-{handoff.stage_index}-{userid}-sla",
                    )
            profile = await self.profiles.get_or_create(handoff.doctor_id)
            await self._offer_stage(handoff, profile, handoff.stage_index + 1)

    # -- rep actions -----------------------------------------------------------------------------
    async def accept(self, handoff_id: str, rep: str, response_code: str | None) -> Outcome:
        """A rep tapped "take over"."""
        async with self.services.storage.lock(HandoffStore.lock_name(handoff_id), timeout_s=60.0):
            handoff = await self.store.get(handoff_id)
            if handoff is None:
                return Outcome("该请求已不存在。", "This request no longer exists.")
            if handoff.status is HandoffStatus.ACTIVE:
                who = self.roster.name_of(handoff.taken_by or "")
                at = self._local(handoff.taken_at or self.services.clock())
                await self._update_card(rep, response_code, f"已由{who}接管 {at}")
                return Outcome(
                    f"已由 {who} 于 {at} 接管。", f"Already taken over by {who} at {at}."
                )
            if handoff.status is HandoffStatus.CLOSED:
                await self._update_card(rep, response_code, "已结束 Closed")
                return Outcome("该请求已结束。", "This request is closed.")
            if rep not in handoff.ever_offered:
                return Outcome("该请求未分配给您。", "This request was not offered to you.")
            outcome = await self._take_over(handoff, rep)
            if outcome.changed:
                at = self._local(handoff.taken_at or self.services.clock())
                await self._update_card(
                    rep, response_code, f"{self.roster.name_of(rep)}已接管 {at}"
                )
            return outcome

    async def decline(self, handoff_id: str, rep: str, response_code: str | None) -> Outcome:
        """A rep tapped "decline": when everyone offered declined, the next stage."""
        async with self.services.storage.lock(HandoffStore.lock_name(handoff_id), timeout_s=60.0):
            handoff = await self.store.get(handoff_id)
            if handoff is None or handoff.status is not HandoffStatus.OFFERED:
                await self._update_card(rep, response_code, "已处理 Handled")
                return Outcome("该请求已处理。", "This request has already been handled.")
            if rep not in handoff.offered_to or rep in handoff.declined_by:
                return Outcome("该请求当前不在您这里。", "This request is not with you now.")
            handoff.declined_by.append(rep)
            self.services.metrics.handoff_declines.labels(handoff.reason.value).inc()
            await self.store.save(handoff)
            await self._audit("declined", handoff, rep=rep, stage=handoff.stage_kind)
            at = self._local(self.services.clock())
            await self._update_card(rep, response_code, f"{self.roster.name_of(rep)}已拒绝 {at}")
            if set(handoff.offered_to) <= set(handoff.declined_by):
                await self.services.storage.cancel(SLA_SCHEDULE, handoff_id)
                profile = await self.profiles.get_or_create(handoff.doctor_id)
                await self._offer_stage(handoff, profile, handoff.stage_index + 1)
            return Outcome("已拒绝，已转给下一位。", "Declined; passed on.", changed=True)

    async def takeover_command(self, rep: str, doctor: DoctorProfile) -> Outcome:
        """``/takeover DOCTOR``: the rep takes the doctor's latest conversation directly."""
        if doctor.contact is None:
            return Outcome(
                "该医生还没有与助手对话过。", "This doctor has not chatted with the bot."
            )
        conversation_key = doctor.contact.conversation_key
        async with self.services.storage.lock(
            f"lock:handoff-conv:{conversation_key}", timeout_s=60.0
        ):
            handoff = await self.store.open_for(conversation_key)
            if handoff is None:
                now = self.services.clock()
                handoff = Handoff(
                    handoff_id=handoff_id_for(
                        f"takeover:{rep}:{conversation_key}:{now.isoformat()}"
                    ),
                    conversation_key=conversation_key,
                    doctor_id=doctor.doctor_id,
                    reason=EscalationReason.REP_TAKEOVER,
                    requested_at=now,
                    stages=[StageRecord(kind="rep", userids=[rep])],
                    stage_index=0,
                    offered_to=[rep],
                    offered_at=now,
                    ever_offered=[rep],
                    channel=doctor.contact.channel,
                    recipient_id=doctor.contact.recipient_id,
                    route_extra=dict(doctor.contact.extra),
                )
                await self.store.save(handoff)
                await self._audit("requested", handoff, rep=rep)
        async with self.services.storage.lock(
            HandoffStore.lock_name(handoff.handoff_id), timeout_s=60.0
        ):
            current = await self.store.get(handoff.handoff_id)
            if current is None or current.status is HandoffStatus.CLOSED:
                return Outcome("该请求已结束。", "This request is closed.")
            if current.status is HandoffStatus.ACTIVE:
                if current.taken_by == rep:
                    return Outcome("您已在接待该医生。", "You already have this conversation.")
                who = self.roster.name_of(current.taken_by or "")
                return Outcome(f"该对话已由 {who} 接管。", f"{who} already has this conversation.")
            if rep not in current.ever_offered:
                current.ever_offered.append(rep)
            return await self._take_over(current, rep)

    async def _take_over(self, handoff: Handoff, rep: str) -> Outcome:
        """Move the kf session to the rep, switch the conversation to human, tell the doctor —
        who hears a rep joins only once WeCom accepts the rep (see ``_move_kf_session``)."""
        now = self.services.clock()
        profile = await self.profiles.get_or_create(handoff.doctor_id)
        locale = await self._doctor_locale(handoff.conversation_key)
        name = self.roster.name_of(rep)
        joining = TextReply(
            text=pick(
                locale,
                f"代表{name}正在接入，接下来将由{name}在本对话中直接为您服务。",
                f"{name} is joining and will continue this conversation with you.",
            )
        )
        reference = f"handoff-{handoff.handoff_id}-taken"
        if handoff.channel is Channel.KF and self.kf is not None:
            refused = await self._move_kf_session(handoff, profile, rep, joining, reference)
            if refused is not None:
                self.services.metrics.errors.labels("handoff_kf_trans").inc()
                await self._audit("takeover_failed", handoff, rep=rep, errcode=refused.errcode)
                return Outcome(refused.advice(Locale.ZH), refused.advice(Locale.EN))
        since = now.isoformat()

        def to_human(conversation: Conversation) -> None:
            conversation.mode = ConversationMode.HUMAN
            conversation.data[CONVERSATION_HANDOFF_KEY] = {
                "id": handoff.handoff_id,
                "rep": rep,
                "since": since,
            }
            conversation.data.pop(RESUME_NOTICE_KEY, None)

        await self.update_conversation(handoff.conversation_key, to_human)
        await self._mark_taken(handoff, rep, via="card")
        if handoff.channel is not Channel.KF or self.kf is None:
            await self._tell_doctor(handoff, profile, (joining,), reference)
        for other in handoff.offered_to:
            if other != rep:
                await self.tell_rep(
                    other,
                    TextReply(text=f"{handoff.doctor_id}: 已由 {name} 接管。Taken over by {name}."),
                    reference=f"handoff-{handoff.handoff_id}-taken-{other}",
                )
        where = (
            "请在企业微信“微信客服”工作台中回复医生。"
            if handoff.channel is Channel.KF
            else "医生的消息会转给您处理。"
        )
        # the id in brackets only after a name (trial #34: "doc_sim2（doc_sim2）")
        who = f"{profile.name}（{handoff.doctor_id}）" if profile.name else handoff.doctor_id
        return Outcome(
            f"您已接管 {who} 的对话。{where}"
            f"结束后请结束会话，或发送 /release {handoff.doctor_id}。",
            f"You have taken over {profile.display_name}. When done, end the session or send "
            f"/release {handoff.doctor_id}.",
            changed=True,
        )

    async def _move_kf_session(
        self,
        handoff: Handoff,
        profile: DoctorProfile,
        rep: str,
        joining: TextReply,
        reference: str,
    ) -> TransferRefused | None:
        """Move the kf session to the rep; None when it moved, else WeCom's refusal.

        The doctor hears that the rep joins only once WeCom listed the rep as receiving (the
        bot cannot message a session a human holds, so this is the last moment to say it);
        should the move itself still fail, they are told the assistant carries on.
        """
        assert self.kf is not None
        open_kfid = str(handoff.route_extra.get("open_kfid", ""))
        try:
            await self.kf.check_servicer(open_kfid, rep)
        except TransferRefused as refused:
            return refused
        await self._tell_doctor(handoff, profile, (joining,), reference)
        try:
            await self.kf.hand_to_servicer(open_kfid, handoff.recipient_id, rep)
        except TransferRefused as refused:
            locale = await self._doctor_locale(handoff.conversation_key)
            still_bot = TextReply(
                text=pick(
                    locale,
                    "抱歉，代表暂时无法接入，医学信息助手继续为您服务；代表会尽快联系您。",
                    "Sorry, the rep could not join just now; the assistant carries on and the "
                    "rep will contact you soon.",
                )
            )
            correction = f"{reference}-not-joined"
            await self._tell_doctor(handoff, profile, (still_bot,), correction)
            return refused
        return None

    async def servicer_joined(self, conversation: Conversation, servicer: str) -> None:
        """kf reports a human servicer on the session (our transfer, or picked up in WeCom's
        workbench): the conversation is human, and an offered handoff counts as taken."""
        handoff = await self.store.open_for(conversation.key, BOTH_LANES)
        conversation.mode = ConversationMode.HUMAN
        conversation.data[CONVERSATION_HANDOFF_KEY] = {
            "id": handoff.handoff_id if handoff else None,
            "rep": servicer,
            "since": self.services.clock().isoformat(),
        }
        if handoff is None or handoff.status is not HandoffStatus.OFFERED:
            return
        async with self.services.storage.lock(
            HandoffStore.lock_name(handoff.handoff_id), timeout_s=60.0
        ):
            current = await self.store.get(handoff.handoff_id)
            if current is None or current.status is not HandoffStatus.OFFERED:
                return
            await self._mark_taken(current, servicer, via="kf_workbench")

    async def _mark_taken(self, handoff: Handoff, rep: str, *, via: str) -> None:
        now = self.services.clock()
        await self.services.storage.cancel(SLA_SCHEDULE, handoff.handoff_id)
        handoff.status = HandoffStatus.ACTIVE
        handoff.taken_by, handoff.taken_at = rep, now
        await self.store.save(handoff)
        waited = max(0.0, (now - handoff.requested_at).total_seconds())
        self.services.metrics.handoff_takeover_seconds.labels(handoff.reason.value).observe(waited)
        await self._audit("taken_over", handoff, rep=rep, via=via, waited_s=round(waited, 1))

    async def release_command(self, rep: str, doctor: DoctorProfile) -> Outcome:
        """``/release DOCTOR``: end the kf session and give the conversation back to the bot."""
        if doctor.contact is None:
            return Outcome("该医生没有进行中的对话。", "This doctor has no conversation.")
        handoff = await self.store.open_for(doctor.contact.conversation_key, BOTH_LANES)
        if handoff is None or handoff.status is not HandoffStatus.ACTIVE:
            return Outcome("该对话当前不在人工模式。", "This conversation is not with a human.")
        if handoff.channel is Channel.KF and self.kf is not None:
            try:
                await self.kf.end_session(
                    str(handoff.route_extra.get("open_kfid", "")), handoff.recipient_id
                )
            except TransferRefused as refused:  # already ended: the bot resumes anyway
                await self._audit("end_session_refused", handoff, errcode=refused.errcode)
        notify_now = handoff.channel is not Channel.KF  # kf: told at their next message

        def to_bot(conversation: Conversation) -> None:
            resume_bot(conversation, notice_pending=not notify_now)

        await self.update_conversation(handoff.conversation_key, to_bot)
        await self.close(handoff.handoff_id, "released", by=rep)
        if notify_now:
            locale = await self._doctor_locale(handoff.conversation_key)
            await self._tell_doctor(
                handoff,
                doctor,
                (TextReply(text=resume_text(locale)),),
                f"handoff-{handoff.handoff_id}-resumed",
            )
        return Outcome(
            f"已将 {doctor.display_name} 交还给助手。",
            f"{doctor.display_name} is back with the bot.",
            changed=True,
        )

    async def close(self, handoff_id: str, why: str, *, by: str | None = None) -> None:
        """Mark a handoff closed (released, session ended) and drop its open MI request."""
        async with self.services.storage.lock(HandoffStore.lock_name(handoff_id), timeout_s=60.0):
            handoff = await self.store.get(handoff_id)
            if handoff is None or handoff.status is HandoffStatus.CLOSED:
                return
            handoff.status = HandoffStatus.CLOSED
            handoff.closed_at = self.services.clock()
            handoff.close_reason = why
            await self.store.save(handoff)
            await self.services.storage.cancel(SLA_SCHEDULE, handoff_id)
            if handoff.reason is EscalationReason.MEDICAL_INFORMATION:
                await self.services.storage.set_remove(
                    briefing.open_mi_requests_key(handoff.doctor_id),
                    handoff.reference or handoff_id,
                )
            await self._audit("closed", handoff, why=why, by=by)

    async def _update_card(self, rep: str, response_code: str | None, replace_name: str) -> None:
        sender = self.services.senders.get(self.rep_channel)
        if response_code and isinstance(sender, CardUpdater):
            await sender.update_card(rep, response_code, replace_name)


def resume_bot(conversation: Conversation, *, notice_pending: bool) -> None:
    """Give the conversation back to the bot (after a release or the session's end)."""
    conversation.mode = ConversationMode.BOT
    conversation.data.pop(CONVERSATION_HANDOFF_KEY, None)
    conversation.unhelped_in_a_row = 0
    if notice_pending:
        conversation.data[RESUME_NOTICE_KEY] = True


def resume_text(locale: Locale) -> str:
    return pick(
        locale,
        "代表已结束本次人工服务，接下来由医学信息助手继续为您服务。如需再次联系代表，回复“转人工”。",
        "The rep has finished; the medical information assistant is back. Reply 'human' to "
        "reach a rep again.",
    )


def _no_rep_text(locale: Locale) -> str:
    return pick(
        locale,
        "抱歉，目前暂时没有代表可以接入。我们已记录您的请求，代表会尽快联系您。",
        "Sorry, no rep is available right now. Your request is logged and a rep will contact "
        "you as soon as possible.",
    )


def _parse_time(value: Any, fallback: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return fallback
    return parsed if parsed.tzinfo else fallback


def rep_card(
    handoff: Handoff, brief: briefing.Briefing, userid: str, number: int
) -> tuple[str, CardReply]:
    """The context message and the take-over/decline card for one rep."""
    lines = [
        f"【转人工 Handoff】{brief.doctor} · {brief.hospital} · {brief.department}",
        f"原因 Reason: {reason_label(handoff.reason)}",
    ]
    if handoff.detail:
        lines.append(f"说明 Detail: {mask_identifiers(handoff.detail)}")
    lines.append("最近消息 Last messages:")
    lines.extend(f"  {line}" for line in brief.transcript[-6:] or ["—"])
    lines.append(f"未结不良事件病例 Open AE cases: {', '.join(brief.ae_cases) or '—'}")
    lines.append(f"未结医学信息申请 Open MI requests: {', '.join(brief.mi_requests) or '—'}")
    lines.append(f"兴趣 Interests: {brief.interests}")
    last = brief.transcript[-1] if brief.transcript else "—"
    card = CardReply(
        task_id=f"handoff-{handoff.handoff_id}-{handoff.stage_index}-{number}",
        title=f"转人工：{brief.doctor}",
        description=_clip(f"{reason_label(handoff.reason)} | {last}", 120),
        fields=(
            ("医院", _clip(brief.hospital, 26)),
            ("科室", _clip(brief.department, 26)),
            ("原因", _clip(_REASON_LABELS[handoff.reason][0], 26)),
            ("不良事件", _clip(", ".join(brief.ae_cases) or "—", 26)),
            ("MI申请", _clip(", ".join(brief.mi_requests) or "—", 26)),
            ("兴趣", _clip(brief.interests, 26)),
        ),
        buttons=(
            CardButton(key=f"{ACCEPT_PREFIX}{handoff.handoff_id}", text="接管 Take over", style=1),
            CardButton(key=f"{DECLINE_PREFIX}{handoff.handoff_id}", text="拒绝 Decline", style=2),
        ),
    )
    return "\n".join(lines), card


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
