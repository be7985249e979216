"""The optional rerank service: re-orders the best fused candidates; its failure changes nothing.

The service is faked at the network boundary: an aiohttp server on 127.0.0.1 speaking the rerank
API (``{"model","query","documents","top_n"}`` → ``{"results":[{"index","relevance_score"}]}``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.settings import load_settings
from knowledge.base import KnowledgeBase
from tests.local_http import serving

BOTH = frozenset({"hcp", "public"})
MISSED_DOSE = "忘记吃药了怎么办"  # the missed-dose answer is among the fused top 3


@dataclass
class RerankService:
    """Scores a passage 1.0 when it mentions overdose (过量), else 0.1; can fail or stall."""

    url: str = ""
    mode: str = "ok"  # ok | error | slow | partial
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.mode == "error":
            return web.json_response({"error": "model not loaded"}, status=503)
        if self.mode == "slow":
            await asyncio.sleep(1.0)
        documents = body["documents"]
        if self.mode == "partial":
            documents = documents[:1]
        results = [
            {"index": i, "relevance_score": 1.0 if "过量" in text else 0.1}
            for i, text in enumerate(documents)
        ]
        return web.json_response({"results": results})


@pytest.fixture
async def service() -> AsyncIterator[RerankService]:
    fake = RerankService()
    app = web.Application()
    app.router.add_post("/v1/rerank", fake.handle)
    async with serving(app) as base_url:
        fake.url = f"{base_url}/v1/rerank"
        yield fake


@contextlib.asynccontextmanager
async def reranking_kb(kb_dir: Path, **rerank: Any) -> AsyncIterator[KnowledgeBase]:
    """The sample library opened with a rerank service configured."""
    kb = await asyncio.to_thread(KnowledgeBase.open, load_settings(kb_dir=kb_dir, **rerank))
    try:
        yield kb
    finally:
        kb.close()


async def test_rerank_service_orders_the_fused_candidates(
    sample_knowledge: KnowledgeBase, sample_kb_dir: Path, service: RerankService
) -> None:
    fused = await asyncio.to_thread(sample_knowledge.search, MISSED_DOSE, 3, audiences=BOTH)
    assert "SR-NRX-ZH-09" in [hit.doc_id for hit in fused]  # membership: no CPU-dependent tie
    assert all(hit.rerank_score is None for hit in fused)

    async with reranking_kb(
        sample_kb_dir,
        rerank_url=service.url,
        rerank_model="bge-reranker-v2-m3",
        rerank_api_key="rerank-key",
        rerank_candidates=10,
    ) as kb:
        hits = await asyncio.to_thread(kb.search, MISSED_DOSE, 3, audiences=BOTH)

    assert "过量" in hits[0].text and hits[0].rerank_score == 1.0
    scores = [hit.rank_score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    (sent,) = service.requests
    assert sent["query"] == MISSED_DOSE and sent["model"] == "bge-reranker-v2-m3"
    assert len(sent["documents"]) == sent["top_n"] == 10
    assert service.authorizations == ["Bearer rerank-key"]


@pytest.mark.parametrize("mode", ["error", "slow", "partial"])
async def test_a_failing_rerank_service_keeps_the_fused_order(
    sample_knowledge: KnowledgeBase, sample_kb_dir: Path, service: RerankService, mode: str
) -> None:
    service.mode = mode
    fused = await asyncio.to_thread(sample_knowledge.search, MISSED_DOSE, 3, audiences=BOTH)
    async with reranking_kb(sample_kb_dir, rerank_url=service.url, rerank_timeout_s=0.3) as kb:
        hits = await asyncio.to_thread(kb.search, MISSED_DOSE, 3, audiences=BOTH)

    assert [hit.chunk_id for hit in hits] == [hit.chunk_id for hit in fused]
    assert all(hit.rerank_score is None for hit in hits)
    assert len(service.requests) == 1


async def test_a_broken_http_answer_keeps_the_fused_order(
    sample_knowledge: KnowledgeBase, sample_kb_dir: Path
) -> None:
    """A service that answers with a garbage status line (not HTTP at all)."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with (
        server,
        reranking_kb(
            sample_kb_dir, rerank_url=f"http://127.0.0.1:{port}/v1/rerank", rerank_timeout_s=2
        ) as kb,
    ):
        hits = await asyncio.to_thread(kb.search, MISSED_DOSE, 3, audiences=BOTH)

    fused = await asyncio.to_thread(sample_knowledge.search, MISSED_DOSE, 3, audiences=BOTH)
    assert [hit.chunk_id for hit in hits] == [hit.chunk_id for hit in fused]
    assert all(hit.rerank_score is None for hit in hits)
