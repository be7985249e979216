"""The catalog: sample, invalid entries reported and skipped, live reload, HTTP source."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.settings import load_settings
from skills.meetings.catalog import (
    SAMPLE_CATALOG,
    CatalogError,
    CatalogSource,
    load_catalog_file,
)
from tests.local_http import serving
from tests.meetings.helpers import T0, meeting_entry, write_catalog


def test_sample_catalog_is_valid_and_varied() -> None:
    catalog = load_catalog_file(SAMPLE_CATALOG)
    assert catalog.problems == ()
    assert len(catalog.meetings) >= 6
    meetings = list(catalog.meetings.values())
    assert {m.format for m in meetings} == {"online", "offline", "hybrid"}
    assert all(m.start.utcoffset() == timedelta(hours=8) for m in meetings)  # Asia/Shanghai
    assert all(m.materials and m.compliance_code for m in meetings)
    assert [m.start for m in meetings] == sorted(m.start for m in meetings)


def test_invalid_entries_are_reported_with_file_and_id_and_skipped(tmp_path: Path) -> None:
    start = T0 + timedelta(days=3)
    path = write_catalog(
        tmp_path / "bad.yaml",
        [
            meeting_entry("good", start),
            meeting_entry("no-link", start, join_url=None),
            meeting_entry("backwards", start, end=(start - timedelta(hours=1)).isoformat()),
            meeting_entry(
                "late-deadline",
                start,
                registration_deadline=(start + timedelta(hours=1)).isoformat(),
            ),
            meeting_entry("gift", start, title={"zh": "参会即送礼品", "en": "Seminar"}),
            meeting_entry("zero", start, capacity=0),
            meeting_entry("tz", start.replace(tzinfo=None), timezone="Mars/Base"),
            meeting_entry("good", start, capacity=3),  # duplicate id
            {"title": {"zh": "无编号", "en": "no id"}},
            "just a string",
        ],
    )
    catalog = load_catalog_file(path)
    assert list(catalog.meetings) == ["good"]
    assert catalog.meetings["good"].capacity == 10  # the first of the duplicates
    problems = "\n".join(catalog.problems)
    assert len(catalog.problems) == 9
    assert all(problem.startswith(f"{path}: entry ") for problem in catalog.problems)
    assert "entry 'no-link': a online meeting needs an http(s) join_url" in problems
    assert "entry 'backwards': end must be after start" in problems
    assert "entry 'late-deadline': registration_deadline must not be after start" in problems
    assert "entry 'gift': inducement wording is not allowed: 礼品" in problems
    assert "entry 'zero': capacity: Input should be greater than 0" in problems
    assert "entry 'tz': timezone: not a known IANA time zone" in problems
    assert "entry 'good': duplicate id" in problems
    assert "entry #9:" in problems and "entry #10: not a mapping" in problems


def test_naive_times_use_the_entry_time_zone(tmp_path: Path) -> None:
    naive = T0.replace(tzinfo=None)
    entries = [
        meeting_entry("sh", naive),
        meeting_entry("ldn", naive, timezone="Europe/London"),
        meeting_entry("utc", T0),
    ]
    path = tmp_path / "tz.json"
    path.write_text(json.dumps({"meetings": entries}), encoding="utf-8")
    catalog = load_catalog_file(path)
    assert catalog.meetings["sh"].start == naive.replace(tzinfo=UTC) - timedelta(hours=8)
    assert catalog.meetings["ldn"].start == naive.replace(tzinfo=UTC)
    assert catalog.meetings["utc"].start == T0


async def test_file_catalog_reloads_on_change_and_survives_a_broken_edit(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "live.yaml", [meeting_entry("one", T0)])
    source = CatalogSource(load_settings(meetings_file=path))
    assert list((await source.get()).meetings) == ["one"]

    write_catalog(path, [meeting_entry("one", T0), meeting_entry("two", T0 + timedelta(days=1))])
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))  # a different mtime whatever the fs grain
    assert list((await source.get()).meetings) == ["one", "two"]

    path.write_text("meetings: [unclosed", encoding="utf-8")
    os.utime(path, ns=(1, 3_000_000_000_000_000_000))
    assert list((await source.get()).meetings) == ["one", "two"]  # the last good catalog
    assert source.load_error is not None and str(path) in source.load_error

    path.unlink()
    assert list((await source.get()).meetings) == ["one", "two"]


async def test_missing_file_gives_an_empty_catalog_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog_file(tmp_path / "absent.yaml")
    source = CatalogSource(load_settings(meetings_file=tmp_path / "absent.yaml"))
    assert (await source.get()).meetings == {}
    assert source.load_error is not None


class _Server:
    def __init__(self) -> None:
        self.document: Any = {"meetings": [meeting_entry("web", T0)]}
        self.status = 200
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response(self.document, status=self.status)


@pytest.fixture
async def catalog_server() -> AsyncIterator[tuple[_Server, str]]:
    server = _Server()
    app = web.Application()
    app.router.add_get("/meetings.json", server.handle)
    async with serving(app) as base_url:
        yield server, f"{base_url}/meetings.json"


async def test_http_catalog_refreshes_after_the_interval(
    catalog_server: tuple[_Server, str],
) -> None:
    server, url = catalog_server
    ticks = [0.0]
    source = CatalogSource(
        load_settings(meetings_url=url, meetings_refresh_s=60), monotonic=lambda: ticks[0]
    )
    assert list((await source.get()).meetings) == ["web"]
    server.document = {"meetings": [meeting_entry("web2", T0), {"id": "broken"}]}
    ticks[0] = 30.0
    assert list((await source.get()).meetings) == ["web"]  # not yet due
    ticks[0] = 61.0
    catalog = await source.get()
    assert list(catalog.meetings) == ["web2"]
    assert catalog.problems and catalog.problems[0].startswith(f"{url}: entry 'broken'")
    assert server.hits == 2

    server.status = 500
    ticks[0] = 200.0
    assert list((await source.get()).meetings) == ["web2"]
    assert source.load_error == f"{url}: HTTP 500"
