"""Reminders through the storage scheduler: restarts, several replicas, cancellations, 48 h rule.

Runs on both storage backends; "a restart" is a new runtime on the same storage (for Redis a
new connection pool), "two replicas" are two runtimes whose schedule runners race.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.models import Channel, FileReply, MenuReply
from bot.profiles import DoctorProfile, ProfileStore
from bot.settings import Settings
from records import Records
from skills.meetings.registrations import RegistrationStore, Status
from tests.helpers import audit_trail
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

START = T0 + timedelta(days=3)


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    catalog = write_catalog(tmp_path / "meetings.yaml", [meeting_entry("m1", START)])
    return meetings_settings(catalog, **overrides)


async def register(bot: Bot, clock: Clock, doctor: str, channel: Channel = Channel.CONSOLE) -> None:
    await ProfileStore(bot.services.storage).save(
        DoctorProfile(doctor_id=doctor, name=doctor, hospital="H", department="D")
    )
    for click in ("meetings:register:m1", "meetings:form:confirm"):
        ctx = await bot.dispatcher.feed(inbound(doctor, clock, click=click, channel=channel))
        assert ctx.error is None
    registration = await RegistrationStore(bot.services.storage).get("m1", doctor)
    assert registration is not None and registration.status is Status.REGISTERED


async def test_reminders_across_a_restart_then_follow_up_and_feedback(
    backend: Backend, tmp_path: Path, records: Records
) -> None:
    settings, clock = settings_for(tmp_path), Clock()
    first = make_bot(settings, backend.storage, clock)
    await register(first, clock, "dr-1")
    first.clear()
    assert await first.services.scheduler.run_due() == 0  # nothing due yet

    # the process restarts; the new one sees the same storage and a later clock
    clock.now = START - timedelta(hours=24)
    second = make_bot(settings, backend.sibling(), clock)
    assert await second.services.scheduler.run_due() == 1
    day = second.transcript(user="dr-1")
    assert "将于明天" in day and "参会链接：https://meeting.example.test/m1" in day
    assert first.sent(Channel.CONSOLE) == []

    clock.now = START - timedelta(minutes=59)
    assert await second.services.scheduler.run_due() == 1
    assert "将于 1 小时后" in second.transcript(user="dr-1")
    assert await second.services.scheduler.run_due() == 0  # nothing twice

    clock.now = START + timedelta(hours=2)
    second.clear()
    assert await second.services.scheduler.run_due() == 1
    followup = second.transcript(user="dr-1")
    assert "本次会议的经审批资料" in followup and "- Material of m1" in followup
    menu = second.last_menu()
    assert [option.id for option in menu.options][-1] == "meetings:feedback:m1:5"
    profile = await ProfileStore(backend.storage).get("dr-1")
    assert profile is not None and profile.meetings_attended == ["m1"]

    ctx = await second.dispatcher.feed(inbound("dr-1", clock, click="meetings:feedback:m1:5"))
    assert ctx.error is None and "感谢您的评价（5 分）" in second.transcript(user="dr-1")
    registration = await RegistrationStore(backend.storage).get("m1", "dr-1")
    assert registration is not None and registration.feedback == 5

    reminders = await audit_trail(records, backend.storage, "meeting_reminder")
    assert [record["reminder"] for record in reminders] == ["day", "hour", "followup"]
    assert {record["route"] for record in reminders} == {"doctor"}
    assert [
        r["score"] for r in await audit_trail(records, backend.storage, "meeting_feedback")
    ] == [5]


async def test_two_runners_send_each_reminder_once(backend: Backend, tmp_path: Path) -> None:
    settings, clock = settings_for(tmp_path), Clock()
    replica_a = make_bot(settings, backend.storage, clock)
    replica_b = make_bot(settings, backend.sibling(), clock)
    doctors = [f"dr-{n}" for n in range(8)]
    for doctor in doctors:
        await register(replica_a if doctor < "dr-4" else replica_b, clock, doctor)
    replica_a.clear()
    replica_b.clear()

    clock.now = START - timedelta(hours=1)  # both reminders of every doctor are due
    handled = await asyncio.gather(
        replica_a.services.scheduler.run_due(), replica_b.services.scheduler.run_due()
    )
    assert sum(handled) == 2 * len(doctors)
    sent = replica_a.sent(Channel.CONSOLE) + replica_b.sent(Channel.CONSOLE)
    per_doctor = {doctor: [m for m in sent if m.recipient_id == doctor] for doctor in doctors}
    assert all(len(messages) == 2 for messages in per_doctor.values()), per_doctor


async def test_cancelled_registration_gets_no_reminder(
    backend: Backend, tmp_path: Path, records: Records
) -> None:
    settings, clock = settings_for(tmp_path), Clock()
    bot = make_bot(settings, backend.storage, clock)
    await register(bot, clock, "dr-cancel")
    await register(bot, clock, "dr-stale")
    await bot.dispatcher.feed(inbound("dr-cancel", clock, click="meetings:cancel:m1"))
    # a registration cancelled while its reminders were already scheduled (e.g. by an operator)
    store = RegistrationStore(backend.storage)
    stale = await store.get("m1", "dr-stale")
    assert stale is not None
    await store.save(stale.model_copy(update={"status": Status.CANCELLED}))
    bot.clear()

    clock.now = START + timedelta(hours=3)
    await bot.services.scheduler.run_due()
    assert bot.sent(Channel.CONSOLE) == []
    assert await audit_trail(records, backend.storage, "meeting_reminder") == []


async def test_48_hour_rule_sends_the_reminder_to_the_rep(
    backend: Backend, tmp_path: Path, records: Records
) -> None:
    settings, clock = settings_for(tmp_path, meetings_default_rep="rep-default"), Clock()
    bot = make_bot(settings, backend.storage, clock)
    await register(bot, clock, "dr-quiet", Channel.KF)  # last wrote at T0 ...
    await register(bot, clock, "dr-assigned", Channel.KF)
    profiles = ProfileStore(backend.storage)
    assigned = await profiles.get("dr-assigned")
    assert assigned is not None
    await profiles.save(assigned.model_copy(update={"assigned_rep": "rep-wang"}))
    clock.now = START - timedelta(hours=47)
    await register(bot, clock, "dr-active", Channel.KF)  # ... this one 46 h before the reminder
    bot.clear()

    clock.now = START - timedelta(hours=24) + timedelta(minutes=1)  # T0 + 48 h + 1 min
    assert await bot.services.scheduler.run_due() == 3

    assert [m.recipient_id for m in bot.sent(Channel.KF)] == ["dr-active"]
    forwarded = {m.recipient_id: m for m in bot.sent(Channel.APP)}
    assert set(forwarded) == {"rep-default", "rep-wang"}
    note = bot.transcript(Channel.APP, user="rep-wang")
    assert note.startswith("【请转发】dr-assigned（H）已超过 48 小时未在微信客服中发消息")
    assert "https://meeting.example.test/m1" in note
    assert forwarded["rep-wang"].conversation_key == "app:rep-wang"

    routes = {
        r["doctor"]: r for r in await audit_trail(records, backend.storage, "meeting_reminder")
    }
    assert routes["dr-active"]["route"] == "doctor"
    assert routes["dr-quiet"]["route"] == "rep" and routes["dr-quiet"]["rep"] == "rep-default"
    assert routes["dr-assigned"]["unreachable"] == "window_closed"


async def test_rep_fallback_without_any_rep_is_logged(
    backend: Backend, tmp_path: Path, records: Records
) -> None:
    settings, clock = settings_for(tmp_path), Clock()
    bot = make_bot(settings, backend.storage, clock)
    await register(bot, clock, "dr-alone", Channel.KF)
    bot.clear()
    clock.now = START - timedelta(hours=1)
    await bot.services.scheduler.run_due()
    assert bot.sent(Channel.KF) == [] and bot.sent(Channel.APP) == []
    records = await audit_trail(records, backend.storage, "meeting_reminder")
    assert {(r["route"], r["unreachable"]) for r in records} == {("none", "window_closed")}


async def test_registration_confirmation_carries_calendar_file(
    backend: Backend, tmp_path: Path
) -> None:
    settings, clock = settings_for(tmp_path), Clock()
    bot = make_bot(settings, backend.storage, clock)
    await register(bot, clock, "dr-ics")
    files = [r for r in bot.replies() if isinstance(r, FileReply)]
    assert [f.filename for f in files] == ["m1.ics"]
    assert not any(isinstance(r, MenuReply) and "feedback" in r.head for r in bot.replies())
