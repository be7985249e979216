"""``virtualrep privacy show|export|erase`` on the durable default (SQLite storage and records):
what the operator sees, the files written, what is erased and kept — in the storage and in the
system of record (its registries; the doctor's messages in the audit chain are redacted, the
chain still verifies, an adverse-event report's message stays) — the audit entries still in
the storage stream included, the consent standing read from the store, and each request
audited in the chain with the operator's login. The doctor's closed handoff records (found
through the handoff store's per-doctor index) are exported and erased; a doctor whom a rep is
handling (open handoff) is not erased at all, and the operator is told why."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.audit import AuditLog
from bot.cli import main
from bot.escalation import EscalationReason
from bot.metrics import Metrics
from bot.profiles import DoctorProfile, ProfileStore
from bot.scheduler import ScheduleRunner
from bot.services import Services, system_clock
from bot.settings import load_settings
from bot.storage.sqlite import SqliteStorage
from privacy.recorded import flush_audit
from privacy.records import ConsentEvent, ConsentRecord, StorageConsentRecords
from records import ChainCheck, open_records
from skills.handoff.state import Handoff, HandoffStatus, HandoffStore
from skills.qa.mi import MIStore

DOCTOR, OTHER, WITH_REP = "wmCLIDOC01", "wmCLIDOC02", "wmCLIDOC03"


def _message(doctor: str, text: str, **fields: object) -> dict[str, object]:
    """An audit record of a doctor's message, as the audit middleware writes it."""
    return {"message_id": text, "channel": "kf", "conversation": f"kf:x:{doctor}",
            "sender": doctor, "inbound_kind": "text", "text": text, "replies": [],
            "annotations": {}, **fields}  # fmt: skip


async def _seed(path: Path) -> None:
    """Both doctors in the storage; DOCTOR's consent in the store; in the records an older
    message of DOCTOR, an MI request, a meeting registration and a verification step; and in
    the storage stream (the sink has not moved them yet) the newest messages of both. Each
    has a closed handoff; WITH_REP has a profile and a handoff a rep is on (active)."""
    storage = SqliteStorage(path)
    try:
        now = datetime.now(UTC)
        async with open_records(load_settings()) as records:
            for doctor in (DOCTOR, OTHER):
                await ProfileStore(storage).save(
                    DoctorProfile(doctor_id=doctor, name=f"name-{doctor}", topics={"疗效": 2})
                )
                await MIStore(storage, records).create(
                    question=f"q-{doctor}", doctor_id=doctor, conversation_key=f"kf:x:{doctor}",
                    channel="kf", profile=None, at=now, response_hours=48, timezone="UTC",
                )  # fmt: skip
            await ProfileStore(storage).save(DoctorProfile(doctor_id=WITH_REP))
            for n, (doctor, status) in enumerate(
                ((DOCTOR, "closed"), (OTHER, "closed"), (WITH_REP, "active"))
            ):
                await HandoffStore(storage).save(
                    Handoff(
                        handoff_id=f"h{n}", conversation_key=f"kf:x:{doctor}", doctor_id=doctor,
                        reason=EscalationReason.EXPLICIT_REQUEST, detail=f"转人工 {doctor}",
                        requested_at=now, status=HandoffStatus(status),
                    )
                )  # fmt: skip
            await StorageConsentRecords(storage).append(
                ConsentRecord(
                    doctor_id=DOCTOR, event=ConsentEvent.AGREED, notice_version="1", at=now,
                    channel="kf", by="doctor",
                )
            )  # fmt: skip
            chain, stream = AuditLog(storage, records), AuditLog(storage)
            consent = {"purpose": "privacy_notice", "granted": True, "via": "kf"}
            await chain.record("consent", now, doctor=DOCTOR, event="agreed", **consent)
            registration = {"meeting": "M1", "compliance_code": "C-1"}
            await chain.record("meeting_registration", now, doctor=DOCTOR, **registration)
            await chain.record("hcp_verification", now, event="requested", doctor=DOCTOR)
            await chain.record("message", now, **_message(DOCTOR, "早上好"))
            # The handoff audit quotes the doctor: erased with the transcripts, unless it is
            # part of an adverse-event report.
            handoff = {"event": "requested", "conversation": f"kf:x:{DOCTOR}", "doctor": DOCTOR}
            for handoff_id, reason in (
                ("h0", "explicit_request"),
                ("hae", "serious_adverse_event"),
            ):
                await chain.record(
                    "handoff", now, handoff_id=handoff_id, reason=reason,
                    detail=f"{reason} {DOCTOR}", **handoff,
                )  # fmt: skip
            await stream.record("message", now, **_message(DOCTOR, "你好"))
            ae = {"annotations": {"audit_ae_case": "AE-1"}, "skill": "adverse_events"}
            await stream.record("message", now, **_message(DOCTOR, "皮疹 rash", **ae))
            await stream.record("message", now, **_message(OTHER, "hello"))
    finally:
        await storage.close()


async def _chain() -> tuple[ChainCheck, dict[str, list[str | None]], list[dict[str, object]]]:
    """The chain check, each doctor's message texts and handoff details in the chain (None
    once redacted), and the privacy requests audited there."""
    async with open_records(load_settings()) as records:
        texts: dict[str, list[str | None]] = {}
        requests = []
        async for entry in records.audit_entries():
            if entry.kind in ("message", "handoff"):
                payload = entry.payload or {}
                text = payload.get("text") or payload.get("detail")
                texts.setdefault(str(entry.doctor_id), []).append(text)
            elif entry.kind.startswith("privacy_"):
                requests.append({**(entry.payload or {}), "kind": entry.kind})
        return await records.verify_audit(), texts, requests


