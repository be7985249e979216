"""Ingest throughput, before and after, in one run (run by hand; prints numbers).

    .venv/bin/python -m bench.bench_ingest --baseline /tmp/before [--limit 150] [--corpus FILE]

Ingests the first ``--limit`` documents of a corpus (default: the PubMedQA dev corpus) with
``virtualrep ingest --unapproved-eval`` into a fresh knowledge base, once from another
checkout (``--baseline``: ``git archive <commit> | tar -x -C DIR``; the venv is shared) and
once from this one, alternating ``--repeat`` times, each in its own process. Prints wall time,
CPU time (the process and its threads: less sensitive to other jobs on a shared machine than
wall time) and chunks per second, then the after/before ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBMEDQA = Path("/work/shared/eval/dev/retrieval_en_pubmedqa/corpus.jsonl")
_REPORT = re.compile(r"(\d+) chunks written")


def ingest(root: Path, corpus: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and chunks of one ingest from the checkout at ``root``."""
    kb_dir = Path(tempfile.mkdtemp(prefix="vrep-ingest-bench-"))
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
    for _ in range(args.repeat):
        for name, root in (("before", args.baseline.resolve()), ("after", ROOT)):
            wall, cpu, chunks = ingest(root, corpus)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
