"""The web console over HTTP (no browser): sign-in, role checks, CSRF, idle expiry, PV pages.

What crosses the seams is asserted: the pages served, the audit trail, the fake WeCom API's
sign-in calls, the case store's acknowledgement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import console
from bot.models import Channel
from bot.services import Services
from bot.storage.memory import MemoryStorage
from bot.wecom.client import WeComClient
from bot.wecom.simulator import FakeWeComServer
from skills.adverse_events.cases import Asked
from skills.qa.mi import MIRequest, MIStore
from tests.ae_support import MovableClock
from tests.console_support import (
    audit_records,
    console_host,
    console_settings,
    csrf_of,
    offered_handoff,
    seed_case,
    sign_in,
)
from tests.helpers import RecordingSender


class Ticker:
    """The store's clock (seconds), moved by the test to expire idle sessions."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def storage(ticker: Ticker) -> MemoryStorage:
    return MemoryStorage(clock=ticker)


async def _client(app: object) -> TestClient:  # type: ignore[type-arg]
    client: TestClient = TestClient(TestServer(app))  # type: ignore[type-arg, arg-type]
    await client.start_server()
    return client


@pytest.fixture
async def setup(
    tmp_path: Path, storage: MemoryStorage
) -> AsyncIterator[tuple[TestClient, object, MovableClock]]:  # type: ignore[type-arg]
    clock = MovableClock()
    settings = console_settings(tmp_path, console_local_login=True)
    app_channel = {Channel.APP: RecordingSender(channel=Channel.APP)}
    async with console_host(settings, storage, clock, senders=app_channel) as (app, services):
        client = await _client(app)
        try:
            yield client, services, clock
        finally:
            await client.close()


