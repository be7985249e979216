"""The console's analytics page over HTTP on the system of record (SQLite): a manager sees
their own team only and cannot widen it by the query string, an admin sees everyone and
narrows by team, htmx swaps only the figures, CSV exports are audited, a rep is refused."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.storage.memory import MemoryStorage
from console.sessions import LANG_COOKIE
from tests.ae_support import MovableClock
from tests.console_support import audit_records, console_host, console_settings, sign_in
from tests.records.analytics_support import MONDAY, seed

Setup = tuple[TestClient, Any]  # type: ignore[type-arg]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    settings = console_settings(
        tmp_path,
        console_local_login=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
    )
    clock = MovableClock()
    clock.now = MONDAY + timedelta(weeks=3, days=2)  # the seed's four weeks are the last four
    storage = MemoryStorage()
    async with console_host(settings, storage, clock) as (app, services):
        assert services.records is not None
        await seed(services.records, rep_a="rep_zhang", rep_b="rep_wang", rep_c="rep_li")
        client: TestClient = TestClient(TestServer(app))  # type: ignore[type-arg]
        await client.start_server()
        try:
            yield client, services
        finally:
            await client.close()


async def page(client: TestClient, query: str = "weeks=4", **headers: str) -> tuple[int, str]:  # type: ignore[type-arg]
    answer = await client.get(f"/console/analytics?{query}", headers=headers)
    return answer.status, await answer.text()


async def test_a_manager_sees_only_their_team(setup: Setup) -> None:
    client, _services = setup
    await sign_in(client, "mgr_zhao")  # manages team east: rep_zhang's doctor d-a
    status, html = await page(client)
    assert status == 200
    assert "SR-1" in html and "张伟" in html  # rep_zhang's cited document and response time
    assert "华法林" not in html and "rep_li" not in html  # rep_wang's doctor (north), rep_li
    assert '<option value="east"' in html and 'value="north"' not in html
    assert "内容缺口" in html  # Chinese first

    for widened in ("weeks=4&team=north", "weeks=4&rep=rep_wang", "weeks=5"):
        status, html = await page(client, widened)
        assert status == 400 and "华法林" not in html and "SR-1" not in html


async def test_an_admin_sees_everyone_narrows_by_team_and_exports(setup: Setup) -> None:
    client, services = setup
    await sign_in(client, "admin_ops")  # language en in the roster; cookie decides the page
    client.session.cookie_jar.update_cookies({LANG_COOKIE: "en"})
    status, html = await page(client)
    assert status == 200 and "华法林" in html and "SR-1" in html and "rep_li" in html
    assert "Content gaps" in html and "Interactions" in html  # topic labels translated

    status, part = await page(client, "weeks=4&team=north", **{"HX-Request": "true"})
    assert status == 200 and part.lstrip().startswith('<div id="figures">')
    assert "<html" not in part and "华法林" in part and "SR-1" not in part

    export = await client.get("/console/analytics/gaps.csv?weeks=4")
    assert export.status == 200
    rows = list(csv.reader(io.StringIO(await export.text())))
    assert rows[0][:3] == ["asked", "no_information", "mi_requests"]
    assert len(rows) == 2 and rows[1][:3] == ["3", "2", "1"] and "华法林" in rows[1][5]
    response = await client.get("/console/analytics/response.csv?weeks=4&team=east")
    assert [row[0] for row in csv.reader(io.StringIO(await response.text()))][1:] == ["rep_zhang"]

    audited = await audit_records(services)
    exports = [r for r in audited if r["kind"] == "console_analytics_export"]
    assert [(r["section"], r["rows"], r["team"]) for r in exports] == [
        ("gaps", 1, None),
        ("response", 1, "east"),
    ]


async def test_a_rep_cannot_open_analytics_and_without_records_the_page_says_so(
    setup: Setup,
) -> None:
    client, services = setup
    await sign_in(client, "rep_zhang")
    status, html = await page(client)
    assert status == 403 and "SR-1" not in html
    assert (await client.get("/console/analytics/gaps.csv")).status == 403
    await sign_in(client, "msl_chen")
    services.records = None
    status, html = await page(client)
    assert status == 503 and "records/" in html
