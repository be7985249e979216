"""The human-mode gate: the bot keeps quiet while a rep has the conversation.

Runs after adverse-event screening (so a doctor's message in human mode is still audited and
screened) and before the skills. For doctors' messages it also

- keeps the short rolling transcript the rep's card shows,
- updates the interest profile (never from a message touching an adverse event),
- follows the kf session: a servicer picking the session up makes the conversation human,
  the session's end (state 4, or back to the bot) gives it back to the bot,
- asks for a rep after two messages in a row the bot could not help with (skills count them
  in ``Conversation.unhelped_in_a_row``), and
- tells the doctor the bot is back on their first message after a kf hand-back (the bot cannot
  write into an ended kf session).
"""

from __future__ import annotations

from bot.dispatcher import Context, NextStep
from bot.escalation import EscalationReason, request_escalation
from bot.models import ConversationMode, MessageKind, SenderType, TextReply
from bot.profiles import DoctorProfile
from skills.handoff import briefing
from skills.handoff.interests import note_interests
from skills.handoff.service import (
    CONVERSATION_HANDOFF_KEY,
    RESUME_NOTICE_KEY,
    HandoffService,
    resume_bot,
    resume_text,
)

KF_SESSION_EVENT = "kf_session_status_change"  # EVENT messages from the kf sync
_BOT_STATES = frozenset({0, 1, 4})  # untreated, bot, ended: nobody human has the session
_HUMAN_STATE = 3
NOT_HELPED_LIMIT = 2  # messages in a row the bot could not help with
_AE_CASE_ANNOTATIONS = ("ae_opened", "ae_case")  # set by the AE screening middleware / form


def touches_adverse_event(ctx: Context) -> bool:
    """True when AE screening judged the message a report, a case is open on it, or the AE
    report form is running."""
    if any(ctx.data.get(key) for key in _AE_CASE_ANNOTATIONS):
        return True
    if getattr(ctx.data.get("ae_verdict"), "report", False):
        return True
    form = ctx.conversation.form
    return form is not None and form.name.startswith(("ae", "adverse"))


def transcript_text(ctx: Context, text: str) -> str:
    """What the rep's "last messages" keep of a turn: an adverse-event turn (a report, the
    confirmation question, the report form, its summary) only as "forwarded to PV" with the
    case id. Least privilege: AE details go to PV, never to a sales rep's card."""
    asked_about = ctx.data.get("audit_ae_confirm") == "asked"  # the AE confirmation question
    if not (touches_adverse_event(ctx) or asked_about):
        return text
    form = ctx.conversation.form
    case = ctx.data.get("ae_case") or ctx.data.get("ae_opened")
    case = case or (form.slots.get("case_id") if form is not None else None)
    return f"[不良事件信息，已转药物警戒{f' {case}' if case else ''}]"


class HumanModeGate:
    def __init__(self, service: HandoffService) -> None:
        self._service = service

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        message = ctx.message
        if message.sender_type is not SenderType.EXTERNAL or not ctx.has_conversation:
            await next_step(ctx)
            return
        ctx.data["audit_rep"] = ctx.profile and self._service.roster.assigned_rep(ctx.profile)
        conversation = ctx.conversation
        if message.kind is MessageKind.EVENT and message.event == KF_SESSION_EVENT:
            await self._follow_session(ctx)
            return
        if conversation.mode is ConversationMode.HUMAN:
            said_by_doctor = transcript_text(ctx, message.text)
            briefing.remember_turn(conversation, "doctor", said_by_doctor, ctx.now)
            ctx.skill, ctx.handler = "handoff", "human_mode"
            rep = conversation.data.get(CONVERSATION_HANDOFF_KEY, {}).get("rep")
            ctx.data["audit_human_mode"] = rep or True
            return
        if message.kind is MessageKind.TEXT:
            said_by_doctor = transcript_text(ctx, message.text)
            briefing.remember_turn(conversation, "doctor", said_by_doctor, ctx.now)
        await next_step(ctx)
        if conversation.data.pop(RESUME_NOTICE_KEY, None):
            ctx.replies.insert(0, TextReply(text=resume_text(ctx.locale)))
        said = next((r.text for r in ctx.replies if isinstance(r, TextReply)), None)
        if said is None:
            said = next((getattr(r, "head", "") for r in ctx.replies), "")
        if said:
            briefing.remember_turn(conversation, "bot", transcript_text(ctx, said), ctx.now)
        if ctx.profile is None:
            return
        if (
            ctx.profile.personalised
            and message.kind is MessageKind.TEXT
            and not touches_adverse_event(ctx)
        ):
            products = ctx.data.get("products") or ()
            note_interests(ctx.profile, message.text, [str(p) for p in products])
        if conversation.unhelped_in_a_row >= NOT_HELPED_LIMIT and ctx.skill != "handoff":
            await self._escalate_not_helped(ctx, ctx.profile)

    async def _escalate_not_helped(self, ctx: Context, profile: DoctorProfile) -> None:
        """Two messages in a row the bot could not help with: get a rep, and say so."""
        ctx.conversation.unhelped_in_a_row = 0
        if await self._service.store.open_for(ctx.conversation.key) is not None:
            return
        reason = EscalationReason.NOT_HELPED
        await request_escalation(
            ctx.services.storage,
            conversation_key=ctx.conversation.key,
            doctor_id=profile.doctor_id,
            reason=reason,
            at=ctx.now,
            detail=ctx.message.text,
            extra={"doctor_notified": True},
        )
        ctx.data["audit_escalation"] = reason.value
        ctx.reply(*self._service.request_notice(profile, reason, ctx.locale))

    async def _follow_session(self, ctx: Context) -> None:
        """A kf session_status_change: who has the session now."""
        conversation = ctx.conversation
        extra = ctx.message.extra
        try:
            state = int(extra.get("service_state", -1))
        except (TypeError, ValueError):
            state = -1
        ctx.skill, ctx.handler = "handoff", "kf_session"
        ctx.data["audit_kf_state"] = state
        servicer = str(extra.get("new_servicer_userid") or extra.get("servicer_userid") or "")
        if state == _HUMAN_STATE and servicer:
            await self._service.servicer_joined(conversation, servicer)
        elif state in _BOT_STATES and conversation.mode is ConversationMode.HUMAN:
            handoff_id = conversation.data.get(CONVERSATION_HANDOFF_KEY, {}).get("id")
            resume_bot(conversation, notice_pending=True)
            if handoff_id:
                await self._service.close(handoff_id, "session_ended")
