"""Typed application keys for everything the aiohttp app holds (one module, one place)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from bot.dispatcher import Dispatcher
from bot.llm import LLMClient
from bot.metrics import Metrics
from bot.services import Services
from bot.settings import Settings
from bot.storage.base import Storage
from bot.wecom.client import WeComClient

SETTINGS = web.AppKey("settings", Settings)
STORAGE = web.AppKey("storage", Storage)
METRICS = web.AppKey("metrics", Metrics)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
SERVICES = web.AppKey("services", Services)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
KNOWLEDGE = web.AppKey("knowledge", Any)  # knowledge.base.KnowledgeBase when loaded
LLM: web.AppKey[LLMClient | None] = web.AppKey("llm")  # None when no LLM is configured
WECOM = web.AppKey("wecom", WeComClient)  # set only when WeCom is configured
