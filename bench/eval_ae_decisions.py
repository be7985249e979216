"""What the production screening decision does with each message of the AE sets.

    .venv/bin/python bench/eval_ae_decisions.py [--eval-dir ../shared/eval/dev] [--errors]
        [--baseline] [--model FILE]

``bench/eval_ae.py`` measures the detector alone; this script measures what a doctor's message
then *does* in bot mode: ``skills.adverse_events.screening.decide`` on the detector's verdict
(no LLM), with Q&A's category head as the question gauge, as ``bot/wiring.py`` wires it. Each
message ends as ``case`` (a case opens at once), ``confirm`` (the doctor is asked once) or
``answer`` (it goes to its skill). Per set: recall of a case, and of a case or a confirmation
(positives), and the rates of the same on negatives — the plain doctor messages that are not
reports (``skills/adverse_events/data/plain_negatives.jsonl``) carry #15's budgets (≤ 3 % case
or confirm, ≤ 1 % case at once). Sets as in ``eval_ae.py``: ae_zh, ADE and PsyTAR dev files
(measured only, never tuned on), the held-back set and the plain negatives.

Each set is printed twice from the same detector verdicts: ``before`` without the detector's
English recall rules (``recall.py``, session 10: a candidate that only a rule made, as its
evidence says, is taken as no candidate) and ``after`` as the bot decides; negatives that only
the rules flag are counted, positives that the rules lose are listed as LOST (there must be
none). ``--session9`` makes ``before`` the session-9 comparison instead (``screening.decide``
rules 0, 2, 3 switched off: an overdose told of someone, a good course, a topic query).
``--baseline`` also switches off the question-only rule (``confirmation.asks_without_telling``),
as before session 8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ae_common import EVAL_DIR, Example, evaluation_sets

from skills.adverse_events import screening
from skills.adverse_events.cli import offline_question_gauge
from skills.adverse_events.detector import AEDetector
from skills.adverse_events.recall import EVIDENCE_PREFIX
from skills.adverse_events.screener import Screener, Verdict


def rate(part: int, whole: int) -> str:
    return f"{part:4d}/{whole:<4d} {part / whole:6.1%}" if whole else "      -      "


# Session 9's rules (``screening.decide`` rules 0, 2, 3), switched off for the "before" column
# with ``--session9``: an overdose told of someone, a good course, a topic query.
SESSION_RULES = ("tells_an_overdose", "tells_a_good_course", "reads_like_a_topic")


@contextlib.contextmanager
def rules_off(names: tuple[str, ...]) -> Iterator[None]:
    """``screening``'s named rules answer False while the block runs (bench only)."""
    saved = {name: vars(screening)[name] for name in names}
    vars(screening).update({name: lambda *_: False for name in names})
    try:
        yield
    finally:
        vars(screening).update(saved)


def without_recall_rules(verdict: Verdict) -> Verdict:
    """The verdict had the detector's recall rules not been there: a candidate that only a
    rule made (its evidence names the rule) is no candidate."""
    evidence = verdict.detail.get("offline", {}).get("evidence", [])
    if verdict.confirm and any(str(e).startswith(EVIDENCE_PREFIX) for e in evidence):
        return dataclasses.replace(verdict, confirm=False, categories=())
    return verdict


async def run(args: argparse.Namespace) -> int:
    if args.baseline:
        vars(screening)["asks_without_telling"] = lambda text, categories: False
    screener = Screener(AEDetector.load(args.model), None)
    gauge = offline_question_gauge()
    sets = evaluation_sets(args.eval_dir)
    print(
        f"{'set':22} | positives: {'case':>17} {'case or confirm':>17} | negatives: "
        f"{'case':>17} {'case or confirm':>17} | answered by the question rule (pos/neg)"
    )
    for name, examples in sets.items():
        columns: dict[str, tuple[Counter[tuple[int, str]], Counter[int]]] = {
            "before": (Counter(), Counter()),
            "after": (Counter(), Counter()),
        }
        errors: list[tuple[Example, str]] = []
        lost: list[tuple[Example, str, str]] = []
        for example in examples:
            verdict = await screener.screen(example.text)
            if args.session9:
                with rules_off(SESSION_RULES):
                    before = await screening.decide(verdict, example.text, gauge, may_ask=True)
            else:
                before = await screening.decide(
                    without_recall_rules(verdict), example.text, gauge, may_ask=True
                )
            decided = await screening.decide(verdict, example.text, gauge, may_ask=True)
            for column, outcome in (("before", before), ("after", decided)):
                counts, rule = columns[column]
                counts[example.label, outcome.outcome] += 1
                rule[example.label] += outcome.asked_only
            if example.label and before.outcome != "answer" and decided.outcome == "answer":
                lost.append((example, before.outcome, decided.outcome))
            wrong = (decided.outcome == "answer") == bool(example.label)
            if args.errors and wrong:
                errors.append((example, decided.outcome))
        for column, (counts, rule) in columns.items():
            pos = sum(n for (label, _), n in counts.items() if label == 1)
            neg = sum(n for (label, _), n in counts.items() if label == 0)
            print(
                f"{name + ' ' + column:22} | {'':11}{rate(counts[1, 'case'], pos)} "
                f"{rate(counts[1, 'case'] + counts[1, 'confirm'], pos)} | {'':11}"
                f"{rate(counts[0, 'case'], neg)} "
                f"{rate(counts[0, 'case'] + counts[0, 'confirm'], neg)}"
                f" | {rule[1]} / {rule[0]}"
            )
        print(f"{'':22} | positives lost by the rules of 'after': {len(lost)}")
        for example, was, now in lost:
            print(f"    LOST {was} -> {now} {example.text[:150]!r}")
        for example, outcome in errors:
            print(f"    [{example.label}] {outcome:7} {example.text[:150]!r}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--errors", action="store_true", help="print missed and flagged messages")
    parser.add_argument("--baseline", action="store_true", help="without the question-only rule")
    parser.add_argument("--model", type=Path, help="a model file other than the shipped one")
    parser.add_argument(
        "--session9", action="store_true", help="before = without session 9's decision rules"
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
