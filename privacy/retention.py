"""Retention of what ``Storage`` holds about doctors: the daily job that removes conversation
state, transcripts and profiles past their configured periods.

The system of record has its own job (``records.retention``); this one covers the shared
storage (Redis or the embedded store), where keys also carry a TTL — but a TTL is set at the
last write with the period configured then, and the embedded store only drops a key when it
is read, so the job is what enforces the configured periods. Periods run from the last
activity:

- conversation state (form in progress, language, the rolling transcript): ``updated_at``
  older than ``VREP_CONVERSATION_TTL_S``;
- transcript turns kept in a conversation state that is still live (the rep's briefing):
  older than ``VREP_RETENTION_TRANSCRIPT_DAYS``, the period of the audit trail's transcripts;
- the doctor's profile with the interest profile (topics, products, areas), declared details
  and the HCP verification request: no contact for ``VREP_RETENTION_PROFILE_DAYS``.

It runs at 03:00 business time through the storage scheduler, so exactly one replica runs it,
holds each conversation's lock while it changes that conversation's state (a message being
handled is never overwritten), and audits what it removed as counts (``storage_retention``),
never content. Doctors are found through the profile index and the privacy index
(``privacy:doctors``, kept by the consent middleware), so a conversation outlives neither.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from bot.middlewares import conversation_storage_key, load_conversation, save_conversation
from bot.profiles import DoctorProfile, ProfileStore
from bot.services import Services
from bot.storage.base import LockTimeout, ScheduledItem, StorageError
from privacy.holdings import DOCTORS_KEY, ProfileHolding, conversation_keys, conversations_key
from records.retention import next_run
from skills.handoff.briefing import TRANSCRIPT_KEY
from skills.meetings.service import conversation_lock

log = logging.getLogger(__name__)

RETENTION_SCHEDULE = "privacy_retention"
LOCK_TIMEOUT_S = 5.0  # a conversation busy that long is in use, hence not expired


async def enforce_storage_retention(services: Services, now: datetime) -> Counter[str]:
    """Remove what is past its period and audit the counts; returns them."""
    settings = services.settings
    conversation_before = now - timedelta(seconds=settings.conversation_ttl_s)
    transcript_before = now - timedelta(days=settings.retention_transcript_days)
    profile_before = now - timedelta(days=settings.retention_profile_days)
    storage = services.storage
    profiles = ProfileStore(storage)
    removed: Counter[str] = Counter()
    doctors = await profiles.all_ids() | await storage.set_members(DOCTORS_KEY)
    for doctor_id in sorted(doctors):
        for key in await conversation_keys(services, doctor_id):
            try:
                async with storage.lock(conversation_lock(key), timeout_s=LOCK_TIMEOUT_S):
                    removed += await _expire_conversation(
                        services, doctor_id, key, conversation_before, transcript_before
                    )
            except LockTimeout:
                continue  # in use right now: not idle, nothing to remove
        profile = await profiles.get(doctor_id)
        if profile is None or _last_activity(profile) < profile_before:
            route = profile.contact.conversation_key if profile and profile.contact else None
            try:
                async with storage.lock(
                    conversation_lock(route or doctor_id), timeout_s=LOCK_TIMEOUT_S
                ):
                    again = await profiles.get(doctor_id)  # the doctor may have written since
                    if again is None or _last_activity(again) < profile_before:
                        removed["profiles"] += await ProfileHolding(services).erase(doctor_id)
            except LockTimeout:
                pass
        if not await conversation_keys(services, doctor_id):
            await storage.set_remove(DOCTORS_KEY, doctor_id)  # nothing left to look after
    await services.audit.record(
        "storage_retention", now, removed=dict(sorted(removed.items())), by="retention",
        periods={"conversation_s": settings.conversation_ttl_s,
                 "transcript_days": settings.retention_transcript_days,
                 "profile_days": settings.retention_profile_days},
    )  # fmt: skip
    return removed


def _last_activity(profile: DoctorProfile) -> datetime:
    return profile.last_contact_at or profile.created_at


async def _expire_conversation(
    services: Services,
    doctor_id: str,
    key: str,
    conversation_before: datetime,
    transcript_before: datetime,
) -> Counter[str]:
    """One conversation, under its lock: the whole state when idle past its period, else the
    rolling transcript's turns past theirs."""
    storage = services.storage
    conversation = await load_conversation(storage, key)
    if conversation is None or conversation.updated_at < conversation_before:
        await storage.delete(conversation_storage_key(key))
        await storage.set_remove(conversations_key(doctor_id), key)
        return Counter(conversations=int(conversation is not None))
    turns = conversation.data.get(TRANSCRIPT_KEY) or []
    kept = [turn for turn in turns if datetime.fromisoformat(turn["at"]) >= transcript_before]
    if len(kept) == len(turns):
        return Counter()
    conversation.data[TRANSCRIPT_KEY] = kept
    await save_conversation(storage, conversation, services.settings.conversation_ttl_s)
    return Counter(transcript_turns=len(turns) - len(kept))


async def install_storage_retention(services: Services) -> None:
    """Register the daily job with the scheduler and arm its next run (every replica does;
    scheduling the same item again moves nothing, and ``claim_due`` hands it to one)."""
    timezone = services.settings.timezone

    async def run(item: ScheduledItem) -> None:
        removed = await enforce_storage_retention(services, services.clock())
        if removed:
            log.info("storage retention removed", extra={"removed": dict(removed)})
        await services.storage.schedule(
            RETENTION_SCHEDULE, "daily", next_run(services.clock(), timezone)
        )

    services.scheduler.register(RETENTION_SCHEDULE, run)
    try:
        await services.storage.schedule(
            RETENTION_SCHEDULE, "daily", next_run(services.clock(), timezone)
        )
    except StorageError:  # the app starts while Redis is down; the next start arms it
        log.warning("storage retention job not armed: storage unavailable")
