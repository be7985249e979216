"""The system of record on SQLite and PostgreSQL: the audit chain (append, concurrent
writers, tampering found), AE case lifecycle, MI requests, projections, retention, import."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from bot.storage.memory import MemoryStorage
from records import (
    CaseQuery,
    CaseSnapshot,
    DeliverySnapshot,
    MISnapshot,
    Records,
    RetentionPolicy,
    open_records,
    schema_status,
)
from records.database import alembic_config, upgrade
from records.importer import import_storage

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def case_document(case_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "case_id": case_id,
        "status": "collecting",
        "day0": T0.isoformat(),
        "due_at": (T0 + timedelta(hours=24)).isoformat(),
        "opened_at": T0.isoformat(),
        "updated_at": T0.isoformat(),
        "submitted_at": None,
        "doctor_id": "doc-1",
        "channel": "kf",
        "products": [],
        "events": [{"verbatim": "皮疹", "language": "zh", "onset": None}],
        "categories": ["adverse_event"],
        "seriousness": None,
        "incomplete": False,
    }
    return document | changes


async def execute(records: Records, sql: str, **params: Any) -> None:
    """Change the database behind the bot's back, as someone with a database shell would.

    On PostgreSQL the audit table refuses changes (migration 0002), so this plays a
    superuser who switches triggers off first: the chain must still find it."""
    async with records.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text(sql), params)


async def test_postgresql_refuses_to_change_or_delete_an_audit_record(records: Records) -> None:
    if records.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no roles: the hash chain alone guards it")
    await records.append_audit("message", T0, {"sender": "d", "text": "a"})
    for sql in (
        "UPDATE audit_entries SET kind = 'x' WHERE seq = 1",
        "UPDATE audit_entries SET payload = '{}' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 1",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with records.engine.begin() as connection:
                await connection.execute(text(sql))
    assert (await records.verify_audit()).ok


async def test_audit_chain_verifies_and_finds_each_kind_of_tampering(records: Records) -> None:
    for i in range(5):
        await records.append_audit("message", T0 + timedelta(minutes=i), {"sender": "d", "n": i})
    check = await records.verify_audit()
    assert check.ok and check.entries == 5

    await execute(records, "UPDATE audit_entries SET payload = :p WHERE seq = 3", p='{"n": 99}')
    broken = await records.verify_audit()
    assert not broken.ok and broken.broken_at == 3 and "content" in broken.reason
    assert broken.entries == 2  # the two before it still verify


async def test_a_changed_time_or_a_deleted_record_breaks_the_chain(records: Records) -> None:
    for i in range(4):
        await records.append_audit("ae_case_read", T0 + timedelta(minutes=i), {"case_id": f"C{i}"})
    await execute(records, "UPDATE audit_entries SET kind = 'x' WHERE seq = 2")
    assert (await records.verify_audit()).broken_at == 2
    await execute(records, "UPDATE audit_entries SET kind = 'ae_case_read' WHERE seq = 2")
    assert (await records.verify_audit()).ok  # put back as it was: holds again
    await execute(records, "DELETE FROM audit_entries WHERE seq = 3")
    deleted = await records.verify_audit()
    assert not deleted.ok and deleted.broken_at == 3 and "missing" in deleted.reason


async def test_concurrent_writers_keep_one_unbroken_chain(records_settings: Settings) -> None:
    """Two handles on one database (two replicas) append at once: no position is taken
    twice, none is lost, the chain verifies."""
    async with open_records(records_settings) as one, open_records(records_settings) as two:
        await asyncio.gather(
            *(
                handle.append_audit("message", T0, {"writer": name, "n": i})
                for i in range(15)
                for name, handle in (("one", one), ("two", two))
            )
        )
        check = await one.verify_audit()
        page = await two.search_audit(limit=100)
    assert check.ok and check.entries == 30
    assert [r.seq for r in page.items] == list(range(1, 31))
    assert {(r.payload or {})["writer"] for r in page.items} == {"one", "two"}


async def test_audit_search_filters_on_the_database(records: Records) -> None:
    await records.append_audit("message", T0, {"sender": "doc-1", "text": "a"})
    await records.append_audit("ae_case_read", T0 + timedelta(hours=1), {"case_id": "AE-1"})
    await records.append_audit("hcp_verification", T0 + timedelta(days=2), {"doctor": "doc-1"})
    by_doctor = await records.search_audit(doctor_id="doc-1")
    assert [r.kind for r in by_doctor.items] == ["message", "hcp_verification"]
    by_case = await records.search_audit(case_id="AE-1")
    assert by_case.total == 1 and by_case.items[0].kind == "ae_case_read"
    first_day = [r async for r in records.audit_entries(start=T0, end=T0 + timedelta(days=1))]
    assert [r.seq for r in first_day] == [1, 2]
    page = await records.search_audit(offset=1, limit=1)
    assert page.total == 3 and [r.seq for r in page.items] == [2]


async def test_case_lifecycle_is_recorded_event_by_event(records: Records) -> None:
    doc = case_document("AE-20261102-0001")
    assert await records.save_case(CaseSnapshot.from_document(doc)) == "created"
    assert await records.save_case(CaseSnapshot.from_document(doc)) is None  # nothing changed
    answered = doc | {
        "products": [{"name": "XX药"}],
        "updated_at": (T0 + timedelta(minutes=2)).isoformat(),
    }
    assert await records.save_case(CaseSnapshot.from_document(answered)) == "form_answer"
    submitted = answered | {
        "status": "submitted",
        "submitted_at": (T0 + timedelta(minutes=5)).isoformat(),
        "updated_at": (T0 + timedelta(minutes=5)).isoformat(),
        "submit_reason": "confirmed",
    }
    assert await records.save_case(CaseSnapshot.from_document(submitted)) == "submitted"
    at = T0 + timedelta(minutes=6)
    queued = DeliverySnapshot(at, {}, 0, None, None, None)
    assert await records.save_delivery("AE-20261102-0001", queued, at) == ["queued"]
    failed = DeliverySnapshot(at, {"archive": at}, 1, "webhook: 503", None, None)
    assert await records.save_delivery("AE-20261102-0001", failed, at) == [
        "delivered_to_sink",
        "delivery_failed",
    ]
    done = DeliverySnapshot(at, {"archive": at, "webhook": at}, 1, None, None, at)
    assert await records.save_delivery("AE-20261102-0001", done, at) == [
        "delivered_to_sink",
        "delivered",
    ]
    assert await records.acknowledge_case("AE-20261102-0001", by="pv1", at=at, via="cli")
    assert not await records.acknowledge_case("AE-20261102-0001", by="pv2", at=at, via="cli")
    assert await records.case_event("AE-20261102-0001", "exported", at, actor="pv1", format="e2b")
    assert not await records.case_event("AE-404", "exported", at, actor="pv1")

    detail = await records.case_detail("AE-20261102-0001")
    assert detail is not None
    assert [e.kind for e in detail.events] == [
        "created",
        "form_answer",
        "submitted",
        "queued",
        "delivered_to_sink",
        "delivery_failed",
        "delivered_to_sink",
        "delivered",
        "acknowledged",
        "exported",
    ]
    assert detail.summary.acknowledged_by == "pv1" and detail.summary.products == "XX药"
    assert detail.delivery["sinks"].keys() == {"archive", "webhook"}


async def test_a_case_read_by_a_person_is_audited_with_it(records: Records) -> None:
    await records.save_case(CaseSnapshot.from_document(case_document("AE-1")))
    detail = await records.read_case("AE-1", reader="pv1", purpose="console", at=T0)
    assert detail is not None and detail.summary.case_id == "AE-1"
    assert await records.read_case("AE-404", reader="pv1", purpose="console", at=T0) is None
    reads = (await records.search_audit(kind="ae_case_read")).items
    assert [(r.case_id, r.actor, (r.payload or {})["found"]) for r in reads] == [
        ("AE-1", "pv1", True),
        ("AE-404", "pv1", False),
    ]


async def test_case_queue_filters_and_pages_on_the_database(records: Records) -> None:
    for n in range(1, 6):
        day0 = T0 + timedelta(hours=n)
        doc = case_document(
            f"AE-{n}", day0=day0.isoformat(), due_at=(day0 + timedelta(hours=24)).isoformat()
        )
        await records.save_case(CaseSnapshot.from_document(doc))
    await records.acknowledge_case("AE-1", by="pv1", at=T0, via="wecom")
    now = T0 + timedelta(hours=27)  # AE-1..3 are past due; AE-1 is acknowledged
    overdue = await records.case_queue(CaseQuery(overdue_at=now))
    assert [c.case_id for c in overdue.items] == ["AE-2", "AE-3"]
    assert all(c.overdue(now) for c in overdue.items)
    page = await records.case_queue(offset=2, limit=2)
    assert page.total == 5 and [c.case_id for c in page.items] == ["AE-3", "AE-4"]
    assert (await records.case_queue(CaseQuery(unacknowledged=True))).total == 4
    assert (await records.case_queue(CaseQuery(dead_lettered=True))).total == 0


async def test_mi_requests_are_saved_listed_and_handed_on(records: Records) -> None:
    document = {
        "mi_id": "MI-1",
        "question": "儿童剂量？",
        "doctor_id": "doc-1",
        "status": "open",
        "created_at": T0.isoformat(),
        "respond_by": (T0 + timedelta(hours=48)).isoformat(),
    }
    await records.save_mi(MISnapshot.from_document(document), T0)
    assert await records.assign_mi("MI-1", "msl-2", T0)
    assert not await records.assign_mi("MI-404", "msl-2", T0)
    [open_one] = (await records.mi_requests()).items
    assert open_one.assigned_to == "msl-2" and open_one.question == "儿童剂量？"
    closed = document | {"status": "closed", "closed_at": T0.isoformat(), "closed_by": "msl-2"}
    await records.save_mi(MISnapshot.from_document(closed), T0)
    assert (await records.mi_requests()).total == 0
    assert (await records.mi_requests(status="closed")).items[0].closed_by == "msl-2"


async def test_audit_records_project_into_their_registries(records: Records) -> None:
    await records.append_audit("hcp_verification", T0, {"event": "requested", "doctor": "d1"})
    await records.append_audit(
        "hcp_verification", T0, {"event": "approved", "doctor": "d1", "by": "rep1"}
    )
    await records.append_audit("meeting_registration", T0, {"meeting": "m1", "doctor": "d1"})
    await records.append_audit("meeting_cancellation", T0, {"meeting": "m1", "doctor": "d1"})
    await records.append_audit(
        "consent", T0, {"subject": "d1", "purpose": "follow_up", "granted": False, "via": "kf"}
    )
    assert [(v.event, v.by) for v in await records.verifications("d1")] == [
        ("requested", None),
        ("approved", "rep1"),
    ]
    [registration] = await records.registrations("m1")
    assert registration.status == "cancellation" and registration.registered_at == T0
    [consent] = await records.consents("d1")
    assert consent.purpose == "follow_up" and consent.granted is False


async def test_retention_removes_what_expired_audits_it_and_keeps_the_chain(
    records: Records, records_settings: Settings
) -> None:
    old = case_document("AE-OLD")
    await records.save_case(CaseSnapshot.from_document(old))
    await records.append_audit("ae_case_read", T0, {"case_id": "AE-OLD", "reader": "pv1"})
    await records.append_audit("message", T0, {"sender": "d1", "text": "hello"})
    later = T0 + timedelta(days=3000)
    recent = case_document("AE-NEW", updated_at=later.isoformat())
    await records.save_case(CaseSnapshot.from_document(recent))
    await records.append_audit("ae_case_read", T0, {"case_id": "AE-NEW", "reader": "pv1"})
    policy = RetentionPolicy.from_settings(records_settings)
    now = T0 + timedelta(days=3654)

    dry = await records.enforce_retention(policy, now, dry_run=True)
    assert dry.removed["ae_case"] == ["AE-OLD"] and await records.case_detail("AE-OLD")

    report = await records.enforce_retention(policy, now)
    assert report.removed == {"ae_case": ["AE-OLD"]} and report.redacted_audit == 2
    assert await records.case_detail("AE-OLD") is None
    assert await records.case_detail("AE-NEW") is not None
    entries = (await records.search_audit(limit=10)).items
    assert [e.payload is None for e in entries[:3]] == [True, True, False]  # AE-NEW's kept
    assert entries[-1].kind == "retention_removed"
    assert entries[-1].payload == {
        "by": "retention",
        "removed": {"ae_case": ["AE-OLD"]},
        "redacted_audit": 2,
    }
    check = await records.verify_audit()
    assert check.ok and check.redacted == check.by_retention == 2  # told apart from erasures
    assert (await records.enforce_retention(policy, now)).total == 0  # nothing left to do


async def test_import_from_the_storage_is_complete_and_idempotent(records: Records) -> None:
    storage = MemoryStorage()
    document = case_document("AE-20261102-0001", status="submitted")
    await storage.set_json("ae:case:AE-20261102-0001", document)
    await storage.set_add("ae:cases", "AE-20261102-0001", "AE-GONE")
    await storage.set_json(
        "ae:delivery:AE-20261102-0001",
        {"queued_at": T0.isoformat(), "sinks": {"archive": T0.isoformat()}, "attempts": 0,
         "delivered_at": T0.isoformat()},
    )  # fmt: skip
    await storage.set_json(
        "ae:ack:AE-20261102-0001", {"by": "pv1", "at": T0.isoformat(), "via": "wecom"}
    )
    await storage.set_json(
        "mi:MI-1",
        {"mi_id": "MI-1", "question": "q", "doctor_id": "d", "created_at": T0.isoformat(),
         "respond_by": T0.isoformat()},
    )  # fmt: skip
    await storage.set_add("mi:all", "MI-1")
    for n in range(3):
        await storage.enqueue("audit", {"kind": "message", "at": T0.isoformat(), "n": n})

    report = await import_storage(storage, records)
    assert (report.cases, report.mi_requests, report.audit_records) == (1, 1, 3)
    assert report.skipped == ["AE-GONE"]
    again = await import_storage(storage, records)
    assert again.audit_records == 0
    detail = await records.case_detail("AE-20261102-0001")
    assert detail is not None and detail.summary.acknowledged_by == "pv1"
    assert detail.summary.delivered_at == T0
    assert (await records.verify_audit()).entries == 3
    assert (await records.mi_requests()).total == 1


async def test_schema_status_tells_an_unmigrated_database(records_settings: Settings) -> None:
    async with open_records(records_settings, migrate=False) as unmigrated:
        status = await schema_status(unmigrated)
        if status.current is None:  # a fresh SQLite file; the PostgreSQL copy is migrated
            assert not status.at_head
    async with open_records(records_settings) as migrated:
        assert (await schema_status(migrated)).at_head


async def test_migrations_go_down_to_nothing_and_up_again(records: Records) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "base")

    async with records.engine.begin() as connection:
        await connection.run_sync(downgrade)
    assert (await schema_status(records)).current is None
    await upgrade(records.engine)
    assert (await schema_status(records)).at_head
    await records.append_audit("message", T0, {"sender": "d"})
    assert (await records.verify_audit()).ok