async def test_anonymous_requests_go_to_sign_in(setup) -> None:  # type: ignore[no-untyped-def]
    client, _services, _clock = setup
    page = await client.get("/console/pv", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/console/login"
    partial = await client.get("/console/pv", headers={"HX-Request": "true"})
    assert partial.status == 401 and partial.headers["HX-Redirect"] == "/console/login"
    script = await client.get("/console/static/htmx.min.js")
    assert script.status == 200 and "no-store" not in script.headers.get("Cache-Control", "")
    login = await client.get("/console/login")
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    assert login.headers["Cache-Control"] == "no-store"
    assert (await client.get("/console/static/../../pyproject.toml")).status == 404


async def test_a_rep_cannot_open_pv_pages_and_the_denial_is_audited(setup) -> None:  # type: ignore[no-untyped-def]
    client, services, clock = setup
    case_id = await seed_case(services, 1, day0=clock.now - timedelta(hours=30))
    await sign_in(client, "rep_zhang")
    for path in (
        "/console/pv",
        f"/console/pv/cases/{case_id}",
        f"/console/pv/cases/{case_id}/export/e2b",
    ):
        answer = await client.get(path, headers={"Accept-Language": "en"})
        assert answer.status == 403
        body = await answer.text()
        assert "Access denied" in body and "皮疹" not in body and "XX药" not in body
    home = await (await client.get("/console/")).text()
    forged = await client.post(
        f"/console/pv/cases/{case_id}/ack", headers={"X-CSRF-Token": csrf_of(home)}
    )
    assert forged.status == 403
    records = await audit_records(services)
    denied = [r for r in records if r["kind"] == "console_denied"]
    assert len(denied) == 4 and {r["userid"] for r in denied} == {"rep_zhang"}
    assert not [r for r in records if r["kind"] in ("ae_case_read", "ae_case_ack")]


async def test_pv_officer_finds_opens_exports_and_acknowledges_an_overdue_case(setup) -> None:  # type: ignore[no-untyped-def]
    client, services, clock = setup
    overdue = await seed_case(
        services,
        1,
        day0=clock.now - timedelta(hours=30),
        delivered=True,
        asked={"concomitant": Asked.ANSWERED},  # "无": none
    )
    fresh = await seed_case(  # stopped at the concomitant medicines
        services,
        2,
        day0=clock.now - timedelta(hours=1),
        product="YY片",
        incomplete=True,
        asked={"seriousness": Asked.DONT_KNOW, "concomitant": Asked.NOT_ASKED},
    )
    dead = await seed_case(services, 3, day0=clock.now - timedelta(hours=3), dead=True)
    await sign_in(client, "pv_wu")
    queue = await (await client.get("/console/pv?state=overdue")).text()
    assert overdue in queue and fresh not in queue and dead not in queue
    partial = await client.get("/console/pv?state=dead", headers={"HX-Request": "true"})
    body = await partial.text()
    assert body.lstrip().startswith('<section id="queue">') and dead in body
    many = [
        await seed_case(services, n, day0=clock.now - timedelta(hours=2)) for n in range(10, 36)
    ]
    first = await (await client.get("/console/pv?state=new", headers={"HX-Request": "true"})).text()
    assert "?state=new&amp;serious=&amp;product=&amp;page=2" in first
    second = await (await client.get("/console/pv?state=new&page=2")).text()
    assert sum(case in first for case in many) == 25 and sum(case in second for case in many) == 1
    by_product = await (await client.get("/console/pv?product=yy")).text()
    assert fresh in by_product and overdue not in by_product

    page = await client.get(f"/console/pv/cases/{overdue}")
    html = await page.text()
    assert "13812345678" not in html and "[电话已隐藏]" in html and "皮疹" in html
    assert "<dt>Concomitant medicines</dt><dd>none</dd>" in html  # the full form asked
    assert "<dd>Adverse event, Overdose</dd>" in html  # categories by name, not by key
    assert "<span>Adverse event, Overdose</span>" in by_product
    stopped = await (await client.get(f"/console/pv/cases/{fresh}")).text()
    assert "<dt>Concomitant medicines</dt><dd>not asked (the form ended first)</dd>" in stopped
    assert "<dt>Seriousness</dt><dd>don&#39;t know (the reporter said)</dd>" in stopped
    old_case = await (await client.get(f"/console/pv/cases/{dead}")).text()  # saved before
    assert "<dt>Concomitant medicines</dt><dd>not known</dd>" in old_case  # steps were kept
    stopped_xml = await (await client.get(f"/console/pv/cases/{fresh}/export/e2b")).text()
    assert '<E.i.3.2a nullFlavor="ASKU" />' in stopped_xml  # asked, the reporter did not know
    assert "Not asked (the report form ended first): concomitant." in stopped_xml
    stopped_json = await (await client.get(f"/console/pv/cases/{fresh}/export/json")).json()
    assert stopped_json["empty_fields"] == {
        "seriousness": "dont_know",
        "outcome": "unknown",
        "concomitant": "not_asked",
    }
    export = await client.get(f"/console/pv/cases/{overdue}/export/e2b")
    assert export.status == 200 and b"<E.i.1.1a>" in await export.read()
    assert overdue in export.headers["Content-Disposition"]

    refused = await client.post(f"/console/pv/cases/{overdue}/ack")  # no CSRF token
    assert refused.status == 403
    acked = await client.post(
        f"/console/pv/cases/{overdue}/ack",
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(html)},
    )
    assert acked.status == 200 and "pv_wu" in await acked.text()
    assert overdue not in await (await client.get("/console/pv?state=overdue")).text()

    records = await audit_records(services)
    reads = {(r["case_id"], r["purpose"]) for r in records if r["kind"] == "ae_case_read"}
    assert (overdue, "console case") in reads and (overdue, "console export e2b") in reads
    assert all(r["reader"] == "console:pv_wu" for r in records if r["kind"] == "ae_case_read")
    acks = [r for r in records if r["kind"] == "ae_case_ack"]
    assert [(a["case_id"], a["by"], a["via"]) for a in acks] == [(overdue, "pv_wu", "console")]
    assert next(r for r in records if r["kind"] == "console_denied")["reason"] == "csrf"


async def test_redeliver_a_dead_lettered_case(setup) -> None:  # type: ignore[no-untyped-def]
    client, services, clock = setup
    dead = await seed_case(services, 3, day0=clock.now - timedelta(hours=3), dead=True)
    await sign_in(client, "pv_wu")
    html = await (await client.get(f"/console/pv/cases/{dead}")).text()
    answer = await client.post(f"/console/pv/cases/{dead}/redeliver", data={"csrf": csrf_of(html)})
    assert answer.status == 200 and "Queued for delivery again" in await answer.text()
    records = await audit_records(services)
    assert [r["by"] for r in records if r["kind"] == "ae_delivery_reset"] == ["pv_wu"]


