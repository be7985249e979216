"""The app opens the records: ``/readyz`` says whether the schema is at head, and the daily
retention job is armed for 03:00 business time and enforces the policy when due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.cli import main
from bot.metrics import Metrics
from bot.scheduler import ScheduleRunner
from bot.settings import Settings, load_settings
from bot.storage.base import StorageError
from bot.storage.memory import MemoryStorage
from records import CaseSnapshot, Records, install_retention, open_records
from records.retention import RETENTION_SCHEDULE, next_run
from tests.records.test_records import case_document
from tests.storage_backends import free_port


async def _readyz(settings: Settings) -> tuple[int, dict[str, bool]]:
    app = create_app(settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/readyz")
        return response.status, (await response.json())["checks"]


async def test_readyz_tells_whether_the_schema_is_at_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}"
    base = {"kb_sample_library": False, "kb_dir": tmp_path / "kb", "database_url": url}
    status, checks = await _readyz(load_settings(**base, database_upgrade_on_start=False))
    assert status == 503 and checks["schema"] is False and checks["storage"] is True
    status, checks = await _readyz(load_settings(**base))  # migrates at start-up
    assert status == 200 and checks["schema"] is True


async def test_a_database_down_at_start_up_is_waited_for(tmp_path: Path) -> None:
    """The app starts and says 503 (schema) instead of failing; the CLI says it in one line."""
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/records"  # nobody listens there
    settings = load_settings(kb_sample_library=False, kb_dir=tmp_path / "kb", database_url=url)
    status, checks = await _readyz(settings)
    assert status == 503 and checks["schema"] is False and checks["storage"] is True


def test_the_cli_says_the_database_is_unreachable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VREP_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/r")
    assert main(["audit", "verify"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("virtualrep: storage unavailable: records database:")
    assert err.count("\n") == 1


async def test_a_write_to_an_unreachable_database_is_a_storage_error() -> None:
    """Workers wait out a database outage as they wait out a Redis one (``StorageError``)."""
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/records"
    async with open_records(load_settings(database_url=url), migrate=False) as records:
        with pytest.raises(StorageError, match="records database"):
            await records.append_audit("message", datetime.now(UTC), {"sender": "d"})
        with pytest.raises(StorageError, match="records database"):
            await records.search_audit()


async def test_the_memory_records_take_concurrent_transactions() -> None:
    """With the memory store (tests) the records are a throw-away file, not SQLite's memory
    database, whose one connection concurrent transactions would share."""
    async with open_records(load_settings(embedded_storage="memory")) as records:
        documents = [case_document(f"AE-{n}") for n in range(10)]
        await asyncio.gather(
            *(records.save_case(CaseSnapshot.from_document(d)) for d in documents),
            *(records.append_audit("message", datetime.now(UTC), {"n": n}) for n in range(10)),
        )
        assert (await records.case_queue()).total == 10
        assert (await records.verify_audit()).entries == 10


def test_the_job_runs_at_three_in_the_morning_business_time() -> None:
    at = datetime(2026, 12, 7, 18, 59, tzinfo=UTC)  # 02:59 on the 8th in Shanghai
    assert next_run(at, "Asia/Shanghai") == datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
    assert next_run(at + timedelta(minutes=1), "Asia/Shanghai") == datetime(
        2026, 12, 8, 19, 0, tzinfo=UTC
    )


async def test_the_daily_job_enforces_retention_and_rearms(
    records: Records, records_settings: Settings
) -> None:
    now = datetime(2036, 12, 7, 12, 0, tzinfo=UTC)  # the case below is ten years old by then
    await records.save_case(CaseSnapshot.from_document(case_document("AE-OLD")))
    storage = MemoryStorage()
    scheduler = ScheduleRunner(storage, lambda: now, Metrics())
    await install_retention(records, records_settings, storage, scheduler, lambda: now)
    [armed] = await storage.scheduled(RETENTION_SCHEDULE)
    assert armed.due_at == next_run(now, records_settings.timezone)

    later = armed.due_at + timedelta(seconds=1)
    scheduler = ScheduleRunner(storage, lambda: later, Metrics())  # a replica, when it is due
    await install_retention(records, records_settings, storage, scheduler, lambda: later)
    await storage.schedule(RETENTION_SCHEDULE, "daily", armed.due_at)  # as armed before
    assert await scheduler.run_due() == 1
    assert await records.case_detail("AE-OLD") is None
    [rearmed] = await storage.scheduled(RETENTION_SCHEDULE)
    assert rearmed.due_at == armed.due_at + timedelta(days=1)
    [removal] = (await records.search_audit(kind="retention_removed")).items
    assert removal.payload is not None and removal.payload["removed"] == {"ae_case": ["AE-OLD"]}
