"""English counts read "1 entry" and "2 entries", through one rule (``bot.i18n.noun``) that the
CLIs, the bot's texts and the console share; Chinese measure words stay as they are."""

from __future__ import annotations

from bot.i18n import counted, noun
from bot.models import Locale
from console.i18n import counter
from privacy.texts import _period


def test_one_takes_the_singular_every_other_count_the_plural() -> None:
    assert [counted(n, "case") for n in (0, 1, 2)] == ["0 cases", "1 case", "2 cases"]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(3, "entry", "entries") == "3 entries"
    assert (noun(1, "was", "were"), noun(2, "was", "were")) == ("was", "were")


def test_the_console_counts_in_english_and_keeps_the_chinese_measure_word() -> None:
    en, zh = counter("en"), counter("zh")
    assert (en("entries", 1), en("entries", 12), en("cases", 1)) == ("entry", "entries", "case")
    assert (zh("entries", 1), zh("cases", 1)) == ("条", "例")
    assert en("redacted", 1) == "removed by retention"  # not a countable noun: as translated


def test_a_retention_period_of_one_day_or_year_reads_in_the_singular() -> None:
    day = 24 * 3600
    assert _period(day, Locale.EN) == "1 day" and _period(365 * day, Locale.EN) == "1 year"
    assert _period(2 * 365 * day, Locale.EN) == "2 years" and _period(day, Locale.ZH) == "1 天"
