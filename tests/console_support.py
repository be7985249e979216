"""A host app for the console (the bot's services without its workers) and seeded PV cases."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

import console
from bot.audit import AUDIT_QUEUE, AuditLog
from bot.keys import SERVICES
from bot.metrics import Metrics
from bot.models import Channel, ConversationMode
from bot.scheduler import ScheduleRunner
from bot.services import Services
from bot.settings import Settings, load_settings
from bot.storage.base import Storage
from bot.wecom.client import WeComClient
from skills.adverse_events.cases import (
    AECase,
    CaseStatus,
    CaseStore,
    DeliveryState,
    Event,
    Patient,
    Product,
    SourceMessage,
)
from tests.ae_support import MovableClock

ROSTER = """
timezone: Asia/Shanghai
reps:
  rep_zhang: {name: 张伟, team: east}
  pv_wu: {name: 吴芳 (PV), roles: [pv], language: en}
  mgr_zhao: {name: 赵敏, roles: [manager], team: east}
  admin_ops: {name: 合规审核, roles: [admin], language: en}
  msl_chen: {name: 陈静, roles: [msl], language: en}
  rep_wang: {name: 王磊, team: north}
doctors: {doctor-7: rep_zhang, doctor-8: rep_wang}
"""


def console_settings(tmp_path: Path, **overrides: Any) -> Settings:
    roster = tmp_path / "roster.yaml"
    roster.write_text(ROSTER, encoding="utf-8")
    values: dict[str, Any] = {"rep_roster": roster, "pv_export_dir": tmp_path / "pv"}
    return load_settings(**(values | overrides))


def console_host(
    settings: Settings,
    storage: Storage,
    clock: MovableClock,
    wecom: WeComClient | None = None,
    console_app: web.Application | None = None,
) -> tuple[web.Application, Services]:
    """The bot's app as the console sees it: services under ``SERVICES``, console at /console."""
    metrics = Metrics()
    services = Services(
        settings=settings,
        storage=storage,
        metrics=metrics,
        audit=AuditLog(storage),
        scheduler=ScheduleRunner(storage, clock, metrics),
        clock=clock,
        wecom=wecom,
    )
    app = web.Application()
    app[SERVICES] = services
    app.add_subapp("/console", console_app or console.create_app())
    return app, services


async def seed_case(
    services: Services,
    number: int,
    *,
    day0: datetime,
    delivered: bool = False,
    dead: bool = False,
    product: str = "XX药",
    text: str = "患者张三，电话13812345678，45岁男性，用了XX药后出现皮疹",
) -> str:
    """One submitted case as the bot would have saved it (and its delivery state)."""
    settings = services.settings
    store = CaseStore(
        services.storage, services.audit, timezone=settings.timezone, sla_h=settings.pv_sla_h
    )
    case_id = f"AE-{day0:%Y%m%d}-{number:04d}"
    await store.save(
        AECase(
            case_id=case_id,
            status=CaseStatus.SUBMITTED,
            day0=day0,
            due_at=store.due_at(day0),
            opened_at=day0,
            updated_at=day0,
            submitted_at=day0,
            doctor_id=f"doctor-{number}",
            channel=Channel.KF,
            conversation_key=f"kf:doctor-{number}",
            mode=ConversationMode.BOT,
            sources=[
                SourceMessage(message_id=f"m{number}", received_at=day0, text=text, language="zh")
            ],
            categories=["skin"],
            patient=Patient(initials="ZS", age="45", sex="male"),
            products=[Product(name=product)],
            events=[Event(verbatim="皮疹", language="zh", onset="3天前")],
        )
    )
    state = DeliveryState(queued_at=day0)
    if delivered:
        state.sinks = {"archive": day0 + timedelta(minutes=1)}
        state.delivered_at = day0 + timedelta(minutes=1)
    if dead:
        state.attempts = 8
        state.last_error = "webhook: HTTP 502"
        state.dead_lettered_at = day0 + timedelta(hours=2)
    await store.save_delivery(case_id, state)
    return case_id


async def audit_records(storage: Storage, group: str) -> list[dict[str, Any]]:
    """Every audit record so far (read through a test-only consumer group)."""
    entries = await storage.consume(AUDIT_QUEUE, group, "t", count=10_000, block_ms=0)
    return [entry.payload for entry in entries]


@dataclass(frozen=True)
class StandInAuditRecord:
    """The shape of ``records.results.AuditRecord`` (the system of record's audit entry)."""

    seq: int
    at: datetime
    kind: str
    doctor_id: str | None
    case_id: str | None
    actor: str | None
    payload: dict[str, Any] | None
    hash: str = "h"
    prev_hash: str = "p"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass
class StandInRecords:
    """The audit readers of ``records.Records`` over a list, until records/ is merged here:
    the console's side of that seam is what these tests hold (filters, paging, export)."""

    entries: list[StandInAuditRecord]
    broken_at: int | None = None

    def _match(self, **query: Any) -> list[StandInAuditRecord]:
        start, end = query.get("start"), query.get("end")
        return [
            e
            for e in self.entries
            if (start is None or e.at >= start)
            and (end is None or e.at < end)
            and all(
                query.get(name) in (None, getattr(e, name))
                for name in ("doctor_id", "case_id", "kind")
            )
        ]

    async def search_audit(self, *, offset: int = 0, limit: int = 50, **query: Any) -> Any:
        found = self._match(**query)
        return SimpleNamespace(items=found[offset : offset + limit], total=len(found))

    async def audit_entries(self, **query: Any) -> AsyncIterator[StandInAuditRecord]:
        for entry in self._match(**query):
            yield entry

    async def verify_audit(self) -> Any:
        ok = self.broken_at is None
        return SimpleNamespace(
            ok=ok,
            entries=len(self.entries),
            redacted=0,
            broken_at=self.broken_at,
            reason="" if ok else "hash mismatch",
        )


async def sign_in(client: TestClient, userid: str) -> None:  # type: ignore[type-arg]
    page = await client.get("/console/login")
    state = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert state is not None
    answer = await client.post(
        "/console/login/local", data={"csrf": state.group(1), "userid": userid}
    )
    assert answer.status == 200 and answer.url.path == "/console/"


def csrf_of(html: str) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found is not None
    return found.group(1)
