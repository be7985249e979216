"""Document-level retrieval quality and speed on the dev sets (run by hand, prints numbers).

    .venv/bin/python -m bench.eval_retrieval [--kb-root /tmp/vrep-bench] [--eval-dir DIR]
    .venv/bin/python -m bench.eval_retrieval --scale 10000

Per dataset: recall@1/5/10 and MRR@10 over distinct documents (best chunk per document), ingest
throughput (documents and chunks per second, measured when the base is first built) and query
latency p50/p95 including the query embedding.

``--scale N`` puts both dev corpora and deterministic filler documents (random word strings
drawn from the sample library's vocabulary, Chinese and English, one chunk each) into one base
of at least N chunks and runs both query sets against it: latency at that size, and recall with
the other set and the filler as distractors. The PubMedQA base, when already built under
``--kb-root``, is copied rather than re-embedded (its long passages take minutes).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path

from bench.common import DATASETS, EVAL_DIR, Dataset, load_dataset, open_built
from bot.settings import load_settings
from knowledge import lexical
from knowledge.base import KnowledgeBase
from knowledge.sample import LIBRARY_DIR

EVERYONE = frozenset({"public", "hcp"})


def evaluate(kb: KnowledgeBase, dataset: Dataset, label: str) -> None:
    """Run every query of ``dataset`` through ``kb.search`` and print quality and latency."""
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
    print(f"== {dataset.name} on {label}: {n} queries")
    print(
        "   "
        + "  ".join(f"recall@{k} {hits / n:.3f}" for k, hits in recall.items())
        + f"  MRR@10 {reciprocal / n:.3f}"
    )
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"   query latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms"
    )


def report_ingest(name: str, docs: int, chunks: int, seconds: float) -> None:
    if seconds:
        print(
            f"   ingest of {name}: {seconds:.1f} s, {docs / seconds:.1f} docs/s, "
            f"{chunks / seconds:.1f} chunks/s"
        )


def filler(path: Path, count: int, seed: int = 0) -> Path:
    """``count`` one-chunk JSONL documents of random sample-library words (zh and en)."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(LIBRARY_DIR.glob("*.md")))
    words = sorted(set(lexical.word_tokens(lexical.normalise(text))))
    chinese = [w for w in words if not w.isascii()]
    english = [w for w in words if w.isascii() and w.isalpha()]
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            zh = i % 2 == 0
            picked = rng.choices(chinese if zh else english, k=rng.randint(12, 40))
            body = ("" if zh else " ").join(picked)
            row = {"id": f"filler-{i}", "title": f"filler {i}", "text": body}
            handle.write(json.dumps(row | {"lang": "zh" if zh else "en"}, ensure_ascii=False))
            handle.write("\n")
    return path


def scale(kb_root: Path, eval_dir: Path, chunks: int) -> None:
    """Both dev corpora plus filler in one base of at least ``chunks`` chunks; both query sets."""
    datasets = [load_dataset(eval_dir, name) for name in DATASETS]
    target = kb_root / f"scale-{chunks}"
    source = kb_root / DATASETS[0]
    if not target.exists() and source.exists():
        shutil.copytree(source, target)
    kb = KnowledgeBase.open(load_settings(kb_dir=target))
    for dataset in datasets:
        started = time.perf_counter()
        report = kb.ingest_paths([dataset.corpus], unapproved_eval=True, progress=True)
        if report.added:
            seconds = time.perf_counter() - started
            report_ingest(dataset.name, len(report.added), report.chunks_written, seconds)
    missing = chunks - kb.chunk_count()
    if missing > 0:
        path = filler(kb_root / f"filler-{missing}.jsonl", missing)
        started = time.perf_counter()
        report = kb.ingest_paths([path], unapproved_eval=True, progress=True)
        seconds = time.perf_counter() - started
        report_ingest("filler", len(report.added), report.chunks_written, seconds)
    label = f"{kb.chunk_count()} chunks"
    for dataset in datasets:
        evaluate(kb, dataset, label)
    kb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb-root", type=Path, default=Path("/tmp/vrep-bench"))
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--dataset", choices=DATASETS, action="append")
    parser.add_argument("--scale", type=int, metavar="CHUNKS", help="one base of this size")
    args = parser.parse_args()
    if args.scale:
        scale(args.kb_root, args.eval_dir, args.scale)
        return
    for name in args.dataset or DATASETS:
        dataset = load_dataset(args.eval_dir, name)
        kb, ingest_s, chunks = open_built(args.kb_root, dataset)
        docs = sum(1 for _ in dataset.corpus.open(encoding="utf-8"))
        report_ingest(name, docs, chunks, ingest_s)
        evaluate(kb, dataset, f"its own base ({kb.chunk_count()} chunks)")
        kb.close()


if __name__ == "__main__":
    main()
