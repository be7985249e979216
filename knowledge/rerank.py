"""Optional cross-encoder reranking through an HTTP rerank service (``VREP_RERANK_URL``).

The embedded default has no reranker: no cross-encoder small enough to run here ships with a
licence that allows it (see bench/README.md). Where a deployment runs one — e.g. a
bge-reranker behind vLLM, Xinference, or a hosted service — it is reached through the widely
used rerank API: ``POST {"model", "query", "documents", "top_n"}`` answered by
``{"results": [{"index", "relevance_score"}, …]}``. The knowledge base sends it the best fused
candidates and re-orders them by relevance; when the service fails (an error status, a broken
or malformed answer) or a connect/read waits longer than ``VREP_RERANK_TIMEOUT_S``, search
keeps the fused order, so retrieval never depends on it being up. (The timeout bounds each
network wait, not the whole call: a service that trickles bytes can take longer.)

Blocking (``urllib``), like the rest of ``KnowledgeBase``: the app calls search in a thread.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Sequence

from bot.settings import Settings

MAX_RESPONSE_BYTES = 1 << 20  # a few hundred scores; anything larger is not a rerank answer


class RerankError(Exception):
    """The rerank service did not give a usable answer; the caller keeps its own order."""


class HttpReranker:
    """Relevance of passages to a query, from a rerank service."""

    def __init__(self, url: str, *, model: str | None, api_key: str | None, timeout_s: float):
        self._url = url
        self._model = model
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout_s = timeout_s

    def relevance(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, in the passages' order (higher is more relevant)."""
        request: dict[str, object] = {
            "query": query,
            "documents": list(passages),
            "top_n": len(passages),
            "return_documents": False,
        }
        if self._model:
            request["model"] = self._model
        http_request = urllib.request.Request(
            self._url, data=json.dumps(request).encode(), headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self._timeout_s) as response:
                answer = json.loads(response.read(MAX_RESPONSE_BYTES))
            results = answer["results"]
            scores: dict[int, float] = {
                int(item["index"]): float(item["relevance_score"]) for item in results
            }
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            raise RerankError(f"rerank service failed: {type(exc).__name__}: {exc}") from exc
        if sorted(scores) != list(range(len(passages))):
            raise RerankError("rerank service did not score every passage")
        return [scores[index] for index in range(len(passages))]


def reranker_from_settings(settings: Settings) -> HttpReranker | None:
    """The configured rerank service, or None (the default: fused order only)."""
    if not settings.rerank_url:
        return None
    key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else None
    return HttpReranker(
        settings.rerank_url,
        model=settings.rerank_model,
        api_key=key,
        timeout_s=settings.rerank_timeout_s,
    )
