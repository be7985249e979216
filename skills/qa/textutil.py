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


_STOP_ZH = re.compile(
    r"请问|怎么办|怎么样|怎么|如何|什么|多少|是否|能否|可否|可以|应该|哪些|哪个|有没有|有哪些|需要|"
    r"一下|告诉|引起|导致|我们|我|你|您|的|了|吗|呢|是|和|与|在|有|为|对|该|这|那|个|些|吧|啊"
)
_STOP_EN = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "when",
        "where",
        "why",
        "can",
        "could",
        "should",
        "would",
        "may",
        "might",
        "will",
        "shall",
        "i",
        "we",
        "you",
        "he",
        "she",
        "it",
        "they",
        "me",
        "my",
        "our",
        "your",
        "this",
        "that",
        "these",
        "those",
        "there",
        "any",
        "some",
        "about",
        "tell",
        "please",
        "give",
        "its",
        "from",
        "into",
        "as",
        "than",
        "then",
        # the frame of a "how much does it lower …" question, not what it asks about
        "much",
        "many",
        "lower",
        "lowers",
        "reduce",
        "reduces",
        # ... and of a "does it cause …" question
        "cause",
        "causes",
    }
)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN_WORD = re.compile(r"[a-z0-9][a-z0-9\-]+")


def content_units(text: str, ignore: tuple[str, ...] = ()) -> set[str]:
    """The informative units of a question: Chinese character bigrams and English word stems.

    ``ignore`` (e.g. product names) and function words are removed first; what remains is
    what a passage must talk about to answer the question.
    """
    norm = normalise(text)
    for phrase in ignore:
        norm = norm.replace(phrase, " ")
    units: set[str] = set()
    for run in _CJK_RUN.findall(_STOP_ZH.sub(" ", norm)):
        units.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    units.update(w[:5] for w in _LATIN_WORD.findall(norm) if w not in _STOP_EN)
    return units


def coverage(units: set[str], passage: str) -> float:
    """Share of ``units`` found in the (normalised) passage; 1.0 when there are none."""
    if not units:
        return 1.0
    text = normalise(passage)
    return sum(1 for unit in units if unit in text) / len(units)


# Abbreviations doctors type (and the words the topic head and the passages use for them), as
# (Chinese, English) spellings; a Chinese question gets the Chinese one. Matched as whole
# Latin words, case-insensitive; "INR", "LDL-C", "CYP3A4" are the passages' own words and stay.
ABBREVIATIONS: dict[str, tuple[str, str]] = {
    "adr": ("不良反应", "adverse reaction"),
    "adrs": ("不良反应", "adverse reactions"),
    "ae": ("不良事件", "adverse event"),
    "aes": ("不良事件", "adverse events"),
    "moa": ("作用机制", "mechanism of action"),
    "lft": ("肝功能", "liver function test"),
    "lfts": ("肝功能", "liver function tests"),
    "alt": ("转氨酶", "transaminase"),
    "ast": ("转氨酶", "transaminase"),
    "tg": ("甘油三酯", "triglycerides"),
    "tgs": ("甘油三酯", "triglycerides"),
    "crcl": ("肌酐清除率", "creatinine clearance"),
    "ckd": ("慢性肾病", "chronic kidney disease"),
    "esrd": ("终末期肾病", "end-stage renal disease"),
    "ddi": ("药物相互作用", "drug interaction"),
    "ddis": ("药物相互作用", "drug interactions"),
    "rhabdo": ("横纹肌溶解", "rhabdomyolysis"),
    "ck": ("肌酸激酶", "creatine kinase"),
    "cpk": ("肌酸激酶", "creatine kinase"),
    "pt": ("患者", "patient"),
    "pts": ("患者", "patients"),
    "od": ("过量", "overdose"),
    "qd": ("每日一次", "once daily"),
    "bid": ("每日两次", "twice daily"),
    "preg": ("怀孕", "pregnancy"),
    "w/": ("与", "with"),
}
_ABBREVIATION = re.compile(
    r"(?<![a-z0-9])(" + "|".join(re.escape(k) for k in sorted(ABBREVIATIONS, key=len)[::-1]) + r")"
    r"(?![a-z0-9])",
    re.IGNORECASE,
)


def expand_abbreviations(text: str, chinese: bool) -> str:
    """``text`` with the clinical abbreviations of ``ABBREVIATIONS`` spelled out.

    What the topic head and the retrievers read: they learned "不良反应", "rhabdomyolysis",
    "liver function", not "ADR", "rhabdo", "LFTs" (a paraphrase of the same question with an
    abbreviation was read as another topic, or as none).
    """

    def spelled(match: re.Match[str]) -> str:
        zh, en = ABBREVIATIONS[match.group(1).lower()]
        return zh if chinese else f" {en} "

    return _SPACES.sub(" ", _ABBREVIATION.sub(spelled, text)).strip()
