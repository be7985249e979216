"""Who may open which console route: ``requires`` tags a handler, one middleware enforces it.

A handler carries its rule as a tag (``requires(Role.PV)``, ``requires(MEMBER)`` for any signed-in
corp member, ``public`` for the sign-in pages and static files). The sub-app's single middleware
reads the tag of the matched handler *before* the handler runs (so an htmx request for a partial
is checked like a full page), signs the request in from its session cookie, checks the member's
roles (re-read from the roster on every request, so a member taken off the roster loses access at
once), checks the CSRF token of every unsafe method, and denies any route without a tag. Every
denial is written to the audit trail.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from skills.handoff.roster import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_TAG: Final = "_console_access"
MEMBER: Final = "member"  # any signed-in member of the roster, whatever their role
PUBLIC: Final = "public"  # no session needed (sign-in pages, static files)
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf"


@dataclass(frozen=True)
class Rule:
    """Who may open a route: anyone (``public``), any member, or members holding one of
    ``roles``."""

    public: bool = False
    any_member: bool = False
    roles: frozenset[Role] = frozenset()

    def admits(self, roles: frozenset[Role]) -> bool:
        return self.public or (bool(roles) and (self.any_member or bool(self.roles & roles)))


@dataclass(frozen=True)
class Member:
    """The signed-in corp member of one request (roles as the roster says now)."""

    userid: str
    name: str
    roles: frozenset[Role]
    csrf: str
    session_id: str

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


def requires(*roles: Role | str) -> Callable[[Handler], Handler]:
    """Tag a handler with who may open it: roster roles, ``MEMBER`` or ``PUBLIC``."""
    if not roles:
        raise ValueError("requires() needs at least one role")
    rule = Rule(
        public=PUBLIC in roles,
        any_member=MEMBER in roles,
        roles=frozenset(Role(role) for role in roles if role not in (PUBLIC, MEMBER)),
    )

    def tag(handler: Handler) -> Handler:
        setattr(handler, _TAG, rule)
        return handler

    return tag


public = requires(PUBLIC)


def rule_of(handler: object) -> Rule | None:
    """The tag of a matched handler; ``None`` for an untagged one (which is denied)."""
    rule = getattr(handler, _TAG, None)
    return rule if isinstance(rule, Rule) else None


def csrf_matches(expected: str, request: web.Request, form_value: str | None) -> bool:
    """The request carries ``expected`` in the ``X-CSRF-Token`` header (htmx) or form field."""
    given = request.headers.get(CSRF_HEADER) or form_value or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
