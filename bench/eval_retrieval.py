"""Document-level retrieval quality and speed on the dev sets (run by hand, prints numbers).

    .venv/bin/python -m bench.eval_retrieval [--kb-root /tmp/vrep-bench] [--eval-dir DIR]

Per dataset: recall@1/5/10 and MRR@10 over distinct documents (best chunk per document), ingest
throughput (documents and chunks per second, measured when the base is first built) and query
latency p50/p95 including the query embedding.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.common import DATASETS, EVAL_DIR, load_dataset, open_built

EVERYONE = frozenset({"public", "hcp"})


def evaluate(kb_root: Path, eval_dir: Path, name: str) -> None:
    dataset = load_dataset(eval_dir, name)
    kb, ingest_s, chunks = open_built(kb_root, dataset)
    latencies: list[float] = []
    recall = {1: 0, 5: 0, 10: 0}
    reciprocal = 0.0
    for row in dataset.queries:
        started = time.perf_counter()
        hits = kb.search(row["query"], 40, audiences=EVERYONE, include_unapproved_eval=True)
        latencies.append(time.perf_counter() - started)
        ranked = list(dict.fromkeys(hit.doc_id for hit in hits))[:10]
        relevant = set(row["relevant"])
        for k in recall:
            recall[k] += bool(relevant & set(ranked[:k]))
        first = next((i for i, doc in enumerate(ranked) if doc in relevant), None)
        reciprocal += 0.0 if first is None else 1.0 / (first + 1)
    n = len(dataset.queries)
    latencies.sort()
    print(f"== {name}: {n} queries, {kb.chunk_count()} chunks")
    print(
        "   "
        + "  ".join(f"recall@{k} {hits / n:.3f}" for k, hits in recall.items())
        + f"  MRR@10 {reciprocal / n:.3f}"
    )
    if ingest_s:
        docs = sum(1 for _ in dataset.corpus.open(encoding="utf-8"))
        print(
            f"   ingest {ingest_s:.1f} s: {docs / ingest_s:.1f} docs/s, "
            f"{chunks / ingest_s:.1f} chunks/s"
        )
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"   query latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms"
    )
    kb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb-root", type=Path, default=Path("/tmp/vrep-bench"))
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--dataset", choices=DATASETS, action="append")
    args = parser.parse_args()
    for name in args.dataset or DATASETS:
        evaluate(args.kb_root, args.eval_dir, name)


if __name__ == "__main__":
    main()
