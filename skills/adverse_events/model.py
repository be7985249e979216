"""The shipped scoring model: weights, thresholds, load/save, scoring.

Kept apart from the detector so the training script (``bench/train_ae.py``) writes exactly
what the detector reads. The file is a small ``.npz`` next to this module; ``PROVENANCE.md``
beside it says what it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from skills.adverse_events.features import DENSE_DIM, HASH_DIM, FloatArray, IntArray

MODEL_FILE = "ae_model.npz"
# Threshold keys of the candidate stage: ``CANDIDATE + <clear key>`` (e.g. "candidate:zh").
CANDIDATE = "candidate:"
# Version 1: the linear part only; version 2 adds the hidden layer.
FORMAT_VERSION = 2


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class AEModel:
    """Logistic regression over [embedding | cue indicators] and hashed n-grams, plus a small
    hidden layer over the dense block.

    The logit is ``dense · w + hashed n-gram weights + bias + v · relu(dense · W1 + b1)``. The
    linear part carries the exact wording (n-grams) and the cue indicators; the hidden layer
    (a few dozen ReLU units over both sentence vectors and the cues) lets a combination count
    that no single direction carries — a patient and a drug and a change *that went well* is
    not a report, the same words with a new symptom are. It costs one small matrix product
    per window, next to the two sentence encoders already run. A model without a hidden layer
    (``hidden_weights`` empty) is the plain linear model. ``bench/train_ae.py`` fits a blend:
    a linear head and a hidden-layer model fitted on the same rows, their logits averaged —
    which is again this form (the linear parts add up, the output weights are scaled).

    ``thresholds`` maps a threshold key (``detector.threshold_key``: a register, refined by
    context) to the score at or above which a message is a clear report, and
    ``CANDIDATE + key`` to the lower score at or above which it is a candidate the doctor is
    asked to confirm; chosen on cross-validated scores for recall first (see
    ``bench/train_ae.py``).
    """

    dense_weights: FloatArray
    hash_weights: FloatArray
    bias: float
    thresholds: dict[str, float]
    hidden_weights: FloatArray = field(default_factory=_empty)  # (DENSE_DIM, H) or empty
    hidden_bias: FloatArray = field(default_factory=_empty)  # (H,)
    output_weights: FloatArray = field(default_factory=_empty)  # (H,)

    def score(self, dense: FloatArray, buckets: IntArray) -> float:
        """Probability-like score in [0, 1] for one message's features."""
        hashed = 0.0
        if buckets.size:
            hashed = float(self.hash_weights[buckets].sum()) / math.sqrt(buckets.size)
        logit = float(dense @ self.dense_weights) + hashed + self.bias
        if self.hidden_weights.size:
            units = np.maximum(dense @ self.hidden_weights + self.hidden_bias, 0.0)
            logit += float(units @ self.output_weights)
        return 1.0 / (1.0 + math.exp(-max(min(logit, 40.0), -40.0)))

    def threshold(self, key: str, default: float | None = None) -> float:
        """The threshold of ``key``; else ``default``; else its register's ("zh:bare" → "zh")."""
        if key in self.thresholds:
            return self.thresholds[key]
        if default is not None:
            return default
        register = key.split(":")[0]
        return self.thresholds.get(register, self.thresholds["en"])

    def save(self, path: Path) -> None:
        """Write the model as a compressed ``.npz``."""
        languages = sorted(self.thresholds)
        np.savez_compressed(
            path,
            version=np.asarray(FORMAT_VERSION),
            dense_weights=self.dense_weights.astype(np.float32),
            hash_weights=self.hash_weights.astype(np.float32),
            bias=np.asarray(self.bias, dtype=np.float64),
            languages=np.asarray(languages),
            thresholds=np.asarray([self.thresholds[lang] for lang in languages]),
            hidden_weights=self.hidden_weights.astype(np.float32),
            hidden_bias=self.hidden_bias.astype(np.float32),
            output_weights=self.output_weights.astype(np.float32),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> AEModel:
        """Read ``path``, or the model shipped in this package when ``path`` is None."""
        if path is None:
            resource = resources.files("skills.adverse_events").joinpath(MODEL_FILE)
            with resources.as_file(resource) as shipped:
                return cls.load(shipped)
        with np.load(path) as data:
            if int(data["version"]) not in (1, FORMAT_VERSION):
                raise ValueError(f"{path}: model format {int(data['version'])} is not supported")
            dense = data["dense_weights"].astype(np.float32)
            hashed = data["hash_weights"].astype(np.float32)
            if dense.shape != (DENSE_DIM,) or hashed.shape != (HASH_DIM,):
                raise ValueError(f"{path}: weight shapes do not match the feature layout")
            thresholds = {
                str(lang): float(t)
                for lang, t in zip(data["languages"], data["thresholds"], strict=True)
            }
            hidden = tuple(
                data[name].astype(np.float32) if name in data.files else _empty()
                for name in ("hidden_weights", "hidden_bias", "output_weights")
            )
            if hidden[0].size and hidden[0].shape != (DENSE_DIM, *hidden[1].shape):
                raise ValueError(f"{path}: hidden layer shapes do not match the feature layout")
            return cls(dense, hashed, float(data["bias"]), thresholds, *hidden)
