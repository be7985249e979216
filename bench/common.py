"""Shared helpers of the retrieval benchmarks: datasets and a knowledge base built from them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.settings import load_settings
from knowledge.base import KnowledgeBase

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev"
DATASETS = ("retrieval_en_pubmedqa", "retrieval_zh_cmedqq")


@dataclass
class Dataset:
    name: str
    corpus: Path
    queries: list[dict[str, Any]]


def load_dataset(eval_dir: Path, name: str) -> Dataset:
    folder = eval_dir / name
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = [json.loads(line) for line in handle if line.strip()]
    return Dataset(name, folder / "corpus.jsonl", queries)


def open_built(kb_root: Path, dataset: Dataset) -> tuple[KnowledgeBase, float, int]:
    """The dataset's corpus in its own knowledge base under ``kb_root`` (re-used if present).

    Returns the base, the ingest seconds (0 when re-used) and the number of chunks written.
    """
    kb = KnowledgeBase.open(load_settings(kb_dir=kb_root / dataset.name))
    started = time.perf_counter()
    report = kb.ingest_paths([dataset.corpus], unapproved_eval=True, progress=True)
    seconds = time.perf_counter() - started if report.added or report.replaced else 0.0
    return kb, seconds, report.chunks_written
