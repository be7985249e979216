"""``virtualrep privacy show|export|erase`` on the durable default (SQLite): what the operator
sees, the files written, what is erased and kept, and the audit with the operator's login."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.audit import AUDIT_QUEUE
from bot.cli import main
from bot.profiles import DoctorProfile, ProfileStore
from bot.storage.sqlite import SqliteStorage
from privacy.records import ConsentEvent, ConsentRecord, StorageConsentRecords
from skills.qa.mi import MIStore

DOCTOR, OTHER = "wmCLIDOC01", "wmCLIDOC02"


async def _seed(path: Path) -> None:
    storage = SqliteStorage(path)
    try:
        now = datetime.now(UTC)
        for doctor in (DOCTOR, OTHER):
            await ProfileStore(storage).save(
                DoctorProfile(doctor_id=doctor, name=f"name-{doctor}", topics={"疗效 efficacy": 2})
            )
            await MIStore(storage).create(
                question=f"q-{doctor}", doctor_id=doctor, conversation_key=f"kf:x:{doctor}",
                channel="kf", profile=None, at=now, response_hours=48,
            )  # fmt: skip
        await StorageConsentRecords(storage).append(
            ConsentRecord(
                doctor_id=DOCTOR, event=ConsentEvent.AGREED, notice_version="1", at=now,
                channel="kf", by="doctor",
            )
        )  # fmt: skip
    finally:
        await storage.close()


async def _state(path: Path) -> tuple[bool, bool, list[str], list[dict[str, object]]]:
    storage = SqliteStorage(path)
    try:
        profiles = ProfileStore(storage)
        left = [r.doctor_id for r in await MIStore(storage).list(include_closed=True)]
        trail = await storage.unacknowledged(AUDIT_QUEUE, "test", count=1000)
        return (
            await profiles.get(DOCTOR) is not None,
            await profiles.get(OTHER) is not None,
            left,
            [e.payload for e in trail if str(e.payload["kind"]).startswith("privacy_")],
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
    assert main(["privacy", "show", "wmNOBODY"]) == 1
    capsys.readouterr()

    assert main(["privacy", "export", DOCTOR, "--out", str(tmp_path / "out")]) == 0
    json_path, text_path = (Path(line) for line in capsys.readouterr().out.split())
    document = json.loads(json_path.read_text("utf-8"))
    assert document["profile"]["name"] == f"name-{DOCTOR}"
    assert [r["question"] for r in document["mi_requests"]] == [f"q-{DOCTOR}"]
    assert OTHER not in json_path.read_text("utf-8") + text_path.read_text("utf-8")

    assert main(["privacy", "erase", DOCTOR]) == 0
    assert '"profile": 1' in capsys.readouterr().out
    assert main(["privacy", "erase", DOCTOR]) == 0  # again: nothing left, no error
    assert '"profile": 0' in capsys.readouterr().out
    mine, others, left, audited = asyncio.run(_state(data / "state.sqlite3"))
    assert not mine and others and left == [OTHER]
    kinds = [(e["kind"], e["by"]) for e in audited if "by" in e]
    assert ("privacy_erasure", "ops-zhang") in kinds and ("privacy_export", "ops-zhang") in kinds
