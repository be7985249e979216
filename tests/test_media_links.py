"""PV's signed, expiring links to a case's originals: issued into the webhook's attachments,
opened in the console by PV officers only, every download audited (media.links, .download)."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.keys import MEDIA
from bot.services import Services
from bot.storage.memory import MemoryStorage
from media import case_attachments
from media.links import signer_from
from media.reader import LocalMediaReader
from media.store import MediaStore
from skills.adverse_events.cases import SourceMessage
from skills.adverse_events.service import ae_service
from tests.ae_support import MovableClock
from tests.console_support import (
    audit_records,
    console_host,
    console_settings,
    seed_case,
    sign_in,
)
from tests.media_files import rash_photo, text_image

CASE = "AE-20261122-0001"
EN = {"Accept-Language": "en"}
Setup = tuple[TestClient, LocalMediaReader, MovableClock, Services]  # type: ignore[type-arg]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock, storage = MovableClock(), MemoryStorage()
    settings = console_settings(tmp_path, console_local_login=True)
    async with console_host(settings, storage, clock) as (app, services):
        signer = signer_from("link-key", "https://bot.example.com", ttl_h=24)
        reader = LocalMediaReader(
            MediaStore(tmp_path / "media"), None, ocr=False, timeout_s=5, links=signer
        )
        app[MEDIA] = reader
        client: TestClient = TestClient(TestServer(app))  # type: ignore[type-arg]
        await client.start_server()
        try:
            yield client, reader, clock, services
        finally:
            await client.close()


def _local(url: str) -> str:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "bot.example.com")
    return f"{parts.path}?{parts.query}"


async def test_past_the_inline_budget_a_file_reaches_pv_as_a_signed_link(setup: Setup) -> None:
    _, reader, _, _ = setup
    small, large = await reader.keep(rash_photo()), await reader.keep(text_image("化验单") * 40)
    entries = await case_attachments(reader, [small.ref, large.ref, small.ref], CASE, budget=10_000)
    assert [entry["ref"] for entry in entries] == [small.ref, large.ref]
    first, second = entries
    assert base64.b64decode(first["content_base64"]) == rash_photo()
    assert "content_base64" not in second and second["size"] == large.size
    for entry in entries:
        assert entry["url"].startswith(f"https://bot.example.com/console/pv/media/{entry['ref']}?")
        assert f"case={CASE}" in entry["url"] and "sig=" in entry["url"]
        assert entry["url_expires_at"] > datetime.now(UTC).isoformat()


async def test_only_a_signed_in_pv_officer_opens_a_link_before_it_expires_and_each_try_is_audited(
    setup: Setup,
) -> None:
    client, reader, clock, services = setup
    stored = await reader.keep(text_image("化验单") * 40)
    assert reader.links is not None
    url, _ = reader.links.link(stored.ref, CASE, clock())
    link = _local(url)
    anonymous = await client.get(link, allow_redirects=False)
    assert anonymous.status in (302, 303) and "/console/login" in anonymous.headers["Location"]
    await sign_in(client, "rep_zhang")
    assert (await client.get(link)).status == 403  # a rep: the console's role check
    await sign_in(client, "pv_wu")
    served = await client.get(link)
    assert served.status == 200 and await served.read() == text_image("化验单") * 40
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "no-store"
    tampered = link.replace(CASE, "AE-20261122-0002")  # the same signature for another case
    assert (await client.get(tampered)).status == 403
    other = await reader.keep(rash_photo())
    assert (await client.get(link.replace(stored.ref, other.ref))).status == 403
    clock.advance(hours=24, seconds=1)
    await sign_in(client, "pv_wu")  # the session idled out too
    assert (await client.get(link)).status == 403  # expired
    audited = [r for r in await audit_records(services) if r["kind"] == "media_download"]
    assert [(r["userid"], r["outcome"]) for r in audited] == [
        ("pv_wu", "served"),
        ("pv_wu", "signature"),
        ("pv_wu", "signature"),
        ("pv_wu", "expired"),
    ]
    assert audited[0]["ref"] == stored.ref and audited[0]["case_id"] == CASE
    denied = [r for r in await audit_records(services) if r["kind"] == "console_denied"]
    assert [r["userid"] for r in denied] == ["rep_zhang"]


async def test_without_a_link_key_files_are_inline_or_listed_by_ref_only(tmp_path: Path) -> None:
    assert signer_from(None, "https://bot.example.com", ttl_h=1) is None
    reader = LocalMediaReader(MediaStore(tmp_path), None, ocr=False, timeout_s=5)
    stored = await reader.keep(rash_photo())
    (entry,) = await case_attachments(reader, [stored.ref], CASE)
    assert "url" not in entry and "content_base64" in entry


async def test_the_case_page_lists_the_originals_with_fresh_links_that_renew_an_expired_one(
    setup: Setup,
) -> None:
    """A PV officer sees the case's photo and voice note on its page, each with a link signed
    for this view; once a link expired it says so and points to the case, whose page signs a
    new one. Issuing and downloading are audited; a rep gets neither page nor link."""
    client, reader, clock, services = setup
    case_id = await seed_case(services, 31, day0=clock())
    photo, voice = await reader.keep(rash_photo()), await reader.keep(b"#!AMR\n" + bytes(64))
    store = ae_service(services).store
    case = await store.read(case_id, reader="test", purpose="seed media", at=clock())
    assert case is not None
    for n, (ref, text) in enumerate([(photo.ref, "[image]"), (voice.ref, "头晕"), (photo.ref, "")]):
        at = clock() + timedelta(minutes=n)
        case.add_source(SourceMessage(message_id=f"m-{n}", received_at=at, text=text or "[image]",
                                      language="zh", media=ref))  # fmt: skip
    await store.save(case)
    await sign_in(client, "rep_zhang")
    assert (await client.get(f"/console/pv/cases/{case_id}")).status == 403
    await sign_in(client, "pv_wu")
    html = await (await client.get(f"/console/pv/cases/{case_id}", headers=EN)).text()
    refs = re.findall(r'<li data-ref="([^"]+)">', html)
    assert refs == [photo.ref, voice.ref]  # each file once, first received first
    assert "Attachments (2)" in html and "Image" in html and "Voice note" in html
    first = _links(html)
    assert (await client.get(first[photo.ref])).status == 200
    clock.advance(hours=24, seconds=1)  # the links' 24 h are over
    await sign_in(client, "pv_wu")
    expired = await client.get(first[photo.ref], headers=EN)
    assert expired.status == 403 and "This download link has expired." in await expired.text()
    assert f'href="/console/pv/cases/{case_id}"' in await expired.text()
    fresh = _links(await (await client.get(f"/console/pv/cases/{case_id}")).text())
    assert fresh[photo.ref] != first[photo.ref]
    served = await client.get(fresh[photo.ref])
    assert served.status == 200 and await served.read() == rash_photo()
    records = await audit_records(services)
    issued = [r for r in records if r["kind"] == "media_link_issued"]
    assert [(r["userid"], r["case_id"], r["refs"]) for r in issued] == [
        ("pv_wu", case_id, [photo.ref, voice.ref])
    ] * 2
    downloads = [(r["userid"], r["outcome"]) for r in records if r["kind"] == "media_download"]
    assert downloads == [("pv_wu", "served"), ("pv_wu", "expired"), ("pv_wu", "served")]


def _links(html: str) -> dict[str, str]:
    """ref → the page's signed link (relative: this console has no public base address)."""
    found = re.findall(r'<li data-ref="([^"]+)">.*?<a href="([^"]+)"', html, re.S)
    return {ref: url.replace("&amp;", "&") for ref, url in found}


def test_links_without_the_public_address_warn_once_at_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="media.links"):
        signer = signer_from("k" * 32, None, 1)
    warned = [r.getMessage() for r in caplog.records if r.name == "media.links"]
    assert signer is not None and signer.base_url == ""  # no host invented
    assert len(warned) == 1 and "VREP_MEDIA_LINK_BASE_URL" in warned[0]
    assert "webhook" in warned[0] and "WeCom card" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="media.links"):
        signer_from("k" * 32, "https://bot.example.com", 1)  # address set: quiet
        signer_from(None, None, 1)  # links off: nothing to warn about
    assert not [r for r in caplog.records if r.name == "media.links"]
