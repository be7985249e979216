"""The originals an adverse-event case was read from, for PV's webhook.

Each case source with a stored ``media`` ref becomes one attachment: its ref, size and SHA-256
and, while the case's inline budget lasts, its bytes in base64 — inside the webhook body, so
the body's HMAC signature covers them. A file past the budget (or gone from the store) is
listed without its bytes; PV asks for it by ref.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

from media.reader import MediaReader

INLINE_BUDGET_BYTES = 5 * 1024 * 1024


async def case_attachments(
    reader: MediaReader | None,
    refs: Iterable[str],
    budget: int = INLINE_BUDGET_BYTES,
) -> list[dict[str, Any]]:
    """One entry per distinct ref, in the order given."""
    attachments: list[dict[str, Any]] = []
    for ref in dict.fromkeys(refs):
        content = await reader.read(ref) if reader is not None else None
        entry: dict[str, Any] = {"ref": ref}
        if content is not None:
            entry |= {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            if len(content) <= budget:
                entry["content_base64"] = base64.b64encode(content).decode("ascii")
                budget -= len(content)
        attachments.append(entry)
    return attachments
