"""``virtualrep dead list|show|replay|drop``: the operator's commands over the dead letters.

``list`` prints a header line and one tab-separated line per unresolved entry of
``inbound-dead``, ``kf-dead`` and ``outbox-dead`` (queue, entry id, reason, channel,
conversation, received, a 40-character text preview), or one line saying there is none;
``show`` prints one entry as JSON; ``replay`` hands it to the bot again; ``drop --reason``
resolves it without replaying. Replays and drops are audited with the operator's login.
Exit codes: 0 done, 1 no such unresolved entry or not replayable, 3 storage unavailable (one
line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager

from bot.audit import AuditLog
from bot.dead_letter_ops import READ_LIMIT
from bot.dead_letters import (
    DEAD_LETTER_QUEUES,
    DeadLetters,
    NotReplayable,
    summarize,
)
from bot.metrics import Metrics
from bot.outbox import settings_outbox
from bot.resources import open_http_session, open_storage
from bot.settings import Settings
from bot.storage.base import QueueEntry
from bot.wecom.client import wecom_client_from_settings
from bot.wecom.senders import build_senders
from handlers.kf import KfSyncer
from records import open_records


@asynccontextmanager
async def _dead_letters(settings: Settings, *, kf: bool = False) -> AsyncIterator[DeadLetters]:
    """The dead letters in the configured storage; with ``kf``, able to replay kf items and
    replies (through the WeCom API, when it is configured)."""
    async with (
        open_storage(settings) as storage,
        open_records(settings) as records,
        open_http_session(settings) as session,
    ):
        client = wecom_client_from_settings(settings, session, storage) if kf else None
        syncer, outbox = None, None
        if client is not None:
            metrics = Metrics()
            syncer = KfSyncer(client, storage, metrics, dedup_ttl_s=settings.dedup_ttl_s)
            outbox = settings_outbox(settings, storage, metrics)
            build_senders(client, storage, metrics, outbox)  # registers the transports
        yield DeadLetters(
            storage,
            operator=getpass.getuser(),
            dedup_ttl_s=settings.dedup_ttl_s,
            kf_syncer=syncer,
            outbox=outbox,
            audit=AuditLog(storage, records),  # replays and drops go to the audit chain
        )


def _not_found(args: argparse.Namespace) -> int:
    print(f"virtualrep: no unresolved dead letter {args.entry} in {args.queue}", file=sys.stderr)
    return 1


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    listed = 0
    async with _dead_letters(settings) as letters:
        for queue in DEAD_LETTER_QUEUES:
            entries = await letters.unresolved(queue)
            if entries and not listed:
                print(LIST_HEADER)
            for entry in entries:
                print("\t".join((queue, entry.entry_id, *summarize(entry))))
            listed += len(entries)
            if len(entries) == READ_LIMIT:
                print(f"virtualrep: {queue}: the oldest {READ_LIMIT} shown", file=sys.stderr)
    if not listed:
        print(NONE_LISTED)
    return 0


LIST_HEADER = "QUEUE\tENTRY\tREASON\tCHANNEL\tCONVERSATION\tRECEIVED\tTEXT"
NONE_LISTED = (
    "no unresolved dead letter (没有未处理的死信); PV cases that could not be delivered: "
    "virtualrep pv list / pv redeliver --dead"
)
"""``dead list`` with nothing to list says so, and where PV's dead-lettered cases are."""


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    async with _dead_letters(settings) as letters:
        entry = await letters.find(args.queue, args.entry)
    if entry is None:
        return _not_found(args)
    print(json.dumps(_as_json(entry), ensure_ascii=False, indent=2))
    return 0


def _as_json(entry: QueueEntry) -> dict[str, object]:
    return {
        "queue": entry.queue,
        "entry_id": entry.entry_id,
        "deliveries_to_ops": entry.deliveries,
        "payload": entry.payload,
    }


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    async with _dead_letters(settings, kf=True) as letters:
        entry = await letters.find(args.queue, args.entry)
        if entry is None:
            return _not_found(args)
        try:
            submitted = await letters.replay(entry)
        except NotReplayable as exc:
            print(f"virtualrep: {args.queue} {args.entry} not replayed: {exc}", file=sys.stderr)
            return 1
    outcome = "replayed" if submitted else "had been replayed already; now resolved"
    print(f"{args.queue} {args.entry} {outcome}")
    return 0


async def _drop(args: argparse.Namespace, settings: Settings) -> int:
    async with _dead_letters(settings) as letters:
        entry = await letters.find(args.queue, args.entry)
        if entry is None:
            return _not_found(args)
        await letters.drop(entry, args.reason)
    print(f"{args.queue} {args.entry} dropped")
    return 0


def _entry_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    run: Callable[[argparse.Namespace, Settings], Coroutine[None, None, int]],
) -> argparse.ArgumentParser:
    """A subcommand taking QUEUE ENTRY."""
    command = commands.add_parser(name, help=help_text)
    queues = ", ".join(DEAD_LETTER_QUEUES)
    command.add_argument("queue", metavar="QUEUE", choices=DEAD_LETTER_QUEUES, help=queues)
    command.add_argument("entry", metavar="ENTRY", help="entry id, as `dead list` shows it")
    command.set_defaults(handler=lambda a, s: asyncio.run(run(a, s)))
    return command


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dead = subparsers.add_parser(
        "dead",
        help="dead letters: messages the bot set aside",
        description="Dead letters: inbound messages, kf items and replies the bot set aside "
        "(死信：机器人搁置的消息). PV cases that could not be delivered are not here: see "
        "`virtualrep pv list` and `virtualrep pv redeliver --dead` "
        "(未能投递的不良事件病例见 pv list / pv redeliver --dead).",
    )
    commands = dead.add_subparsers(dest="dead_command", required=True, metavar="DEAD_COMMAND")

    listing = commands.add_parser("list", help="every unresolved dead letter, one line each")
    listing.set_defaults(handler=lambda a, s: asyncio.run(_list(a, s)))

    _entry_command(commands, "show", "one dead letter, whole (JSON)", _show)
    _entry_command(commands, "replay", "hand a dead letter to the bot again, resolve it", _replay)
    drop = _entry_command(commands, "drop", "resolve a dead letter unreplayed (audited)", _drop)
    drop.add_argument("--reason", required=True, help="why it is dropped (for the audit)")
