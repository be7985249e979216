"""The approved materials of a meeting, as titles and citations from the knowledge base.

The catalog names knowledge-base document ids. When a knowledge base is configured, each id is
looked up among the hits of a search for the meeting's subject; the catalog's own title is the
fallback, then the bare id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.models import Locale
from skills.meetings.catalog import Meeting

if TYPE_CHECKING:
    from knowledge.base import KnowledgeBase

log = logging.getLogger(__name__)

SEARCH_DEPTH = 50


async def material_lines(
    knowledge: KnowledgeBase | None, meeting: Meeting, locale: Locale
) -> list[str]:
    """One line per material: "title — citation" when known."""
    found: dict[str, str] = {}
    if knowledge is not None and meeting.materials:
        query = " ".join([meeting.title.get(locale), meeting.therapeutic_area, *meeting.tags])
        try:
            for hit in await asyncio.to_thread(knowledge.search, query, SEARCH_DEPTH):
                if hit.doc_id not in found:
                    found[hit.doc_id] = (
                        f"{hit.title} — {hit.citation}" if hit.citation else hit.title
                    )
        except Exception:  # the knowledge base is optional here: fall back to catalog titles
            log.warning("knowledge base lookup for meeting materials failed", exc_info=True)
    return [
        found.get(material.doc_id) or material.title or material.doc_id
        for material in meeting.materials
    ]
