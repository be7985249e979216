"""Text helpers shared by the Q&A modules: normalisation and whole-sentence trimming."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# A sentence ends at Chinese end punctuation, or at ". ! ?" followed by a space or the end.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?])|(?<=[.!?;])(?=\s)|\n+")


def normalise(text: str) -> str:
    """Compatibility-fold (full-width → ASCII), lower-case and collapse whitespace."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` with their end punctuation, whitespace-trimmed."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def trim_to_sentences(text: str, max_bytes: int) -> str:
    """The longest prefix of whole sentences that fits ``max_bytes`` (never a cut sentence).

    Returns "" when even the first sentence is too long: a cut sentence could change meaning.
    """
    kept: list[str] = []
    size = 0
    for sentence in sentences(text):
        joiner = "" if not kept or _is_cjk_end(kept[-1]) else " "
        extra = utf8_len(joiner + sentence)
        if size + extra > max_bytes:
            break
        kept.append(sentence)
        size += extra
    out = ""
    for sentence in kept:
        out += ("" if not out or _is_cjk_end(out) else " ") + sentence
    return out


def _is_cjk_end(text: str) -> bool:
    return bool(text) and text[-1] in "。！？；：，"
