"""Train the fusion weights (``knowledge/fusion_weights.json``) on the dev retrieval sets.

    .venv/bin/python -m bench.train_fusion [--kb-root /tmp/vrep-bench] [--write]

Provenance: PubMedQA pqa_labeled (MIT) and cMedQQ via ChineseBLUE (Apache-2.0), dev splits in
shared/eval — both licences allow derived works. The model is linear over ``ranking.FEATURES``,
trained listwise (softmax over each query's candidate chunks; chunks of a relevant document are
the targets) with L2 regularisation, on both sets pooled.

Generalisation is estimated by 5-fold cross-validation over queries (folds drawn per dataset);
while a fold is held out, candidates that are the relevant document of a held-out query are
removed from the training lists too, so the model never learns anything about the held-out
answers, not even as negatives. Recall@5 is reported per dataset. The fitted model must also
put the right sample-library document first for a few product questions (``SANITY``) — the
weights are written only when it does and ``--write`` is given.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DATASETS, EVAL_DIR, load_dataset, open_built
from bot.settings import load_settings
from knowledge import ranking
from knowledge.base import KnowledgeBase
from knowledge.sample import ensure_sample_library

EVERYONE = frozenset({"public", "hcp"})
L2 = 1e-1
LEARNING_RATE = 0.05
EPOCHS = 300
FOLDS = 5
PROVENANCE = (
    "bench/train_fusion.py on shared/eval dev: PubMedQA pqa_labeled (MIT) and cMedQQ via "
    "ChineseBLUE (Apache-2.0); listwise softmax, L2 1e-1, both sets pooled"
)
# Product questions whose sample-library answer must come first (Chinese and English).
SANITY = (
    ("药吃多了怎么处理", "SR-NRX-ZH-10"),
    ("忘记吃药了怎么办", "SR-NRX-ZH-09"),
    ("肾功能不好的病人要减量吗", "SR-NRX-ZH-02"),
    ("孕妇能吃诺拉维吗", "SR-NRX-ZH-04"),
    ("诺拉维和西柚汁能一起吃吗", "SR-NRX-ZH-05"),
    ("Can I give Noravex to a patient with kidney problems?", "SR-NRX-EN-02"),
    ("Is grapefruit juice a problem with nolavastatin?", "SR-NRX-EN-05"),
    ("What are the side effects of Noravex?", "SR-NRX-EN-06"),
)


@dataclass
class Query:
    dataset: str
    features: Any
    docs: list[str]
    relevant: set[str]


def collect(kb_root: Path, eval_dir: Path) -> list[Query]:
    """Candidate features of every dev query, over all datasets."""
    out: list[Query] = []
    for name in DATASETS:
        dataset = load_dataset(eval_dir, name)
        kb, _, _ = open_built(kb_root, dataset)
        for row in dataset.queries:
            found = kb.candidates(row["query"], audiences=EVERYONE, include_unapproved_eval=True)
            if found is not None:
                _, rows, _, matrix = found
                out.append(Query(name, matrix, [r.doc_id for r in rows], set(row["relevant"])))
        kb.close()
    return out


def fit(queries: list[Query], hidden: set[str] | None = None) -> ranking.FusionModel:
    """Listwise softmax over each query's candidates, minus the ``hidden`` documents."""
    hidden = hidden or set()
    lists = []
    for query in queries:
        keep = np.array([doc not in hidden for doc in query.docs])
        target = np.array([doc in query.relevant for doc in query.docs], dtype=np.float64)[keep]
        if target.sum() > 0:
            lists.append((query.features[keep].astype(np.float64), target / target.sum()))
    stacked = np.concatenate([x for x, _ in lists])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-6
    width = max(len(x) for x, _ in lists)
    x_pad = np.zeros((len(lists), width, stacked.shape[1]))
    y_pad = np.zeros((len(lists), width))
    valid = np.zeros((len(lists), width), dtype=bool)
    for i, (x, y) in enumerate(lists):
        x_pad[i, : len(x)] = (x - mean) / scale
        y_pad[i, : len(y)] = y
        valid[i, : len(x)] = True
    weights = np.zeros(stacked.shape[1])
    moment, second = np.zeros_like(weights), np.zeros_like(weights)
    for step in range(1, EPOCHS + 1):
        logits = np.where(valid, x_pad @ weights, -np.inf)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        grad = np.einsum("ql,qld->d", probs - y_pad, x_pad) / len(lists) + L2 * weights
        moment = 0.9 * moment + 0.1 * grad
        second = 0.999 * second + 0.001 * grad**2
        weights -= (
            LEARNING_RATE
            * (moment / (1 - 0.9**step))
            / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)
        )
    return ranking.FusionModel(
        mean.astype(np.float32), scale.astype(np.float32), weights.astype(np.float32)
    )


