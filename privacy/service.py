"""The privacy use cases, shared by the chat and the ops commands: consent decisions, export,
erasure, and routing what cannot be done automatically to the data-protection contacts.

Every use case is audited with who asked (``doctor`` in the chat, the operator's login from the
CLI): ``consent`` for each decision, ``privacy_export``, ``privacy_erasure`` and
``privacy_dpo_request``.
"""

from __future__ import annotations

import json
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.i18n import local_time
from bot.models import Channel, OutboundMessage, TextReply
from bot.profiles import DoctorProfile, ProfileStore
from bot.services import Services
from privacy.holdings import Holding, conversation_keys, holdings
from privacy.recorded import flush_audit
from privacy.records import (
    PURPOSES,
    ConsentEvent,
    ConsentRecord,
    ConsentRecords,
    Standing,
    StorageConsentRecords,
    standing,
)
from skills.meetings.service import conversation_lock

log = logging.getLogger(__name__)

EXTRAS_KEY = "privacy"
_ERASE_ORDER = (  # conversations first: they are found through the profile's last route
    "conversations",
    "meeting_registrations",
    "mi_requests",
    "profile",
)
# In the system of record, after the stream is flushed into the chain (the storage erasures
# above audit the cancelled registrations, which the chain projects into its registry).
_ERASE_RECORDED = ("system_of_record", "transcripts")


@dataclass(frozen=True)
class Export:
    """One doctor's data as exported: sections by name, plus when and for whom."""

    doctor_id: str
    exported_at: datetime
    sections: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "doctor_id": self.doctor_id,
            "exported_at": self.exported_at.isoformat(),
            **self.sections,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.document(), ensure_ascii=False, indent=2).encode()

    def counts(self) -> dict[str, int]:
        """Items per section (a profile counts as one)."""
        return {
            name: len(value) if isinstance(value, list) else int(value is not None)
            for name, value in self.sections.items()
        }


@dataclass
class Erasure:
    """What an erasure removed (items per section), what it kept by law, what went to the DPO."""

    removed: dict[str, int] = field(default_factory=dict)
    retained: dict[str, int] = field(default_factory=dict)
    manual: list[str] = field(default_factory=list)
    routed_to: tuple[str, ...] = ()


