"""Compliance: no inducement wording anywhere the skill writes, and every step is audited."""

from __future__ import annotations

from skills.meetings import texts
from skills.meetings.catalog import SAMPLE_CATALOG, load_catalog_file
from skills.meetings.compliance import BANNED_WORDS, inducement_words


def all_templates() -> list[str]:
    found: list[str] = []
    for value in vars(texts).values():
        candidates = value.values() if isinstance(value, dict) else [value]
        for candidate in candidates:
            if isinstance(candidate, texts.Text):
                found += [candidate.zh, candidate.en]
    return found


def test_scanner_finds_banned_words_in_both_languages() -> None:
    assert inducement_words("参会送礼品和红包") == ["礼品", "红包"]
    assert inducement_words("A GIFT and an Honorarium") == ["gift", "honorarium"]
    assert inducement_words("An academic meeting on hypertension") == []
    assert {"礼品", "红包", "返利", "gift", "honorarium", "cash"} <= set(BANNED_WORDS)


def test_no_template_contains_inducement_wording() -> None:
    templates = all_templates()
    assert len(templates) > 80  # the scan really covers the module
    offending = {text: inducement_words(text) for text in templates if inducement_words(text)}
    assert offending == {}


def test_sample_catalog_has_no_inducement_wording() -> None:
    raw = SAMPLE_CATALOG.read_text(encoding="utf-8")
    assert inducement_words(raw) == []
    assert load_catalog_file(SAMPLE_CATALOG).problems == ()
