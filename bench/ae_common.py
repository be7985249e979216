"""Shared by the adverse-event bench scripts: data sets, cached features, metrics.

Run from the repository root; the scripts put the repository on ``sys.path`` themselves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from skills.adverse_events.cues import detect_language, match_cues
from skills.adverse_events.features import EMBED_DIM, Embedder, dense_features, ngram_buckets

REPO = Path(__file__).resolve().parent.parent
# The shared dev sets sit beside the checkout (``../shared``) or beside its parent folder
# (a worktree under ``wt/``); the first that exists.
EVAL_DIR = next(
    (
        base / "shared" / "eval" / "dev"
        for base in (REPO.parent, REPO.parent.parent)
        if (base / "shared" / "eval" / "dev").is_dir()
    ),
    REPO.parent / "shared" / "eval" / "dev",
)
OWN_DATA = REPO / "skills" / "adverse_events" / "data"
HELDOUT = REPO / "tests" / "data" / "ae_heldout.jsonl"
CACHE = REPO / ".cache" / f"ae_embeddings-{EMBED_DIM}d.npz"  # a new layout, a new cache


@dataclass
class Example:
    """One labelled message and the set it came from."""

    text: str
    label: int
    source: str


def read_jsonl(path: Path, source: str) -> list[Example]:
    """``{"text","label"}`` lines of ``path`` tagged with ``source``."""
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [Example(r["text"], int(r["label"]), source) for r in rows]


class FeatureCache:
    """Embeddings keyed by text hash, persisted so re-runs skip the slow model."""

    def __init__(self, path: Path = CACHE) -> None:
        self.path = path
        self.vectors: dict[str, npt.NDArray[np.float32]] = {}
        if path.exists():
            with np.load(path) as data:
                self.vectors = {k: data[k] for k in data.files}
        self._embedder: Embedder | None = None

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if self.key(t) not in self.vectors]
        if missing:
            self._embedder = self._embedder or Embedder()
            for start in range(0, len(missing), 32):
                chunk = missing[start : start + 32]
                for text, vec in zip(chunk, self._embedder.embed(chunk), strict=True):
                    self.vectors[self.key(text)] = vec
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, **self.vectors)
        return np.stack([self.vectors[self.key(t)] for t in texts])


@dataclass
class Features:
    """Per example: the dense block, n-gram buckets, whether the recall rules fire, the
    threshold key, and whether the detector never flags it (a ``:service`` message or an
    advice question, ``detector.advice_question``)."""

    dense: npt.NDArray[np.float32]
    buckets: list[npt.NDArray[np.int64]]
    rules: list[bool]
    keys: list[str]
    never: npt.NDArray[np.bool_]


def evaluation_sets(eval_dir: Path) -> dict[str, list[Example]]:
    """The sets both evaluations score, by name: the public dev splits (measurement only) and
    our own held-back reports and plain non-reports."""
    return {
        "ae_zh": read_jsonl(eval_dir / "ae_zh.jsonl", "ae_zh"),
        "ADE": read_jsonl(eval_dir / "ae_en_ade.jsonl", "ade"),
        "PsyTAR": read_jsonl(eval_dir / "ae_en_psytar.jsonl", "psytar"),
        "own held-back": read_jsonl(HELDOUT, "heldout"),
        "own plain neg.": read_jsonl(OWN_DATA / "plain_negatives.jsonl", "plain"),
    }


def featurize(examples: list[Example], cache: FeatureCache) -> Features:
    """The detector's view of every example, computed the way it computes it at run time."""
    from skills.adverse_events.detector import advice_question, rule_report, threshold_key

    texts = [e.text for e in examples]
    embeddings = cache.embed(texts)
    dense, buckets, rules, keys, never = [], [], [], [], []
    for text, emb in zip(texts, embeddings, strict=True):
        cues = match_cues(text)
        dense.append(dense_features(emb, cues, detect_language(text), text))
        buckets.append(ngram_buckets(text))
        key = threshold_key(text, cues)
        keys.append(key)
        ignored = key.endswith(":service") or advice_question(text, cues)
        never.append(ignored)
        rules.append(rule_report(cues, text) and not ignored)
    return Features(
        np.stack(dense).astype(np.float32), buckets, rules, keys, np.asarray(never, dtype=bool)
    )


def prf(labels: list[int], predicted: list[bool]) -> tuple[float, float, float]:
    """Precision, recall, F1 of the positive class."""
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
