"""The aiohttp application: ``create_app(settings)``.

Each resource is owned by its own cleanup context (opened at start-up, closed at shutdown, in
reverse order): the low-priority thread pool for blocking work (``bot.threads``), storage, the
system of record (``records``, migrated to head), the outbound HTTP session, the LLM client,
the knowledge base, the WeCom client, then the bot runtime (services, dispatcher, inbound
workers and the scheduler); last, the long-lived heap is frozen so the cycle collector never
walks it (``bot.heap``). Endpoints: ``/healthz`` (alive),
``/readyz`` (storage, knowledge base and records reachable, records schema at head),
``/metrics`` (Prometheus text) and the WeCom callback.

Nothing at start-up needs Redis: Redis connects lazily and every background worker waits out
an outage (``bot.outage``), so the app starts while Redis is down and ``/readyz`` says 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import TypeVar

from aiohttp import web

import console
import privacy
from bot.dead_letters import DEAD_LETTER_WATCHES
from bot.escalation import ESCALATION_QUEUE
from bot.heap import freeze_long_lived, unfreeze
from bot.keys import (
    CALLBACKS_IN_FLIGHT,
    DISPATCHER,
    HTTP_SESSION,
    KNOWLEDGE,
    LLM,
    MEDIA,
    METRICS,
    QUEUE_MONITOR,
    RECORDS,
    SERVICES,
    SETTINGS,
    STORAGE,
    WECOM,
)
from bot.llm import open_llm
from bot.metrics import CONTENT_TYPE, Metrics
from bot.outbox import OUTBOX_SCHEDULE, settings_outbox
from bot.pipeline import INBOUND_GROUP, INBOUND_QUEUE, CallbacksInFlight, InboundWorkers
from bot.queue_monitor import QueueMonitor
from bot.resources import open_http_session, open_knowledge, open_storage
from bot.runtime import build_runtime
from bot.settings import Settings
from bot.storage.base import StorageError
from bot.threads import background_threads_ctx
from bot.wecom.client import wecom_client_from_settings
from bot.wecom.senders import build_senders
from handlers import wecom_callback
from media import open_media
from records import install_retention, open_records, schema_status
from records.sink import audit_sink
from skills import handoff
from skills.adverse_events.delivery import create_delivery_worker
from skills.adverse_events.service import DELIVERY_GROUP, DELIVERY_QUEUE, PV_DEAD_LETTER_WATCH
from skills.handoff.worker import ESCALATION_GROUP

WORKER_QUEUES = (
    (INBOUND_QUEUE, INBOUND_GROUP),
    (ESCALATION_QUEUE, ESCALATION_GROUP),
    (DELIVERY_QUEUE, DELIVERY_GROUP),
)
"""The queues this process consumes, with their groups: their depth is watched."""

log = logging.getLogger(__name__)

T = TypeVar("T")


def _owned(
    key: web.AppKey[T], opener: Callable[[Settings], AbstractAsyncContextManager[T]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that opens one resource from the settings and holds it under ``key``."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with opener(app[SETTINGS]) as resource:
            app[key] = resource
            yield

    return context


async def _wecom_ctx(app: web.Application) -> AsyncIterator[None]:
    client = wecom_client_from_settings(app[SETTINGS], app[HTTP_SESSION], app[STORAGE])
    if client is not None:
        app[WECOM] = client
    yield


async def _off_the_loop(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own that nothing waits for once the caller is cancelled.

    The skills load their models while the runtime is built (seconds on a busy machine). On
    the event loop that would hold off Ctrl-C and SIGTERM until it ends; in the default pool,
    ``asyncio.run`` would join the thread before ``serve`` ends the process (issue 17).
    """
    pool = ThreadPoolExecutor(1, thread_name_prefix="start-up")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, work)
    finally:
        pool.shutdown(wait=False)