def recall_at_5(model: ranking.FusionModel, queries: list[Query]) -> float:
    hits = 0
    for query in queries:
        order = np.argsort(-model.score(query.features.astype(np.float32)), kind="stable")
        top = list(dict.fromkeys(query.docs[i] for i in order))[:5]
        hits += bool(query.relevant & set(top))
    return hits / max(1, len(queries))


def cross_validate(queries: list[Query]) -> dict[str, list[float]]:
    """Held-out recall@5 per fold and dataset (see the module docstring for the protocol)."""
    rng = np.random.default_rng(0)
    fold_of = np.zeros(len(queries), dtype=int)
    for name in DATASETS:
        members = np.flatnonzero([q.dataset == name for q in queries])
        for fold, part in enumerate(np.array_split(rng.permutation(members), FOLDS)):
            fold_of[part] = fold
    scores: dict[str, list[float]] = {name: [] for name in DATASETS}
    for fold in range(FOLDS):
        held = [q for q, f in zip(queries, fold_of, strict=True) if f == fold]
        hidden = set().union(*(q.relevant for q in held))
        model = fit([q for q, f in zip(queries, fold_of, strict=True) if f != fold], hidden)
        for name in DATASETS:
            scores[name].append(recall_at_5(model, [q for q in held if q.dataset == name]))
    return scores


def sanity_failures(kb_root: Path, model: ranking.FusionModel) -> list[str]:
    """Sample-library questions whose expected document is not ranked first by ``model``."""
    kb = KnowledgeBase.open(load_settings(kb_dir=kb_root / "sample-library"))
    ensure_sample_library(kb)
    failures = []
    for question, expected in SANITY:
        found = kb.candidates(question, audiences=EVERYONE)
        if found is None:
            failures.append(f"{question}: nothing found")
            continue
        _, rows, _, matrix = found
        best = rows[int(np.argmax(model.score(matrix)))].doc_id
        if best != expected:
            failures.append(f"{question}: {best} first, expected {expected}")
    kb.close()
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb-root", type=Path, default=Path("/tmp/vrep-bench"))
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    queries = collect(args.kb_root, args.eval_dir)
    for name, per_fold in cross_validate(queries).items():
        print(f"{name}: {FOLDS}-fold CV recall@5 {np.mean(per_fold):.3f} ± {np.std(per_fold):.3f}")
    final = fit(queries)
    for name in DATASETS:
        subset = [q for q in queries if q.dataset == name]
        print(f"{name}: final fit on all queries (in-sample) {recall_at_5(final, subset):.3f}")
    for feature, weight in zip(ranking.FEATURES, final.weights, strict=True):
        print(f"   {feature:20s} {weight:+.3f}")
    failures = sanity_failures(args.kb_root, final)
    for line in failures:
        print(f"sample library regression: {line}")
    if args.write and not failures:
        ranking.WEIGHTS_PATH.write_text(
            json.dumps(
                {
                    "features": list(ranking.FEATURES),
                    "mean": final.mean.tolist(),
                    "scale": final.scale.tolist(),
                    "weights": final.weights.tolist(),
                    "provenance": PROVENANCE,
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {ranking.WEIGHTS_PATH}")


if __name__ == "__main__":
    main()
