"""Consent history: what each doctor decided about the privacy notice, when and where.

Records are append-only (``ConsentRecords``); the doctor's current standing (``Standing``) is
folded from them. The store is a small protocol so that the SQL system of record (#19,
``records/``) can take it over with one adapter; until then ``StorageConsentRecords`` keeps
each doctor's history as one JSON document in the shared ``Storage``.

Consent history is kept when the doctor's other data is erased: it is the proof that
processing had a lawful basis, and it records the erasure itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from bot.storage.base import Storage

CONSENT_TTL_S = 10 * 365 * 24 * 3600  # proof of consent outlives the data it covered


class ConsentEvent(StrEnum):
    AGREED = "agreed"  # agreed to the notice of ``notice_version``
    DECLINED = "declined"  # "not now" (or a typed no) to that notice
    WITHDRAWN = "withdrawn"  # withdrew consent
    PERSONALISATION_OFF = "personalisation_off"  # refused personalised recommendations
    PERSONALISATION_ON = "personalisation_on"  # allowed them again
    ERASED = "erased"  # the doctor's data was erased (consent ends with it)


# How each event reads in the system of record's consent table (purpose, granted): records/
# projects every audit record of kind "consent" into it (see ``PrivacyService.append``).
PURPOSES: dict[ConsentEvent, tuple[str, bool]] = {
    ConsentEvent.AGREED: ("privacy_notice", True),
    ConsentEvent.DECLINED: ("privacy_notice", False),
    ConsentEvent.WITHDRAWN: ("privacy_notice", False),
    ConsentEvent.PERSONALISATION_OFF: ("personalisation", False),
    ConsentEvent.PERSONALISATION_ON: ("personalisation", True),
    ConsentEvent.ERASED: ("erasure", False),
}


class ConsentRecord(BaseModel):
    doctor_id: str
    event: ConsentEvent
    notice_version: str
    at: datetime
    channel: str  # where it was given: kf, console, ops (the CLI)
    by: str  # "doctor", or the operator's login for ops requests


class ConsentRecords(Protocol):
    """Append-only consent history per doctor (the system of record's seam)."""

    async def append(self, record: ConsentRecord) -> None: ...

    async def history(self, doctor_id: str) -> list[ConsentRecord]:
        """The doctor's records, oldest first."""
        ...


class StorageConsentRecords:
    """``ConsentRecords`` on the shared ``Storage`` (one JSON list per doctor).

    Appends for one doctor run inside that doctor's conversation lock (chat) or the locks of
    all their conversations (ops), so the read-modify-write below is never concurrent.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    @staticmethod
    def _key(doctor_id: str) -> str:
        return f"privacy:consents:{doctor_id}"

    async def append(self, record: ConsentRecord) -> None:
        raw = await self._storage.get_json(self._key(record.doctor_id)) or []
        raw.append(record.model_dump(mode="json"))
        await self._storage.set_json(self._key(record.doctor_id), raw, CONSENT_TTL_S)

    async def history(self, doctor_id: str) -> list[ConsentRecord]:
        raw = await self._storage.get_json(self._key(doctor_id)) or []
        return [ConsentRecord.model_validate(item) for item in raw]


@dataclass(frozen=True)
class Standing:
    """Where a doctor stands now, folded from their history."""

    agreed_version: str | None = None  # the notice version consented to, None when none holds
    declined_version: str | None = None  # the last version answered "not now"
    personalisation_off: bool = False

    def consented(self, version: str) -> bool:
        return self.agreed_version == version

    def answered(self, version: str) -> bool:
        """The doctor agreed to or declined this version: the notice is not asked again."""
        return version in (self.agreed_version, self.declined_version)


def standing(history: list[ConsentRecord]) -> Standing:
    agreed: str | None = None
    declined: str | None = None
    personalisation_off = False
    for record in history:
        if record.event is ConsentEvent.AGREED:
            agreed, declined = record.notice_version, None
        elif record.event in (ConsentEvent.DECLINED, ConsentEvent.WITHDRAWN):
            agreed, declined = None, record.notice_version
        elif record.event is ConsentEvent.ERASED:  # a refusal of personalisation stands
            agreed = declined = None
        elif record.event is ConsentEvent.PERSONALISATION_OFF:
            personalisation_off = True
        elif record.event is ConsentEvent.PERSONALISATION_ON:
            personalisation_off = False
    return Standing(agreed, declined, personalisation_off)
