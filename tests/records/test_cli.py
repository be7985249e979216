"""``virtualrep audit verify|export`` and ``virtualrep db ...`` as an operator runs them, on the
embedded SQLite records (a row changed with sqlite3 is found)."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import load_settings
from bot.storage.sqlite import SqliteStorage
from records import open_records

AT = datetime(2020, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai; exports run "now", later


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The durable embedded default: state and records in one data directory."""
    monkeypatch.setenv("VREP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VREP_EMBEDDED_STORAGE", "sqlite")
    monkeypatch.setenv("VREP_LOG_LEVEL", "WARNING")
    return tmp_path


async def _trail() -> None:
    async with open_records(load_settings()) as records:
        await records.append_audit("message", AT, {"sender": "doc-1", "text": "皮疹"})
        await records.append_audit("ae_case_read", AT, {"case_id": "AE-1", "reader": "pv1"})
        await records.append_audit("message", AT + timedelta(days=3), {"sender": "doc-2"})


async def test_verify_then_tamper_with_sqlite3_then_verify_fails(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _trail()
    assert await _main(["audit", "verify"]) == 0
    assert "audit chain OK: 3 records" in capsys.readouterr().out
    with sqlite3.connect(data_dir / "records.sqlite3") as db:
        db.execute("UPDATE audit_entries SET payload = replace(payload, '皮疹', '无') WHERE seq=1")
    assert await _main(["audit", "verify"]) == 1
    assert "BROKEN at record 1: its content was changed" in capsys.readouterr().err


async def test_verify_counts_a_single_record_in_the_singular(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_records(load_settings()) as records:
        await records.append_audit("message", AT, {"sender": "doc-1", "text": "你好"})
    assert await _main(["audit", "verify"]) == 0
    assert "audit chain OK: 1 record (" in capsys.readouterr().out


async def test_export_by_case_and_by_doctor_in_csv_and_jsonl(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _trail()
    out = data_dir / "case.csv"
    args = ["audit", "export", "--from", "2020-12-01", "--to", "2020-12-01"]
    assert await _main([*args, "--case", "AE-1", "--format", "csv", "--output", str(out)]) == 0
    with out.open(encoding="utf-8") as file:
        [row] = list(csv.DictReader(file))
    assert row["kind"] == "ae_case_read" and json.loads(row["payload"])["reader"] == "pv1"
    capsys.readouterr()
    assert await _main([*args, "--doctor", "doc-1", "--format", "jsonl"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["payload"]["text"] == "皮疹"
    assert await _main(["audit", "export", "--from", "2020-12-01", "--to", "2020-12-31"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert await _main(["audit", "export", "--from", "2020-12-05", "--to", "2020-12-01"]) == 2
    assert await _main(["audit", "export", "--from", "soon", "--to", "2020-12-01"]) == 2
    assert "is not a date" in capsys.readouterr().err
    async with open_records(load_settings()) as records:
        exports = (await records.search_audit(kind="audit_export")).items
    assert [(e.payload or {})["records"] for e in exports] == [1, 1, 3]  # each export audited


async def test_db_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _main(["db", "upgrade"]) == 0
    assert await _main(["db", "status"]) == 0
    assert "at head" in capsys.readouterr().out
    storage = SqliteStorage.in_data_dir(data_dir)
    try:
        await storage.enqueue("audit", {"kind": "message", "at": AT.isoformat(), "sender": "d"})
    finally:
        await storage.close()
    assert await _main(["db", "import-redis"]) == 0
    assert "1 audit record\n" in capsys.readouterr().out
    assert await _main(["db", "import-redis"]) == 0  # once only
    assert "0 audit records" in capsys.readouterr().out
    assert await _main(["db", "retention", "--dry-run"]) == 0
    assert "would remove: nothing" in capsys.readouterr().out


async def _main(argv: list[str]) -> int:
    """``main`` runs its own event loop: call it from a worker thread."""
    import asyncio

    return await asyncio.to_thread(main, argv)
