"""The shipped adverse-event detector per set, both stages, and per-message latency.

    .venv/bin/python bench/eval_ae.py [--eval-dir ../shared/eval/dev] [--errors] [--model F]

Sets: ``ae_zh`` (hand-written doctor messages), ADE-Corpus-V2 (case-report sentences) and
PsyTAR (forum sentences) — ADE and PsyTAR are never trained or tuned on, measured only —,
this project's held-back test set (``tests/data/ae_heldout.jsonl``, never trained on), and
our own ≥ 400 plain doctor messages that are not reports
(``skills/adverse_events/data/plain_negatives.jsonl``; in the training data, so its numbers
here are in-sample — the cross-validated rates come from ``bench/train_ae.py``).

Per set: precision and recall of a clear report (a case opens at once) and of "reaches PV"
(a case or a confirmation question — what ``classify-ae --jsonl`` calls ``report``), and how
many messages ask to confirm. Latency is wall time of ``AEDetector.detect`` per message, one
at a time: p50/p95 over every message of at most 500 characters, and separately over long
messages (the held-back and negative messages joined into ~2 000-character texts) which are
scored in sentence windows. The process CPU time per message (all threads) is printed beside
it: on a shared, loaded machine wall time measures the queue for a core, CPU time the work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ae_common import EVAL_DIR, Example, evaluation_sets, prf

from skills.adverse_events.detector import AEDetector

LONG_CHARS = 2000


def long_messages(examples: list[Example], count: int) -> list[str]:
    """``count`` texts of about ``LONG_CHARS`` characters, each a run of consecutive messages."""
    texts: list[str] = []
    i = 0
    while len(texts) < count and examples:
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < LONG_CHARS:
            parts.append(examples[i % len(examples)].text)
            i += 1
        texts.append(" ".join(parts))
    return texts


def percentiles(seconds: list[float]) -> str:
    ms = sorted(x * 1000 for x in seconds)
    return f"p50 {statistics.median(ms):.1f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--errors", action="store_true", help="print misclassified messages")
    parser.add_argument("--long", type=int, default=40, help="long messages to time")
    parser.add_argument("--model", type=Path, help="a model file other than the shipped one")
    args = parser.parse_args()

    detector = AEDetector.load(args.model)
    sets = evaluation_sets(args.eval_dir)
    short: list[float] = []
    short_cpu: list[float] = []
    print(
        f"{'set':15} {'n':>5} | case now: {'P':>6} {'R':>6} | case or confirm: {'P':>6} "
        f"{'R':>6} | confirm | flagged negatives: case / case or confirm"
    )
    for name, examples in sets.items():
        clear, reach, asked = [], [], 0
        for example in examples:
            start, cpu = time.perf_counter(), time.process_time()
            verdict = detector.detect(example.text)
            if len(example.text) <= 500:
                short.append(time.perf_counter() - start)
                short_cpu.append(time.process_time() - cpu)
            clear.append(verdict.report)
            reach.append(verdict.report or verdict.confirm)
            asked += verdict.confirm
            if args.errors and reach[-1] != bool(example.label):
                kind = "FN" if example.label else "FP"
                print(f"  {kind} {verdict.score:.2f} {example.text[:110]}")
        labels = [e.label for e in examples]
        p1, r1, _ = prf(labels, clear)
        p2, r2, _ = prf(labels, reach)
        negatives = labels.count(0)
        fp_clear = sum(1 for y, h in zip(labels, clear, strict=True) if h and not y)
        fp_reach = sum(1 for y, h in zip(labels, reach, strict=True) if h and not y)
        rates = (
            f"{fp_clear}/{negatives} ({fp_clear / negatives:.1%}) / "
            f"{fp_reach}/{negatives} ({fp_reach / negatives:.1%})"
            if negatives
            else "-"
        )
        print(
            f"{name:15} {len(examples):5d} | {p1:6.3f} {r1:6.3f} | {p2:6.3f} {r2:6.3f} "
            f"| {asked:7d} | {rates}"
        )
    print(f"latency, messages ≤ 500 characters ({len(short)}): {percentiles(short)}")
    print(f"CPU time, messages ≤ 500 characters: {percentiles(short_cpu)}")
    joined = sets["own held-back"] + sets["own plain neg."]
    long_times, long_cpu = [], []
    for text in long_messages(joined, args.long):
        start, cpu = time.perf_counter(), time.process_time()
        detector.detect(text)
        long_times.append(time.perf_counter() - start)
        long_cpu.append(time.process_time() - cpu)
    size = f"{len(long_times)} messages of ~{LONG_CHARS} characters"
    print(f"latency, {size}: {percentiles(long_times)}")
    print(f"CPU time, {size}: {percentiles(long_cpu)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
