"""Train the fusion weights (``knowledge/fusion_weights.json``) on the dev retrieval sets.

    .venv/bin/python -m bench.train_fusion [--kb-root /tmp/vrep-bench] [--write]

Provenance: PubMedQA pqa_labeled (MIT) and cMedQQ via ChineseBLUE (Apache-2.0), dev splits in
shared/eval — both licences allow derived works. The model is linear over ``ranking.FEATURES``,
trained listwise (softmax over each query's candidate chunks, chunks of a relevant document are
the targets) with L2 regularisation. 5-fold cross-validation by query estimates held-out
recall@5 (document level) before the final fit on all queries; only ``--write`` saves it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DATASETS, EVAL_DIR, load_dataset, open_built
from knowledge import ranking

EVERYONE = frozenset({"public", "hcp"})
L2 = 1e-3
LEARNING_RATE = 0.05
PROVENANCE = (
    "bench/train_fusion.py on shared/eval dev: PubMedQA pqa_labeled (MIT) and cMedQQ via "
    "ChineseBLUE (Apache-2.0); listwise softmax, L2 1e-3"
)


def collect(kb_root: Path, eval_dir: Path) -> list[tuple[Any, list[str], set[str]]]:
    """(features, candidate doc ids, relevant ids) per query, over all datasets."""
    out: list[tuple[Any, list[str], set[str]]] = []
    for name in DATASETS:
        dataset = load_dataset(eval_dir, name)
        kb, _, _ = open_built(kb_root, dataset)
        for row in dataset.queries:
            found = kb.candidates(row["query"], audiences=EVERYONE, include_unapproved_eval=True)
            if found is not None:
                _, rows, _, matrix = found
                out.append((matrix, [r.doc_id for r in rows], set(row["relevant"])))
        kb.close()
    return out


def fit(data: list[tuple[Any, list[str], set[str]]], epochs: int = 400) -> ranking.FusionModel:
    stacked = np.concatenate([m for m, _, _ in data])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-6
    weights = np.zeros(stacked.shape[1])
    prepared = []
    for matrix, docs, relevant in data:
        target = np.array([doc in relevant for doc in docs], dtype=float)
        if target.sum() == 0:
            continue  # no relevant candidate: nothing to learn from this query
        prepared.append(((matrix - mean) / scale, target / target.sum()))
    for _ in range(epochs):
        grad = L2 * weights
        for x, target in prepared:
            s = x @ weights
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += x.T @ (p - target) / len(prepared)
        weights -= LEARNING_RATE * grad
    return ranking.FusionModel(
        mean.astype(np.float32), scale.astype(np.float32), weights.astype(np.float32)
    )


def recall_at_5(model: ranking.FusionModel, data: list[tuple[Any, list[str], set[str]]]) -> float:
    hits = 0
    for matrix, docs, relevant in data:
        order = np.argsort(-model.score(matrix.astype(np.float32)))
        top = list(dict.fromkeys(docs[i] for i in order))[:5]
        hits += bool(relevant & set(top))
    return hits / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb-root", type=Path, default=Path("/tmp/vrep-bench"))
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    data = collect(args.kb_root, args.eval_dir)
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(len(data)), 5)
    scores = []
    for fold in folds:
        held = set(fold.tolist())
        model = fit([d for i, d in enumerate(data) if i not in held])
        scores.append(recall_at_5(model, [data[i] for i in fold]))
    print(f"5-fold CV recall@5 (both sets pooled): {np.mean(scores):.3f} ± {np.std(scores):.3f}")
    print(f"current weights recall@5 on all: {recall_at_5(ranking.load_model(), data):.3f}")
    final = fit(data)
    print(f"final fit recall@5 on all (optimistic): {recall_at_5(final, data):.3f}")
    if args.write:
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
