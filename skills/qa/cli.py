"""``virtualrep mi list|show|close`` and ``virtualrep doctor verify ID|pending``.

These are server operators' commands (whoever can run them can read the storage anyway): they
are not checked against the rep roster; ``--by`` names the operator in the records.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.audit import AuditLog
from bot.i18n import local_time
from bot.profiles import DoctorProfile, ProfileStore
from bot.resources import open_storage
from bot.settings import Settings
from bot.storage.base import Storage
from records import open_records
from skills.qa.hcp_review import Decision, HcpRequests
from skills.qa.mi import MIStore
from skills.qa.verification import mark_verified


def _operator() -> str:
    """The login running the command, as the audit names it."""
    return f"cli:{getpass.getuser()}"


def _with_storage(settings: Settings, work: Callable[[Storage], Awaitable[int]]) -> int:
    async def run() -> int:
        async with open_storage(settings) as storage:
            return await work(storage)

    return asyncio.run(run())


def _mi_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        requests = await MIStore(storage).list(include_closed=args.all)
        if requests:
            print("MI\tSTATUS\tCREATED\tDOCTOR\tQUESTION")
        for request in requests:
            print(
                f"{request.mi_id}\t{request.status.value}\t{request.created_at:%Y-%m-%d %H:%M}"
                f"\t{request.doctor_id}\t{request.question[:60]}"
            )
        if not requests:
            print("no MI requests" if args.all else "no open MI requests")
        return 0

    return _with_storage(settings, work)


def _mi_show(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        request = await MIStore(storage).get(args.mi_id)
        if request is None:
            print(f"virtualrep: unknown MI request {args.mi_id}", file=sys.stderr)
            return 1
        print(json.dumps(request.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0

    return _with_storage(settings, work)


def _mi_close(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        try:
            async with open_records(settings) as records:
                request = await MIStore(storage, records).close(
                    args.mi_id,
                    by=args.by or _operator(),
                    at=datetime.now(UTC),
                    resolution=args.note,
                )
        except KeyError:
            print(f"virtualrep: unknown MI request {args.mi_id}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"virtualrep: {exc}", file=sys.stderr)
            return 1
        print(f"closed {request.mi_id}")
        return 0

    return _with_storage(settings, work)


def _doctor_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Verify a doctor who wrote to the bot, or (``--new``) one who has not yet: an operator
    told by a rep that a doctor will write. A doctor verified already keeps who verified them
    and when. Every verification is audited with the login that ran the command."""

    doctor_id = args.doctor_id
    if not doctor_id or doctor_id != doctor_id.strip() or any(c.isspace() for c in doctor_id):
        print(f"virtualrep: not a doctor id: {doctor_id!r}", file=sys.stderr)
        return 2

    async def work(storage: Storage) -> int:
        now = datetime.now(UTC)
        by = args.by or _operator()
        profiles = ProfileStore(storage)
        known = await profiles.get(args.doctor_id)
        if known is not None and known.verified:
            at = local_time(known.verified_at, settings.timezone) if known.verified_at else "?"
            print(
                f"{known.doctor_id} ({known.display_name}) was already verified by "
                f"{known.verified_by or '?'} at {at}; nothing changed. 该医生已认证，未作更改。"
            )
            return 0
        if known is None and not args.new:
            print(
                f"virtualrep: no doctor {args.doctor_id} has written to the bot yet "
                f"（尚无医生 {args.doctor_id} 的记录）. To verify them before their first message, "
                "check that this is their WeCom external userid and run again with --new.",
                file=sys.stderr,
            )
            return 1
        if known is None:
            await profiles.save(DoctorProfile(doctor_id=args.doctor_id, created_at=now))
        profile = await mark_verified(storage, args.doctor_id, by=by, at=now)
        assert profile is not None  # saved above or known
        await HcpRequests(storage).close(profile.doctor_id, Decision.APPROVED, by, now)
        async with open_records(settings) as records:
            await AuditLog(storage, records).record(
                "hcp_verification",
                now,
                event=Decision.APPROVED.value,
                doctor=profile.doctor_id,
                by=by,
                via=_operator(),
                before_first_message=known is None,
            )
        ahead = " before their first message" if known is None else ""
        print(f"verified {profile.doctor_id} ({profile.display_name}){ahead}")
        return 0

    return _with_storage(settings, work)


def _doctor_pending(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        requests = await HcpRequests(storage).pending()
        zone = ZoneInfo(settings.timezone)
        if requests:
            print("DOCTOR\tREQUESTED\tNAME\tHOSPITAL\tDEPARTMENT\tTITLE\tOFFERED TO")
        for request in requests:
            print(
                f"{request.doctor_id}\t{request.requested_at.astimezone(zone):%Y-%m-%d %H:%M}\t"
                f"{request.name or '-'}\t{request.hospital or '-'}\t{request.department or '-'}"
                f"\t{request.title or '-'}\t{','.join(request.offered_to) or '-'}"
            )
        if not requests:
            print("no pending verification requests")
        return 0

    return _with_storage(settings, work)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mi = subparsers.add_parser("mi", help="medical-information requests")
    mi_sub = mi.add_subparsers(dest="mi_command", required=True, metavar="ACTION")
    listing = mi_sub.add_parser("list", help="list open requests (--all: closed too)")
    listing.add_argument("--all", action="store_true", help="include closed requests")
    listing.set_defaults(handler=_mi_list)
    show = mi_sub.add_parser("show", help="show one request as JSON")
    show.add_argument("mi_id")
    show.set_defaults(handler=_mi_show)
    close = mi_sub.add_parser("close", help="close a request once answered")
    close.add_argument("mi_id")
    close.add_argument("--note", default="", help="how it was resolved")
    close.add_argument("--by", help="who closes it (default: cli:<your login>)")
    close.set_defaults(handler=_mi_close)

    doctor = subparsers.add_parser("doctor", help="doctor profiles")
    doctor_sub = doctor.add_subparsers(dest="doctor_command", required=True, metavar="ACTION")
    verify = doctor_sub.add_parser(
        "verify",
        help="mark a doctor's profile as a verified HCP",
        description="Mark a doctor as a verified healthcare professional (audited with your "
        "login). A doctor who has not written to the bot yet is refused unless --new is given.",
    )
    verify.add_argument("doctor_id", help="the doctor's WeCom external userid")
    verify.add_argument("--by", help="who verified (default: cli:<your login>)")
    verify.add_argument(
        "--new",
        action="store_true",
        help="verify a doctor who has not written yet (their profile is created, verified)",
    )
    verify.set_defaults(handler=_doctor_verify)
    pending = doctor_sub.add_parser(
        "pending", help="list open HCP verification requests (oldest first)"
    )
    pending.set_defaults(handler=_doctor_pending)
