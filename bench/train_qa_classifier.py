"""Train the Q&A classifier heads on the hand-written examples (``skills/qa/examples.py``).

    .venv/bin/python bench/train_qa_classifier.py [--head topic]   # writes skills/qa/*_weights.json

Each head is written to its own file (``skills.qa.classifier.WEIGHT_FILES``); ``--head`` retrains
one and leaves the other's file as it is.

Prints each head's 5-fold cross-validated accuracy on the examples (a sanity check, not an
evaluation: the conversation evaluation is ``bench/eval_conversations.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge.embeddings import E5Engine  # noqa: E402
from skills.qa.classifier import HERE, WEIGHT_FILES, train_head  # noqa: E402
from skills.qa.examples import CATEGORIES, TOPICS  # noqa: E402

FOLDS = 5
# L2 weight of each head. The category head is kept sharp enough that a request it knows
# (advice for one patient, a switch between products) reads above the adverse-event screening's
# "plainly a question" cut (0.8): with the general class added, 1e-2 left several at 0.76–0.79.
L2 = {"category": 3e-3, "topic": 1e-2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, help="cache of the examples' embeddings (.npz)")
    parser.add_argument("--head", choices=tuple(WEIGHT_FILES), help="retrain this head only")
    args = parser.parse_args()
    engine = E5Engine()
    cached = dict(np.load(args.vectors)) if args.vectors and args.vectors.exists() else {}
    for name, examples in (("category", CATEGORIES), ("topic", TOPICS)):
        if args.head not in (None, name):
            continue
        texts = [text for texts in examples.values() for text in texts]
        labels = [label for label, texts in examples.items() for _ in texts]
        missing = [text for text in texts if text not in cached]
        if missing:
            cached.update(zip(missing, engine.query(missing, windowed=False), strict=True))
        vectors = np.stack([cached[text] for text in texts])
        trained = train_head(vectors, labels, l2=L2[name])
        hits = 0
        for fold in range(FOLDS):
            held = [i for i in range(len(texts)) if i % FOLDS == fold]
            keep = [i for i in range(len(texts)) if i % FOLDS != fold]
            head = train_head(vectors[keep], [labels[i] for i in keep], l2=L2[name])
            w, b, m, sd = (np.array(head[k]) for k in ("weights", "bias", "mean", "scale"))
            guesses = np.argmax(((vectors[held] - m) / sd) @ w + b, axis=1)
            hits += sum(head["labels"][g] == labels[i] for g, i in zip(guesses, held, strict=True))
        print(f"{name}: {len(texts)} examples, 5-fold accuracy {hits / len(texts):.2f}")
        path = HERE / WEIGHT_FILES[name]
        path.write_text(json.dumps({name: trained}), encoding="utf-8")
        print(f"wrote {path}")
    if args.vectors:
        np.savez(args.vectors, **cached)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
