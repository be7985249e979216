"""``virtualrep db upgrade|status|import-redis|retention`` and ``virtualrep audit verify|export``.

Exports and retention runs by hand are themselves written to the audit trail with the
operator's login.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.i18n import counted
from bot.resources import open_storage
from bot.settings import Settings
from records import RetentionPolicy, open_records
from records.chain import canonical_json
from records.database import create_engine, database_url, schema_status, upgrade
from records.importer import import_storage

EXPORT_COLUMNS = ("seq", "at", "kind", "doctor_id", "case_id", "actor", "hash", "prev_hash")


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _run(coroutine: Any) -> int:
    result: int = asyncio.run(coroutine)
    return result


def _moment(value: str, timezone: str, *, end: bool) -> datetime:
    """A date (the whole day, in the business time zone) or an ISO time."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a date (2026-12-01) or time (2026-12-01T09:00+08:00)"
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
    start = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(timezone))
    return start + timedelta(days=1) if end else start


async def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine(database_url(settings))
    try:
        status = await upgrade(engine)
    finally:
        await engine.dispose()
    print(f"records schema at {status.current} (head {status.head})")
    return 0


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine(database_url(settings))
    try:
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    state = "at head" if status.at_head else "NOT at head: run `virtualrep db upgrade`"
    print(f"records schema {status.current or 'empty'} ({state}; head {status.head})")
    return 0 if status.at_head else 1


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    async with open_storage(settings) as storage, open_records(settings) as records:
        report = await import_storage(storage, records)
        await records.append_audit(
            "records_import",
            datetime.now(UTC),
            {
                "by": _operator(),
                "cases": report.cases,
                "mi_requests": report.mi_requests,
                "audit_records": report.audit_records,
                "skipped": report.skipped,
            },
        )
    print(
        f"imported {counted(report.cases, 'case')}, "
        f"{counted(report.mi_requests, 'MI request')}, "
        f"{counted(report.audit_records, 'audit record')}"
        + (f"; skipped unreadable: {', '.join(report.skipped)}" if report.skipped else "")
    )
    return 0


async def _retention(args: argparse.Namespace, settings: Settings) -> int:
    async with open_records(settings) as records:
        report = await records.enforce_retention(
            RetentionPolicy.from_settings(settings), datetime.now(UTC), dry_run=args.dry_run
        )
    verb = "would remove" if args.dry_run else "removed"
    counts = ", ".join(
        [f"{len(ids)} {kind}" for kind, ids in report.removed.items() if ids]
        + [f"{count} {kind}" for kind, count in report.pruned.items()]
    )
    print(f"{verb}: {counts or 'nothing'}; audit records redacted: {report.redacted_audit}")
    return 0


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    async with open_records(settings) as records:
        check = await records.verify_audit()
    if check.ok:
        print(
            f"audit chain OK: {counted(check.entries, 'record')} ({check.redacted} redacted: "
            f"{check.by_retention} by retention, {check.redacted - check.by_retention} by "
            f"erasure requests), head {check.head[:16]}"
        )
        return 0
    print(
        f"audit chain BROKEN at record {check.broken_at}: {check.reason} "
        f"({counted(check.entries, 'record')} before it verify)",
        file=sys.stderr,
    )
    return 1


def _write(out: TextIO, form: str, rows: list[dict[str, Any]], header: bool) -> None:
    if form == "jsonl":
        for row in rows:
            out.write(canonical_json(row) + "\n")
        return
    writer = csv.writer(out)
    if header:
        writer.writerow((*EXPORT_COLUMNS, "payload"))
    for row in rows:
        writer.writerow((*(row[c] for c in EXPORT_COLUMNS), canonical_json(row["payload"])))


def _export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        start = _moment(args.start, settings.timezone, end=False)
        end = _moment(args.end, settings.timezone, end=True)
    except argparse.ArgumentTypeError as exc:
        print(f"virtualrep: {exc}", file=sys.stderr)
        return 2
    if end <= start:
        print("virtualrep: --to must be after --from", file=sys.stderr)
        return 2
    if not args.output:
        return _run(_export_to(sys.stdout, args, settings, start, end))
    with open(args.output, "w", newline="", encoding="utf-8") as out:
        return _run(_export_to(out, args, settings, start, end))


async def _export_to(
    out: TextIO, args: argparse.Namespace, settings: Settings, start: datetime, end: datetime
) -> int:
    count = 0
    async with open_records(settings) as records:
        found = (
            records.case_audit(args.case, start=start, end=end)
            if args.case
            else records.audit_entries(start=start, end=end, doctor_id=args.doctor)
        )
        async for record in found:
            _write(out, args.format, [record.as_json()], header=count == 0)
            count += 1
        if count == 0 and args.format == "csv":
            _write(out, "csv", [], header=True)
        await records.append_audit(
            "audit_export",
            datetime.now(UTC),
            {
                "by": _operator(),
                "from": start.isoformat(),
                "to": end.isoformat(),
                "doctor": args.doctor,
                "case": args.case,
                "format": args.format,
                "records": count,
            },
        )
    print(f"exported {count} audit records", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str, run: Any
    ) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=help_)
        parser.set_defaults(handler=lambda args, settings: _run(run(args, settings)))
        return parser

    db = sub.add_parser("db", help="the records database: migrate, import, retention")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    command(db_sub, "upgrade", "migrate the records schema to the newest revision", _upgrade)
    command(db_sub, "status", "show the schema revision (exit 1 when not at head)", _status)
    command(
        db_sub,
        "import-redis",
        "copy cases, MI requests and the audit stream from the Storage (one time, idempotent)",
        _import,
    )
    retention = command(db_sub, "retention", "remove what is past its retention now", _retention)
    retention.add_argument("--dry-run", action="store_true", help="only say what would go")

    audit = sub.add_parser("audit", help="the compliance audit trail: verify, export")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    command(audit_sub, "verify", "check the hash chain (exit 1 when broken)", _verify)
    export = audit_sub.add_parser("export", help="export audit records (the export is audited)")
    export.set_defaults(handler=_export)
    export.add_argument("--from", dest="start", required=True, help="first day (or ISO time)")
    export.add_argument("--to", dest="end", required=True, help="last day, inclusive (or time)")
    who = export.add_mutually_exclusive_group()
    who.add_argument("--doctor", help="only records about this doctor id")
    who.add_argument(
        "--case", help="only records about this AE case id, with its conversation transcript"
    )
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--output", help="write to this file instead of stdout")