async def test_sessions_expire_when_idle_and_end_at_sign_out(setup, ticker: Ticker) -> None:  # type: ignore[no-untyped-def]
    client, _services, clock = setup
    await sign_in(client, "pv_wu")
    ticker.now += 29 * 60
    assert (await client.get("/console/pv")).status == 200  # activity restarts the idle timer
    ticker.now += 29 * 60
    html = await (await client.get("/console/pv")).text()
    await client.post("/console/logout", data={"csrf": csrf_of(html)})
    assert (await client.get("/console/pv")).url.path == "/console/login"
    await sign_in(client, "pv_wu")
    ticker.now += 31 * 60
    expired = await client.get("/console/pv")
    assert expired.url.path == "/console/login" and expired.url.query.get("expired") == "1"
    await sign_in(client, "pv_wu")  # busy all day: still out 12 hours after signing in
    for _ in range(24):
        ticker.now += 29 * 60
        clock.advance(minutes=29)
        assert (await client.get("/console/pv")).url.path == "/console/pv"
    ticker.now += 29 * 60
    clock.advance(minutes=29)
    assert (await client.get("/console/pv")).url.path == "/console/login"


async def test_local_sign_in_only_when_enabled_and_only_roster_members(
    tmp_path: Path, storage: MemoryStorage
) -> None:
    async with console_host(console_settings(tmp_path), storage, MovableClock()) as (app, _):
        client = await _client(app)
        try:
            page = await (await client.get("/console/login")).text()
            assert "login/local" not in page
            refused = await client.post("/console/login/local", data={"userid": "pv_wu"})
            assert refused.status == 404
        finally:
            await client.close()


async def test_untagged_routes_are_denied(tmp_path: Path, storage: MemoryStorage) -> None:
    sub = console.create_app()

    async def forgotten(request: web.Request) -> web.Response:
        raise AssertionError("an untagged handler must never run")

    sub.router.add_get("/forgotten", forgotten)
    settings = console_settings(tmp_path, console_local_login=True)
    async with console_host(settings, storage, MovableClock(), console_app=sub) as (
        app,
        services,
    ):
        client = await _client(app)
        try:
            assert (await client.get("/console/forgotten")).status == 403  # even signed out
            await sign_in(client, "pv_wu")
            assert (await client.get("/console/forgotten")).status == 403
        finally:
            await client.close()
        records = await audit_records(services)
    assert [r["reason"] for r in records if r["kind"] == "console_denied"] == ["untagged route"] * 2


async def test_wecom_qr_sign_in_through_the_fake_api(
    tmp_path: Path, storage: MemoryStorage
) -> None:
    api = FakeWeComServer()
    base = await api.start()
    settings = console_settings(
        tmp_path,
        wecom_corp_id=api.corp_id,
        wecom_secret=api.secret,
        wecom_agent_id=1000002,
        wecom_api_base=base,
    )
    async with aiohttp.ClientSession() as session:
        wecom = WeComClient(
            session,
            storage,
            corp_id=api.corp_id,
            secret=api.secret,
            agent_id=1000002,
            api_base=base,
        )
        async with console_host(settings, storage, MovableClock(), wecom=wecom) as (app, host):
            client = await _client(app)
            try:
                start = await client.get("/console/auth/wecom?mode=qr", allow_redirects=False)
                target = urlsplit(start.headers["Location"])
                assert target.netloc == "login.work.weixin.qq.com"
                query = parse_qs(target.query)
                assert query["appid"] == [api.corp_id] and query["login_type"] == ["CorpApp"]
                state = query["state"][0]
                callback = urlsplit(query["redirect_uri"][0]).path
                assert callback == "/console/auth/callback"

                forged_code = api.issue_login_code("pv_wu")
                forged = await client.get(f"{callback}?code={forged_code}&state=x")
                assert forged.url.query.get("error") == "login_failed"
                reused = api.issue_login_code("pv_wu")
                signed = await client.get(f"{callback}?code={reused}&state={state}")
                assert signed.url.path == "/console/" and "吴芳" in await signed.text()
                assert (await client.get("/console/pv")).status == 200
                start = await client.get("/console/auth/wecom?mode=qr", allow_redirects=False)
                state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
                again = await client.get(f"{callback}?code={reused}&state={state}")
                assert again.url.query.get("error") == "login_failed"  # 40029: codes work once
                outsider = api.issue_login_code("stranger")
                start = await client.get("/console/auth/wecom?mode=oauth", allow_redirects=False)
                assert urlsplit(start.headers["Location"]).netloc == "open.weixin.qq.com"
                state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
                refused = await client.get(f"{callback}?code={outsider}&state={state}")
                assert refused.url.query.get("error") == "not_in_roster"
            finally:
                await client.close()
                await api.close()
            records = await audit_records(host)
    kinds = [(r["kind"], r.get("reason")) for r in records if r["kind"].startswith("console_login")]
    assert kinds == [
        ("console_login_refused", "state"),
        ("console_login", None),
        ("console_login_refused", "errcode 40029"),
        ("console_login_refused", "roster"),
    ]
    assert next(c.query["code"] for c in api.calls_to("/cgi-bin/auth/getuserinfo")) == reused


