"""Signed, expiring links to a case's originals, for PV (served by the console).

A voice note, photo or PDF above the webhook's inline budget reaches PV as a link:
``<VREP_MEDIA_LINK_BASE_URL>/console/pv/media/<ref>?case=<id>&exp=<unix>&sig=<hmac>``. The
signature (HMAC-SHA256 with ``VREP_MEDIA_LINK_KEY`` over ref, case and expiry) says the bot
issued the link for this file of this case until then; the console route adds who may open
it — a signed-in PV officer (the console's own access check, role re-read from the roster on
every request). A leaked link is useless without a PV session, and a PV session cannot reach
files no case was delivered with. Every download — served or refused — is audited
(``media_download``: member, case, ref, outcome; the route is ``media.download``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

ROUTE = "/console/pv/media/"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkSigner:
    """Issues and checks the links (one key, shared by every replica)."""

    key: bytes
    base_url: str
    ttl: timedelta

    def link(self, ref: str, case_id: str, now: datetime) -> tuple[str, datetime]:
        """The download URL for ``ref`` of ``case_id`` and when it expires."""
        path, expires = self.path(ref, case_id, now)
        return f"{self.base_url.rstrip('/')}{path}", expires

    def path(self, ref: str, case_id: str, now: datetime) -> tuple[str, datetime]:
        """The link without the bot's address, for pages the console itself serves."""
        expires = now.astimezone(UTC) + self.ttl
        exp = int(expires.timestamp())
        query = urlencode({"case": case_id, "exp": exp, "sig": self._sign(ref, case_id, exp)})
        return f"{ROUTE}{ref}?{query}", expires

    def check(self, ref: str, case_id: str, exp: str, sig: str, now: datetime) -> str | None:
        """None when the link is good; else why not ("signature", "expired")."""
        if not exp.isdigit() or not hmac.compare_digest(sig, self._sign(ref, case_id, int(exp))):
            return "signature"
        return "expired" if int(exp) < now.timestamp() else None

    def _sign(self, ref: str, case_id: str, exp: int) -> str:
        message = f"{ref}\n{case_id}\n{exp}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def signer_from(key: str | None, base_url: str | None, ttl_h: float) -> LinkSigner | None:
    """The signer for these settings; None (no links, files listed by ref) without a key.

    Called once at start-up (``open_media``). Links on without the bot's public address still
    work on the console's case page (it signs paths), but the links in the PV webhook body and
    on the WeCom card would have no host: one warning says so, and no host is guessed."""
    if not key:
        return None
    if not base_url:
        log.warning(
            "VREP_MEDIA_LINK_KEY is set but VREP_MEDIA_LINK_BASE_URL is not: download links in "
            "the PV webhook body and the WeCom card are host-less paths (/console/pv/media/...) "
            "that PV cannot open; set VREP_MEDIA_LINK_BASE_URL to the bot's public address "
            "(where /console is served), e.g. https://bot.example.com"
        )
    return LinkSigner(key.encode(), base_url or "", timedelta(hours=ttl_h))
