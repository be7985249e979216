"""Language detection for routing replies: Chinese first, English too."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.models import Locale

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_locale(text: str) -> Locale | None:
    """Return the language a message is written in, or None when it has no words (e.g. "1").

    Any Chinese character makes it Chinese: doctors mix English drug names and abbreviations
    into Chinese sentences, never the other way round.
    """
    if _CJK.search(text):
        return Locale.ZH
    if _LATIN_WORD.search(text):
        return Locale.EN
    return None


def pick(locale: Locale, zh: str, en: str) -> str:
    """Choose the text for ``locale``."""
    return zh if locale is Locale.ZH else en


def local_time(moment: datetime, timezone: str) -> str:
    """``moment`` as people read it: ``YYYY-MM-DD HH:MM`` in the business time zone
    (``VREP_TIMEZONE``), never the UTC the records keep."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """The English noun in the number ``count`` takes: ``entry`` for 1, ``entries`` otherwise.

    ``plural`` defaults to ``singular + "s"``. One rule for every count the bot, the CLIs and
    the console print, so none reads "1 entries". Chinese nouns do not inflect.
    """
    return singular if count == 1 else (plural or f"{singular}s")


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and its English noun: ``"1 entry"``, ``"3 entries"``, ``"0 cases"``."""
    return f"{count} {noun(count, singular, plural)}"
