"""``virtualrep privacy show|export|erase DOCTOR``: the data-subject requests from the ops side.

``show`` prints where the doctor stands (consent, personalisation) and how many items each
section holds; ``export`` writes the JSON and readable files into ``--out`` (default: the
current directory) and prints their paths; ``erase`` erases everything not under a legal
retention duty and prints what was removed, what was kept and why, and what is left for a
person. They read and erase in the storage and in the system of record (its registries, and
the doctor's messages in the audit chain, which an erasure redacts: the chain still
verifies); each is audited there with the operator's login. Exit codes: 0 done, 1 nothing
known about the doctor (show/export), 3 storage or records database unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.models import Locale
from bot.resources import open_storage
from bot.services import build_services
from bot.settings import Settings
from privacy import render
from privacy.service import Export, PrivacyService, privacy_service
from records import open_records

CHANNEL = "ops"


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[PrivacyService]:
    """The privacy service over the storage and the system of record, as the bot sees them
    (requests audited straight into the chain: no audit sink runs here)."""
    async with open_storage(settings) as storage, open_records(settings) as records:
        yield privacy_service(
            build_services(settings, storage, records=records, audit_into_chain=True)
        )


def _known(counts: dict[str, int]) -> bool:
    return any(counts.values())


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    async with _service(settings) as service:
        export = await service.export(args.doctor, channel=CHANNEL, by=getpass.getuser())
        standing = await service.standing(args.doctor)
    counts = export.counts()
    if not _known(counts):
        print(f"virtualrep: nothing is known about {args.doctor}")
        return 1
    version = settings.privacy_notice_version
    print(f"doctor\t{args.doctor}")
    print(f"consent\t{'agreed' if standing.consented(version) else 'not given'} (notice {version})")
    print(f"personalisation\t{'off' if standing.personalisation_off else 'on'}")
    for name, count in counts.items():
        print(f"{name}\t{count}")
    for record in export.sections.get("consent_history") or []:
        print("consent_record\t" + json.dumps(record, ensure_ascii=False))
    return 0


def _write(export: Export, out: Path, locale: Locale) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]", "_", export.doctor_id)  # an id never makes a path
    stamp = export.exported_at.strftime("%Y%m%d-%H%M%S")
    json_path = out / f"{stem}-{stamp}.json"
    text_path = out / f"{stem}-{stamp}.txt"
    json_path.write_bytes(export.to_json())
    text_path.write_text(render.readable(export, locale), encoding="utf-8")
    return json_path, text_path


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    async with _service(settings) as service:
        export = await service.export(args.doctor, channel=CHANNEL, by=getpass.getuser())
    if not _known(export.counts()):
        print(f"virtualrep: nothing is known about {args.doctor}")
        return 1
    for path in await asyncio.to_thread(_write, export, Path(args.out), Locale(args.lang)):
        print(path)
    return 0


async def _erase(args: argparse.Namespace, settings: Settings) -> int:
    async with _service(settings) as service:
        erasure = await service.erase(args.doctor, channel=CHANNEL, by=getpass.getuser())
    print(f"removed\t{json.dumps(erasure.removed)}")
    print(f"retained\t{json.dumps(erasure.retained)}")
    print(
        "kept\tadverse-event case records and their audit (pharmacovigilance, by law); "
        "messages that are part of an adverse-event report; the consent history and the "
        "request records (proof of lawful basis)"
    )
    if erasure.manual:
        print(f"manual\t{','.join(erasure.manual)} (the audit trail cannot be erased here)")
    return 0


Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def run(command: Command) -> Callable[[argparse.Namespace, Settings], int]:
    """The CLI handler that runs ``command`` on its own event loop."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        return asyncio.run(command(args, settings))

    return handler


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    privacy = sub.add_parser("privacy", help="data-subject requests: show, export, erase")
    commands = privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")

    show = commands.add_parser("show", help="consent standing and what is held")
    show.add_argument("doctor")
    show.set_defaults(handler=run(_show))
    export = commands.add_parser("export", help="write the doctor's data (JSON and text)")
    export.add_argument("doctor")
    export.add_argument("--out", default=".", help="directory for the two files")
    export.add_argument("--lang", choices=("zh", "en"), default="zh")
    export.set_defaults(handler=run(_export))
    erase = commands.add_parser("erase", help="erase what is not under legal retention")
    erase.add_argument("doctor")
    erase.set_defaults(handler=run(_erase))
