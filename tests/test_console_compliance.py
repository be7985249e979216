"""Compliance pages: audit search, export (CSV, JSON Lines) and the chain check, over the
system of record's audit readers; without the system of record the page says so."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.storage.memory import MemoryStorage
from records.service import Records
from tests.ae_support import MovableClock
from tests.console_support import (
    audit_records,
    console_host,
    console_settings,
    sign_in,
)


async def _tamper(records: Records, sql: str) -> None:
    """Change the audit table behind the bot's back (a database shell on SQLite)."""
    async with records.engine.begin() as connection:
        await connection.execute(text(sql))


async def test_audit_search_export_and_chain_check(tmp_path: Path) -> None:
    storage, clock = MemoryStorage(), MovableClock()
    settings = console_settings(tmp_path, console_local_login=True)
    async with console_host(settings, storage, clock) as (app, services):
        records = services.records
        assert records is not None
        day = clock.now - timedelta(days=1)
        await records.append_audit(
            "ae_case_read", day, {"case_id": "AE-1", "reader": "pv_wu", "purpose": "x"}
        )
        await records.append_audit("outbound", day, {"doctor_id": "d2", "text": "您好"})
        await records.append_audit("ae_case_ack", clock.now, {"case_id": "AE-1", "by": "pv_wu"})
        await _tamper(records, "UPDATE audit_entries SET payload = NULL WHERE seq = 3")
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await sign_in(client, "pv_wu")
            assert (await client.get("/console/compliance/audit")).status == 403
            await client.get("/console/lang/en")
            await sign_in(client, "admin_ops")
            page = await (await client.get("/console/compliance/audit?case=AE-1")).text()
            assert "ae_case_read" in page and "ae_case_ack" in page and "outbound" not in page
            assert "removed by retention" in page  # entry 3's content is gone, its link stays
            assert re.search(r'export\?[^"]*case=AE-1[^"]*format=csv"', page)
            export = await client.get("/console/compliance/audit/export?format=csv&case=AE-1")
            rows = list(csv.reader(io.StringIO(await export.text())))
            assert rows[0][:3] == ["seq", "at", "kind"] and [r[0] for r in rows[1:]] == ["1", "3"]
            lines = await (await client.get("/console/compliance/audit/export?format=jsonl")).text()
            assert [json.loads(line)["seq"] for line in lines.splitlines()] == [1, 2, 3]
            assert "您好" in lines
            chain = await client.get("/console/compliance/chain", headers={"HX-Request": "true"})
            assert "The chain holds · 3 entries · 1 removed by retention" in await chain.text()
            await _tamper(records, "UPDATE audit_entries SET kind = 'edited' WHERE seq = 2")
            broken = await (await client.get("/console/compliance/chain")).text()
            assert "The chain breaks at #2" in broken
        finally:
            await client.close()
        trail = await audit_records(services)
    exports = [(r["userid"], r["format"]) for r in trail if r["kind"] == "console_audit_export"]
    assert exports == [("admin_ops", "csv"), ("admin_ops", "jsonl")]
    verifies = [r["ok"] for r in trail if r["kind"] == "console_audit_verify"]
    assert verifies == [True, False]


async def test_without_the_system_of_record_the_page_says_so(tmp_path: Path) -> None:
    settings = console_settings(tmp_path, console_local_login=True)
    async with console_host(settings, MemoryStorage(), MovableClock()) as (app, services):
        services.records = None  # a host that did not open it
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await sign_in(client, "admin_ops")
            page = await client.get("/console/compliance/audit", headers={"Accept-Language": "en"})
            assert "need the system of record" in await page.text()
            export = await client.get("/console/compliance/audit/export?format=csv")
            assert export.status == 404
        finally:
            await client.close()