async def _mi_request(services: Services, question: str, at: datetime) -> tuple[MIStore, MIRequest]:
    """An MI request a doctor opened at ``at`` (48 h to answer), through the skill's store."""
    store = MIStore(services.storage, services.records)
    opened = await store.create(
        question=question,
        doctor_id="doctor-9",
        conversation_key="kf:doctor-9",
        channel="kf",
        profile=None,
        at=at,
        response_hours=48,
        timezone="Asia/Shanghai",
    )
    return store, opened


async def test_msl_sees_an_overdue_mi_request_and_closes_it(setup) -> None:  # type: ignore[no-untyped-def]
    client, services, clock = setup
    store, opened = await _mi_request(
        services, "XX药能和华法林一起用吗？", clock.now - timedelta(hours=50)
    )
    await sign_in(client, "pv_wu")
    assert (await client.get("/console/mi")).status == 403
    await sign_in(client, "msl_chen")
    html = await (await client.get("/console/mi")).text()
    assert opened.mi_id in html and "华法林" in html and "Overdue" in html
    closed = await client.post(
        f"/console/mi/{opened.mi_id}/close", data={"csrf": csrf_of(html), "note": "called back"}
    )
    assert "Request closed." in await closed.text()
    stored = await store.get(opened.mi_id)
    assert stored is not None and stored.closed_by == "msl_chen"
    assert stored.resolution == "called back"
    again = await client.post(f"/console/mi/{opened.mi_id}/close", data={"csrf": csrf_of(html)})
    assert "already closed" in await again.text()
    records = await audit_records(services)
    assert [r["by"] for r in records if r["kind"] == "mi_closed"] == ["msl_chen"]
    # MI requests as content gaps: tests/test_console_analytics.py (from the system of record)


