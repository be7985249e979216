"""``virtualrep serve``: bind the port first, start the app, say "serving" once it is open.

The edges an operator meets (issue 17):

- The address is resolved and the port bound before anything starts, so a port in use or a
  host that does not resolve ends at once with one line (``ListenError``, exit code 2), not
  after the start-up (the first ingest) and never with a traceback.
- "serving" is logged only once the listening socket accepts connections.
- Ctrl-C or SIGTERM, during start-up too, cancels what is starting, closes what was opened and
  ends the process promptly; blocking start-up work (the first ingest) stops at its next
  batch (``bot.resources.open_knowledge``).
- Both run on the event loop ``VREP_EVENT_LOOP`` names (``run``): uvloop when installed
  ("auto"), whose loop iterations and socket calls cost less CPU per callback (issue 22).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import signal
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

log = logging.getLogger("virtualrep")

T = TypeVar("T")
_LOOKS_NUMERIC = re.compile(r"[0-9.]+|.*:.*")  # IPv4 digits and dots, or IPv6


class ListenError(Exception):
    """The address cannot be served; ``str(err)`` is the one line shown to the operator."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not listening yet: connections are refused until the
    app has started, rather than left waiting for the whole start-up)."""
    if _LOOKS_NUMERIC.fullmatch(host):  # "999.1.1.1" is no name either: don't ask DNS
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ListenError(f"cannot serve on {host}:{port}: not an IP address") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ListenError(f"cannot serve on {host}:{port}: host not resolved ({reason})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the event loop ``choice`` (``Settings.event_loop``) names: uvloop's for
    "uvloop", and for "auto" when it is installed; None (asyncio's own, as ``asyncio.run``
    makes it) for "asyncio" or when uvloop is missing. The settings refuse "uvloop" without it."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, event_loop: str) -> T:
    """``asyncio.run(main)`` on the event loop ``event_loop`` names (``loop_factory``)."""
    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The running event loop's kind, as logged and benchmarked: "uvloop" or "asyncio"."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def blocking_threads(workers: int) -> ThreadPoolExecutor:
    """The threads for blocking work (encoders, Chroma, files): one per inbound worker plus
    four for everything else, so messages in flight never queue for a thread (the default
    pool has CPUs + 4) and meet fairly at the encoders' turns (``knowledge.encoder_turns``)."""
    return ThreadPoolExecutor(max_workers=workers + 4, thread_name_prefix="blocking")


async def serve(
    app: web.Application, sock: socket.socket | None, host: str, port: int, *, workers: int
) -> None:
    """Start ``app``, serve on ``sock`` until cancelled (Ctrl-C, SIGTERM), then clean up.

    Without ``sock`` (``virtualrep worker``) the app runs its resources and workers and
    listens nowhere.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.set_default_executor(blocking_threads(workers))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        try:
            await runner.setup()
        except BaseException:
            await app.cleanup()  # close what was opened before the start-up was interrupted
            raise
        if sock is None:
            log.info("working (not listening)", extra={"event_loop": loop_name()})
        else:
            try:
                await web.SockSite(runner, sock).start()
            except OSError as exc:  # another process started listening on the port meanwhile
                raise ListenError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
            log.info("serving", extra={"host": host, "port": port, "event_loop": loop_name()})
        await asyncio.Event().wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await runner.cleanup()
        if sock is not None:
            sock.close()
        log.debug("stopped")
