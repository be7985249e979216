"""Inducement wording that must never appear in a meeting invitation, reminder or catalog entry.

Pharma codes (and China's anti-commercial-bribery rules) forbid luring doctors to promotional
or academic events with gifts, cash or fees. Catalog entries containing these words are
rejected, and a test scans every message template of the skill.
"""

from __future__ import annotations

import re

BANNED_WORDS: tuple[str, ...] = (
    "礼品",
    "礼物",
    "红包",
    "返利",
    "回扣",
    "现金",
    "讲课费",
    "劳务费",
    "补贴",
    "奖品",
    "抽奖",
    "购物卡",
    "积分兑换",
    "gift",
    "honorarium",
    "cash",
    "voucher",
    "reward",
    "rebate",
    "prize",
    "lottery",
    "red packet",
    "kickback",
)

_BANNED = re.compile("|".join(re.escape(word) for word in BANNED_WORDS), re.IGNORECASE)


def inducement_words(text: str) -> list[str]:
    """The banned words found in ``text`` (lower-cased, in order of appearance)."""
    return [match.group(0).lower() for match in _BANNED.finditer(text)]
