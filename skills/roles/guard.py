"""``RepAccessGuard``: the one handler middleware that authorises every rep-side action.

Wired once on the dispatcher (``bot.wiring``), it wraps every matched handler:
- a route flagged with ``rep_action`` runs for a corp member only when ``Access.allows`` says
  so; otherwise the member gets one refusal in their language, nothing changes, the refusal is
  audited (kind ``forbidden``: who, what, target) and counted in
  ``vrep_errors_total{where="forbidden"}``; a doctor's message passes such a route by;
- a route without the flag is for doctors: a member's message passes it by, so members only
  ever reach routes that declare what they do (the rep help catches the rest).
It also puts the member's conversation in their language (see ``_apply_language``).
"""

from __future__ import annotations

from bot.dispatcher import UNHANDLED, Context, Handler, HandlerResult
from bot.i18n import detect_locale
from bot.models import Locale, SenderType
from skills.roles.actions import ACCESS_FLAG, ACTION_TEXT, Action, RepAction, Subject
from skills.roles.policy import Access, access_of


class RepAccessGuard:
    async def __call__(self, handler: Handler, ctx: Context) -> HandlerResult:
        spec = ctx.flags.get(ACCESS_FLAG)
        from_member = ctx.message.sender_type is SenderType.MEMBER
        if not isinstance(spec, RepAction):
            return UNHANDLED if from_member else await handler(ctx)
        if not from_member:
            return UNHANDLED
        access = access_of(ctx.services)
        _apply_language(ctx, access)
        subject = await spec.subject(ctx) if spec.subject is not None else None
        userid = ctx.message.sender_id
        if await access.allows(userid, spec.action, subject or _NOTHING):
            return await handler(ctx)
        target = subject.target if subject else ctx.message.click_id or ctx.message.text[:100]
        await refuse(ctx, spec.action, target)
        return None


async def refuse(ctx: Context, action: Action, target: str) -> None:
    """One clear answer, an audit record and the forbidden counter; nothing else happens."""
    zh, en = ACTION_TEXT[action]
    ctx.reply(ctx.t(f"您没有权限{zh}。", f"You are not allowed to {en}."))
    ctx.data["audit_forbidden"] = {"action": action.value, "target": target}
    ctx.services.metrics.errors.labels("forbidden").inc()
    await ctx.services.audit.record(
        "forbidden",
        ctx.now,
        who=ctx.message.sender_id,
        action=action.value,
        target=target,
        channel=ctx.message.channel.value,
        message_id=ctx.message.message_id,
    )


def _apply_language(ctx: Context, access: Access) -> None:
    """Chinese by default; English when the member writes English (set by the conversation
    state middleware) or the roster says ``language: en`` and this message shows no Chinese."""
    text = ctx.message.text
    written = None if text.startswith("/") else detect_locale(text)
    declared = access.roster.language_of(ctx.message.sender_id)
    if declared is Locale.EN and written is None and ctx.has_conversation:
        ctx.conversation.locale = declared


_NOTHING = Subject()
