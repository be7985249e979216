"""HCP verification: the doctor declares who they are, then a rep or an admin confirms it.

Until a profile is marked verified, the doctor sees public-audience content only. The
declaration is a four-step form (name, hospital, department, title) kept in
``conversation.form``; confirmation is the rep command ``/verify DOCTOR`` or the admin command
``virtualrep doctor verify ID``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot import forms
from bot.dispatcher import Context
from bot.forms import SlotKind
from bot.models import ActiveForm
from bot.profiles import DoctorProfile, ProfileStore
from bot.storage.base import Storage

FORM_NAME: Final = "qa_verify"
STEPS: Final = ("name", "hospital", "department", "title")
_CANCEL = frozenset({"取消", "退出", "算了", "cancel", "quit", "stop", "exit"})

_KINDS: Final = {
    "name": SlotKind.SHORT_TEXT,
    "hospital": SlotKind.SHORT_TEXT,
    "department": SlotKind.SHORT_TEXT,
    "title": SlotKind.JOB_TITLE,
}
_MAY_BE_UNKNOWN: Final = frozenset({"department", "title"})

_PROMPTS: Final = {
    "name": ("请问您的姓名？", "What is your full name?"),
    "hospital": ("请问您所在的医院？", "Which hospital do you work at?"),
    "department": ("请问您所在的科室？", "Which department?"),
    "title": ("请问您的职称（如主任医师、主治医师）？", "What is your title (e.g. consultant)?"),
}


def start(ctx: Context) -> None:
    """Open the form and ask the first question."""
    ctx.conversation.form = ActiveForm(
        name=FORM_NAME, step=STEPS[0], started_at=ctx.now, updated_at=ctx.now
    )
    ctx.reply(
        ctx.t(
            "为向您提供仅限医疗卫生专业人士的内容，需要先确认您的身份（随时回复“取消”退出）。",
            "To share content meant for healthcare professionals, we first confirm who you are "
            "(reply 'cancel' at any time to stop).",
        ),
        ctx.t(*_PROMPTS[STEPS[0]]),
    )


async def step(ctx: Context) -> None:
    """Take the answer to the current question; after the last one, save the declaration.

    Each answer is checked for its slot (bot.forms): a question typed here is answered by Q&A
    and the pending question asked again; an answer that does not fit is asked again once with
    an example, after which the title or department is left unknown (a name and a hospital
    are asked until given: the rep cannot confirm without them).
    """
    form = ctx.conversation.form
    assert form is not None and form.step in STEPS
    answer = ctx.message.text.strip()
    if answer.lower() in _CANCEL:
        ctx.conversation.form = None
        ctx.reply(ctx.t("已取消身份确认。", "Verification cancelled."))
        return
    kind = _KINDS[form.step]
    if not forms.check(kind, answer, ctx.now.date()):
        if forms.is_question(answer):
            await forms.answer_question(ctx, answer)
        elif forms.first_miss(form, form.step) or form.step not in _MAY_BE_UNKNOWN:
            ctx.reply(forms.reask_text(ctx, kind))
        else:
            answer = ""  # asked twice: left unknown, the rep confirms with the doctor
        if answer:
            ctx.reply(ctx.t(*_PROMPTS[form.step]))
            return
    if answer:
        form.slots[form.step] = answer
    form.updated_at = ctx.now
    position = STEPS.index(form.step)
    if position + 1 < len(STEPS):
        form.step = STEPS[position + 1]
        ctx.reply(ctx.t(*_PROMPTS[form.step]))
        return
    ctx.conversation.form = None
    if ctx.profile is not None:
        declare(ctx.profile, form.slots)
    ctx.data["audit_verification"] = {"declared": dict(form.slots)}
    ctx.reply(
        ctx.t(
            "谢谢，信息已提交。您的代表确认后即可查看专业内容；在此之前我们只提供公开信息。",
            "Thank you, your details are submitted. Once your representative confirms them you "
            "will see professional content; until then we share public information only.",
        )
    )


def declare(profile: DoctorProfile, slots: dict[str, str]) -> None:
    """Record a self-declaration; a changed declaration needs confirming again."""
    changed = any(getattr(profile, field) != slots.get(field) for field in STEPS)
    for field in STEPS:
        setattr(profile, field, slots.get(field))
    if changed:
        profile.verified, profile.verified_by, profile.verified_at = False, None, None


async def mark_verified(
    storage: Storage, doctor_id: str, *, by: str, at: datetime
) -> DoctorProfile | None:
    """Mark a known doctor's profile verified; None when no such profile exists."""
    profiles = ProfileStore(storage)
    profile = await profiles.get(doctor_id)
    if profile is None:
        return None
    profile.verified, profile.verified_by, profile.verified_at = True, by, at
    await profiles.save(profile)
    return profile
