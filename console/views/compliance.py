"""Compliance pages: audit search, its export (CSV or JSON Lines), the chain check and a
doctor's consent records.

The audit trail is searchable only in the system of record (``records/``); without it the page
says so instead of reading the append-only stream. Exports and chain checks are themselves
audited with the reviewer.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from console.auth import requires
from console.keys import MEMBER
from console.pages import audit, backends, page_number, render, services_of
from records.results import AuditQuery, AuditRecord
from records.service import Records
from skills.handoff.roster import Role

PAGE_SIZE: Final = 50
EXPORT_FORMATS: Final = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
CSV_COLUMNS: Final = ("seq", "at", "kind", "doctor_id", "case_id", "actor", "payload", "hash")


def _query(request: web.Request) -> tuple[AuditQuery, dict[str, str]]:
    """The search form's fields (dates are whole days in the company's time zone)."""
    zone = ZoneInfo(services_of(request).settings.timezone)
    values = {
        name: request.query.get(name, "").strip()[:100]
        for name in ("from", "to", "case", "doctor", "kind")
    }

    def day(text: str) -> datetime | None:
        try:
            return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), zone)
        except ValueError:
            return None

    start, end = day(values["from"]), day(values["to"])
    query = AuditQuery(
        start=start,
        end=end + timedelta(days=1) if end else None,
        doctor_id=values["doctor"] or None,
        case_id=values["case"] or None,
        kind=values["kind"] or None,
    )
    return query, values


@requires(Role.ADMIN)
async def audit_search(request: web.Request) -> web.Response:
    trail = backends(request).audit
    query, values = _query(request)
    page = page_number(request)
    rows: list[AuditRecord] = []
    total = 0
    if trail is not None:
        found = await trail.search_audit(
            **vars(query), offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        rows, total = found.items, found.total
    return render(
        request,
        "compliance.html",
        _context(
            trail,
            rows=rows,
            total=total,
            values=values,
            page=page,
            more=total > page * PAGE_SIZE,
        ),
        partial="results",
    )


def _context(trail: Records | None, **shown: Any) -> dict[str, Any]:
    """The page's values: what a view shows, the rest empty (one template, three blocks)."""
    empty = {
        "rows": [],
        "total": 0,
        "values": {},
        "page": 1,
        "more": False,
        "chain": None,
        "consents": None,
        "subject": "",
    }
    return {"available": trail is not None, **empty, **shown}


@requires(Role.ADMIN)
async def audit_export(request: web.Request) -> web.StreamResponse:
    fmt = request.query.get("format", "csv")
    trail = backends(request).audit
    if trail is None or fmt not in EXPORT_FORMATS:
        raise web.HTTPNotFound(text="audit export needs the system of record and csv or jsonl")
    query, values = _query(request)
    await audit(
        request,
        "console_audit_export",
        userid=request[MEMBER].userid,
        format=fmt,
        **{name: value for name, value in values.items() if value},
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{EXPORT_FORMATS[fmt]}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="audit.{fmt}"',
        }
    )
    await response.prepare(request)
    if fmt == "csv":
        await response.write(_csv_line(CSV_COLUMNS))
    rows = (
        trail.case_audit(query.case_id, start=query.start, end=query.end)
        if query.case_id and not (query.kind or query.doctor_id)
        else trail.audit_entries(**vars(query))
    )
    async for row in rows:
        record = row.as_json()
        if fmt == "jsonl":
            await response.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        else:
            payload = json.dumps(record.get("payload"), ensure_ascii=False)
            await response.write(
                _csv_line(tuple(payload if c == "payload" else record.get(c) for c in CSV_COLUMNS))
            )
    await response.write_eof()
    return response


def _csv_line(values: tuple[object, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(["" if value is None else value for value in values])
    return out.getvalue().encode()


@requires(Role.ADMIN)
async def chain_check(request: web.Request) -> web.Response:
    trail = backends(request).audit
    chain = await trail.verify_audit() if trail is not None else None
    if chain is not None:
        await audit(
            request,
            "console_audit_verify",
            userid=request[MEMBER].userid,
            ok=chain.ok,
            entries=chain.entries,
            broken_at=chain.broken_at,
        )
    return render(request, "compliance.html", _context(trail, chain=chain), partial="chain")


@requires(Role.ADMIN)
async def consents(request: web.Request) -> web.Response:
    """A doctor's consent records (given and withdrawn, with the notice version); the look-up
    is a read of personal data, so it is audited with the reviewer."""
    trail = backends(request).audit
    subject = request.query.get("doctor", "").strip()[:128]
    found = await trail.consents(subject) if trail is not None and subject else []
    if subject and trail is not None:
        await audit(
            request,
            "console_consents_read",
            userid=request[MEMBER].userid,
            subject=subject,
            records=len(found),
        )
    context = _context(trail, consents=found, subject=subject)
    return render(request, "compliance.html", context, partial="consents")
