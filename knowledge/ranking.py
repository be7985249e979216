"""Hybrid ranking: candidates from dense and two BM25 retrievers, fused by a learned linear model.

Each candidate chunk gets a few comparable features per retriever — fraction of the best score,
reciprocal rank, gap to the best in standard deviations of the candidates' scores (all
normalised per query, so short FAQ questions and long passages live on one scale) — plus the
chunk's *hubness* and token-overlap (Jaccard) features. Query-side coverage features were
dropped: trained on cMedQQ they taught the model that a chunk sharing every *character* of
"药过量怎么处理" (the missed-dose answer: 漏服处理…怎么办…超过…剂量) beats the one sharing the
*word* 过量. A linear model trained listwise
(softmax over each query's candidates) turns them into one score. The weights live in
``fusion_weights.json`` next to this module, with the provenance of their training data;
``bench/train_fusion.py`` reproduces them.

Hubness: in a collection of many near-identical questions (an FAQ, a set of standard
responses), some chunks sit close to everything and crowd the top of every dense ranking. The
mean cosine of a chunk to its nearest chunks of *other* documents measures that; ranking by
``cosine - ½·hubness`` (cross-domain similarity local scaling) lifted dense recall@5 on cMedQQ
from 0.676 to 0.706 with no training at all, and the learned model uses both parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_PATH = Path(__file__).with_name("fusion_weights.json")
CANDIDATES_PER_RETRIEVER = 40
RETRIEVERS = ("dense", "bm25_char", "bm25_word")
# Neighbours averaged for a chunk's hubness, and the weight of hubness in the adjusted cosine.
HUB_NEIGHBOURS = 10
HUB_WEIGHT = 0.5
# Gaps to the best candidate are cut at this many standard deviations.
GAP_FLOOR = 6.0
FEATURES = (
    *(f"{name}_{kind}" for name in RETRIEVERS for kind in ("frac", "rr", "gap")),
    "hubness",
    "dense_local_z",
    "char_jaccard",
    "bigram_jaccard",
    "word_jaccard",
    "log_length_ratio",
)

FloatArray = np.ndarray[Any, Any]  # float32 vectors/matrices; numpy dtypes are not tracked


@dataclass(frozen=True)
class Terms:
    """The token sets of a query or a chunk that the overlap features compare."""

    chars: frozenset[str]
    bigrams: frozenset[str]
    words: frozenset[str]
    length: int


def terms(char_tokens: list[str], word_tokens: list[str]) -> Terms:
    """Token sets of one text: its char tokens, adjacent char-token pairs and words."""
    pairs = frozenset(f"{a} {b}" for a, b in pairwise(char_tokens))
    return Terms(frozenset(char_tokens), pairs, frozenset(word_tokens), len(char_tokens))


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


def hubness(vectors: FloatArray, doc_ids: list[str], block: int = 1024) -> FloatArray:
    """Mean cosine of each chunk to its ``HUB_NEIGHBOURS`` nearest chunks of other documents.

    Computed in row blocks so a 10 000-chunk collection never holds a full 10k × 10k matrix.
    """
    count = vectors.shape[0]
    out = np.zeros(count, dtype=np.float32)
    if count < 2:
        return out
    _, owner = np.unique(np.array(doc_ids, dtype=object), return_inverse=True)
    take = min(HUB_NEIGHBOURS, count - 1)
    for start in range(0, count, block):
        sims = vectors[start : start + block] @ vectors.T
        same = owner[start : start + block, None] == owner[None, :]
        sims[same] = -np.inf
        top = np.partition(sims, count - take, axis=1)[:, count - take :]
        valid = np.isfinite(top)
        # A chunk with fewer other-document neighbours than asked averages those it has.
        total = np.where(valid, top, 0.0).sum(axis=1)
        out[start : start + block] = total / np.maximum(1, valid.sum(axis=1))
    return out


def candidate_rows(scores: dict[str, FloatArray]) -> Any:
    """Positions (into the per-retriever score arrays) in the top of any retriever."""
    picked: list[Any] = []
    for name in RETRIEVERS:
        local = scores[name]
        take = min(CANDIDATES_PER_RETRIEVER, local.size)
        if take == 0:
            continue
        top = np.argpartition(-local, take - 1)[:take]
        if name != "dense":
            top = top[local[top] > 0]
        picked.append(top)
    if not picked:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(picked)).astype(np.int64)


def _retriever_columns(local: FloatArray, picked: FloatArray) -> list[FloatArray]:
    best = float(picked.max())
    spread = float(picked.std()) or 1.0
    ordered = np.sort(local)
    above = local.size - np.searchsorted(ordered, picked, side="right")
    return [
        picked / best if best > 0 else np.zeros_like(picked),
        1.0 / (1.0 + above),
        np.maximum((picked - best) / spread, -GAP_FLOOR),
    ]


def features(
    scores: dict[str, FloatArray],
    hubs: FloatArray,
    candidates_local: Any,
    query: Terms,
    chunks: list[Terms],
) -> FloatArray:
    """Feature matrix (candidates × FEATURES).

    ``scores`` and ``hubs`` hold one value per chunk the asker may see; ``candidates_local``
    index into them and ``chunks`` is aligned with the candidates. Scales (best score, spread)
    are taken over the candidates, not over the whole collection: spreads over 10 000 chunks
    of which a handful match a query's words are tiny, and gaps measured with them grew
    without bound as the collection grew (measured: PubMedQA recall@5 0.99 → 0.73 in a
    10 000-chunk base before this).
    """
    columns: list[FloatArray] = []
    for name in RETRIEVERS:
        columns += _retriever_columns(scores[name], scores[name][candidates_local])
    adjusted = (scores["dense"] - HUB_WEIGHT * hubs)[candidates_local]
    columns += [
        hubs[candidates_local],
        (adjusted - float(adjusted.mean())) / (float(adjusted.std()) or 1.0),
    ]
    overlap = np.array(
        [
            (len(query.chars & c.chars), len(query.bigrams & c.bigrams), len(query.words & c.words))
            for c in chunks
        ],
        dtype=np.float32,
    ).reshape(-1, 3)
    sizes = np.array(
        [(len(c.chars), len(c.bigrams), len(c.words), c.length) for c in chunks], dtype=np.float32
    ).reshape(-1, 4)
    mine = np.array([len(query.chars), len(query.bigrams), len(query.words)], dtype=np.float32)
    union = np.maximum(1.0, mine[None, :] + sizes[:, :3] - overlap)
    columns += [
        *(overlap / union).T,
        np.log1p(sizes[:, 3]) - np.log1p(query.length),
    ]
    return np.stack(columns, axis=1).astype(np.float32)
