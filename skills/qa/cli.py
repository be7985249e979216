"""``virtualrep mi list|show|close`` and ``virtualrep doctor verify ID|pending``.

These are server operators' commands (whoever can run them can read the storage anyway): they
are not checked against the rep roster; ``--by`` names the operator in the records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.resources import open_storage
from bot.settings import Settings
from bot.storage.base import Storage
from records import open_records
from skills.qa.hcp_review import Decision, HcpRequests
from skills.qa.mi import MIStore
from skills.qa.verification import mark_verified


def _with_storage(settings: Settings, work: Callable[[Storage], Awaitable[int]]) -> int:
    async def run() -> int:
        async with open_storage(settings) as storage:
            return await work(storage)

    return asyncio.run(run())


def _mi_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        requests = await MIStore(storage).list(include_closed=args.all)
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
            print(f"unknown MI request {args.mi_id}")
            return 1
        print(json.dumps(request.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0

    return _with_storage(settings, work)


def _mi_close(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        try:
            async with open_records(settings) as records:
                request = await MIStore(storage, records).close(
                    args.mi_id, by=args.by, at=datetime.now(UTC), resolution=args.note
                )
        except KeyError:
            print(f"unknown MI request {args.mi_id}")
            return 1
        except ValueError as exc:
            print(str(exc))
            return 1
        print(f"closed {request.mi_id}")
        return 0

    return _with_storage(settings, work)


def _doctor_verify(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        now = datetime.now(UTC)
        profile = await mark_verified(storage, args.doctor_id, by=args.by, at=now)
        if profile is None:
            print(f"unknown doctor {args.doctor_id}")
            return 1
        await HcpRequests(storage).close(profile.doctor_id, Decision.APPROVED, args.by, now)
        print(f"verified {profile.doctor_id} ({profile.display_name})")
        return 0

    return _with_storage(settings, work)


def _doctor_pending(args: argparse.Namespace, settings: Settings) -> int:
    async def work(storage: Storage) -> int:
        requests = await HcpRequests(storage).pending()
        zone = ZoneInfo(settings.timezone)
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
    close.add_argument("--by", default="admin", help="who closes it")
    close.set_defaults(handler=_mi_close)

    doctor = subparsers.add_parser("doctor", help="doctor profiles")
    doctor_sub = doctor.add_subparsers(dest="doctor_command", required=True, metavar="ACTION")
    verify = doctor_sub.add_parser("verify", help="mark a doctor's profile as a verified HCP")
    verify.add_argument("doctor_id")
    verify.add_argument("--by", default="admin", help="who verified")
    verify.set_defaults(handler=_doctor_verify)
    pending = doctor_sub.add_parser(
        "pending", help="list open HCP verification requests (oldest first)"
    )
    pending.set_defaults(handler=_doctor_pending)
