"""One-time import of what the Storage held before the records existed (``db import-redis``):
AE cases with their delivery state and acknowledgement, MI requests, the audit stream.

Idempotent: a case or request is upserted (an unchanged one records no event), an audit
stream entry is appended once (its stream id is kept as ``source_id``). The Storage is only
read; it keeps its copies until the operator removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.storage.base import Storage
from records.results import CaseSnapshot, DeliverySnapshot, MISnapshot
from records.service import Records
from records.sink import append_entry

AUDIT_STREAM = "audit"  # bot.audit.AUDIT_QUEUE
_READ_ALL = 10_000_000


@dataclass(frozen=True)
class ImportReport:
    cases: int
    mi_requests: int
    audit_records: int
    skipped: list[str]


async def import_storage(storage: Storage, records: Records) -> ImportReport:
    cases = requests = audited = 0
    skipped: list[str] = []
    for case_id in sorted(await storage.set_members("ae:cases")):
        raw = await storage.get_json(f"ae:case:{case_id}")
        if not isinstance(raw, dict):
            skipped.append(case_id)
            continue
        snapshot = CaseSnapshot.from_document(raw)
        await records.save_case(snapshot, actor="import")
        delivery = await storage.get_json(f"ae:delivery:{case_id}")
        if isinstance(delivery, dict):
            await records.save_delivery(
                case_id, DeliverySnapshot.from_document(delivery), snapshot.updated_at
            )
        ack = await storage.get_json(f"ae:ack:{case_id}")
        if isinstance(ack, dict):
            await records.acknowledge_case(
                case_id,
                by=str(ack.get("by")),
                at=datetime.fromisoformat(str(ack["at"])),
                via=str(ack.get("via")),
            )
        cases += 1
    for mi_id in sorted(await storage.set_members("mi:all")):
        raw = await storage.get_json(f"mi:{mi_id}")
        if not isinstance(raw, dict):
            skipped.append(mi_id)
            continue
        snapshot_mi = MISnapshot.from_document(raw)
        await records.save_mi(snapshot_mi, snapshot_mi.closed_at or snapshot_mi.created_at)
        requests += 1
    for entry in await storage.unacknowledged(AUDIT_STREAM, "records-import", _READ_ALL):
        audited += await append_entry(records, entry)
    return ImportReport(cases, requests, audited, skipped)
