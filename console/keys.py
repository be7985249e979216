"""Typed keys of the console sub-app and of its requests (console-only; the bot's are in
``bot/keys.py``)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from console.auth import Member

TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
MEMBER = web.RequestKey("console_member", Member)
