"""Console sessions in the shared store, so any replica serves any request (replicas are stateless).

The browser holds only a random token in an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure``
unless the console is reached over plain HTTP on the loopback interface, as in the simulator
and the tests). The store keeps ``console:session:<sha256(token)>`` — never the token itself —
with the member's user id, the sign-in route and the CSRF token, under a TTL of the idle
timeout that every request renews: a session idle longer is gone on every replica at once.
However active, a session ends ``MAX_AGE`` after sign-in (a taken cookie does not live forever).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from bot.storage.base import Storage

COOKIE: Final = "vrep_console"
STATE_COOKIE: Final = "vrep_console_state"  # sign-in state: OAuth ``state`` and the login form
LANG_COOKIE: Final = "vrep_console_lang"
_PREFIX: Final = "console:session:"
MAX_AGE: Final = timedelta(hours=12)


@dataclass(frozen=True)
class Session:
    session_id: str  # the hash the store keys it by (safe to log and audit)
    userid: str
    via: str  # "wecom" | "qr" | "local"
    csrf: str
    started_at: str


def _key(session_id: str) -> str:
    return _PREFIX + session_id


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, storage: Storage, idle_s: int, clock: Callable[[], datetime]) -> None:
        self._storage = storage
        self._idle_s = idle_s
        self._clock = clock

    async def open(self, userid: str, via: str, at: datetime) -> tuple[str, Session]:
        """A new session for ``userid``; returns the cookie token and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(_hash(token), userid, via, secrets.token_urlsafe(24), at.isoformat())
        await self._save(session)
        return token, session

    async def load(self, token: str) -> Session | None:
        """The live session of a cookie token, its idle timer restarted; ``None`` when expired."""
        if not token:
            return None
        session_id = _hash(token)
        raw: Any = await self._storage.get_json(_key(session_id))
        if not isinstance(raw, dict):
            return None
        session = Session(
            session_id,
            str(raw["userid"]),
            str(raw["via"]),
            str(raw["csrf"]),
            str(raw["started_at"]),
        )
        if self._clock() - datetime.fromisoformat(session.started_at) >= MAX_AGE:
            await self.close(session_id)
            return None
        await self._save(session)
        return session

    async def close(self, session_id: str) -> None:
        await self._storage.delete(_key(session_id))

    async def _save(self, session: Session) -> None:
        value = {
            "userid": session.userid,
            "via": session.via,
            "csrf": session.csrf,
            "started_at": session.started_at,
        }
        await self._storage.set_json(_key(session.session_id), value, ttl_s=self._idle_s)


def cookie_secure(request: web.Request) -> bool:
    """``Secure`` everywhere but plain HTTP to a loopback address (simulator, tests)."""
    if request.secure:
        return True
    host = (request.url.host or "").strip("[]")
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/console",
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(request),
    )
