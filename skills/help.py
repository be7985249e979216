"""Help skill: greets, shows what the bot can do, and answers what nothing else handles.

Two routers: ``create_router`` (greetings, the main menu, unsupported message kinds) runs
before the content skills; ``create_fallback_router`` catches whatever no skill handled.
"""

from __future__ import annotations

import re

from bot.dispatcher import Context, Router
from bot.escalation import count_not_helped
from bot.models import Channel, MenuOption, MenuReply, MessageKind
from bot.services import Services
from bot.wecom.senders import MORE_CLICK_ID, KfSender
from media import media_problem

HELP_CLICK = "help"
MAIN_MENU_IDS = ("qa:ask", "meetings:list", "ae:report", "handoff:rep")

GREETING = re.compile(
    r"^\s*((你好|您好|hi|hello|hey|help|帮助|菜单|menu|在吗|在么|在嘛|在不在|有人吗|有人在吗|有没有人(在)?"
    r"|人呢|喂+|开始|start|哈喽|嗨|早上好|下午好|晚上好|good (morning|afternoon|evening)"
    r"|(is )?any(one|body) (there|here|around)|are you there|you there)"
    r"(啊|呀|哈|\s+(there|all|everyone))?|\?|？)"
    r"\s*[!！.。~～?？]*\s*$",  # "hello??", "在吗？？", "有人吗": impatience, still a greeting
    re.IGNORECASE,
)


def main_menu(ctx: Context, head: str | None = None) -> MenuReply:
    """The menu of everything a doctor can do, in the conversation's language."""
    labels = {
        "qa:ask": ctx.t("文献与产品问答", "Literature and product questions"),
        "meetings:list": ctx.t("学术会议", "Academic meetings"),
        "ae:report": ctx.t("报告不良事件", "Report an adverse event"),
        "handoff:rep": ctx.t("联系医药代表", "Talk to a representative"),
    }
    return MenuReply(
        head=head
        or ctx.t(
            "您好！我是医学信息助手，只提供经审批的产品与文献信息。请问需要什么帮助？",
            "Hello! I am the medical information assistant and share approved product and "
            "literature information only. How can I help?",
        ),
        options=tuple(MenuOption(id=option, label=labels[option]) for option in MAIN_MENU_IDS),
        tail=ctx.t("也可以直接输入您的问题。", "You can also type your question."),
    )


def _is_greeting(ctx: Context) -> bool:
    message = ctx.message
    if message.kind is MessageKind.CLICK:
        return message.click_id == HELP_CLICK
    return message.kind is MessageKind.TEXT and bool(GREETING.match(message.text))


def _is_unsupported_media(ctx: Context) -> bool:
    return ctx.message.kind in (MessageKind.IMAGE, MessageKind.VOICE, MessageKind.FILE)


def create_router(services: Services, priority: int) -> Router:
    router = Router("help", priority)

    @router.message(_is_greeting)
    async def greet(ctx: Context) -> None:
        ctx.reply(main_menu(ctx))

    @router.message(lambda ctx: ctx.message.click_id == MORE_CLICK_ID)
    async def show_the_rest(ctx: Context) -> None:
        """kf held back part of a long answer (message budget); the doctor asked for it."""
        sender = ctx.services.senders.get(Channel.KF)
        sent = isinstance(sender, KfSender) and await sender.send_more(
            ctx.message.conversation_key,
            str(ctx.message.extra.get("open_kfid", "")),
            ctx.message.sender_id,
        )
        if not sent:
            ctx.reply(
                main_menu(
                    ctx, ctx.t("没有更多内容了。还需要什么帮助？", "That was all. Anything else?")
                )
            )

    @router.message(_is_unsupported_media)
    async def media_not_read(ctx: Context) -> None:
        """A voice note, image or file the media step could not read: why, and what to do."""
        ctx.reply(media_problem(ctx))

    return router


def create_fallback_router(services: Services, priority: int) -> Router:
    router = Router("fallback", priority)

    @router.message(lambda ctx: ctx.message.kind in (MessageKind.TEXT, MessageKind.CLICK))
    async def not_understood(ctx: Context) -> None:
        count_not_helped(ctx.conversation, ctx.message.text)
        ctx.reply(
            main_menu(
                ctx,
                ctx.t(
                    "抱歉，我没有理解您的意思。您可以选择：",
                    "Sorry, I did not understand that. You can choose:",
                ),
            )
        )

    @router.message(lambda ctx: ctx.message.kind is MessageKind.OTHER)
    async def unsupported_kind(ctx: Context) -> None:
        ctx.reply(
            ctx.t(
                "抱歉，暂不支持这种消息类型，请发送文字。",
                "Sorry, this kind of message is not supported; please send text.",
            )
        )

    return router
