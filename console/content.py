"""The console's seam to the approved-content library (the knowledge base and the Q&A skill).

``ContentLibrary`` lists, ingests, withdraws and previews; ``KnowledgeContent`` serves it from the
bot's own ``KnowledgeBase`` (blocking calls in a thread) and the Q&A skill's retrieval. The
preview runs the Q&A skill's own steps — search what a verified HCP may see today, keep the
passages that answer, compose them offline with their citations — so it shows what the bot would
answer and from which chunks (the LLM's wording and the guardrails' refusals are not applied).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import yaml

from bot.i18n import detect_locale
from bot.models import Locale
from bot.services import Services
from knowledge.base import IngestReport
from knowledge.schema import DocumentMeta
from skills.qa.answer import HitLike, compose_offline, no_information, select_passages
from skills.qa.service import service_of as qa_service


@dataclass(frozen=True)
class Preview:
    answer: str
    answered: bool
    passages: list[HitLike]  # the chunks the answer quotes (empty: "no approved information")
    considered: list[HitLike]  # every chunk retrieval found, best first


class ContentLibrary(Protocol):
    async def documents(self) -> list[DocumentMeta]: ...

    async def ingest(self, filename: str, body: bytes, meta: dict[str, Any]) -> IngestReport:
        """Ingest one uploaded file with its approval metadata (refusals in the report)."""
        ...

    async def withdraw(self, doc_id: str) -> bool: ...

    async def preview(self, question: str, today: date) -> Preview: ...


class KnowledgeContent:
    def __init__(self, services: Services) -> None:
        if services.knowledge is None:
            raise LookupError("no knowledge base")
        self._services = services
        self._kb = services.knowledge

    async def documents(self) -> list[DocumentMeta]:
        return await asyncio.to_thread(self._kb.list_documents)

    async def ingest(self, filename: str, body: bytes, meta: dict[str, Any]) -> IngestReport:
        def run() -> IngestReport:
            with tempfile.TemporaryDirectory(prefix="vrep-upload-") as folder:
                path = Path(folder) / Path(filename).name
                path.write_bytes(body)
                sidecar = path.with_name(path.name + ".meta.yaml")
                sidecar.write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
                report = self._kb.ingest_paths([path])
            # Name the upload as the person called it, not by the temporary path.
            report.refused = [replace(r, origin=path.name) for r in report.refused]
            return report

        return await asyncio.to_thread(run)

    async def withdraw(self, doc_id: str) -> bool:
        return await asyncio.to_thread(self._kb.withdraw, doc_id)

    async def preview(self, question: str, today: date) -> Preview:
        qa = qa_service(self._services)
        locale = detect_locale(question) or Locale.ZH
        library = await qa.library(today)
        hits = await qa.search(question, hcp=True, today=today, library=library, named=())
        answering = await asyncio.to_thread(qa.with_answers, qa.answerable(question, hits, library))
        composed = compose_offline(select_passages(answering, locale), locale)
        if composed is None:
            return Preview(no_information(locale), False, [], hits)
        return Preview(composed.text, True, list(composed.cited), hits)


def content_of(services: Services) -> ContentLibrary | None:
    """The library when the bot has a knowledge base (it always has one when serving)."""
    return KnowledgeContent(services) if services.knowledge is not None else None
