"""Typed application keys for everything the aiohttp app holds (one module, one place)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.dispatcher import Dispatcher
from bot.llm import LLMClient
from bot.metrics import Metrics
from bot.pipeline import CallbacksInFlight
from bot.queue_monitor import QueueMonitor
from bot.services import Services
from bot.settings import Settings
from bot.storage.base import Storage
from bot.wecom.client import WeComClient
from knowledge.base import KnowledgeBase
from media import MediaReader
from records import Records

SETTINGS = web.AppKey("settings", Settings)
STORAGE = web.AppKey("storage", Storage)
METRICS = web.AppKey("metrics", Metrics)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
SERVICES = web.AppKey("services", Services)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
LLM: web.AppKey[LLMClient | None] = web.AppKey("llm")  # None when no LLM is configured
WECOM = web.AppKey("wecom", WeComClient)  # set only when WeCom is configured
QUEUE_MONITOR = web.AppKey("queue_monitor", QueueMonitor)
RECORDS = web.AppKey("records", Records)  # the system of record (records/)
MEDIA: web.AppKey[MediaReader] = web.AppKey("media")  # media store, speech and OCR (media/)
# callbacks being acknowledged in this process; its inbound workers wait for them (issue 22)
CALLBACKS_IN_FLIGHT = web.AppKey("callbacks_in_flight", CallbacksInFlight)
