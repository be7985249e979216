"""Messages the bot starts (reminders, handoff notices): to a doctor through their last route.

kf only lets the bot write within 48 hours of the doctor's last message; outside it the
doctor is unreachable and the caller falls back (e.g. asks the rep to forward).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.models import Channel, OutboundMessage, Reply
from bot.profiles import DoctorProfile
from bot.services import Services

KF_REPLY_WINDOW = timedelta(hours=48)


class UnreachableReason(StrEnum):
    NO_CONTACT = "no_contact"  # the doctor never wrote to the bot
    WINDOW_CLOSED = "window_closed"  # kf: last message more than 48 h ago
    NO_CONSENT = "no_consent"  # unsolicited, and the doctor has not agreed to the notice


class Unreachable(Exception):
    def __init__(self, reason: UnreachableReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def reachability(
    profile: DoctorProfile, now: datetime, *, unsolicited: bool = False
) -> UnreachableReason | None:
    """None when the doctor can be messaged now, else why not. An ``unsolicited`` message
    (an invitation nobody asked for) also needs the doctor's consent to the privacy notice."""
    if unsolicited and not profile.contact_consented:
        return UnreachableReason.NO_CONSENT
    if profile.contact is None:
        return UnreachableReason.NO_CONTACT
    if (
        profile.contact.channel is Channel.KF
        and now - profile.contact.last_inbound_at > KF_REPLY_WINDOW
    ):
        return UnreachableReason.WINDOW_CLOSED
    return None


async def send_to_doctor(
    services: Services,
    profile: DoctorProfile,
    replies: tuple[Reply, ...],
    *,
    reference: str,
    unsolicited: bool = False,
) -> None:
    """Send ``replies`` to the doctor, or raise ``Unreachable``. ``reference`` = idempotency id."""
    reason = reachability(profile, services.clock(), unsolicited=unsolicited)
    if reason is not None:
        raise Unreachable(reason)
    assert profile.contact is not None
    await services.sender(profile.contact.channel).send(
        OutboundMessage(
            channel=profile.contact.channel,
            conversation_key=profile.contact.conversation_key,
            recipient_id=profile.contact.recipient_id,
            replies=replies,
            in_reply_to=reference,
            extra=profile.contact.extra,
        )
    )
