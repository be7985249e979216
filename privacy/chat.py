"""The privacy duties in the chat: a middleware that knows where the doctor stands and shows
the notice, and a router that takes the doctor's answers and requests.

``ConsentMiddleware`` runs after adverse-event screening (which sees every message first) and
before the human-mode gate. On each doctor message it folds the consent history into the
profile's flags (``contact_consented``, ``personalised``: the interest profile and unsolicited
messages depend on them), indexes the conversation under the doctor, and after the skills
answered: puts the notice before everything else when the current version is unanswered
(again a day later if ignored), says once that an adverse event is forwarded to
pharmacovigilance by law when the doctor has not agreed, and after an erasure in this message
drops the conversation state and profile the skills still hold, so nothing is saved back.

The router (``create_router``) takes the notice's buttons and a typed yes/no right after the
notice (read with ``bot.yesno``: "不同意" is a no), the requests of ``privacy.commands``, and the
erasure's confirmation, which waits in the conversation state so a restart in between loses
nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.dispatcher import UNHANDLED, Context, HandlerResult, NextStep, Router
from bot.middlewares import TEXT_WITHHELD
from bot.models import Conversation, ConversationMode, MessageKind, SenderType, TextReply
from bot.services import WELCOME_SHOWN, Services
from bot.yesno import YesNo, read_yes_no
from privacy import render, texts
from privacy.commands import Request, normalise, recognise
from privacy.holdings import DOCTORS_KEY, conversations_key
from privacy.records import ConsentEvent, Standing
from privacy.service import PrivacyService, clear_interests, privacy_service
from skills.adverse_events.form import ANSWERED_ASIDE, takes_aside
from skills.handoff.middleware import touches_adverse_event
from skills.help import main_menu

PENDING_KEY = "privacy_pending"  # Conversation.data: "consent" or "erase", for the next message
NOTICE_KEY = "privacy_notice"  # Conversation.data: {"version", "at"} of the last notice shown
INDEXED_KEY = "privacy_indexed"  # Conversation.data: the conversation is in the doctor's index
AE_TOLD_KEY = "privacy_ae_told"  # Conversation.data: the AE-before-consent note was given
STANDING = "privacy_standing"  # ctx.data: the doctor's Standing
PENDING = "privacy_pending"  # ctx.data: what the previous reply waited for
ERASED = "privacy_erased"  # ctx.data: the doctor's data was erased by this message
NOTICE_AGAIN_AFTER = timedelta(hours=24)  # an ignored notice is shown again after this
_SHORT_ANSWER = 8  # normalised characters: a longer unclear text at the erasure question moves on
# A yes to the notice must say yes to it explicitly (PIPL Art. 14: "同意", "可以", "yes", "I
# agree"): "好的" or "ok thanks" after the notice and an answer acknowledges the answer, so it is
# no consent; nor is a yes to something else ("确认删除"). A yes to the erasure must be explicit,
# not a hesitant "嗯…".
_CONSENT_WORDS = re.compile(r"同意|可以|愿意|接受|是的|agree|yes|accept|consent")
_ERASE_WORDS = re.compile(r"确认|确定|是的|删|好|可以|行|yes|confirm|delete|erase|ok|sure")
_CANCEL_WORDS = re.compile(r"取消|算了|cancel|stop")  # not negations, but a no here
# While not agreed to, a message about the notice ("不同意", "I agree") answers it later too.
_ABOUT_NOTICE = re.compile(r"同意|暂不|agree|consent|not now")
# While a report form asks a free-text question, only the notice's own words answer it ("同意",
# "不同意", "I agree"): "暂不清楚" or "not now" may be the form's answer.
_NOTICE_WORDS = re.compile(r"同意|agree|consent")


def _apply(ctx: Context, standing: Standing) -> None:
    """Put the doctor's standing into the context and the profile's flags."""
    assert ctx.profile is not None
    settings = ctx.services.settings
    consented = standing.consented(settings.privacy_notice_version) or not settings.privacy_notice
    ctx.data[STANDING] = standing
    ctx.profile.contact_consented = consented
    ctx.profile.personalised = consented and not standing.personalisation_off


def notice_due(conversation: Conversation, version: str, now: datetime) -> bool:
    """The notice of ``version`` was not shown in this conversation, or a day has passed."""
    shown = conversation.data.get(NOTICE_KEY) or {}
    if shown.get("version") != version:
        return True
    return now - datetime.fromisoformat(str(shown["at"])) >= NOTICE_AGAIN_AFTER


def _forget(conversation: Conversation, now: datetime) -> None:
    """Empty the conversation state, keeping what exactly-once delivery needs (``last_seq``)
    and the language of the reply."""
    conversation.form = None
    conversation.data.clear()
    conversation.profile_id = None
    conversation.unhelped_in_a_row = 0
    conversation.created_at = now


class ConsentMiddleware:
    def __init__(self, service: PrivacyService) -> None:
        self._service = service

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        message = ctx.message
        profile = ctx.profile
        if message.sender_type is not SenderType.EXTERNAL or profile is None:
            await next_step(ctx)
            return
        conversation = ctx.conversation
        _apply(ctx, await self._service.standing(profile.doctor_id))
        if not conversation.data.get(INDEXED_KEY):
            await ctx.services.storage.set_add(
                conversations_key(profile.doctor_id), conversation.key
            )
            await ctx.services.storage.set_add(DOCTORS_KEY, profile.doctor_id)
            conversation.data[INDEXED_KEY] = True
        ctx.data[PENDING] = conversation.data.pop(PENDING_KEY, None)
        if texts.AGREE_CLICK in message.extra.get(WELCOME_SHOWN, ()):
            self._shown_in_welcome(ctx, conversation)
        await next_step(ctx)
        if ctx.data.get(ERASED):
            _forget(conversation, ctx.now)  # the object the state middleware saves
            ctx.profile = None  # not saved back
            return
        self._after(ctx, conversation)

    @staticmethod
    def _shown_in_welcome(ctx: Context, conversation: Conversation) -> None:
        """The kf welcome carried the notice (``privacy.welcome``): the first reply does not
        repeat it, and a typed yes/no next answers it."""
        version = ctx.services.settings.privacy_notice_version
        conversation.data[NOTICE_KEY] = {"version": version, "at": ctx.now.isoformat()}
        conversation.data[PENDING_KEY] = "consent"
        ctx.data["audit_privacy_notice"] = version

    def _after(self, ctx: Context, conversation: Conversation) -> None:
        settings = ctx.services.settings
        standing: Standing = ctx.data[STANDING]
        version = settings.privacy_notice_version
        assert ctx.profile is not None
        if conversation.mode is not ConversationMode.BOT:
            return  # a rep has the conversation: the bot says nothing of its own
        if (
            not ctx.profile.contact_consented
            and not conversation.data.get(AE_TOLD_KEY)
            and touches_adverse_event(ctx)
        ):  # right after the acknowledgement of the report, before the form's next question
            ctx.replies.insert(1, TextReply(text=texts.ae_before_consent(ctx.locale)))
            conversation.data[AE_TOLD_KEY] = True
        if (
            settings.privacy_notice
            and ctx.message.kind is not MessageKind.EVENT
            and not standing.answered(version)
            and notice_due(conversation, version, ctx.now)
        ):
            ctx.replies[0:0] = texts.notice(settings, ctx.locale)
            conversation.data[NOTICE_KEY] = {"version": version, "at": ctx.now.isoformat()}
            if conversation.form is None:
                conversation.data.setdefault(PENDING_KEY, "consent")
            ctx.data["audit_privacy_notice"] = version


def create_middleware(services: Services) -> ConsentMiddleware:
    return ConsentMiddleware(privacy_service(services))


def _is_text(ctx: Context) -> bool:
    return ctx.message.kind is MessageKind.TEXT


def _answers_the_notice(ctx: Context) -> bool:
    """Right after the notice any typed yes/no may answer it; later, while the doctor has not
    agreed to the current version (unanswered, "not now", withdrawn) and no form asks its own
    questions, a short message about consent still does ("我同意" after a "not now"). During
    a report form's free-text question (the patient's initials) an explicit "同意"/"不同意"
    is the notice's too: it is no initials, and consent is what the doctor has pending."""
    if ctx.data.get(PENDING) == "consent":
        return True
    standing: Standing | None = ctx.data.get(STANDING)
    settings = ctx.services.settings
    form = ctx.conversation.form
    words = _ABOUT_NOTICE if form is None else _NOTICE_WORDS
    return (
        standing is not None
        and settings.privacy_notice
        and not standing.consented(settings.privacy_notice_version)
        and (form is None or takes_aside(form))
        and len(normalise(ctx.message.text)) <= _SHORT_ANSWER
        and bool(words.search(ctx.message.text.lower()))
    )