async def _state(
    path: Path,
) -> tuple[bool, bool, list[str], list[str], int, dict[str, list[str]]]:
    """Profiles left, MI requests left (storage, records), what a second flush adds, and the
    handoff records left per doctor."""
    storage = SqliteStorage(path)
    try:
        async with open_records(load_settings()) as records:
            profiles = ProfileStore(storage)
            left = [r.doctor_id for r in await MIStore(storage).list(include_closed=True)]
            recorded = [r.doctor_id for r in (await records.mi_requests(status=None)).items]
            metrics = Metrics()
            services = Services(
                settings=load_settings(), storage=storage, metrics=metrics,
                audit=AuditLog(storage, records), records=records,
                scheduler=ScheduleRunner(storage, system_clock, metrics),
            )  # fmt: skip
            return (
                await profiles.get(DOCTOR) is not None,
                await profiles.get(OTHER) is not None,
                left,
                recorded,
                await flush_audit(services),
                {
                    doctor: [h.handoff_id for h in await HandoffStore(storage).for_doctor(doctor)]
                    for doctor in (DOCTOR, OTHER, WITH_REP)
                },
            )
    finally:
        await storage.close()


def test_privacy_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("VREP_DATA_DIR", str(data))
    monkeypatch.setenv("VREP_EMBEDDED_STORAGE", "sqlite")
    monkeypatch.setattr("getpass.getuser", lambda: "ops-zhang")
    asyncio.run(_seed(data / "state.sqlite3"))

    assert main(["privacy", "show", DOCTOR]) == 0
    shown = capsys.readouterr().out
    assert "consent\tagreed (notice 1)" in shown and "mi_requests\t1" in shown
    assert "transcripts\t3" in shown and "system_of_record\t4" in shown
    monkeypatch.setenv("VREP_PRIVACY_NOTICE_VERSION", "2")
    assert main(["privacy", "show", DOCTOR]) == 0
    assert "consent\tagreed (notice 1; current notice 2: asked again)" in capsys.readouterr().out
    monkeypatch.delenv("VREP_PRIVACY_NOTICE_VERSION")
    assert main(["privacy", "show", "wmNOBODY"]) == 1
    capsys.readouterr()

    assert main(["privacy", "export", DOCTOR, "--out", str(tmp_path / "out")]) == 0
    json_path, text_path = (Path(line) for line in capsys.readouterr().out.split())
    document = json.loads(json_path.read_text("utf-8"))
    assert document["profile"]["name"] == f"name-{DOCTOR}"
    assert [r["question"] for r in document["mi_requests"]] == [f"q-{DOCTOR}"]
    # The chain's message and the two the stream still held: nothing of the last second lost.
    assert [m["you"] for m in document["transcripts"]] == ["早上好", "你好", "皮疹 rash"]
    assert [c["event"] for c in document["consent_history"]] == ["agreed"]
    assert [h["detail"] for h in document["handoffs"]] == [f"转人工 {DOCTOR}"]
    assert [r["record"] for r in document["system_of_record"]] == [
        "consent", "mi_request", "meeting_registration", "hcp_verification"
    ]  # fmt: skip
    assert OTHER not in json_path.read_text("utf-8") + text_path.read_text("utf-8")

    assert main(["privacy", "erase", DOCTOR]) == 0
    erased = capsys.readouterr().out
    removed = json.loads(erased.split("\n")[0].split("\t")[1])
    assert removed["profile"] == removed["handoffs"] == 1 and removed["transcripts"] == 3
    assert removed["system_of_record"] == 3  # MI request, registration, verification step
    assert "kept\tadverse-event case records" in erased and "manual" not in erased
    check, texts, _ = asyncio.run(_chain())
    assert check.ok and check.redacted == 3  # the chain holds over the blanked entries
    assert check.by_retention == 0  # `audit verify` says "by erasure requests", not retention
    assert texts == {  # the AE message and the AE's handoff stay
        DOCTOR: [None, None, f"serious_adverse_event {DOCTOR}", None, "皮疹 rash"],
        OTHER: ["hello"],
    }

    assert main(["privacy", "erase", DOCTOR]) == 0  # again: nothing left, no error
    again = json.loads(capsys.readouterr().out.split("\n")[0].split("\t")[1])
    assert again["profile"] == again["transcripts"] == again["system_of_record"] == 0
    assert asyncio.run(_chain())[0].redacted == 3
    # A rep is handling WITH_REP: the erasure is refused, nothing changed, the operator told.
    assert main(["privacy", "erase", WITH_REP]) == 1
    assert "a rep is handling wmCLIDOC03 (handoff h2): nothing was erased" in (
        capsys.readouterr().out
    )
    state = asyncio.run(_state(data / "state.sqlite3"))
    mine, others, left, recorded, flushed, handoffs = state
    assert handoffs == {DOCTOR: [], OTHER: ["h1"], WITH_REP: ["h2"]}
    assert not mine and others and left == [OTHER] and recorded == [OTHER]
    assert flushed == 0  # the stream is in the chain once: the sink will add nothing twice
    kinds = {(str(e["kind"]), e.get("by")) for e in asyncio.run(_chain())[2]}
    assert {("privacy_export", "ops-zhang"), ("privacy_erasure", "ops-zhang")} <= kinds
    [refused] = [e for e in asyncio.run(_chain())[2] if e.get("refused")]
    assert (refused["kind"], refused["doctor"], refused["refused"]) == (
        "privacy_erasure", WITH_REP, ["h2"]
    )  # fmt: skip
