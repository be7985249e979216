"""Retention: how long each kind of record is kept, and the daily job that enforces it.

Periods run from a record's last event (``Settings.retention_*_days``). The job runs once a
day at 03:00 business time through the storage scheduler, so exactly one replica runs it;
what it removes is written to the audit trail (``retention_removed``) in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.scheduler import Clock, ScheduleRunner
from bot.settings import Settings
from bot.storage.base import ScheduledItem, Storage, StorageError

if TYPE_CHECKING:
    from records.service import Records

log = logging.getLogger(__name__)

RETENTION_SCHEDULE = "records_retention"
RUN_AT = time(3, 0)


@dataclass(frozen=True)
class RetentionPolicy:
    pv: timedelta
    mi: timedelta
    audit: timedelta
    transcript: timedelta
    profile: timedelta
    consent: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            pv=timedelta(days=settings.retention_pv_days),
            mi=timedelta(days=settings.retention_mi_days),
            audit=timedelta(days=settings.retention_audit_days),
            transcript=timedelta(days=settings.retention_transcript_days),
            profile=timedelta(days=settings.retention_profile_days),
            consent=timedelta(days=settings.retention_consent_days),
        )


def next_run(now: datetime, timezone: str) -> datetime:
    """The next 03:00 in the business time zone after ``now`` (the same for every replica,
    so scheduling it again at each start moves nothing)."""
    local = now.astimezone(ZoneInfo(timezone))
    run = datetime.combine(local.date(), RUN_AT, tzinfo=local.tzinfo)
    return run if run > local else run + timedelta(days=1)


async def install_retention(
    records: Records,
    settings: Settings,
    storage: Storage,
    scheduler: ScheduleRunner,
    clock: Clock,
) -> None:
    """Register the daily job with the scheduler and arm its next run."""
    policy = RetentionPolicy.from_settings(settings)

    async def run(item: ScheduledItem) -> None:
        report = await records.enforce_retention(policy, clock())
        if report.total:
            log.info("retention removed records", extra={"removed": report.total})
        await storage.schedule(RETENTION_SCHEDULE, "daily", next_run(clock(), settings.timezone))

    scheduler.register(RETENTION_SCHEDULE, run)
    try:
        await storage.schedule(RETENTION_SCHEDULE, "daily", next_run(clock(), settings.timezone))
    except StorageError:  # the app starts while Redis is down; the next start arms it
        log.warning("retention job not armed: storage unavailable")
