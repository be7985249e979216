"""Spaces the OCR engine dropped from English text ("dizzinesson day three").

PP-OCR's recogniser sometimes reads a narrow space as nothing, and a glued word hides an
adverse-event cue from screening ("rashafter" has no "rash" token). Box geometry does not tell
a dropped space apart from a wide letter gap reliably enough (measured on rendered lab reports,
see bench/README.md), so a glued run is split with a word segmentation that ships offline:
``wordninja`` (MIT; English Wikipedia unigram ranks, 126k words, inside the package).

Splitting is conservative, because a drug or a medical term the word list lacks must stay
whole ("Noravex" would become "Nor avex", "hepatotoxicity" "he pato toxicity"): a run of
letters is split only when it is not itself a listed word and every part is a plausible word —
content words of 4+ letters, listed, and common (rank < 20,000) or long (6+ letters), function words
("on", "the", "after"; not "in" or "is" at the end: "formalin") at most half of them and not two
in a row (but "after the"), and no
word-forming piece at either end ("anti", "broncho", "ness"). Punctuation glued to the next word
("Prescription:Noravex") gets its space back too.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Final

import wordninja


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COMMON_RANK: Final = 20_000
_LONG: Final = 6
_MIN_RUN: Final = 5  # shorter runs are words or abbreviations, not two glued words
_MIN_CONTENT: Final = 4  # "he par in" (heparin), "ace tabular": short pieces are not words here
_FUNCTION: Final = _words(
    "an and as at but by for from had has her his in is it its not of on or our she than that "
    "the then this to was we were with after before day"
)
_STARTERS: Final = _FUNCTION - {"an", "as", "at", "in", "is", "it", "on", "or", "to"}
"""Function words a glued run may begin with: "in"+"dwelling" is one word."""
_ENDERS: Final = _FUNCTION - {"an", "as", "in", "is", "it"}
"""Function words a glued run may end with: "formal"+"in", "labial"+"is" are one word."""
_PREFIXES: Final = _words(
    "amino ante antero anti auto bio broncho cardio cerebro contra counter cross down echo "
    "electro extra fronto gastro hydroxy hyper hypo immuno inter intra micro macro mono multi "
    "neuro non over para peri photo poly post psycho radio semi super tele thermo trans ultra "
    "under up"
)
_SUFFIXES: Final = _words("able ally less like logic logical ment ness ship wise ward head")
_RUN = re.compile(rf"(?<![A-Za-z])[A-Za-z]{{{_MIN_RUN},}}(?![A-Za-z])")
_PUNCT = re.compile(r"(?<=[A-Za-z])([,;:])(?=[A-Za-z])")
_BEFORE_NAME = re.compile(r"(?<![A-Za-z])([a-z]{2,})(?=[A-Z][a-z])")  # "afterNoravex"
_ACRONYM = re.compile(r"(?<![A-Za-z])([A-Z]{2,})([a-z]{4,})(?![A-Za-z])")  # "ALTraised"
_BEFORE_NUMBER = re.compile(r"(?<![A-Za-z])([a-z]{2,})(?=\d)")  # "to180"


@cache
def _ranks() -> dict[str, int]:
    """Word → frequency rank (0 = most frequent), from the list inside the wordninja package."""
    path = Path(wordninja.__file__).parent / "wordninja" / "wordninja_words.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as words:
        return {word: rank for rank, word in enumerate(words.read().split())}


def _plausible(parts: list[str], ranks: dict[str, int]) -> bool:
    """Whether ``parts`` read as separate words: content words long enough and listed (common
    or long), at most one function word and not a word-forming piece ("anti", "ness")."""
    words = [part.lower() for part in parts]
    function = [word in _FUNCTION for word in words]
    if 2 * sum(function) > len(words):
        return False  # mostly function words: "his to logic" is histologic
    for word, (before, after) in zip(words[1:], pairwise(function), strict=True):
        if before and after and word != "the":
            return False  # two function words in a row, unless "... after the"
    if words[0] in _PREFIXES or words[-1] in _SUFFIXES:
        return False
    if (words[0] in _FUNCTION and words[0] not in _STARTERS) or (
        words[-1] in _FUNCTION and words[-1] not in _ENDERS
    ):
        return False
    for word in words:
        if word in _FUNCTION:
            continue
        rank = ranks.get(word)
        if rank is None or len(word) < _MIN_CONTENT:
            return False
        if rank >= _COMMON_RANK and len(word) < _LONG:
            return False
    return True


def _split_run(match: re.Match[str]) -> str:
    run = match.group(0)
    ranks = _ranks()
    if run.lower() in ranks or not (run.islower() or run[1:].islower()):
        return run  # a listed word, or an acronym / mixed case such as "ALTraised"
    parts = wordninja.split(run)
    if len(parts) < 2 or "".join(parts) != run or not _plausible(parts, ranks):
        return run
    return " ".join(parts)


def _after_function_word(match: re.Match[str]) -> str:
    word = match.group(1)
    return f"{word} " if word in _FUNCTION else word


def _split_acronym(match: re.Match[str]) -> str:
    acronym, word = match.groups()
    return f"{acronym} {word}" if _plausible([word], _ranks()) else match.group(0)


def respace(text: str) -> str:
    """``text`` with dropped spaces between English words put back; other text unchanged.

    Besides runs of lower-case letters: punctuation glued to the next word, a function word
    glued to a name or a number ("afterNoravex", "to180"), and an acronym glued to a listed
    word ("ALTraised"); other mixed case (brand names such as "NovoRapid") is left alone."""
    text = _PUNCT.sub(r"\1 ", text)
    text = _BEFORE_NAME.sub(_after_function_word, text)
    text = _BEFORE_NUMBER.sub(_after_function_word, text)
    text = _ACRONYM.sub(_split_acronym, text)
    return _RUN.sub(_split_run, text)
