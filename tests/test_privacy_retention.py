"""The daily retention job for what Storage holds about doctors (``privacy.retention``), on
every storage backend: conversation state idle past its period goes, old turns of a live
conversation's transcript go, a profile without contact past its period goes with its
interest profile, what is recent stays; the removal is audited as counts only; two replicas
run the day's job once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from bot.audit import AUDIT_QUEUE, AuditLog
from bot.metrics import Metrics
from bot.middlewares import load_conversation, save_conversation
from bot.models import Channel, Conversation
from bot.profiles import DoctorProfile, ProfileStore
from bot.scheduler import ScheduleRunner
from bot.services import Services
from bot.settings import load_settings
from bot.storage.base import Storage
from privacy.holdings import DOCTORS_KEY, conversations_key
from privacy.retention import (
    RETENTION_SCHEDULE,
    enforce_storage_retention,
    install_storage_retention,
)
from skills.handoff.briefing import TRANSCRIPT_KEY

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SETTINGS = load_settings(
    conversation_ttl_s=30 * 24 * 3600, retention_transcript_days=10, retention_profile_days=60
)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _services(storage: Storage, clock: Clock) -> Services:
    metrics = Metrics()
    return Services(
        settings=SETTINGS, storage=storage, metrics=metrics, audit=AuditLog(storage),
        scheduler=ScheduleRunner(storage, clock, metrics), clock=clock,
    )  # fmt: skip


async def _doctor(storage: Storage, doctor: str, contact: datetime | None, idle: datetime) -> None:
    """A doctor with (unless ``contact`` is None) a profile last seen then, and one indexed
    conversation last updated at ``idle`` whose transcript has a turn a day apart from then
    back to 20 days before it."""
    if contact is not None:
        await ProfileStore(storage).save(
            DoctorProfile(doctor_id=doctor, topics={"疗效": 3}, last_contact_at=contact)
        )
    key = f"kf:wk1:{doctor}"
    turns = [
        {"who": "doctor", "text": f"t{n}", "at": (idle - n * DAY).isoformat()} for n in (20, 0)
    ]
    conversation = Conversation(
        key=key, channel=Channel.KF, user_id=doctor, updated_at=idle, data={TRANSCRIPT_KEY: turns}
    )
    await save_conversation(storage, conversation, 10 * 365 * 24 * 3600)
    await storage.set_add(conversations_key(doctor), key)
    await storage.set_add(DOCTORS_KEY, doctor)


async def _audited(storage: Storage) -> list[dict[str, object]]:
    trail = await storage.unacknowledged(AUDIT_QUEUE, "test", count=1000)
    return [entry.payload for entry in trail if entry.payload["kind"] == "storage_retention"]


def _texts(conversation: Conversation | None) -> Iterator[str]:
    assert conversation is not None
    return (turn["text"] for turn in conversation.data[TRANSCRIPT_KEY])


async def test_the_job_removes_what_is_past_its_period_and_audits_counts(storage: Storage) -> None:
    await _doctor(storage, "old", NOW - 90 * DAY, NOW - 40 * DAY)  # everything expired
    await _doctor(storage, "live", NOW - DAY, NOW - DAY)  # one transcript turn expired
    await _doctor(storage, "gone", None, NOW - 5 * DAY)  # profile gone by TTL, state recent
    services = _services(storage, Clock())

    removed = await enforce_storage_retention(services, NOW)

    assert removed == {"conversations": 1, "profiles": 1, "transcript_turns": 2}
    profiles = ProfileStore(storage)
    assert await profiles.get("old") is None and "old" not in await profiles.all_ids()
    assert await load_conversation(storage, "kf:wk1:old") is None
    assert "old" not in await storage.set_members(DOCTORS_KEY)  # nothing left to look after
    assert await profiles.get("live") is not None
    assert list(_texts(await load_conversation(storage, "kf:wk1:live"))) == ["t0"]
    assert list(_texts(await load_conversation(storage, "kf:wk1:gone"))) == ["t0"]
    assert "gone" in await storage.set_members(DOCTORS_KEY)
    [audit] = await _audited(storage)
    assert audit["removed"] == {"conversations": 1, "profiles": 1, "transcript_turns": 2}
    assert "old" not in str(audit) and "t20" not in str(audit)  # counts, not content
    # Run again: nothing more to remove, and that is audited too.
    assert await enforce_storage_retention(services, NOW) == {}
    assert [a["removed"] for a in await _audited(storage)][-1] == {}


async def test_two_replicas_run_the_days_job_once(storage: Storage) -> None:
    await _doctor(storage, "old", NOW - 90 * DAY, NOW - 40 * DAY)
    clock = Clock()
    replicas = [_services(storage, clock), _services(storage, clock)]
    for services in replicas:
        await install_storage_retention(services)
    [item] = await storage.scheduled(RETENTION_SCHEDULE)
    assert item.due_at > NOW  # 03:00 business time, tomorrow
    assert [await s.scheduler.run_due() for s in replicas] == [0, 0]
    clock.now = item.due_at + timedelta(minutes=1)

    assert sorted([await s.scheduler.run_due() for s in replicas]) == [0, 1]
    assert [a["removed"] for a in await _audited(storage)] == [{"conversations": 1, "profiles": 1}]
    [again] = await storage.scheduled(RETENTION_SCHEDULE)  # armed for the next day
    assert again.due_at - item.due_at == DAY
