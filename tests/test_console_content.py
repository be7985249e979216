"""Content pages over a real knowledge base (a copy of the embedded sample library): a content
admin uploads a document with its approval metadata, sees the preview answer from it, withdraws
it and sees the preview stop; a refused upload says why, as the CLI does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import load_settings
from bot.storage.memory import MemoryStorage
from knowledge.base import KnowledgeBase
from tests.ae_support import MovableClock
from tests.console_support import (
    audit_records,
    console_host,
    console_settings,
    csrf_of,
    sign_in,
)

DOCUMENT = b"""# Velitra with grapefruit juice

Question: Can Velitra be taken with grapefruit juice?

Standard response: Velitra can be taken with grapefruit juice; no interaction was seen in the
VLT-12 interaction study.
"""
QUESTION = "Can Velitra be taken with grapefruit juice?"


@pytest.fixture
def knowledge(sample_kb_dir: Path, tmp_path: Path) -> Iterator[KnowledgeBase]:
    directory = tmp_path / "kb"
    shutil.copytree(sample_kb_dir, directory)
    kb = KnowledgeBase.open(load_settings(kb_dir=directory, kb_sample_library=False))
    yield kb
    kb.close()


def upload_form(**fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", DOCUMENT, filename="velitra-grapefruit.md", content_type="text/markdown")
    for name, value in fields.items():
        form.add_field(name, value)
    return form


async def test_upload_preview_withdraw(knowledge: KnowledgeBase, tmp_path: Path) -> None:
    storage = MemoryStorage()
    settings = console_settings(tmp_path, console_local_login=True, kb_dir=tmp_path / "kb")
    async with console_host(settings, storage, MovableClock()) as (app, services):
        services.knowledge = knowledge
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await sign_in(client, "pv_wu")
            assert (await client.get("/console/content")).status == 403
            await sign_in(client, "admin_ops")
            page = await (await client.get("/console/content")).text()
            assert "SR-NRX-EN-03" in page
            csrf = csrf_of(page)
            meta = {
                "doc_id": "SR-VLT-EN-01",
                "title": "Velitra standard response: grapefruit juice",
                "product": "Velitra",
                "content_type": "standard_response",
                "audience": "hcp",
                "language": "en",
                "version": "1",
                "expires_on": "2027-06-30",
            }
            upload = f"/console/content/upload?csrf={csrf}"
            refused = await client.post(upload, data=upload_form(**meta))
            assert "refused velitra-grapefruit.md: approval_code missing" in await refused.text()
            added = await client.post(
                upload, data=upload_form(**meta, approval_code="VLT-2026-001")
            )
            assert "added SR-VLT-EN-01" in await added.text()

            answer = await client.get(f"/console/content/preview?q={QUESTION}")
            html = await answer.text()
            assert "no interaction was seen" in html and "SR-VLT-EN-01" in html

            withdrawn = await client.post(
                "/console/content/SR-VLT-EN-01/withdraw", data={"csrf": csrf}
            )
            assert "Withdrawn: no longer used in answers." in await withdrawn.text()
            htmx = {"HX-Request": "true"}
            preview = f"/console/content/preview?q={QUESTION}"
            after = await (await client.get(preview, headers=htmx)).text()
            assert after.lstrip().startswith('<div id="preview">')
            assert "no interaction was seen" not in after
        finally:
            await client.close()
        records = await audit_records(services)
        uploads = [r for r in records if r["kind"] == "content_upload"]
        assert [u["added"] for u in uploads] == [[], ["SR-VLT-EN-01"]]
        assert "approval_code" in uploads[0]["refused"][0]
        assert [r["doc_id"] for r in records if r["kind"] == "content_withdraw"] == ["SR-VLT-EN-01"]
