"""Precision/recall/F1 of the shipped adverse-event detector per set, and per-message latency.

    .venv/bin/python bench/eval_ae.py [--eval-dir ../shared/eval/dev] [--errors]

Sets: ``ae_zh`` (hand-written doctor messages), ADE-Corpus-V2 (case-report sentences; never
trained on), PsyTAR (forum sentences), and this project's held-back test set
(``tests/data/ae_heldout.jsonl``, never trained on). Note ``ae_zh`` and PsyTAR dev are part of
the training data, so their numbers here are training-set numbers; the cross-validated
estimates come from ``bench/train_ae.py``. Latency is wall time of ``AEDetector.detect`` per
message, one message at a time, measured over every message evaluated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ae_common import EVAL_DIR, HELDOUT, prf, read_jsonl

from skills.adverse_events.detector import AEDetector


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--errors", action="store_true", help="print misclassified messages")
    args = parser.parse_args()

    detector = AEDetector.load()
    sets = {
        "ae_zh": read_jsonl(args.eval_dir / "ae_zh.jsonl", "ae_zh"),
        "ADE": read_jsonl(args.eval_dir / "ae_en_ade.jsonl", "ade"),
        "PsyTAR": read_jsonl(args.eval_dir / "ae_en_psytar.jsonl", "psytar"),
        "own held-out": read_jsonl(HELDOUT, "heldout"),
    }
    latencies: list[float] = []
    print(f"{'set':14} {'n':>5} {'P':>6} {'R':>6} {'F1':>6}")
    for name, examples in sets.items():
        predicted = []
        for example in examples:
            start = time.perf_counter()
            verdict = detector.detect(example.text)
            latencies.append(time.perf_counter() - start)
            predicted.append(verdict.report)
            if args.errors and verdict.report != bool(example.label):
                kind = "FN" if example.label else "FP"
                print(f"  {kind} {verdict.score:.2f} {example.text[:110]}")
        p, r, f = prf([e.label for e in examples], predicted)
        print(f"{name:14} {len(examples):5d} {p:6.3f} {r:6.3f} {f:6.3f}")
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"latency per message: p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
