"""Lexical side of retrieval: text normalisation, Chinese/English tokenisers and a BM25 index.

Normalisation maps colloquial and variant medical wording onto one standard term on both sides
(拉肚子→腹泻, 大姨妈→月经, kidney→renal …) so that a doctor's or patient's phrasing meets the
approved text. Two tokenisers feed two BM25 indexes: single CJK characters plus English words
(robust to word-segmentation errors), and jieba words (precise on compounds).

The BM25 index is an inverted index over numpy arrays: scoring touches only the postings of the
query terms. ``rank_bm25`` scores by looping over every document in Python per query term —
measured ~20× slower at 10 000 chunks — hence this small implementation.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

# Colloquial or variant wording → the term approved texts use. Longest keys are applied first.
SYNONYMS: dict[str, str] = {
    # Chinese: colloquial → clinical
    "拉肚子": "腹泻",
    "闹肚子": "腹泻",
    "发烧": "发热",
    "头疼": "头痛",
    "肚子疼": "腹痛",
    "肚子痛": "腹痛",
    "胃疼": "胃痛",
    "大姨妈": "月经",
    "例假": "月经",
    "血压高": "高血压",
    "血糖高": "高血糖",
    "血脂高": "高血脂",
    "妊娠期": "怀孕期",
    "妊娠": "怀孕",
    "孕妇": "怀孕妇女",
    "喂奶": "哺乳",
    "母乳喂养": "哺乳",
    "喂母乳": "哺乳",
    "宝宝": "儿童",
    "小孩": "儿童",
    "小儿": "儿童",
    "孩子": "儿童",
    "打针": "注射",
    "吃药": "服药",
    "吃了": "服用",
    "副作用": "不良反应",
    "忘记吃": "漏服",
    "忘了吃": "漏服",
    "忘吃": "漏服",
    "吃多了": "过量",
    "吃过量": "过量",
    "服过量": "过量",
    "肝不好": "肝功能不全",
    "肝功能不好": "肝功能不全",
    "肝损伤": "肝功能不全",
    "肾不好": "肾功能不全",
    "肾功能不好": "肾功能不全",
    "肾衰": "肾功能不全",
    "心慌": "心悸",
    "睡不着": "失眠",
    "乙型肝炎": "乙肝",
    "乙型病毒性肝炎": "乙肝",
    "hiv": "艾滋病",
    "糖尿病人": "糖尿病患者",
    "病人": "患者",
    "冶疗": "治疗",
    "能不能": "能否",
    "可不可以": "能否",
    "可以": "能否",
    "能吃": "能否吃",
    "保存": "贮藏",
    "储存": "贮藏",
    "存放": "贮藏",
    # English: lay → label wording
    "kidney": "renal",
    "liver": "hepatic",
    "pregnant": "pregnancy",
    "breastfeeding": "lactation",
    "breast-feeding": "lactation",
    "nursing mothers": "lactation",
    "side effects": "adverse reactions",
    "side effect": "adverse reaction",
    "forgot to take": "missed dose",
    "forget to take": "missed dose",
    "too much": "overdose",
    "storing": "storage",
    "store": "storage",
}
_SYNONYM_PATTERN = re.compile(
    "|".join(
        # English keys match whole words only ("store" must not rewrite "restore").
        rf"\b{re.escape(key)}\b" if key.isascii() else re.escape(key)
        for key in sorted(SYNONYMS, key=len, reverse=True)
    )
)

# Function words and question fillers that carry no topic (Chinese single characters, then
# English words). Kept short: over-pruning hurts short questions.
_STOP_CHARS = frozenset("的了吗呢啊吧么呀嘛和与及或在是我你他她它请问")
_STOP_TEXT = (
    "a an the of to in on for and or is are was were be been do does did can could should "
    "would will i you he she it we they my your what which who how when where why with by "
    "at from as this that these those there any if not no"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z0-9]+(?:[.-][a-z0-9]+)*")
_jieba_lock = threading.Lock()
_jieba_ready = False


def normalise(text: str) -> str:
    """NFKC, lower case, and colloquial/variant terms mapped to their standard form."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return _SYNONYM_PATTERN.sub(lambda match: SYNONYMS[match.group(0)], folded)


def _stem(word: str) -> str:
    # A light English plural/suffix fold; enough for BM25 on short clinical text.
    for suffix in ("ies", "es", "s"):
        if len(word) > 4 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def char_tokens(normalised: str) -> list[str]:
    """CJK single characters and stemmed English words/numbers, stop tokens removed."""
    out = []
    for token in _TOKEN.findall(normalised):
        if _CJK.match(token):
            if token not in _STOP_CHARS:
                out.append(token)
        elif token not in _STOP_WORDS:
            out.append(_stem(token))
    return out


def word_tokens(normalised: str) -> list[str]:
    """jieba words (Chinese) and stemmed English words, punctuation and stop words removed."""
    import jieba

    global _jieba_ready
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba_ready = True
    out = []
    for word in jieba.lcut(normalised):
        word = word.strip()
        if not word or not _TOKEN.match(word) or word in _STOP_WORDS:
            continue
        if len(word) == 1 and word in _STOP_CHARS:
            continue
        out.append(word if _CJK.match(word) else _stem(word))
    return out


class BM25Index:
    """Okapi BM25 over token lists; ``scores`` returns one score per indexed document."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self.size = len(documents)
        lengths = np.array([len(doc) for doc in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        norm = k1 * (1 - b + b * lengths / average)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for index, doc in enumerate(documents):
            for term, count in Counter(doc).items():
                rows, counts = postings.setdefault(term, ([], []))
                rows.append(index)
                counts.append(count)
        self._postings: dict[str, tuple[Any, Any]] = {}
        for term, (rows, counts) in postings.items():
            idx = np.array(rows, dtype=np.int32)
            tf = np.array(counts, dtype=np.float32)
            idf = math.log(1 + (self.size - len(rows) + 0.5) / (len(rows) + 0.5))
            self._postings[term] = (
                idx,
                (idf * tf * (k1 + 1) / (tf + norm[idx])).astype(np.float32),
            )

    def scores(self, query: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        out = np.zeros(self.size, dtype=np.float32)
        for term, repeat in Counter(query).items():
            posting = self._postings.get(term)
            if posting is not None:
                out[posting[0]] += repeat * posting[1]
        return out