def _about_consent(text: str) -> bool:
    """A no that answers the notice: short ("不", "暂不", "no thanks") or about consent ("我不同意
    你们记录"); a longer no about something else ("不要机器人，我要找人", "I don't need the
    leaflet") is no answer to it."""
    return len(normalise(text)) <= _SHORT_ANSWER or bool(_ABOUT_NOTICE.search(text.lower()))


def create_router(services: Services, priority: int) -> Router:
    router = Router("privacy", priority)
    service = privacy_service(services)

    async def decide(ctx: Context, event: ConsentEvent) -> None:
        assert ctx.profile is not None
        await service.decide(
            ctx.profile.doctor_id,
            event,
            channel=ctx.message.channel.value,
            by="doctor",
            profile=ctx.profile,
        )
        _apply(ctx, await service.standing(ctx.profile.doctor_id))
        ctx.data["audit_privacy"] = event.value

    def what_next(ctx: Context) -> None:
        """After an answer to the notice, the main menu (the kf welcome carries only the
        notice's buttons), unless a form waits to ask its question again."""
        if ctx.conversation.form is None:
            ctx.reply(main_menu(ctx, ctx.t("请问需要什么帮助？", "How can I help?")))

    async def agree(ctx: Context) -> None:
        await decide(ctx, ConsentEvent.AGREED)
        ctx.reply(texts.agreed(ctx.locale))
        what_next(ctx)

    async def decline(ctx: Context) -> None:
        await decide(ctx, ConsentEvent.DECLINED)
        ctx.reply(texts.declined(ctx.locale))
        what_next(ctx)

    async def erase(ctx: Context) -> None:
        assert ctx.profile is not None
        erasure = await service.erase(
            ctx.profile.doctor_id,
            channel=ctx.message.channel.value,
            by="doctor",
            held=ctx.conversation.key,
        )
        if erasure.refused:  # a handoff is open: nothing changed
            ctx.data["audit_privacy"] = "erasure_refused"
        else:
            ctx.data[ERASED] = True
            ctx.data["audit_privacy"] = "erased"
            ctx.data[TEXT_WITHHELD] = True  # this message's words would outlive the erasure
        ctx.reply(render.erasure_report(erasure, ctx.locale))

    def ask_to_confirm_erasure(ctx: Context) -> None:
        ctx.conversation.data[PENDING_KEY] = "erase"
        ctx.reply(texts.erase_confirmation(ctx.locale))

    async def request(ctx: Context, wanted: Request) -> None:
        assert ctx.profile is not None
        doctor_id, locale = ctx.profile.doctor_id, ctx.locale
        if wanted is Request.NOTICE:
            ctx.replies.extend(texts.notice(services.settings, locale))
            ctx.conversation.data[PENDING_KEY] = "consent"
        elif wanted is Request.MY_DATA:
            export = await service.export(doctor_id, channel=ctx.message.channel.value, by="doctor")
            ctx.replies.extend(render.export_replies(export, locale))
            ctx.data["audit_privacy"] = "exported"
        elif wanted is Request.DELETE:
            ask_to_confirm_erasure(ctx)
        elif wanted is Request.WITHDRAW:
            had_agreed = ctx.profile.contact_consented
            await decide(ctx, ConsentEvent.WITHDRAWN)
            ctx.reply(texts.withdrawn(locale, had_agreed))
        elif wanted is Request.PERSONALISATION_OFF:
            await decide(ctx, ConsentEvent.PERSONALISATION_OFF)
            clear_interests(ctx.profile)
            ctx.reply(texts.personalisation_off(locale))
        elif wanted is Request.CORRECT:
            told = await service.route_to_dpo(
                doctor_id, "correct", "更正请求 / Correction request: " + ctx.message.text[:200]
            )
            ctx.reply(texts.correction_routed(locale, bool(told)))
            ctx.data["audit_privacy"] = "correction_routed"
        else:
            await decide(ctx, ConsentEvent.PERSONALISATION_ON)
            ctx.reply(texts.personalisation_on(locale, ctx.profile.contact_consented))

    @router.message(lambda ctx: ctx.message.click_id == texts.AGREE_CLICK)
    async def agree_clicked(ctx: Context) -> None:
        await agree(ctx)

    @router.message(lambda ctx: ctx.message.click_id == texts.LATER_CLICK)
    async def later_clicked(ctx: Context) -> None:
        await decline(ctx)

    @router.message(lambda ctx: ctx.message.click_id == texts.ERASE_YES_CLICK)
    async def erase_clicked(ctx: Context) -> None:
        await erase(ctx)

    @router.message(lambda ctx: ctx.message.click_id == texts.ERASE_NO_CLICK)
    async def erase_cancelled(ctx: Context) -> None:
        ctx.reply(texts.erase_cancelled(ctx.locale))

    @router.message(_is_text, lambda ctx: ctx.data.get(PENDING) == "erase")
    async def erase_answered(ctx: Context) -> HandlerResult:
        answer = read_yes_no(ctx.message.text)
        if answer is YesNo.YES and _ERASE_WORDS.search(ctx.message.text.lower()):
            await erase(ctx)
        elif answer is YesNo.NO or _CANCEL_WORDS.search(ctx.message.text.lower()):
            ctx.reply(texts.erase_cancelled(ctx.locale))
        elif recognise(ctx.message.text) is Request.DELETE:
            ask_to_confirm_erasure(ctx)
        elif len(normalise(ctx.message.text)) <= _SHORT_ANSWER:
            ctx.conversation.data[PENDING_KEY] = "erase"
            ctx.reply(texts.erase_unclear(ctx.locale))
        else:
            return UNHANDLED  # a question instead of an answer: nothing is erased
        return None

    @router.message(_is_text, _answers_the_notice)
    async def consent_answered(ctx: Context) -> HandlerResult:
        text = ctx.message.text
        answer = read_yes_no(text)
        if recognise(text) is not None:
            return UNHANDLED  # "撤回同意" is a request, not an answer
        if answer is YesNo.YES and _CONSENT_WORDS.search(text.lower()):
            await agree(ctx)
        elif answer is YesNo.NO and _about_consent(text):
            await decline(ctx)
        else:
            return UNHANDLED
        if takes_aside(ctx.conversation.form):  # the report form asks its question again
            ctx.data[ANSWERED_ASIDE] = True
            return UNHANDLED
        return None

    @router.message(_is_text, lambda ctx: recognise(ctx.message.text) is not None)
    async def requested(ctx: Context) -> None:
        wanted = recognise(ctx.message.text)
        assert wanted is not None
        await request(ctx, wanted)

    return router