class PrivacyService:
    def __init__(self, services: Services, records: ConsentRecords | None = None) -> None:
        self.services = services
        self.records: ConsentRecords = records or StorageConsentRecords(services.storage)
        self.profiles = ProfileStore(services.storage)

    @property
    def version(self) -> str:
        return self.services.settings.privacy_notice_version

    def _holdings(self) -> list[Holding]:
        return holdings(self.services, self.records, self.services.clock())

    async def standing(self, doctor_id: str) -> Standing:
        return standing(await self.records.history(doctor_id))

    async def decide(
        self,
        doctor_id: str,
        event: ConsentEvent,
        *,
        channel: str,
        by: str,
        profile: DoctorProfile | None = None,
    ) -> None:
        """Record a decision; a withdrawal or an opt-out clears the interest profile
        (``profile`` when the caller holds it, else the stored one). The same decision on the
        same notice twice in a row (a redelivered message, a second tap) is recorded once."""
        history = await self.records.history(doctor_id)
        last = history[-1] if history else None
        if last is None or (last.event, last.notice_version) != (event, self.version):
            await self.append(doctor_id, event, channel=channel, by=by)
        if event in (ConsentEvent.WITHDRAWN, ConsentEvent.PERSONALISATION_OFF):
            if profile is not None:
                clear_interests(profile)
            else:
                stored = await self.profiles.get(doctor_id)
                if stored is not None:
                    clear_interests(stored)
                    await self.profiles.save(stored)

    async def append(self, doctor_id: str, event: ConsentEvent, *, channel: str, by: str) -> None:
        """Add to the consent history and audit it as kind ``consent`` (with ``purpose``,
        ``granted``, ``notice_version``, ``via``), the shape the system of record projects
        into its consent table."""
        now = self.services.clock()
        record = ConsentRecord(
            doctor_id=doctor_id,
            event=event,
            notice_version=self.version,
            at=now,
            channel=channel,
            by=by,
        )
        await self.records.append(record)
        purpose, granted = PURPOSES[event]
        await self.services.audit.record(
            "consent", now, doctor=doctor_id, purpose=purpose, granted=granted, event=event.value,
            notice_version=self.version, via=channel, by=by,
        )  # fmt: skip

    async def export(self, doctor_id: str, *, channel: str, by: str) -> Export:
        now = self.services.clock()
        await flush_audit(self.services)  # the chain trails the stream: the last second too
        sections = {holding.name: await holding.export(doctor_id) for holding in self._holdings()}
        export = Export(doctor_id, now, sections)
        await self.services.audit.record(
            "privacy_export", now, doctor=doctor_id, channel=channel, by=by,
            sections=export.counts(),
        )  # fmt: skip
        return export

    async def erase(
        self, doctor_id: str, *, channel: str, by: str, held: str | None = None
    ) -> Erasure:
        """Erase everything not under a legal retention duty, holding the lock of each of the
        doctor's conversations (``held``: the one the caller already holds). Idempotent."""
        now = self.services.clock()
        by_name = {holding.name: holding for holding in self._holdings()}
        erasure = Erasure()
        async with AsyncExitStack() as locks:
            for key in await conversation_keys(self.services, doctor_id):
                if key != held:
                    await locks.enter_async_context(
                        self.services.storage.lock(conversation_lock(key), timeout_s=15.0)
                    )
            for name in _ERASE_ORDER:
                erasure.removed[name] = await by_name[name].erase(doctor_id)
            if self.services.records is not None:
                await flush_audit(self.services)
                for name in _ERASE_RECORDED:
                    erasure.removed[name] = await by_name[name].erase(doctor_id)
            for holding in by_name.values():
                if holding.retained:
                    kept = await holding.export(doctor_id)
                    erasure.retained[holding.name] = len(kept) if isinstance(kept, list) else 0
            await self.append(doctor_id, ConsentEvent.ERASED, channel=channel, by=by)
        if erasure.retained.get("transcripts") and self.services.records is None:
            # the storage stream is append-only; the system of record redacts them instead
            erasure.manual.append("transcripts")
            erasure.routed_to = await self.route_to_dpo(
                doctor_id,
                "erase",
                "删除请求：该医生的消息审计记录（已遮蔽标识）无法自动删除，请人工处理。\n"
                "Erasure request: this doctor's message records in the audit trail (identifiers "
                "masked) cannot be erased automatically; please handle them.",
            )
        await self.services.audit.record(
            "privacy_erasure", now, doctor=doctor_id, channel=channel, by=by,
            removed=erasure.removed, retained=erasure.retained, manual=erasure.manual,
            routed_to=list(erasure.routed_to),
        )  # fmt: skip
        return erasure

    async def route_to_dpo(self, doctor_id: str, request: str, detail: str) -> tuple[str, ...]:
        """Tell the data-protection contacts (``VREP_DPO_USERS``) about a request that needs a
        person; audited. Returns who was told (nobody when none is configured or reachable)."""
        now = self.services.clock()
        users = self.services.settings.dpo_user_ids
        channel = next(
            (c for c in (Channel.APP, Channel.CONSOLE) if c in self.services.senders), None
        )
        told: tuple[str, ...] = ()
        if users and channel is not None:
            text = (
                f"【个人信息请求 Privacy request】{request}\n医生 Doctor: {doctor_id}\n"
                f"时间 At: {local_time(now, self.services.settings.timezone)}\n{detail}"
            )
            await self.services.sender(channel).send(
                OutboundMessage(
                    channel=channel,
                    conversation_key=f"{channel.value}:dpo",
                    recipient_id="|".join(users),
                    replies=(TextReply(text=text),),
                    in_reply_to=f"privacy:{request}:{doctor_id}:{now.isoformat()}",
                )
            )
            told = users
        else:
            self.services.metrics.events.labels("privacy_dpo_unrouted").inc()
            log.warning("no data-protection contact to route a privacy request to")
        await self.services.audit.record(
            "privacy_dpo_request", now, doctor=doctor_id, request=request, detail=detail,
            routed_to=list(told),
        )  # fmt: skip
        return told


def clear_interests(profile: DoctorProfile) -> None:
    """Forget the interest profile (counts per topic, product and area)."""
    profile.topics.clear()
    profile.products.clear()
    profile.therapeutic_areas.clear()


def privacy_service(services: Services) -> PrivacyService:
    """The process's ``PrivacyService``, created on first use."""
    existing = services.extras.get(EXTRAS_KEY)
    if isinstance(existing, PrivacyService):
        return existing
    created = PrivacyService(services)
    services.extras[EXTRAS_KEY] = created
    return created
