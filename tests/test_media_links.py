"""PV's signed, expiring links to a case's originals: issued into the webhook's attachments,
opened in the console by PV officers only, every download audited (media.links, .download)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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
from tests.ae_support import MovableClock
from tests.console_support import audit_records, console_host, console_settings, sign_in
from tests.media_files import rash_photo, text_image

CASE = "AE-20261122-0001"
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