async def _runtime_ctx(app: web.Application, *, answer_messages: bool) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = app.get(WECOM)
    outbox = settings_outbox(settings, app[STORAGE], app[METRICS])
    senders = build_senders(client, app[STORAGE], app[METRICS], outbox) if client else {}
    services, dispatcher = await _off_the_loop(
        partial(
            build_runtime,
            settings,
            app[STORAGE],
            metrics=app[METRICS],
            llm=app[LLM],
            knowledge=app[KNOWLEDGE],
            senders=senders,
            wecom=client,
            records=app[RECORDS],
            media=app[MEDIA],
        )
    )
    await install_retention(
        app[RECORDS], settings, services.storage, services.scheduler, services.clock
    )
    await privacy.install_storage_retention(services)  # storage-side retention (privacy/)
    app[SERVICES] = services
    app[DISPATCHER] = dispatcher
    if senders:
        services.scheduler.register(OUTBOX_SCHEDULE, outbox.on_due)
    workers = InboundWorkers(
        services.storage,
        dispatcher,
        services.metrics,
        workers=settings.workers if answer_messages else 0,
        reclaim_idle_ms=int(settings.inbound_reclaim_idle_s * 1000),
        yield_to=app[CALLBACKS_IN_FLIGHT],  # acknowledgements first (issue 22)
    )
    pv_delivery = create_delivery_worker(services, app[HTTP_SESSION])
    escalations = handoff.create_worker(services)
    monitor = QueueMonitor(
        services.storage,
        services.metrics,
        WORKER_QUEUES,
        alert_depth=settings.queue_alert_depth,
        dead_letters=(*DEAD_LETTER_WATCHES, PV_DEAD_LETTER_WATCH),
    )
    app[QUEUE_MONITOR] = monitor
    audit_to_records = audit_sink(app[RECORDS], services.storage, services.metrics)
    if answer_messages:  # not in `serve --no-workers`: see create_app
        audit_to_records.start()
    workers.start()
    escalations.start()
    services.scheduler.start()
    pv_delivery.start()
    monitor.start()
    try:
        yield
    finally:
        await monitor.stop()
        await pv_delivery.stop()
        await services.scheduler.stop()
        await escalations.stop()
        await workers.stop()
        await audit_to_records.stop()


async def _heap_ctx(app: web.Application) -> AsyncIterator[None]:
    """Freeze the long-lived heap once everything is loaded and after each knowledge reload.

    Last of the cleanup contexts: models, the knowledge-base snapshot, the adverse-event
    detector and the routers exist by now (see ``bot.heap`` for why).
    """
    unsubscribe = app[KNOWLEDGE].on_reload(lambda: freeze_long_lived("knowledge reload"))
    freeze_long_lived("start-up")
    try:
        yield
    finally:
        unsubscribe()
        unfreeze()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, bool] = {}
    try:
        checks["storage"] = await asyncio.wait_for(request.app[STORAGE].ping(), timeout=2)
    except (StorageError, TimeoutError):
        checks["storage"] = False
    try:  # the records database answers and its schema is the one this code expects
        status = await asyncio.wait_for(schema_status(request.app[RECORDS]), timeout=2)
        checks["schema"] = status.at_head
    except Exception:  # a database down or unreachable means "not ready", never a 500
        checks["schema"] = False
    knowledge = request.app[SERVICES].knowledge
    if knowledge is not None:
        try:
            checks["knowledge"] = bool(await asyncio.to_thread(knowledge.ping))
        except Exception:  # any backend failure means "not ready", never a 500
            checks["knowledge"] = False
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    try:
        await request.app[QUEUE_MONITOR].measure()
    except StorageError:
        registry.errors.labels("storage").inc()
    response = web.Response(body=registry.render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def create_app(settings: Settings, *, answer_messages: bool = True) -> web.Application:
    """Build the webhook application; nothing is opened until the app starts.

    The roster is checked first (``SettingsError``), before the storage, models and database
    open: a malformed one stops start-up at once.

    ``answer_messages=False`` (``virtualrep serve --no-workers``): this process acknowledges
    and queues callbacks but handles no inbound message; ``virtualrep worker`` processes (the
    same app, not listening) answer them. Everything else runs in every process, as in any
    replica (issue 22: the workers' Python work no longer shares the callback's GIL), except
    the audit sink: copying the audit queue into the records database is bulk work that waits
    well (the entries are durable in the queue), so the workers do it, not the loop that
    acknowledges callbacks (there it cost ~2 ms of loop CPU per answered callback,
    bench/README.md).
    """
    handoff.check_set_up(settings, wecom_app=settings.wecom_api_configured)
    app = web.Application(client_max_size=settings.wecom_max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[CALLBACKS_IN_FLIGHT] = CallbacksInFlight()
    app.cleanup_ctx.append(background_threads_ctx)  # first in, last out: every thread's pool
    app.cleanup_ctx.append(_owned(STORAGE, open_storage))
    # migrated to head on start; a database down then is waited for (``/readyz`` says 503)
    app.cleanup_ctx.append(_owned(RECORDS, partial(open_records, wait=True)))
    app.cleanup_ctx.append(_owned(HTTP_SESSION, open_http_session))
    app.cleanup_ctx.append(_owned(LLM, open_llm))
    app.cleanup_ctx.append(_owned(KNOWLEDGE, open_knowledge))
    app.cleanup_ctx.append(_wecom_ctx)
    app.cleanup_ctx.append(_owned(MEDIA, open_media))
    app.cleanup_ctx.append(partial(_runtime_ctx, answer_messages=answer_messages))
    if settings.heap_freeze:
        app.cleanup_ctx.append(_heap_ctx)
    if settings.wecom_configured:
        wecom_callback.add_routes(app)  # after the runtime: kf syncs stop before the workers
    else:
        wecom_callback.add_unconfigured_routes(app)  # 503 with the reason, not a silent 404
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.add_subapp("/console", console.create_app())  # the web console (console/)
    return app
