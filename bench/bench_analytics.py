"""Latency of the console's analytics at scale: 100 000 doctors' messages and 10 000 AE cases.

    .venv/bin/python -m bench.bench_analytics [--messages 100000] [--cases 10000] [--runs 7]
                                                 [--postgresql]

Seeds a fresh SQLite file (and, with ``--postgresql``, a throw-away PostgreSQL cluster started
like the test suite's) with a year of data as the audit projections leave it: doctors'
messages (topics, products, answered or not, content-gap questions drawn from a few hundred
wordings), the documents answers cited, AE cases, MI requests, handoffs, meeting
registrations, doctors' reps. Then, per backend, times each analytics query
(``records.analytics``) for three views — everyone over 12 weeks, one team over 12 weeks,
everyone over 52 weeks — and the whole page (``GET /console/analytics``, signed in as an admin
and as a manager, through the console app). Prints the median of ``--runs``
runs in milliseconds, wall-clock and CPU. Prints numbers, asserts nothing.

On PostgreSQL the CPU column is the client's share only (the server is another process).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.memory import MemoryStorage
from records import Records, open_records
from records import analytics as queries
from records.analytics import AnalyticsQuery
from records.models import (
    AECaseRecord,
    DoctorMessage,
    DoctorRep,
    DocumentUse,
    HandoffRecord,
    MeetingRegistration,
    MIRequestRecord,
)
from tests.ae_support import MovableClock
from tests.console_support import console_host, console_settings, sign_in
from tests.postgres_server import PostgresServer

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")
REPS = ["rep_zhang", "rep_wang"] + [f"rep_{n:02d}" for n in range(18)]  # rep_zhang: team east
TOPICS = ["dosing", "interactions", "hepatic", "renal", "pregnancy", "efficacy", "storage"]
TOPICS += ["adverse_common", "adverse_serious", "mechanism", "overdose", "indication"]
PRODUCTS = ["Noravex", "Cardiolin", "Glucomet", "Respira", "Dermaclear"]
CATEGORIES = ["adverse_event", "pregnancy", "overdose", "medication_error", "lack_of_efficacy"]
SUBJECTS = ["华法林", "阿司匹林", "葡萄柚汁", "酒精", "布洛芬", "二甲双胍", "他汀类", "奥美拉唑"]
FORMS = ["{p}能和{s}一起用吗", "{p}可以与{s}同服吗？", "{s}和{p}有相互作用吗", "{p}儿童剂量是多少"]
FORMS += ["{p}孕妇能用吗", "{p}透析患者怎么调整剂量", "{p}开封后能放多久", "{p}在{s}之后多久服用"]
CHUNK = 5000
YEAR = timedelta(weeks=52)


def _gap_question(rng: random.Random) -> str:
    form = rng.choice(FORMS)
    return form.format(p=rng.choice(PRODUCTS), s=rng.choice(SUBJECTS))


def rows(messages: int, cases: int, seed: int = 7) -> dict[Any, list[dict[str, Any]]]:
    """A year of projected data; a quarter of the doctors are rep_zhang's (team east)."""
    rng = random.Random(seed)
    doctors = [f"d-{n:05d}" for n in range(max(100, messages // 30))]
    rep_of = {d: REPS[0] if n % 4 == 0 else rng.choice(REPS[1:]) for n, d in enumerate(doctors)}

    def when() -> datetime:
        return NOW - YEAR * rng.random()

    found: dict[Any, list[dict[str, Any]]] = {
        DoctorRep: [{"doctor_id": d, "rep_id": r, "at": NOW} for d, r in rep_of.items()],
        DoctorMessage: [],
        DocumentUse: [],
        AECaseRecord: [],
        MIRequestRecord: [],
        HandoffRecord: [],
        MeetingRegistration: [],
    }
    for _ in range(messages):
        at, doctor = when(), rng.choice(doctors)
        question = rng.random() < 0.8
        answered = question and rng.random() < 0.85
        gap = question and not answered
        product = rng.choice(PRODUCTS) if question and rng.random() < 0.7 else None
        found[DoctorMessage].append(
            {
                "at": at,
                "doctor_id": doctor,
                "rep_id": rep_of[doctor],
                "channel": "kf",
                "skill": "qa" if question else "menu",
                "intent": "question" if question else None,
                "topic": rng.choice(TOPICS) if question else None,
                "product": product,
                "answered": answered,
                "gap": gap,
                "question": _gap_question(rng) if gap else None,
                "last_event_at": at,
            }
        )
        for _ in range(rng.choice((1, 1, 2)) if answered else 0):
            doc = f"SR-{rng.randrange(60):03d}"
            found[DocumentUse].append(
                {
                    "at": at,
                    "doc_id": doc,
                    "approval_code": f"AC-{doc}",
                    "version": "1",
                    "rep_id": rep_of[doctor],
                    "product": product,
                    "last_event_at": at,
                }
            )
    for n in range(cases):
        at, doctor = when(), rng.choice(doctors)
        names = rng.sample(PRODUCTS, rng.choice((1, 1, 2)))
        found[AECaseRecord].append(
            {
                "case_id": f"AE-{n:06d}",
                "status": "submitted",
                "doctor_id": doctor,
                "channel": "kf",
                "day0": at,
                "due_at": at + timedelta(hours=24),
                "opened_at": at,
                "submitted_at": at,
                "serious": rng.random() < 0.2,
                "incomplete": False,
                "products": "; ".join(names),
                "categories": rng.choice(CATEGORIES),
                "delivery_attempts": 1,
                "delivery": {},
                "document": {"case_id": f"AE-{n:06d}"},
                "last_event_at": at,
            }
        )
    for n in range(cases // 5):
        at = when()
        found[MIRequestRecord].append(
            {
                "mi_id": f"MI-{n:06d}",
                "status": "open",
                "doctor_id": rng.choice(doctors),
                "question": _gap_question(rng),
                "created_at": at,
                "respond_by": at + timedelta(hours=48),
                "resolution": "",
                "document": {},
                "last_event_at": at,
            }
        )
    for n in range(cases // 2):
        at, doctor = when(), rng.choice(doctors)
        taken = rng.random() < 0.9
        waited = rng.expovariate(1 / 600)
        found[HandoffRecord].append(
            {
                "handoff_id": f"H-{n:06d}",
                "doctor_id": doctor,
                "reason": "doctor_request",
                "requested_at": at,
                "status": "taken_over" if taken else "unanswered",
                "declined": rng.choice((0, 0, 1)),
                "sla_breached": waited > 1800,
                "taken_by": rep_of[doctor] if taken else None,
                "taken_at": at + timedelta(seconds=waited) if taken else None,
                "waited_s": waited if taken else None,
                "last_event_at": at,
            }
        )
    for n in range(cases // 2):
        at = when()
        steps = rng.randrange(1, 6)
        found[MeetingRegistration].append(
            {
                "meeting_id": f"M-{n % 40:02d}",
                "doctor_id": doctors[n % len(doctors)] + f"-{n}",
                "status": "registration",
                "invited_at": at,
                "registered_at": at if steps > 1 else None,
                "reminded_at": at if steps > 2 else None,
                "attended_at": at if steps > 3 else None,
                "feedback_at": at if steps > 4 else None,
                "detail": {},
                "last_event_at": at,
            }
        )
    return found


async def seed(records: Records, data: dict[Any, list[dict[str, Any]]]) -> float:
    """Bulk-insert the rows; seconds taken. On PostgreSQL the planner's statistics are then
    gathered (``ANALYZE``), as autovacuum would have done after so many inserts."""
    started = time.perf_counter()
    async with records.engine.begin() as connection:
        for model, items in data.items():
            for start in range(0, len(items), CHUNK):
                await connection.execute(insert(model), items[start : start + CHUNK])
    if records.engine.dialect.name == "postgresql":
        async with records.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


def query(weeks: int, reps: tuple[str, ...] | None = None) -> AnalyticsQuery:
    today = NOW.astimezone(ZONE).date()
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    bounds = tuple(datetime(d.year, d.month, d.day, tzinfo=ZONE) for d in starts)
    end = bounds[-1] + timedelta(weeks=1)
    return AnalyticsQuery(bounds, end, reps=reps)


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Median wall-clock and median CPU milliseconds of ``runs`` calls (after one warm-up).

    CPU time (this process: the queries' driver thread, SQLite's work, the page's rendering)
    is what the work costs; wall-clock adds the wait for a core on a shared machine."""
    await call()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        await call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


QUERIES: dict[str, Callable[[AsyncSession, AnalyticsQuery], Awaitable[object]]] = {
    "ae_volume": queries.ae_volume,
    "question_weeks": queries.question_weeks,
    "content_gaps": queries.content_gaps,
    "documents_used": queries.documents_used,
    "meeting_funnel": queries.meeting_funnel,
    "handoff_figures": queries.handoff_figures,
    "report (all)": queries.report,
}


async def measure(backend: str, records: Records, args: argparse.Namespace) -> None:
    data = rows(args.messages, args.cases)
    took = await seed(records, data)
    counts = ", ".join(f"{len(v)} {m.__tablename__}" for m, v in data.items())
    print(f"\n{backend}: seeded {counts} in {took:.1f} s")
    views = {
        "everyone 12 wk": query(12),
        "team east 12 wk": query(12, ("rep_zhang", "mgr_zhao")),
        "everyone 52 wk": query(52),
    }
    print(f"{'query':<18}" + "".join(f"{name:>24}" for name in views))
    for name, run in QUERIES.items():
        cells = []
        for view in views.values():

            async def once(view: AnalyticsQuery = view, run: Any = run) -> object:
                async with records.session() as session:
                    return await run(session, view)

            wall, cpu = await timed(args.runs, once)
            cells.append(f"{wall:9.1f} (cpu {cpu:7.1f})")
        print(f"{name:<18}" + "".join(f"{cell:>24}" for cell in cells))
    await page(backend, records, args)


async def page(backend: str, records: Records, args: argparse.Namespace) -> None:
    """The whole page through the console app: the queries, the roster scope, the template."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = console_settings(Path(tmp), console_local_login=True)
        clock = MovableClock()
        clock.now = NOW
        async with console_host(settings, MemoryStorage(), clock) as (app, services):
            services.records = records  # the seeded database, not the host's own
            client: TestClient = TestClient(TestServer(app))  # type: ignore[type-arg]
            await client.start_server()
            try:
                for userid in ("admin_ops", "mgr_zhao"):
                    await sign_in(client, userid)
                    for weeks in (12, 52):

                        async def get(weeks: int = weeks) -> object:
                            answer = await client.get(f"/console/analytics?weeks={weeks}")
                            assert answer.status == 200
                            return await answer.read()

                        wall, cpu = await timed(args.runs, get)
                        print(f"page {userid:<10} {weeks:>2} wk  {wall:9.1f} ms (cpu {cpu:7.1f})")
            finally:
                await client.close()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = console_settings(
            Path(tmp), database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'records.sqlite3'}"
        )
        async with open_records(settings) as records:
            await measure("sqlite", records, args)
        if args.postgresql:
            server = PostgresServer()
            server.start()
            try:
                pg_settings = settings.model_copy(update={"database_url": server.url})
                async with open_records(pg_settings) as pg:
                    await measure("postgresql", pg, args)
            finally:
                server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgresql", action="store_true")
    asyncio.run(main(parser.parse_args()))
