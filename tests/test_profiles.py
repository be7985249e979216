"""``DoctorProfile.note_inbound``: the contact route and time are the latest message's, whatever
order the messages are handled in (a retry or a redelivery can come after a newer message)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import Channel, InboundMessage, MessageKind, SenderType
from bot.profiles import DoctorProfile

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _message(key: str, at: datetime) -> InboundMessage:
    return InboundMessage(
        message_id=f"m-{key}", channel=Channel.KF, conversation_key=f"kf:{key}:doc1",
        sender_id="doc1", sender_type=SenderType.EXTERNAL, kind=MessageKind.TEXT, text="你好",
        extra={"open_kfid": key}, received_at=at,
    )  # fmt: skip


def test_a_late_older_message_does_not_move_the_contact_back() -> None:
    profile = DoctorProfile(doctor_id="doc1")
    profile.note_inbound(_message("new", T0 + timedelta(minutes=5)))
    profile.note_inbound(_message("old", T0))  # handled late: a retry of an earlier message
    assert profile.contact is not None
    assert profile.contact.last_inbound_at == T0 + timedelta(minutes=5)
    assert profile.contact.conversation_key == "kf:new:doc1"
    assert profile.last_contact_at == T0 + timedelta(minutes=5)


def test_a_newer_message_moves_the_contact_forward() -> None:
    profile = DoctorProfile(doctor_id="doc1")
    profile.note_inbound(_message("old", T0))
    profile.note_inbound(_message("new", T0 + timedelta(seconds=1)))
    assert profile.contact is not None and profile.contact.conversation_key == "kf:new:doc1"
    assert profile.contact.last_inbound_at == profile.last_contact_at == T0 + timedelta(seconds=1)
