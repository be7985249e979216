"""Hybrid ranking: candidates from dense and two BM25 retrievers, fused by a learned linear model.

Each candidate chunk gets a few comparable features per retriever (z-score across the allowed
chunks, fraction of the best score, reciprocal rank) plus token-overlap features, and a linear
model trained listwise (softmax over each query's candidates) turns them into one score. The
weights live in ``fusion_weights.json`` next to this module, with the provenance of their
training data; ``bench/train_fusion.py`` reproduces them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_PATH = Path(__file__).with_name("fusion_weights.json")
CANDIDATES_PER_RETRIEVER = 40
RETRIEVERS = ("dense", "bm25_char", "bm25_word")
FEATURES = (
    *(f"{name}_{kind}" for name in RETRIEVERS for kind in ("z", "frac", "rr")),
    "char_query_cover",
    "char_chunk_cover",
    "word_query_cover",
    "word_chunk_cover",
    "length_gap",
)

FloatArray = np.ndarray[Any, Any]  # float32 vectors/matrices; numpy dtypes are not tracked


@dataclass(frozen=True)
class QueryTerms:
    chars: frozenset[str]
    words: frozenset[str]
    length: int


@dataclass(frozen=True)
class FusionModel:
    mean: FloatArray
    scale: FloatArray
    weights: FloatArray

    def score(self, features: FloatArray) -> FloatArray:
        scored: FloatArray = ((features - self.mean) / self.scale) @ self.weights
        return scored


@cache
def load_model(path: Path = WEIGHTS_PATH) -> FusionModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path.name} was trained on other features; retrain it")
    return FusionModel(
        mean=np.array(data["mean"], dtype=np.float32),
        scale=np.array(data["scale"], dtype=np.float32),
        weights=np.array(data["weights"], dtype=np.float32),
    )


def candidate_rows(scores: dict[str, FloatArray]) -> Any:
    """Positions (into the per-retriever score arrays) in the top of any retriever."""
    picked: set[int] = set()
    for name in RETRIEVERS:
        local = scores[name]
        if name != "dense":
            positive = np.flatnonzero(local > 0)
            if positive.size == 0:
                continue
            top = positive[np.argsort(-local[positive])[:CANDIDATES_PER_RETRIEVER]]
        else:
            take = min(CANDIDATES_PER_RETRIEVER, local.size)
            top = np.argpartition(-local, take - 1)[:take] if take else local[:0].astype(int)
        picked.update(int(row) for row in top)
    return np.array(sorted(picked), dtype=np.int64)


def features(
    scores: dict[str, FloatArray],
    candidates_local: Any,
    query: QueryTerms,
    chunk_chars: list[frozenset[str]],
    chunk_words: list[frozenset[str]],
    chunk_lengths: list[int],
) -> FloatArray:
    """Feature matrix (candidates × FEATURES). ``scores`` hold one value per allowed row;
    ``candidates_local`` index into them, the chunk_* lists are aligned with the candidates."""
    columns: list[FloatArray] = []
    for name in RETRIEVERS:
        local = scores[name]
        picked = local[candidates_local]
        spread = float(local.std()) or 1.0
        best = float(local.max()) if local.size else 0.0
        ranks = (local[None, :] > picked[:, None]).sum(axis=1)
        columns += [
            (picked - float(local.mean())) / spread,
            picked / best if best > 0 else np.zeros_like(picked),
            (1.0 / (1.0 + ranks)).astype(np.float32),
        ]
    char_overlap = np.array([len(query.chars & c) for c in chunk_chars], dtype=np.float32)
    word_overlap = np.array([len(query.words & w) for w in chunk_words], dtype=np.float32)
    columns += [
        char_overlap / max(1, len(query.chars)),
        char_overlap / np.array([max(1, len(c)) for c in chunk_chars], dtype=np.float32),
        word_overlap / max(1, len(query.words)),
        word_overlap / np.array([max(1, len(w)) for w in chunk_words], dtype=np.float32),
        np.array(
            [abs(math.log1p(n) - math.log1p(query.length)) for n in chunk_lengths],
            dtype=np.float32,
        ),
    ]
    return np.stack(columns, axis=1).astype(np.float32)
