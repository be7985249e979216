"""``virtualrep classify-ae``: the offline detector on the command line.

``classify-ae --jsonl`` is the evaluation contract (external evaluation relies on it; keep it
stable): read ``{"id", "text"}`` lines from stdin, write one
``{"id", "report": true|false, "confirm": true|false, "categories": [...]}`` line per input
line, in order, flushed as it goes. ``report`` is true when the message would reach PV: it
opens a case at once, or the bot asks the doctor to confirm first (then ``confirm`` is true;
the case opens unless the doctor clearly says no). A message that only asks — a dose, a
population, an interaction, nothing that happened (``confirmation.asks_without_telling``, the
bot's first decision rule) — is neither: the bot answers it. A line that is not such an object is
reported on stderr and skipped; the exit code is then 1. ``classify-ae TEXT ...`` prints the
full verdict for each text, for people.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TextIO

from bot.settings import Settings
from skills.adverse_events.confirmation import asks_without_telling
from skills.adverse_events.detector import AEDetector


def classify_jsonl(detector: AEDetector, source: TextIO, sink: TextIO, errors: TextIO) -> int:
    """Run the ``--jsonl`` contract from ``source`` to ``sink``; returns the exit code."""
    status = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError('expected an object with a string "text"')
        except ValueError as exc:
            print(f"classify-ae: line {number} skipped: {exc}", file=errors)
            status = 1
            continue
        verdict = detector.detect(row["text"])
        reaches = verdict.report or verdict.confirm
        reaches = reaches and not asks_without_telling(row["text"], verdict.categories)
        out = {
            "id": row.get("id"),
            "report": reaches,
            "confirm": reaches and verdict.confirm,
            "categories": list(verdict.categories) if reaches else [],
        }
        sink.write(json.dumps(out, ensure_ascii=False) + "\n")
        sink.flush()
    return status


def _classify_ae(args: argparse.Namespace, settings: Settings) -> int:
    detector = AEDetector.load()
    if args.jsonl:
        return classify_jsonl(detector, sys.stdin, sys.stdout, sys.stderr)
    if not args.text:
        print("classify-ae: give --jsonl (reads stdin) or one or more texts", file=sys.stderr)
        return 2
    for text in args.text:
        print(json.dumps(asdict(detector.detect(text)), ensure_ascii=False))
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``classify-ae``."""
    parser = subparsers.add_parser(
        "classify-ae",
        help="screen messages for adverse-event reports (offline detector)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help='read {"id","text"} lines from stdin, write {"id","report","confirm","categories"} '
        "lines",
    )
    parser.add_argument("text", nargs="*", help="message(s) to classify (without --jsonl)")
    parser.set_defaults(handler=_classify_ae)