async def test_msl_hands_a_request_to_a_colleague_who_is_told(setup) -> None:  # type: ignore[no-untyped-def]
    client, services, clock = setup
    store, opened = await _mi_request(services, "XX药儿童剂量？", clock.now)
    await sign_in(client, "rep_zhang")
    home = await (await client.get("/console/")).text()
    forged = await client.post(
        f"/console/mi/{opened.mi_id}/assign",
        data={"csrf": csrf_of(home), "to": "rep_zhang"},
    )
    assert forged.status == 403  # a rep may not hand requests around
    await sign_in(client, "msl_chen")
    html = await (await client.get("/console/mi")).text()
    assert '<option value="msl_li">李娜</option>' in html
    assert 'value="pv_wu"' not in html and 'value="msl_chen"' not in html  # nor to oneself
    assert "With nobody yet" in html
    for wrong in ("pv_wu", "msl_chen", "stranger", ""):  # not an MSL colleague: nothing changes
        refused = await client.post(
            f"/console/mi/{opened.mi_id}/assign", data={"csrf": csrf_of(html), "to": wrong}
        )
        assert "nothing was changed" in await refused.text()
    assert (await services.records.mi_request(opened.mi_id)).assigned_to is None
    handed = await client.post(
        f"/console/mi/{opened.mi_id}/assign",
        data={"csrf": csrf_of(html), "to": "msl_li", "note": "您负责儿科"},
    )
    page = await handed.text()
    assert "your colleague has been told" in page and "With 李娜" in page
    assert (await services.records.mi_request(opened.mi_id)).assigned_to == "msl_li"
    [told] = services.senders[Channel.APP].sent
    assert told.recipient_id == "msl_li" and told.channel is Channel.APP
    assert opened.mi_id in told.replies[0].text and "说明：您负责儿科" in told.replies[0].text
    assert "XX药儿童剂量？" in told.replies[0].text  # in her language (Chinese, the default)
    await store.close(opened.mi_id, by="msl_li", at=clock.now, resolution="answered")
    closed = await client.post(
        f"/console/mi/{opened.mi_id}/assign", data={"csrf": csrf_of(html), "to": "msl_li"}
    )
    assert "already closed" in await closed.text()
    assert len(services.senders[Channel.APP].sent) == 1
    records = await audit_records(services)
    handovers = [r for r in records if r["kind"] == "mi_assigned"]
    assert [(r["by"], r["to"], r["note"], r["told"]) for r in handovers] == [
        ("msl_chen", "msl_li", "您负责儿科", True)
    ]
    denied = [r["path"] for r in records if r["kind"] == "console_denied"]
    assert denied == [f"/console/mi/{opened.mi_id}/assign"]


async def test_a_manager_sees_a_handoff_of_the_team_breach_its_sla(setup) -> None:  # type: ignore[no-untyped-def]
    client, services, clock = setup
    ours = await offered_handoff(services, "doctor-7", clock.now, 10)
    theirs = await offered_handoff(services, "doctor-8", clock.now, 10, offered_to=("rep_wang",))
    await sign_in(client, "rep_zhang")  # a rep: their own doctor's handoff, not another rep's
    html = await (await client.get("/console/managers", headers={"Accept-Language": "en"})).text()
    assert f'data-handoff="{ours}"' in html and f'data-handoff="{theirs}"' not in html
    await sign_in(client, "mgr_zhao")
    html = await (await client.get("/console/managers", headers={"Accept-Language": "en"})).text()
    assert f'data-handoff="{ours}"' in html and f'data-handoff="{theirs}"' not in html
    assert "SLA breached" not in html and "SLA breaches: <strong>0</strong>" in html
    clock.advance(minutes=11)
    html = await (await client.get("/console/managers", headers={"Accept-Language": "en"})).text()
    assert "SLA breached" in html and "SLA breaches: <strong>1</strong>" in html


async def test_a_handoff_of_a_doctor_without_a_rep_reaches_the_pool_and_its_managers(setup) -> None:  # type: ignore[no-untyped-def]
    """doctor-20 and doctor-21 have no rep, so their handoffs go to the on-duty pool: the pool
    reps offered one see it, and so does the manager of a team one of them is on; a rep not
    offered it, and a manager of no such team, do not."""
    client, services, clock = setup
    north = await offered_handoff(services, "doctor-20", clock.now, 10, offered_to=("rep_wang",))
    both = await offered_handoff(
        services, "doctor-21", clock.now, 10, offered_to=("rep_wang", "rep_zhang")
    )
    taken = await offered_handoff(  # once rep_zhang took it, it is no longer rep_wang's business
        services,
        "doctor-22",
        clock.now,
        10,
        offered_to=("rep_wang", "rep_zhang"),
        taken_by="rep_zhang",
    )
    seen = {}
    for member in ("rep_wang", "rep_zhang", "mgr_zhao", "admin_ops", "pv_wu"):
        await sign_in(client, member)
        page = await client.get("/console/managers", headers={"Accept-Language": "en"})
        html = await page.text() if page.status == 200 else ""
        seen[member] = {h for h in (north, both, taken) if f'data-handoff="{h}"' in html}
    assert seen == {
        "rep_wang": {north, both},
        "rep_zhang": {both, taken},  # on the pool of doctor-21 only; took doctor-22
        "mgr_zhao": {both, taken},  # team east: rep_zhang (east) offered 21, took 22; not on 20
        "admin_ops": {north, both, taken},
        "pv_wu": set(),  # not a handoff role: the page is closed (403)
    }
