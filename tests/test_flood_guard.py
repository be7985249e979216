"""The flood guard: a doctor's flood gets one "please wait", every message is still screened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import Channel
from bot.runtime import build_runtime
from bot.settings import Settings
from bot.storage.base import Storage
from skills.adverse_events.cases import CASES_SET
from tests.helpers import RecordingSender
from tests.qa_support import message


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_flood_is_answered_once_then_waits_but_reports_still_count(
    storage: Storage,
) -> None:
    clock = Clock()
    settings = Settings(kb_sample_library=False, flood_messages_per_min=3)
    _, dispatcher = build_runtime(
        settings, storage, senders={Channel.CONSOLE: RecordingSender()}, clock=clock
    )
    answered = []
    for _ in range(6):
        ctx = await dispatcher.feed(message("你好"))
        answered.append(len(ctx.replies))
    assert all(count >= 1 for count in answered[:3])
    assert answered[3] == 1 and answered[4:] == [0, 0]
    assert ctx.skill == "flood_guard" and ctx.data["audit_flood"] == 6

    # A report in the flood is screened, recorded and handled (the form asks its question).
    report = await dispatcher.feed(message("患者服用诺拉维后出现严重皮疹，已住院"))
    assert report.data.get("ae_case") and report.replies
    assert len(await storage.set_members(CASES_SET)) == 1

    # Other doctors and reps are not limited; the next minute starts afresh.
    other = await dispatcher.feed(message("你好", user="doc-calm"))
    rep = await dispatcher.feed(message("/help", user="rep-li", member=True))
    assert other.skill != "flood_guard" and rep.skill != "flood_guard"
    clock.now += timedelta(minutes=1)
    later = await dispatcher.feed(message("你好"))
    assert later.skill != "flood_guard" and later.replies


async def test_zero_switches_the_guard_off(storage: Storage) -> None:
    settings = Settings(kb_sample_library=False, flood_messages_per_min=0)
    _, dispatcher = build_runtime(settings, storage, senders={Channel.CONSOLE: RecordingSender()})
    for _ in range(30):
        ctx = await dispatcher.feed(message("你好"))
        assert ctx.skill != "flood_guard"
