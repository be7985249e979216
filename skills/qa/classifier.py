"""The Q&A classifier: two small linear heads over one sentence embedding.

``category``: what the doctor wants (a question, a comparison, use outside the label, advice for
one patient, small talk, the meeting list or their registrations); ``topic``: what a question or
a passage is about (dosing, renal, pregnancy, interactions, overdose, …). Both are multinomial
logistic regressions trained on the hand-written examples in ``skills/qa/examples.py`` (not on
evaluation items) by ``bench/train_qa_classifier.py``; each head's weights live in its own file
next to this module (``WEIGHT_FILES``), so one head is retrained without touching the other.
Paraphrases land near their examples in the embedding space, so the heads generalise where
keyword lists do not; the rules (guardrail patterns, label facts) still decide on their own when
they are sure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
# The file each head is read from (a file may hold other heads too; only its own key is read).
WEIGHT_FILES = {"category": "classifier_weights.json", "topic": "topic_weights.json"}
HEADS = tuple(WEIGHT_FILES)

FloatArray = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float


@dataclass(frozen=True)
class Head:
    labels: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray  # per-dimension standard deviation of the examples
    weights: FloatArray  # features × labels
    bias: FloatArray

    def probabilities(self, vector: FloatArray) -> FloatArray:
        logits = ((vector - self.mean) / self.scale) @ self.weights + self.bias
        shifted = np.exp(logits - logits.max())
        result: FloatArray = shifted / shifted.sum()
        return result

    def predict(self, vector: FloatArray) -> Prediction:
        probabilities = self.probabilities(vector)
        best = int(np.argmax(probabilities))
        return Prediction(self.labels[best], float(probabilities[best]))


@cache
def load_heads(directory: Path = HERE) -> dict[str, Head]:
    heads = {}
    for name, file_name in WEIGHT_FILES.items():
        data = json.loads((directory / file_name).read_text(encoding="utf-8"))[name]
        heads[name] = Head(
            labels=tuple(data["labels"]),
            mean=np.array(data["mean"], dtype=np.float32),
            scale=np.array(data["scale"], dtype=np.float32),
            weights=np.array(data["weights"], dtype=np.float32),
            bias=np.array(data["bias"], dtype=np.float32),
        )
    return heads


def train_head(
    vectors: FloatArray, labels: list[str], *, l2: float = 1e-2, steps: int = 1500
) -> dict[str, Any]:
    """Multinomial logistic regression on standardised embeddings, by full-batch gradient
    descent (deterministic); ``l2`` keeps the weights small, so a paraphrase far from every
    example gets a flat, unsure prediction rather than a confident wrong one."""
    names = sorted(set(labels))
    target = np.zeros((len(labels), len(names)), dtype=np.float64)
    for row, label in enumerate(labels):
        target[row, names.index(label)] = 1.0
    x = vectors.astype(np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    x = (x - mean) / scale
    weights = np.zeros((x.shape[1], len(names)))
    bias = np.zeros(len(names))
    rate = 0.5
    for _ in range(steps):
        logits = x @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        error = (probabilities - target) / len(labels)
        weights -= rate * (x.T @ error + l2 * weights)
        bias -= rate * error.sum(axis=0)
    return {
        "labels": names,
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": weights.round(6).tolist(),
        "bias": bias.round(6).tolist(),
    }
