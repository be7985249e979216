"""The packaged sample library: a fictional portfolio to run the bot on embedded defaults.

``knowledge/library/`` holds Markdown documents with YAML front matter about Noravex®/诺拉维®
(nolavastatin, a fictional statin) from Aurelis Pharma/奥瑞利斯制药 (a fictional company):
prescribing-information summaries (with ``approved_indications``/``approved_populations``/
``approved_dose`` for the off-label guardrail), standard responses, study summaries, meeting
and patient materials, in Chinese and English. MM-NRX-EN-2023 is expired and ST-NOVA-1-INTERIM
withdrawn on purpose, so the filters show.
"""

from __future__ import annotations

import threading
from pathlib import Path

from knowledge.base import KnowledgeBase

LIBRARY_DIR = Path(__file__).with_name("library")


def ensure_sample_library(kb: KnowledgeBase, stop: threading.Event | None = None) -> int:
    """Ingest the sample library; documents already present (same doc_id+version) are skipped.

    Returns how many documents were added or replaced. ``stop`` set (Ctrl-C during start-up)
    ends the ingest at its next embedding batch with ``IngestStopped``, nothing written.
    """
    report = kb.ingest_paths([LIBRARY_DIR], stop=stop)
    if report.refused:
        raise RuntimeError("sample library is invalid: " + report.refused[0].line)
    return len(report.added) + len(report.replaced)
