"""Media that cannot be read as text while a doctor is filling in an adverse-event report (a
photo of the rash, a voice note with no speech service) still belong to the case: the stored
original is added to the case's sources, so PV receives it with the case (the webhook's
``sources[].media``), and the form goes on with its question."""

from __future__ import annotations

from bot.dispatcher import Context
from media.store import StoredMedia
from skills.adverse_events.cases import CaseStatus, SourceMessage
from skills.adverse_events.service import AE_FORM, ae_service

READER = "media"


async def attach_to_open_report(ctx: Context, stored: StoredMedia) -> str | None:
    """The case id when an adverse-event report is being filled in and ``stored`` was added to
    it (once per message), else None."""
    form = ctx.conversation.form
    if form is None or form.name != AE_FORM or "case_id" not in form.slots:
        return None
    ae = ae_service(ctx.services)
    case_id = str(form.slots["case_id"])
    case = await ae.store.read(case_id, reader=READER, purpose="attach media", at=ctx.now)
    if case is None or case.status is not CaseStatus.COLLECTING:
        return None
    message = ctx.message
    source = SourceMessage(
        message_id=message.message_id,
        received_at=message.received_at,
        text=f"[{message.kind.value}]",
        language=ctx.locale.value,
        media=stored.ref,
    )
    if case.add_source(source):
        case.updated_at = ctx.now
        await ae.store.save(case)
    return case_id
