"""A host app for the console (the bot's services and system of record, without its workers),
seeded PV cases, and the audit trail as the system of record holds it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

import console
from bot.escalation import EscalationReason
from bot.keys import SERVICES
from bot.models import Channel, ConversationMode
from bot.outbound import ChannelSender
from bot.profiles import ContactRoute, DoctorProfile, ProfileStore
from bot.services import Services, build_services
from bot.settings import Settings, load_settings
from bot.storage.base import Storage
from bot.wecom.client import WeComClient
from records import open_records
from skills.adverse_events.cases import (
    AECase,
    Asked,
    CaseStatus,
    DeliveryState,
    Event,
    Patient,
    Product,
    SourceMessage,
)
from skills.adverse_events.service import ae_service
from skills.handoff.service import SLA_SCHEDULE
from skills.handoff.state import Handoff, HandoffStatus, HandoffStore, StageRecord
from tests.ae_support import MovableClock
from tests.helpers import audit_trail

ROSTER = """
timezone: Asia/Shanghai
reps:
  rep_zhang: {name: 张伟, team: east}
  pv_wu: {name: 吴芳 (PV), roles: [pv], language: en}
  mgr_zhao: {name: 赵敏, roles: [manager], team: east}
  admin_ops: {name: 合规审核, roles: [admin], language: en}
  msl_chen: {name: 陈静, roles: [msl], language: en}
  msl_li: {name: 李娜, roles: [msl]}
  rep_wang: {name: 王磊, team: north}
doctors: {doctor-6: rep_zhang, doctor-7: rep_zhang, doctor-8: rep_wang}
"""


def console_settings(tmp_path: Path, **overrides: Any) -> Settings:
    roster = tmp_path / "roster.yaml"
    roster.write_text(ROSTER, encoding="utf-8")
    values: dict[str, Any] = {
        "rep_roster": roster,
        "pv_export_dir": tmp_path / "pv",
        "data_dir": tmp_path,  # the system of record: <tmp_path>/records.sqlite3
    }
    return load_settings(**(values | overrides))


@asynccontextmanager
async def console_host(
    settings: Settings,
    storage: Storage,
    clock: MovableClock,
    wecom: WeComClient | None = None,
    console_app: web.Application | None = None,
    senders: dict[Channel, ChannelSender] | None = None,
) -> AsyncIterator[tuple[web.Application, Services]]:
    """The bot's app as the console sees it: services (with the system of record open on the
    settings' database) under ``SERVICES``, the console at /console; no workers."""
    async with open_records(settings) as records:
        services = build_services(
            settings, storage, clock=clock, wecom=wecom, records=records, senders=senders or {}
        )
        app = web.Application()
        app[SERVICES] = services
        app.add_subapp("/console", console_app or console.create_app())
        yield app, services


async def seed_case(
    services: Services,
    number: int,
    *,
    day0: datetime,
    delivered: bool = False,
    dead: bool = False,
    product: str = "XX药",
    text: str = "患者张三，电话13812345678，45岁男性，用了XX药后出现皮疹",
    incomplete: bool = False,
    asked: dict[str, Asked] | None = None,
) -> str:
    """One submitted case as the bot would have saved it (and its delivery state)."""
    store = ae_service(services).store  # the skill's own store, as the console's
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
            incomplete=incomplete,
            asked=asked or {},
            doctor_id=f"doctor-{number}",
            channel=Channel.KF,
            conversation_key=f"kf:doctor-{number}",
            mode=ConversationMode.BOT,
            sources=[
                SourceMessage(message_id=f"m{number}", received_at=day0, text=text, language="zh")
            ],
            categories=["adverse_event", "overdose"],
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


async def offered_handoff(
    services: Services,
    doctor_id: str,
    offered_at: datetime,
    sla_min: int,
    *,
    taken_by: str | None = None,
    offered_to: tuple[str, ...] = ("rep_zhang",),
) -> str:
    """A handoff offered to a rep as the handoff skill leaves it: the profile with its contact
    route, the handoff, and the stage's SLA on the schedule; ``taken_by`` a rep, the rep has
    taken the conversation over (human mode)."""
    profiles = ProfileStore(services.storage)
    profile = DoctorProfile(doctor_id=doctor_id, name=f"Dr {doctor_id}", hospital="协和医院")
    profile.contact = ContactRoute(
        channel=Channel.KF,
        conversation_key=f"kf:{doctor_id}",
        recipient_id=doctor_id,
        last_inbound_at=offered_at,
    )
    await profiles.save(profile)
    running = Handoff(
        handoff_id=f"h-{doctor_id}",
        conversation_key=f"kf:{doctor_id}",
        doctor_id=doctor_id,
        reason=EscalationReason.EXPLICIT_REQUEST,
        requested_at=offered_at,
        stages=[StageRecord(kind="assigned", userids=list(offered_to))],
        stage_index=0,
        offered_to=list(offered_to),
        offered_at=offered_at,
    )
    if taken_by is not None:
        running.status, running.taken_by, running.taken_at = (
            HandoffStatus.ACTIVE,
            taken_by,
            offered_at,
        )
    await HandoffStore(services.storage).save(running)
    await services.storage.schedule(
        SLA_SCHEDULE,
        running.handoff_id,
        offered_at + timedelta(minutes=sla_min),
        {"handoff_id": running.handoff_id, "stage": 0},
    )
    return running.handoff_id


async def audit_records(services: Services) -> list[dict[str, Any]]:
    """Every audit record so far, from the system of record (the stream drained into it)."""
    assert services.records is not None
    return await audit_trail(services.records, services.storage)


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
