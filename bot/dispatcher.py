"""Routing of inbound messages to skills, in the manner of aiogram 3.

One ``Dispatcher`` owns an ordered chain of middlewares (cross-cutting duties that run on every
message: the per-conversation lock with state loading, audit, adverse-event screening, the
human-mode gate) and a list of skill ``Router``s with explicit priorities. Each skill module
exposes a factory ``create_router(services) -> Router``.

A router handler receives the ``Context`` and either handles the message (returns None) or
returns ``UNHANDLED`` so that the next matching handler gets a chance.

Handlers may carry ``flags`` (as in aiogram: ``router.message(filter, flags={...})``) that
*handler middlewares* read: those wrap every matched handler of every router (added with
``Dispatcher.add_handler_middleware``), see ``ctx.flags`` and may run the handler, answer
instead of it, or pass (``UNHANDLED``). Authorisation of rep-side actions is one of them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from bot.i18n import pick
from bot.models import Conversation, InboundMessage, Locale, Reply, TextReply
from bot.profiles import DoctorProfile

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


class _Unhandled:
    def __repr__(self) -> str:
        return "UNHANDLED"


UNHANDLED: Final = _Unhandled()

HandlerResult = _Unhandled | None
Handler = Callable[["Context"], Awaitable[HandlerResult]]
Filter = Callable[["Context"], bool | Awaitable[bool]]
NextStep = Callable[["Context"], Awaitable[None]]


@dataclass
class Context:
    """Everything a middleware or skill handler may use for one inbound message."""

    message: InboundMessage
    services: Services
    replies: list[Reply] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # annotations left by middlewares
    skill: str | None = None  # name of the router that handled the message
    handler: str | None = None
    error: BaseException | None = None
    profile: DoctorProfile | None = None  # the doctor's profile (external senders only)
    flags: Mapping[str, Any] = field(default_factory=dict)  # the matched handler's flags
    _conversation: Conversation | None = None

    @property
    def conversation(self) -> Conversation:
        if self._conversation is None:
            raise RuntimeError("conversation state is loaded by the lock middleware")
        return self._conversation

    @conversation.setter
    def conversation(self, value: Conversation) -> None:
        self._conversation = value

    @property
    def has_conversation(self) -> bool:
        return self._conversation is not None

    @property
    def locale(self) -> Locale:
        return self.conversation.locale if self._conversation else Locale.ZH

    @property
    def now(self) -> datetime:
        return self.services.clock()

    def t(self, zh: str, en: str) -> str:
        """The text in the conversation's language."""
        return pick(self.locale, zh, en)

    def reply(self, *replies: Reply | str) -> None:
        """Queue replies; plain strings become text replies."""
        for item in replies:
            self.replies.append(TextReply(text=item) if isinstance(item, str) else item)


class Middleware(Protocol):
    """Wraps the rest of the chain; call ``await next_step(ctx)`` to continue (or don't)."""

    async def __call__(self, next_step: NextStep, ctx: Context) -> None: ...


class HandlerMiddleware(Protocol):
    """Wraps one matched handler (its flags are in ``ctx.flags``); returns what it returned,
    its own result instead, or ``UNHANDLED`` to let the next matching handler try."""

    async def __call__(self, handler: Handler, ctx: Context) -> HandlerResult: ...


@dataclass(frozen=True)
class _Route:
    handler: Handler
    filters: tuple[Filter, ...]
    flags: Mapping[str, Any]


class Router:
    """A skill's handlers, tried in registration order; the router has a dispatch priority."""

    def __init__(self, name: str, priority: int) -> None:
        self.name = name
        self.priority = priority
        self._routes: list[_Route] = []

    def message(
        self, *filters: Filter, flags: Mapping[str, Any] | None = None
    ) -> Callable[[Handler], Handler]:
        """Register a handler that runs when every filter passes; ``flags`` are for the
        handler middlewares (e.g. which rep action the handler performs)."""

        def register(handler: Handler) -> Handler:
            self._routes.append(_Route(handler, filters, dict(flags or {})))
            return handler

        return register

    async def handle(self, ctx: Context, middlewares: tuple[HandlerMiddleware, ...] = ()) -> bool:
        """Run the first matching handler that does not decline; True when one handled it."""
        for route in self._routes:
            if not await _passes(route.filters, ctx):
                continue
            ctx.skill, ctx.handler, ctx.flags = self.name, route.handler.__name__, route.flags
            call = route.handler
            for middleware in reversed(middlewares):
                call = _wrap(middleware, call)
            if await call(ctx) is not UNHANDLED:
                return True
        ctx.skill = ctx.handler = None
        ctx.flags = {}
        return False


def _wrap(middleware: HandlerMiddleware, handler: Handler) -> Handler:
    async def wrapped(ctx: Context) -> HandlerResult:
        return await middleware(handler, ctx)

    return wrapped


async def _passes(filters: tuple[Filter, ...], ctx: Context) -> bool:
    for check in filters:
        outcome = check(ctx)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if not outcome:
            return False
    return True


def apology(locale: Locale) -> TextReply:
    return TextReply(
        text=pick(
            locale,
            "抱歉，处理您的消息时出了点问题，我们已记录。请稍后再试，或回复“转人工”联系代表。",
            "Sorry, something went wrong while handling your message; it has been logged. "
            "Please try again later, or reply 'human' to reach a representative.",
        )
    )


class Dispatcher:
    """Runs the middleware chain and then the routers, highest priority first."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._middlewares: list[Middleware] = []
        self._handler_middlewares: list[HandlerMiddleware] = []
        self._routers: list[Router] = []

    def add_middleware(self, middleware: Middleware) -> None:
        """Append a middleware; the first added is the outermost."""
        self._middlewares.append(middleware)

    def add_handler_middleware(self, middleware: HandlerMiddleware) -> None:
        """Wrap every matched handler of every router; the first added is the outermost."""
        self._handler_middlewares.append(middleware)

    def include_router(self, router: Router) -> None:
        if any(existing.name == router.name for existing in self._routers):
            raise ValueError(f"router {router.name!r} is already included")
        self._routers.append(router)
        self._routers.sort(key=lambda r: r.priority, reverse=True)

    @property
    def routers(self) -> tuple[Router, ...]:
        return tuple(self._routers)

    async def feed(self, message: InboundMessage, **annotations: Any) -> Context:
        """Handle one message; returns the context with replies, skill and any error.

        ``annotations`` seed ``ctx.data`` (e.g. ``accept_gap=True`` from the pipeline).
        """
        ctx = Context(message=message, services=self.services, data=dict(annotations))
        step: NextStep = self._route
        for middleware in reversed(self._middlewares):
            step = _bind(middleware, step)
        await step(ctx)
        return ctx

    async def _route(self, ctx: Context) -> None:
        """Innermost step: the skills. A raising skill is logged and answered with an apology."""
        try:
            middlewares = tuple(self._handler_middlewares)
            for router in self._routers:
                if await router.handle(ctx, middlewares):
                    return
        except Exception as exc:  # a skill bug must never stop the worker
            log.exception(
                "skill failed",
                extra={"message_id": ctx.message.message_id, "skill": ctx.skill},
            )
            ctx.error = exc
            ctx.replies[:] = [apology(ctx.locale)]


def _bind(middleware: Middleware, next_step: NextStep) -> NextStep:
    async def step(ctx: Context) -> None:
        await middleware(next_step, ctx)

    return step
