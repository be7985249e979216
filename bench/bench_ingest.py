"""Ingest throughput, before and after, in one run (run by hand; prints numbers).

    .venv/bin/python -m bench.bench_ingest --baseline /tmp/before [--limit 150] [--corpus FILE]

Ingests the first ``--limit`` documents of a corpus (default: the PubMedQA dev corpus) with
``virtualrep ingest --unapproved-eval`` into a fresh knowledge base, once from another
checkout (``--baseline``: ``git archive <commit> | tar -x -C DIR``; the venv is shared) and
once from this one, alternating ``--repeat`` times, each in its own process. Prints wall time,
CPU time (the process and its threads: less sensitive to other jobs on a shared machine than
wall time) and chunks per second, then the after/before ratios, then retrieval quality of
the two bases built (recall@1/5 and MRR@10 of the dev queries whose answer is in the corpus
slice, searched with this checkout's code, so only the ingest differs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PUBMEDQA = Path("/work/shared/eval/dev/retrieval_en_pubmedqa/corpus.jsonl")
_REPORT = re.compile(r"(\d+) chunks written")
EVERYONE = frozenset({"public", "hcp"})


def quality(kb_dir: Path, corpus: Path, queries: Path) -> str:
    """Recall@1/5 and MRR@10 over the queries answered by a document in ``corpus``."""
    from bot.settings import load_settings
    from knowledge.base import KnowledgeBase

    ids = {json.loads(line)["id"] for line in corpus.read_text(encoding="utf-8").splitlines()}
    rows = [json.loads(line) for line in queries.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if set(row["relevant"]) & ids]
    kb = KnowledgeBase.open(load_settings(kb_dir=kb_dir))
    found = {1: 0, 5: 0}
    reciprocal = 0.0
    try:
        for row in rows:
            hits = kb.search(row["query"], 40, audiences=EVERYONE, include_unapproved_eval=True)
            ranked = list(dict.fromkeys(hit.doc_id for hit in hits))[:10]
            first = next((i for i, doc in enumerate(ranked) if doc in row["relevant"]), None)
            for k in found:
                found[k] += first is not None and first < k
            reciprocal += 0.0 if first is None else 1 / (first + 1)
    finally:
        kb.close()
    n = max(1, len(rows))
    return (
        f"{len(rows)} queries: recall@1 {found[1] / n:.3f}, recall@5 {found[5] / n:.3f},"
        f" MRR@10 {reciprocal / n:.3f}"
    )


def ingest(root: Path, corpus: Path, kb_dir: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and chunks of one ingest from the checkout at ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VREP_")}
    env["PYTHONPATH"] = str(root)
    command = [sys.executable, "-m", "knowledge.cli", "ingest", "--unapproved-eval"]
    command += ["--kb-dir", str(kb_dir), str(corpus)]
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    found = _REPORT.search(done.stdout)
    if found is None:
        raise RuntimeError(f"unexpected ingest output: {done.stdout!r} {done.stderr!r}")
    return wall, cpu, int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="checkout of the before")
    parser.add_argument("--corpus", type=Path, default=PUBMEDQA)
    parser.add_argument("--limit", type=int, default=0, help="first N documents (0: all)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    corpus = args.corpus
    if args.limit:
        lines = corpus.read_text(encoding="utf-8").splitlines()[: args.limit]
        corpus = Path(tempfile.mkdtemp(prefix="vrep-ingest-bench-")) / "corpus.jsonl"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"corpus {args.corpus} ({args.limit or 'all'} documents), cores {os.cpu_count()}")
    runs: dict[str, list[tuple[float, float, int]]] = {"before": [], "after": []}
    built: dict[str, Path] = {}
    for _ in range(args.repeat):
        for name, root in (("before", args.baseline.resolve()), ("after", ROOT)):
            built[name] = Path(tempfile.mkdtemp(prefix="vrep-ingest-bench-"))
            wall, cpu, chunks = ingest(root, corpus, built[name])
            runs[name].append((wall, cpu, chunks))
            print(
                f"{name:>6}: {chunks} chunks in {wall:.1f} s wall ({chunks / wall:.2f} chunks/s),"
                f" {cpu:.1f} s CPU, load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    wall = {name: statistics.median(w for w, _, _ in rows) for name, rows in runs.items()}
    cpu = {name: statistics.median(c for _, c, _ in rows) for name, rows in runs.items()}
    print(
        f"after/before: throughput {wall['before'] / wall['after']:.2f}x (wall, median),"
        f" CPU per chunk {cpu['after'] / cpu['before']:.2f}x"
    )
    for name, kb_dir in built.items():
        print(f"{name:>6} base, {quality(kb_dir, corpus, args.corpus.with_name('queries.jsonl'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
