"""The last seat: concurrent registrations on real Redis (and memory) — exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.models import Locale
from bot.profiles import DoctorProfile, ProfileStore
from skills.meetings.registrations import RegistrationStore, Status
from skills.meetings.service import Details, meetings_service
from tests.meetings.helpers import (
    T0,
    Bot,
    Clock,
    inbound,
    make_bot,
    meeting_entry,
    meetings_settings,
    write_catalog,
)
from tests.storage_backends import Backend


def two_replicas(
    backend: Backend, tmp_path: Path, meeting_id: str, capacity: int
) -> tuple[list[Bot], Clock]:
    """Two bots on one store (separate connections on Redis) sharing a catalog and a clock."""
    catalog = write_catalog(
        tmp_path / "m.yaml", [meeting_entry(meeting_id, T0 + timedelta(days=2), capacity=capacity)]
    )
    settings, clock = meetings_settings(catalog), Clock()
    return [
        make_bot(settings, backend.storage, clock),
        make_bot(settings, backend.sibling(), clock),
    ], clock


async def test_two_doctors_confirm_the_last_seat_at_once(backend: Backend, tmp_path: Path) -> None:
    replicas, clock = two_replicas(backend, tmp_path, "last", capacity=1)
    for doctor, replica in zip(("dr-a", "dr-b"), replicas, strict=True):
        await ProfileStore(backend.storage).save(
            DoctorProfile(doctor_id=doctor, name=doctor, hospital="H", department="D")
        )
        await replica.dispatcher.feed(inbound(doctor, clock, click="meetings:register:last"))

    contexts = await asyncio.gather(
        replicas[0].dispatcher.feed(inbound("dr-a", clock, click="meetings:form:confirm")),
        replicas[1].dispatcher.feed(inbound("dr-b", clock, click="meetings:form:confirm")),
    )
    assert all(ctx.error is None for ctx in contexts)
    store = RegistrationStore(backend.storage)
    registrations = [await store.get("last", doctor) for doctor in ("dr-a", "dr-b")]
    statuses = sorted(r.status for r in registrations if r is not None)
    assert statuses == [Status.REGISTERED, Status.WAITLISTED]
    seated, waiting = await store.seats("last")
    assert len(seated) == 1 and len(waiting) == 1
    transcript = replicas[0].transcript() + replicas[1].transcript()
    assert "报名成功" in transcript and "候补名单，第 1 位" in transcript


async def test_many_concurrent_registrations_fill_exactly_the_capacity(
    backend: Backend, tmp_path: Path
) -> None:
    replicas, _ = two_replicas(backend, tmp_path, "busy", capacity=5)
    services = [meetings_service(replica.services) for replica in replicas]
    meeting = await services[0].meeting("busy")
    assert meeting is not None

    async def one(n: int) -> tuple[Status, int]:
        profile = DoctorProfile(doctor_id=f"dr-{n:02d}")
        registration, seat = await services[n % 2].register(
            meeting, profile, Details("N", "H", "D"), Locale.ZH
        )
        return registration.status, seat.waitlist_position

    outcomes = await asyncio.gather(*(one(n) for n in range(20)))
    assert sum(status is Status.REGISTERED for status, _ in outcomes) == 5
    assert sorted(position for status, position in outcomes if status is Status.WAITLISTED) == list(
        range(1, 16)
    )
