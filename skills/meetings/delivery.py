"""Proactive messages to doctors, with the kf 48-hour rule: unreachable → the rep forwards.

WeChat Customer Service lets the bot write only within 48 hours of the doctor's last message.
Outside that window (or when the doctor never wrote) the message goes to the doctor's rep
(``profile.assigned_rep``, else ``VREP_MEETINGS_DEFAULT_REP``) on the self-built app, asking
them to forward it. The caller audits the returned route.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.models import Channel, Locale, OutboundMessage, Reply, TextReply
from bot.proactive import Unreachable, send_to_doctor
from bot.profiles import DoctorProfile
from bot.services import Services
from skills.meetings import texts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """Where a proactive message went: "doctor", "rep" (to forward) or "none"."""

    to: str
    reason: str | None = None  # why the doctor was unreachable
    rep: str | None = None


def rep_for(services: Services, profile: DoctorProfile) -> str | None:
    return profile.assigned_rep or services.settings.meetings_default_rep


async def send_to_rep(
    services: Services, rep: str, replies: tuple[Reply, ...], reference: str
) -> bool:
    """Message a corp member on the app channel; False when no app sender is configured."""
    try:
        sender = services.sender(Channel.APP)
    except LookupError:
        return False
    await sender.send(
        OutboundMessage(
            channel=Channel.APP,
            conversation_key=f"app:{rep}",
            recipient_id=rep,
            replies=replies,
            in_reply_to=reference,
        )
    )
    return True


async def deliver_or_forward(
    services: Services,
    profile: DoctorProfile,
    replies: tuple[Reply, ...],
    *,
    forward_text: str,
    locale: Locale,
    reference: str,
) -> Route:
    """Send ``replies`` to the doctor; if unreachable, ask their rep to forward ``forward_text``."""
    try:
        await send_to_doctor(services, profile, replies, reference=reference)
        return Route("doctor")
    except Unreachable as err:
        reason = err.reason.value
    rep = rep_for(services, profile)
    if rep is not None:
        note = texts.FORWARD_TO_REP.get(
            locale, doctor=profile.display_name, hospital=profile.hospital or "-", text=forward_text
        )
        if await send_to_rep(services, rep, (TextReply(text=note),), f"{reference}:rep"):
            return Route("rep", reason, rep)
    log.warning(
        "doctor unreachable and no rep to forward to",
        extra={"doctor": profile.doctor_id, "reason": reason, "reference": reference},
    )
    return Route("none", reason, rep)
