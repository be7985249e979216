"""Content pages (admin): the approved library with versions and expiry, upload with approval
metadata (refusals shown line by line, as ``virtualrep ingest`` prints them), withdraw, and the
"ask as a doctor" preview. Uploads and withdrawals are audited."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from yarl import URL

from console.auth import requires
from console.content import ContentLibrary
from console.keys import MEMBER
from console.pages import PREFIX, audit, backends, render, services_of
from knowledge.loaders import SOURCE_SUFFIXES
from skills.handoff.roster import Role

EXPIRING_DAYS: Final = 30
MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
META_FIELDS: Final = (
    "doc_id",
    "title",
    "product",
    "content_type",
    "audience",
    "language",
    "approval_code",
    "version",
    "expires_on",
    "citation",
)
UPLOAD_SUFFIXES: Final = frozenset(SOURCE_SUFFIXES - {".jsonl"})


def _today(request: web.Request) -> date:
    services = services_of(request)
    return services.clock().astimezone(ZoneInfo(services.settings.timezone)).date()


def _library(request: web.Request) -> ContentLibrary:
    library = backends(request).content
    if library is None:
        raise web.HTTPServiceUnavailable(text="no knowledge base")
    return library


async def _page(request: web.Request, *, partial: str | None = None, **extra: Any) -> web.Response:
    today = _today(request)
    expiring_only = request.query.get("expiring") == "1"
    soon = today + timedelta(days=EXPIRING_DAYS)
    documents = await _library(request).documents()
    shown = [
        meta
        for meta in documents
        if not meta.unapproved_eval and (not expiring_only or meta.expires_on <= soon)
    ]
    context: dict[str, Any] = {
        "documents": shown,
        "today": today,
        "soon": soon,
        "expiring_only": expiring_only,
        "notice": request.query.get("notice"),
        "report": None,
        "preview": None,
        "question": "",
        **extra,
    }
    return render(request, "content.html", context, partial=partial)


@requires(Role.ADMIN)
async def library(request: web.Request) -> web.Response:
    return await _page(request)


@requires(Role.ADMIN)
async def upload(request: web.Request) -> web.Response:
    """One file (Markdown, PDF, DOCX, text) with the approval metadata of the form."""
    meta: dict[str, Any] = {}
    filename, body = "", b""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file" and part.filename:
            filename = part.filename
            chunks = bytearray()
            while chunk := await part.read_chunk():
                chunks += chunk
                if len(chunks) > MAX_UPLOAD_BYTES:  # refused before it is all in memory
                    raise web.HTTPRequestEntityTooLarge(MAX_UPLOAD_BYTES, len(chunks))
            body = bytes(chunks)
        elif part.name in META_FIELDS:
            value = (await part.text()).strip()
            if value:
                meta[part.name] = value[:500]
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if not body or suffix not in UPLOAD_SUFFIXES:
        return await _page(request, upload_error="upload_format")
    report = await _library(request).ingest(filename, body, meta)
    member = request[MEMBER]
    await audit(
        request,
        "content_upload",
        by=member.userid,
        filename=filename,
        added=report.added,
        replaced=report.replaced,
        unchanged=report.unchanged,
        refused=[refusal.line for refusal in report.refused],
    )
    return await _page(request, report=report)


@requires(Role.ADMIN)
async def withdraw(request: web.Request) -> web.Response:
    doc_id = request.match_info["doc_id"]
    done = await _library(request).withdraw(doc_id)
    if done:
        await audit(request, "content_withdraw", doc_id=doc_id, by=request[MEMBER].userid)
    notice = "withdrawn" if done else "no_document"
    raise web.HTTPSeeOther(str(URL(f"{PREFIX}/content").with_query(notice=notice)))


@requires(Role.ADMIN)
async def preview(request: web.Request) -> web.Response:
    question = request.query.get("q", "").strip()[:500]
    found = await _library(request).preview(question, _today(request)) if question else None
    return await _page(request, preview=found, question=question, partial="preview")
