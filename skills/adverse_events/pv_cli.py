"""``virtualrep pv list|show|export|ack|redeliver``: PV's command line.

``list`` and ``show`` read the system of record (the console's queue query, so a case from
``virtualrep chat`` and one from the server show alike); the actions go through the case store
(storage, records and audit together). Every case read here is written to the audit trail
with the operator's login as reader.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bot.audit import AuditLog
from bot.i18n import counted, local_time
from bot.resources import open_storage
from bot.settings import Settings
from bot.storage.base import Storage
from records import Records, open_records
from records.results import CaseState, CaseSummary, QueueFilter
from skills.adverse_events.cases import CaseStatus, CaseStore, CaseView, DeliveryState, read_queue
from skills.adverse_events.e2b import case_json, case_xml, reporter_block
from skills.adverse_events.service import Redelivery, dead_lettered_cases, redeliver

LIST_BATCH = 500  # cases per database read of ``pv list``


def _reader() -> str:
    return f"cli:{getpass.getuser()}"


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[tuple[Storage, CaseStore, Records]]:
    """The storage, a case store that writes through the system of record, and the records
    (where ``list`` and ``show`` read, like the console)."""
    async with open_storage(settings) as storage, open_records(settings) as records:
        yield (
            storage,
            CaseStore(
                storage,
                AuditLog(storage, records),
                timezone=settings.timezone,
                sla_h=settings.pv_sla_h,
                records=records,
            ),
            records,
        )


LIST_HEADER = "\t".join(
    ("CASE", "STATE", "STATUS", "DELIVERY", "ACK", "DUE", "PRODUCTS", "CATEGORIES", "FLAGS")
)


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    wanted = QueueFilter(state=CaseState.OVERDUE if args.overdue else None)
    waiting: Counter[str] = Counter()
    async with _opened(settings) as (storage, _store, records):
        audit = AuditLog(storage, records)
        offset = 0
        while True:
            found = await read_queue(
                records,
                audit,
                wanted,
                now=now,
                offset=offset,
                limit=LIST_BATCH,
                reader=_reader(),
                purpose="pv list",
            )
            if offset == 0:
                print(LIST_HEADER if found.page.total else _nothing_listed(args.overdue))
            for entry in found.page.items:
                print(_line(entry.summary, entry.state, settings))
                waiting[_delivery(entry.summary).split()[0]] += 1
            offset += LIST_BATCH
            if offset >= found.page.total:
                break
    for line in _waiting(waiting, settings):
        print(line, file=sys.stderr)
    return 0


def _nothing_listed(overdue: bool) -> str:
    return "no overdue case (没有逾期病例)" if overdue else "no case (没有病例)"


def _waiting(counts: Counter[str], settings: Settings) -> list[str]:
    """What happens next to the cases not delivered yet, for the PV officer reading the list:
    only a running bot process moves them on."""
    lines = []
    if undelivered := counts["queued"] + counts["retry"]:
        lines.append(
            f"{counted(undelivered, 'case')} not delivered yet: a running `virtualrep serve` or "
            "`worker` on this store delivers them (`virtualrep chat` too, on the embedded store "
            "without VREP_PV_USERS). "
            f"尚有 {undelivered} 个病例未投递：由同一存储上运行的 virtualrep serve 或 worker 投递。"
        )
    if collecting := counts["in"]:
        idle = settings.ae_idle_submit_min
        lines.append(
            f"{counted(collecting, 'case')} still in the report form: submitted when the doctor "
            f"finishes, or by a running bot process {idle} min after the doctor's last answer. "
            f"尚有 {collecting} 个病例仍在填写中：医生完成后提交，或由运行中的机器人在最后一次回答 "
            f"{idle} 分钟后提交。"
        )
    return lines


def _delivery(case: CaseSummary) -> str:
    """``delivered``, ``dead-letter``, ``queued`` (not tried yet), ``retry N`` (N attempts
    failed, the next one scheduled) or ``in form`` (not submitted yet)."""
    if case.dead_lettered_at:
        return "dead-letter"
    if case.delivered_at:
        return "delivered"
    if case.status != CaseStatus.SUBMITTED:
        return "in form"
    return f"retry {case.delivery_attempts}" if case.delivery_attempts else "queued"


def _line(case: CaseSummary, state: CaseState, settings: Settings) -> str:
    delivered = _delivery(case)
    acked = f"ack {case.acknowledged_by}" if case.acknowledged_at else "unacked"
    flags = ("SERIOUS " if case.serious else "") + ("incomplete" if case.incomplete else "")
    return (
        f"{case.case_id}\t{state.value}\t{case.status}\t{delivered}\t{acked}\t"
        f"due {local_time(case.due_at, settings.timezone)}\t{case.products}\t"
        f"{case.categories}\t{flags.strip()}"
    )


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    """The case as the records hold it, plus the reporter block PV receives (the follow-up
    consent answer; contact details only if consented), both reads audited."""
    now = datetime.now(UTC)
    async with _opened(settings) as (_storage, store, records):
        detail = await records.read_case(args.case, reader=_reader(), purpose="pv show", at=now)
        contact = None
        if detail is not None:
            contact = await store.read_contact(
                args.case, reader=_reader(), purpose="pv show", at=now
            )
    if detail is None:
        print(f"virtualrep: no case {args.case}", file=sys.stderr)
        return 1
    view = CaseView.from_records(detail)
    shown = view.model_dump(mode="json")
    shown["delivery"] = delivery_shown(view.delivery)
    shown["reporter"] = reporter_block(contact)
    shown["events"] = [
        {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, **e.detail}
        for e in detail.events
    ]
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return 0


def delivery_shown(state: DeliveryState) -> dict[str, object]:
    """The delivery state as ``pv show`` prints it: once the case is delivered, the error of an
    earlier failed attempt is kept under ``earlier_attempt_error`` (a ``last_error`` next to
    ``delivered_at`` read as a failure, finding F19); until then it is ``last_error``."""
    shown: dict[str, object] = state.model_dump(mode="json")
    if state.delivered_at is not None and state.last_error is not None:
        shown["earlier_attempt_error"] = shown.pop("last_error")
    return shown


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    async with _opened(settings) as (_storage, store, _records):
        case = await store.read(args.case, reader=_reader(), purpose="pv export", at=now)
        contact = await store.read_contact(args.case, reader=_reader(), purpose="pv export", at=now)
        if case is not None:
            await store.exported(args.case, by=_reader(), at=now, form=args.format)
    if case is None:
        print(f"virtualrep: no case {args.case}", file=sys.stderr)
        return 1
    body = case_xml(case, contact, settings) if args.format == "e2b" else case_json(case, contact)
    sys.stdout.buffer.write(body + b"\n")
    return 0


async def _ack(args: argparse.Namespace, settings: Settings) -> int:
    """The first acknowledgement stands: a second one changes nothing and says whose it was.
    ``via`` records the login that ran the command, also when ``--by`` names someone else."""
    async with _opened(settings) as (_storage, store, _records):
        if args.case not in await store.case_ids():
            print(f"virtualrep: no case {args.case}", file=sys.stderr)
            return 1
        earlier = await store.ack_of(args.case)
        ack = earlier or await store.acknowledge(
            args.case, args.by or _reader(), datetime.now(UTC), _reader()
        )
    at = local_time(ack.at, settings.timezone)
    if earlier is not None:
        print(
            f"{args.case} was already acknowledged by {ack.by} at {at} (via {ack.via}); "
            f"nothing changed. 该病例已由 {ack.by} 于 {at} 确认收到，未作更改。"
        )
        return 0
    print(f"{args.case} acknowledged by {ack.by} at {at}")
    return 0


async def _redeliver(args: argparse.Namespace, settings: Settings) -> int:
    if not args.cases and not args.dead:
        print("virtualrep: name the cases to redeliver, or --dead", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    failed = False
    async with _opened(settings) as (storage, store, _records):
        cases = list(args.cases)
        if args.dead:
            cases += await dead_lettered_cases(storage, store)
        for case_id in dict.fromkeys(cases):
            outcome = await redeliver(storage, store, case_id, by=_reader(), at=now)
            if outcome is Redelivery.QUEUED:
                print(f"{case_id}\t{outcome.value}")
            else:
                failed = True
                print(f"virtualrep: {case_id}: {outcome.value}", file=sys.stderr)
    if args.dead and not cases:
        print("no dead-lettered case", file=sys.stderr)
    return 1 if failed else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pv = subparsers.add_parser("pv", help="pharmacovigilance: adverse-event cases")
    commands = pv.add_subparsers(dest="pv_command", required=True, metavar="PV_COMMAND")

    listing = commands.add_parser("list", help="every case with delivery and acknowledgement")
    listing.add_argument("--overdue", action="store_true", help="only unacknowledged past due")
    listing.set_defaults(handler=lambda a, s: asyncio.run(_list(a, s)))

    show = commands.add_parser("show", help="one case (JSON)")
    show.add_argument("case")
    show.set_defaults(handler=lambda a, s: asyncio.run(_show(a, s)))

    export = commands.add_parser("export", help="one case as E2B-shaped XML or JSON")
    export.add_argument("case")
    export.add_argument("--format", choices=("e2b", "json"), default="e2b")
    export.set_defaults(handler=lambda a, s: asyncio.run(_export(a, s)))

    ack = commands.add_parser("ack", help="record PV's acknowledgement of a case")
    ack.add_argument("case")
    ack.add_argument("--by", help="who acknowledges (default: your login)")
    ack.set_defaults(handler=lambda a, s: asyncio.run(_ack(a, s)))

    again = commands.add_parser(
        "redeliver",
        help="start delivery over for cases (e.g. dead-lettered, once the sink is fixed)",
    )
    again.add_argument("cases", nargs="*", metavar="CASE")
    again.add_argument("--dead", action="store_true", help="every dead-lettered case")
    again.set_defaults(handler=lambda a, s: asyncio.run(_redeliver(a, s)))
