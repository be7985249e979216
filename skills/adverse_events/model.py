"""The shipped linear model: weights, thresholds, load/save, scoring.

Kept apart from the detector so the training script (``bench/train_ae.py``) writes exactly
what the detector reads. The file is a small ``.npz`` next to this module; ``PROVENANCE.md``
beside it says what it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from skills.adverse_events.features import DENSE_DIM, HASH_DIM, FloatArray, IntArray

MODEL_FILE = "ae_model.npz"
# Threshold keys of the candidate stage: ``CANDIDATE + <clear key>`` (e.g. "candidate:zh").
CANDIDATE = "candidate:"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LinearModel:
    """Logistic regression over [embedding | cue indicators] and hashed n-grams.

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

    def score(self, dense: FloatArray, buckets: IntArray) -> float:
        """Probability-like score in [0, 1] for one message's features."""
        hashed = 0.0
        if buckets.size:
            hashed = float(self.hash_weights[buckets].sum()) / math.sqrt(buckets.size)
        logit = float(dense @ self.dense_weights) + hashed + self.bias
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
        )

    @classmethod
    def load(cls, path: Path | None = None) -> LinearModel:
        """Read ``path``, or the model shipped in this package when ``path`` is None."""
        if path is None:
            resource = resources.files("skills.adverse_events").joinpath(MODEL_FILE)
            with resources.as_file(resource) as shipped:
                return cls.load(shipped)
        with np.load(path) as data:
            if int(data["version"]) != FORMAT_VERSION:
                raise ValueError(f"{path}: model format {int(data['version'])} is not supported")
            dense = data["dense_weights"].astype(np.float32)
            hashed = data["hash_weights"].astype(np.float32)
            if dense.shape != (DENSE_DIM,) or hashed.shape != (HASH_DIM,):
                raise ValueError(f"{path}: weight shapes do not match the feature layout")
            thresholds = {
                str(lang): float(t)
                for lang, t in zip(data["languages"], data["thresholds"], strict=True)
            }
            return cls(dense, hashed, float(data["bias"]), thresholds)
