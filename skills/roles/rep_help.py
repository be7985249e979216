"""Rep help (priority between meetings and the doctors' help): every corp member's message
that no rep command took — ``/help``, a greeting, an unknown ``/command``, free text — gets
the commands the member's roles allow, in their language; never the doctors' menu.
"""

from __future__ import annotations

from typing import Final

from bot.dispatcher import Context, Router
from bot.models import MessageKind, SenderType
from bot.services import Services
from skills.roles.actions import Action, rep_action
from skills.roles.policy import ROLES_NEEDED, access_of

# (action, Chinese line, English line), in the order shown; a line shows when the member's
# roles may attempt the action (``policy.ROLES_NEEDED``).
_COMMANDS: Final = (
    (
        Action.PROFILE,
        "/profile 医生 — 查看医生资料与兴趣",
        "/profile DOCTOR — profile and interests",
    ),
    (
        Action.TAKEOVER,
        "/takeover 医生 — 接管医生的对话",
        "/takeover DOCTOR — take over the conversation",
    ),
    (Action.RELEASE, "/release 医生 — 交还给助手", "/release DOCTOR — hand back to the bot"),
    (
        Action.VERIFY,
        "/verify 医生 — 确认医生身份",
        "/verify DOCTOR — confirm a doctor's HCP identity",
    ),
    (Action.MEETINGS, "/meetings — 会议列表", "/meetings — list the meetings"),
    (
        Action.INVITE,
        "/invite 会议 医生… — 邀请医生参会",
        "/invite MEETING DOCTOR… — invite doctors",
    ),
    (Action.ATTENDEES, "/attendees 会议 — 参会名单（CSV）", "/attendees MEETING — attendees (CSV)"),
)
_CARDS: Final = (
    (Action.HANDOFF_ACCEPT, "转人工卡片：接管 / 拒绝", "Handoff cards: take over / decline"),
    (Action.VERIFY, "医生身份确认卡片：确认 / 拒绝", "HCP verification cards: approve / decline"),
    (Action.PV_ACK, "不良事件卡片：确认收到", "Adverse-event cards: acknowledge"),
)


def _from_member(ctx: Context) -> bool:
    message = ctx.message
    return message.sender_type is SenderType.MEMBER and message.kind in (
        MessageKind.TEXT,
        MessageKind.CLICK,
    )


def create_router(services: Services, priority: int) -> Router:
    router = Router("rep_help", priority)

    @router.message(_from_member, flags=rep_action(Action.HELP))
    async def rep_help(ctx: Context) -> None:
        roles = access_of(services).roles(ctx.message.sender_id)
        text = ctx.message.text.strip()
        head = []
        if text.startswith("/") and text.split()[0].lower() not in ("/help", "/start"):
            unknown = text.split()[0]
            head.append(ctx.t(f"未知命令 {unknown}。", f"Unknown command {unknown}."))
        if not roles:
            head.append(
                ctx.t(
                    "您不在代表名单中，没有可用的代表命令；如需开通请联系管理员。",
                    "You are not in the rep roster, so no rep commands are available to you; "
                    "ask your administrator.",
                )
            )
            ctx.reply(ctx.t("".join(head), " ".join(head)))
            return
        lines = [*head, ctx.t("代表助手可用的命令：", "Rep assistant commands:")]
        lines += [ctx.t(zh, en) for action, zh, en in _COMMANDS if roles & ROLES_NEEDED[action]]
        cards = [ctx.t(zh, en) for action, zh, en in _CARDS if roles & ROLES_NEEDED[action]]
        if cards:
            lines.append(ctx.t("卡片操作：", "Card actions:"))
            lines += cards
        lines.append(
            ctx.t(
                "医生 = 医生ID或姓名。给医生的回复请在企业微信“微信客服”中发送。",
                "DOCTOR = doctor id or name. Reply to doctors in WeCom's WeChat Customer Service.",
            )
        )
        ctx.reply("\n".join(lines))

    return router
