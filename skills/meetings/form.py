"""The registration form: confirm name, hospital and department, asking only what is missing.

It lives in ``conversation.form`` (name ``meeting_registration``) and its router runs at the
active-form priority, so the doctor's answers reach it before any other skill. A click that
belongs to another skill ends the form and is passed on.
"""

from __future__ import annotations

import re

from bot import forms
from bot.dispatcher import UNHANDLED, Context, HandlerResult, Router
from bot.forms import SlotKind
from bot.models import ActiveForm, MenuOption, MenuReply, MessageKind, SenderType
from bot.services import Services
from bot.yesno import YesNo, read_yes_no
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.intents import asks_for_registrations, withdraws
from skills.meetings.lists import show_registrations
from skills.meetings.service import Details, RegistrationClosed, meetings_service
from skills.meetings.views import registration_outcome

FORM_NAME = "meeting_registration"
FIELDS = ("name", "hospital", "department")
QUESTIONS = {
    "name": texts.ASK_NAME,
    "hospital": texts.ASK_HOSPITAL,
    "department": texts.ASK_DEPARTMENT,
}
CONFIRM, EDIT, ABORT = "meetings:form:confirm", "meetings:form:edit", "meetings:form:abort"
_NO = re.compile(
    r"^\s*(取消|不|不用|算了|暂不|暂不报名|no|n|cancel|not now|stop)\s*[!！.。]*\s*$", re.IGNORECASE
)


def _ask(ctx: Context, form: ActiveForm, meeting: Meeting) -> None:
    """Ask the first missing field, or for confirmation when all are known."""
    missing = [field for field in FIELDS if not form.slots.get(field)]
    if missing:
        form.step = missing[0]
        ctx.reply(QUESTIONS[missing[0]].get(ctx.locale, title=meeting.title.get(ctx.locale)))
        return
    form.step = "confirm"
    ctx.reply(
        MenuReply(
            head=texts.CONFIRM_HEAD.get(
                ctx.locale,
                title=meeting.title.get(ctx.locale),
                name=form.slots["name"],
                hospital=form.slots["hospital"],
                department=form.slots["department"],
            ),
            options=(
                MenuOption(id=CONFIRM, label=texts.OPTION_CONFIRM.get(ctx.locale)),
                MenuOption(id=EDIT, label=texts.OPTION_EDIT.get(ctx.locale)),
                MenuOption(id=ABORT, label=texts.OPTION_ABORT.get(ctx.locale)),
            ),
        )
    )


def start_registration(ctx: Context, meeting: Meeting) -> None:
    """Open the form with what the profile already knows."""
    profile = ctx.profile
    known = {
        "name": profile.name if profile else None,
        "hospital": profile.hospital if profile else None,
        "department": profile.department if profile else None,
    }
    form = ActiveForm(
        name=FORM_NAME,
        slots={"meeting_id": meeting.id, **{k: v for k, v in known.items() if v}},
        started_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.conversation.form = form
    _ask(ctx, form, meeting)


def _in_form(ctx: Context) -> bool:
    form = ctx.conversation.form
    return (
        form is not None
        and form.name == FORM_NAME
        and ctx.message.sender_type is SenderType.EXTERNAL
        and ctx.message.kind in (MessageKind.TEXT, MessageKind.CLICK)
    )


def create_form_router(services: Services, priority: int) -> Router:
    router = Router("meetings_form", priority)
    service = meetings_service(services)

    @router.message(_in_form)
    async def answer(ctx: Context) -> HandlerResult:
        form = ctx.conversation.form
        assert form is not None and ctx.profile is not None
        message = ctx.message
        meeting = await service.meeting(str(form.slots.get("meeting_id")))
        click = message.click_id if message.kind is MessageKind.CLICK else None
        if click is not None and not click.startswith("meetings:form:"):
            ctx.conversation.form = None  # the doctor moved on: let the clicked skill answer
            return UNHANDLED
        if meeting is None:
            ctx.conversation.form = None
            ctx.reply(texts.UNKNOWN_MEETING.get(ctx.locale))
            return None
        form.updated_at = ctx.now
        text = message.text.strip()
        # "我不去了，取消吧", "这个会我去不了了", "cancel my registration" (trial #42): a
        # withdrawal, not a name; "我报了哪些会": the registrations, then the question again.
        withdrawn = click is None and withdraws(text, meeting_implied=True)
        if click == ABORT or (click is None and _NO.match(text)) or withdrawn:
            ctx.conversation.form = None
            ctx.reply(texts.FORM_ABORTED.get(ctx.locale))
            return None
        if click is None and asks_for_registrations(text):
            await show_registrations(ctx, service, list_when_none=False)
            _ask(ctx, form, meeting)
            return None
        if click == EDIT:
            for field in FIELDS:
                form.slots.pop(field, None)
            _ask(ctx, form, meeting)
            return None
        if form.step in FIELDS:
            if not text or click is not None:
                ctx.reply(texts.EMPTY_ANSWER.get(ctx.locale))
                return None
            if forms.check(SlotKind.SHORT_TEXT, text, ctx.now.date()):
                form.slots[form.step] = text[:100]
            elif forms.is_question(text):  # answered; the pending question follows
                await forms.answer_question(ctx, text)
            else:  # "确认" or "3" is not a name: asked again, with an example
                ctx.reply(forms.reask_text(ctx, SlotKind.SHORT_TEXT))
            _ask(ctx, form, meeting)
            return None
        answer = read_yes_no(text) if click is None else YesNo.UNCLEAR
        if answer is YesNo.NO:  # "不报了", "no thanks" at the confirmation
            ctx.conversation.form = None
            ctx.reply(texts.FORM_ABORTED.get(ctx.locale))
            return None
        if click is None and answer is YesNo.UNCLEAR and forms.is_question(text):
            await forms.answer_question(ctx, text)
            _ask(ctx, form, meeting)  # the confirmation again
            return None
        if click == CONFIRM or answer is YesNo.YES:
            ctx.conversation.form = None
            details = Details(
                name=form.slots["name"],
                hospital=form.slots["hospital"],
                department=form.slots["department"],
            )
            try:
                registration, seat = await service.register(
                    meeting, ctx.profile, details, ctx.locale
                )
            except RegistrationClosed:
                ctx.reply(
                    texts.REGISTRATION_CLOSED.get(ctx.locale, title=meeting.title.get(ctx.locale))
                )
                return None
            ctx.data["audit_meeting"] = meeting.id
            ctx.reply(*registration_outcome(ctx, meeting, registration.status, seat))
            return None
        ctx.reply(texts.CONFIRM_AGAIN.get(ctx.locale))
        return None

    return router
