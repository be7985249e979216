"""The console in a real browser (Debian's Chromium driven by Playwright): the PV officer's
journey and a rep turned away; a content admin's upload, preview and withdrawal; a manager who
sees only the team's handoffs breach an SLA and per-rep response times, and no other area; a
compliance reviewer who looks up consent, exports one case's audit and verifies the chain, with
a rep turned away from compliance. Few and fast: one page per journey.

Screenshots go to ``$CONSOLE_SCREENSHOTS`` when set (the README's come from there), else to the
test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.services import Services
from bot.settings import load_settings
from bot.storage.memory import MemoryStorage
from knowledge.base import KnowledgeBase
from tests.ae_support import MovableClock
from tests.console_support import (
    audit_records,
    console_host,
    console_settings,
    offered_handoff,
    seed_case,
)
from tests.helpers import audit_trail
from tests.local_http import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run make test-packages")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


Host = tuple[web.Application, Services, MovableClock]


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Host]:
    """The console's host app with local sign-in, its services (system of record open) and
    the clock the test moves."""
    clock = MovableClock()
    settings = console_settings(tmp_path, console_local_login=True)
    async with console_host(settings, MemoryStorage(), clock) as (app, services):
        yield app, services, clock


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def sign_in(page: Page, base: str, userid: str, button: str = "Sign in") -> None:
    """Local sign-in as ``userid`` (``button``: the sign-in button in the page's language)."""
    await page.goto(f"{base}/console/login")
    await page.select_option("#userid", userid)
    await page.get_by_role("button", name=button).click()
    await page.wait_for_url(f"{base}/console/")


async def test_pv_officer_journey_and_a_rep_turned_away(browser: Browser, tmp_path: Path) -> None:
    storage, clock = MemoryStorage(), MovableClock()
    async with console_host(
        console_settings(tmp_path, console_local_login=True), storage, clock
    ) as (app, services):
        overdue = await seed_case(services, 1, day0=clock.now - timedelta(hours=30), delivered=True)
        await seed_case(services, 2, day0=clock.now - timedelta(hours=1), product="YY片")
        await seed_case(services, 3, day0=clock.now - timedelta(hours=3), dead=True)
        folder = shots(tmp_path)
        async with serving(app) as base:
            context = await browser.new_context(locale="en-US", accept_downloads=True)
            page = await context.new_page()
            await sign_in(page, base, "pv_wu")
            await page.get_by_role("link", name="Pharmacovigilance").first.click()
            await page.select_option("select[name=state]", "overdue")  # htmx swaps the list
            await expect(page.locator(".case")).to_have_count(1)
            await expect(page).to_have_url(f"{base}/console/pv?state=overdue&product=")
            await page.screenshot(path=folder / "console-pv-queue.png", full_page=True)
            await page.get_by_role("link", name=overdue).click()
            async with page.expect_download() as download_info:
                await page.get_by_role("link", name="Download E2B").click()
            download = await download_info.value
            assert download.suggested_filename == f"{overdue}.xml"
            saved = await download.path()
            assert b"<E.i.1.1a>" in await asyncio.to_thread(saved.read_bytes)
            await page.get_by_role("button", name="Acknowledge").click()
            await expect(page.locator("#ack")).to_contain_text("pv_wu")
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=folder / "console-pv-case-phone.png", full_page=True)
            await context.close()

            context = await browser.new_context(locale="zh-CN", viewport=PHONE)
            page = await context.new_page()
            await sign_in(page, base, "rep_zhang", "登录")
            answer = await page.goto(f"{base}/console/pv/cases/{overdue}")
            assert answer is not None and answer.status == 403
            await expect(page.get_by_role("alert")).to_contain_text("无权打开")
            await page.screenshot(path=folder / "console-rep-denied.png", full_page=True)
            await context.close()
        records = await audit_records(services)
        acks = [(r["case_id"], r["by"]) for r in records if r["kind"] == "ae_case_ack"]
        assert acks == [(overdue, "pv_wu")]
        denied = [r["userid"] for r in records if r["kind"] == "console_denied"]
        assert denied == ["rep_zhang"]


