"""The originals an adverse-event case was read from, for PV's webhook.

Each case source with a stored ``media`` ref becomes one attachment: its ref, size and SHA-256
and, while the case's inline budget lasts, its bytes in base64 — inside the webhook body, so
the body's HMAC signature covers them — plus, when links are set up (``VREP_MEDIA_LINK_KEY``),
a signed, expiring download link (``media.links``) that a PV officer opens in the console. A
file past the budget comes as the link alone; without links, by ref (``virtualrep`` keeps it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from media.reader import MediaReader

INLINE_BUDGET_BYTES = 5 * 1024 * 1024


async def case_attachments(
    reader: MediaReader | None,
    refs: Iterable[str],
    case_id: str,
    budget: int = INLINE_BUDGET_BYTES,
) -> list[dict[str, Any]]:
    """One entry per distinct ref, in the order given; links expire counted from now."""
    now = datetime.now(UTC)
    attachments: list[dict[str, Any]] = []
    for ref in dict.fromkeys(refs):
        content = await reader.read(ref) if reader is not None else None
        entry: dict[str, Any] = {"ref": ref}
        if content is not None:
            entry |= {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            if reader is not None and reader.links is not None:
                url, expires = reader.links.link(ref, case_id, now)
                entry |= {"url": url, "url_expires_at": expires.isoformat()}
            if len(content) <= budget:
                entry["content_base64"] = base64.b64encode(content).decode("ascii")
                budget -= len(content)
        attachments.append(entry)
    return attachments
