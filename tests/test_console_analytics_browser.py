"""The analytics page in a real browser (Debian's Chromium driven by Playwright): a manager on
a phone in Chinese sees their team's figures and changes the period (htmx swaps the figures);
an admin on a laptop in English narrows to another team and downloads the content gaps.

Screenshots go to ``$CONSOLE_SCREENSHOTS`` when set, else to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Browser, expect

from bot.storage.memory import MemoryStorage
from tests.ae_support import MovableClock
from tests.console_support import console_host, console_settings
from tests.local_http import serving
from tests.records.analytics_support import MONDAY, seed
from tests.test_console_browser import PHONE, browser, shots, sign_in

__all__ = ["browser"]  # the fixture, shared with the other browser journeys


async def test_manager_on_a_phone_and_admin_on_a_laptop(browser: Browser, tmp_path: Path) -> None:
    settings = console_settings(
        tmp_path,
        console_local_login=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
    )
    clock = MovableClock()
    clock.now = MONDAY + timedelta(weeks=3, days=2)
    folder = shots(tmp_path)
    async with console_host(settings, MemoryStorage(), clock) as (app, services):
        assert services.records is not None
        await seed(services.records, rep_a="rep_zhang", rep_b="rep_wang", rep_c="rep_li")
        async with serving(app) as base:
            context = await browser.new_context(locale="zh-CN", viewport=PHONE)
            page = await context.new_page()
            await page.goto(f"{base}/console/login")
            await page.select_option("#userid", "mgr_zhao")
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{base}/console/")
            await page.get_by_role("link", name="分析").first.click()
            await page.select_option("select[name=weeks]", "4")  # htmx swaps #figures
            await expect(page).to_have_url(
                f"{base}/console/analytics?weeks=4&product=&team=east&rep="
            )
            await expect(page.locator("#documents")).to_contain_text("SR-1")
            await expect(page.locator("#response")).to_contain_text("张伟")
            await expect(page.locator("#gaps")).not_to_contain_text("华法林")  # north's doctor
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"]  # nothing wider than the phone (tables scroll)
            await page.screenshot(
                path=folder / "console-analytics-manager-phone.png", full_page=True
            )
            await context.close()

            context = await browser.new_context(locale="en-US", accept_downloads=True)
            page = await context.new_page()
            await sign_in(page, base, "admin_ops")
            await page.goto(f"{base}/console/analytics?weeks=4")
            await expect(page.locator("#gaps")).to_contain_text("华法林")
            await page.select_option("select[name=team]", "north")
            await expect(page.locator("#documents")).not_to_contain_text("SR-1")
            await expect(page.locator("#gaps")).to_contain_text("×3")
            await page.screenshot(path=folder / "console-analytics-admin.png", full_page=True)
            async with page.expect_download() as download_info:
                await page.locator("#gaps a.csv").click()
            download = await download_info.value
            assert download.suggested_filename == "analytics-gaps.csv"
            saved = await download.path()
            text = (await asyncio.to_thread(saved.read_bytes)).decode("utf-8")
            assert "华法林" in text and text.splitlines()[1].startswith("3,2,1,interactions")
            await context.close()