async def test_content_admin_uploads_previews_and_withdraws(
    browser: Browser, sample_kb_dir: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "kb"
    await asyncio.to_thread(shutil.copytree, sample_kb_dir, directory)
    knowledge = await asyncio.to_thread(
        KnowledgeBase.open, load_settings(kb_dir=directory, kb_sample_library=False)
    )
    document = tmp_path / "velitra.md"
    document.write_text(
        "# Velitra with grapefruit juice\n\nQuestion: Can Velitra be taken with grapefruit juice?"
        "\n\nStandard response: Velitra can be taken with grapefruit juice; no interaction was "
        "seen in the VLT-12 interaction study.\n",
        encoding="utf-8",
    )
    settings = console_settings(tmp_path, console_local_login=True, kb_dir=directory)
    async with console_host(settings, MemoryStorage(), MovableClock()) as (app, services):
        services.knowledge = knowledge
        try:
            async with serving(app) as base:
                context = await browser.new_context(locale="en-US")
                page = await context.new_page()
                await sign_in(page, base, "admin_ops")
                await page.get_by_role("link", name="Content").first.click()
                upload = page.locator("form.upload")
                await upload.locator("input[name=file]").set_input_files(document)
                for name, value in {
                    "doc_id": "SR-VLT-EN-01",
                    "title": "Velitra and grapefruit juice",
                    "product": "Velitra",
                    "approval_code": "VLT-2026-001",
                    "expires_on": "2027-06-30",
                }.items():
                    await upload.locator(f"input[name={name}]").fill(value)
                await upload.locator("select[name=language]").select_option("en")
                await upload.get_by_role("button", name="Upload").click()
                await expect(page.locator("#report")).to_contain_text("added SR-VLT-EN-01")
                ask = page.locator("input[name=q]")
                await ask.fill("Can Velitra be taken with grapefruit juice?")
                await page.get_by_role("button", name="Ask").click()  # htmx swaps the preview
                await expect(page.locator("#preview pre")).to_contain_text(
                    "no interaction was seen"
                )
                doc = page.locator('li[data-doc="SR-VLT-EN-01"]')
                await doc.get_by_role("button", name="Withdraw").click()
                await expect(page.get_by_role("status")).to_contain_text("Withdrawn")
                await page.locator("input[name=q]").fill(
                    "Can Velitra be taken with grapefruit juice?"
                )
                await page.get_by_role("button", name="Ask").click()
                await expect(page.locator("#preview pre")).not_to_contain_text("no interaction")
                await context.close()
        finally:
            await asyncio.to_thread(knowledge.close)


async def test_manager_sees_the_team_breach_an_sla_and_nothing_else(
    browser: Browser, host: Host, tmp_path: Path
) -> None:
    app, services, clock = host
    assert services.records is not None
    ours = await offered_handoff(services, "doctor-7", clock.now, 10)
    theirs = await offered_handoff(services, "doctor-8", clock.now, 10)
    taken = await offered_handoff(services, "doctor-6", clock.now, 10, taken_by="rep_zhang")
    for handoff_id, fields in (
        ("H-1", {"event": "taken_over", "rep": "rep_zhang", "waited_s": 240.0}),
        ("H-2", {"event": "taken_over", "rep": "rep_zhang", "waited_s": 600.0}),
        ("H-3", {"event": "declined", "rep": "rep_zhang"}),
        ("H-4", {"event": "taken_over", "rep": "rep_wang", "waited_s": 60.0}),  # another team's
    ):
        record = {"handoff_id": handoff_id, "doctor": "doctor-5", "reason": "x", **fields}
        await services.records.append_audit("handoff", clock.now, record)
    folder = shots(tmp_path)
    async with serving(app) as base:
        context = await browser.new_context(locale="zh-CN", viewport=PHONE)
        page = await context.new_page()
        await sign_in(page, base, "mgr_zhao", "登录")
        await page.get_by_role("link", name="转人工").first.click()
        await expect(page.locator(f'[data-handoff="{ours}"]')).to_be_visible()
        await expect(page.locator(f'[data-handoff="{theirs}"]')).to_have_count(0)
        await expect(page.locator(f'[data-handoff="{taken}"]')).to_contain_text("张伟")
        await expect(page.locator(".badge.overdue")).to_have_count(0)
        mine = page.locator('tr[data-rep="rep_zhang"]')
        await expect(mine).to_contain_text("7.0")  # median of 4 and 10 minutes
        await expect(mine).to_contain_text("10.0")
        await expect(mine.locator("td").last).to_have_text("1")  # declined once
        await expect(page.locator('tr[data-rep="rep_wang"]')).to_have_count(0)
        clock.advance(minutes=11)  # the stage's 10-minute SLA runs out
        await page.reload()
        late = page.locator(f'[data-handoff="{ours}"]')
        await expect(late.locator(".badge.overdue")).to_have_text("已超时")
        await expect(page.locator(".hint strong")).to_have_text("1")
        await page.screenshot(path=folder / "console-manager-phone.png", full_page=True)
        for closed in ("/console/pv", "/console/compliance/audit", "/console/mi"):
            answer = await page.goto(f"{base}{closed}")
            assert answer is not None and answer.status == 403
        await context.close()
    records = await audit_records(services)
    denied = [r["path"] for r in records if r["kind"] == "console_denied"]
    assert denied == ["/console/pv", "/console/compliance/audit", "/console/mi"]


async def test_compliance_reviewer_exports_one_case_and_the_chain_verifies(
    browser: Browser, host: Host, tmp_path: Path
) -> None:
    app, services, clock = host
    assert services.records is not None
    case_id = await seed_case(services, 1, day0=clock.now - timedelta(hours=30))
    other = await seed_case(services, 2, day0=clock.now - timedelta(hours=2))
    await services.records.read_case(case_id, reader="console:pv_wu", purpose="x", at=clock.now)
    await services.audit.record(
        "consent",
        clock.now,
        subject="doctor-1",
        purpose="service",
        granted=True,
        notice_version="2026-11",
        via="kf",
    )
    folder = shots(tmp_path)
    async with serving(app) as base:
        context = await browser.new_context(locale="zh-CN", viewport=PHONE)
        page = await context.new_page()
        await sign_in(page, base, "rep_zhang", "登录")
        for closed in ("/console/compliance/audit", "/console/compliance/chain"):
            answer = await page.goto(f"{base}{closed}")
            assert answer is not None and answer.status == 403
        await context.close()

        await audit_trail(services.records, services.storage)  # what the app's sink does meanwhile
        context = await browser.new_context(locale="en-US", accept_downloads=True)
        page = await context.new_page()
        await sign_in(page, base, "admin_ops")
        await page.get_by_role("link", name="Compliance").first.click()
        await page.locator("#consents input[name=doctor]").fill("doctor-1")
        await page.get_by_role("button", name="Look up").click()  # htmx
        await expect(page.locator("table.consents")).to_contain_text("2026-11")
        await expect(page.locator("table.consents")).to_contain_text("given")
        await page.locator("form.filters input[name=case]").last.fill(case_id)
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#results")).to_contain_text("ae_case_read")
        await expect(page.locator("#results")).not_to_contain_text(other)
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Export CSV").click()
        download = await download_info.value
        saved = await download.path()
        exported = await asyncio.to_thread(saved.read_text, encoding="utf-8")
        assert case_id in exported and other not in exported
        await page.get_by_role("link", name="Verify the hash chain").click()
        await expect(page.locator("#chain")).to_contain_text("The chain holds")
        await page.screenshot(path=folder / "console-compliance.png", full_page=True)
        await context.close()
    records = await audit_records(services)
    exports = [(r["userid"], r["case"]) for r in records if r["kind"] == "console_audit_export"]
    assert exports == [("admin_ops", case_id)]
    assert [r["ok"] for r in records if r["kind"] == "console_audit_verify"] == [True]
    assert [r["subject"] for r in records if r["kind"] == "console_consents_read"] == ["doctor-1"]
    denied = [r["userid"] for r in records if r["kind"] == "console_denied"]
    assert denied == ["rep_zhang", "rep_zhang"]
