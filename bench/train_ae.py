"""Train the shipped adverse-event classifier and choose its thresholds by cross-validation.

    .venv/bin/python bench/train_ae.py            # CV report, then writes the model
    .venv/bin/python bench/train_ae.py --cv-only  # CV report only
    .venv/bin/python bench/train_ae.py --thresholds-only  # re-choose the thresholds of the
        # shipped model on the out-of-fold scores the last full run kept (no refit)

Trains on the hand-written ``ae_zh`` dev set and this project's own messages under
``skills/adverse_events/data/`` only. ADE-Corpus-V2 and PsyTAR are never read here: issue #15
reserves both for measurement (``bench/eval_ae.py``). Two thresholds per register and context
are picked on the out-of-fold scores of repeated 5-fold CV (the median over the repeats):
the *clear* threshold (a case opens at once) and the lower *candidate* threshold (the doctor
is asked to confirm), each within a false-alarm budget on our own plain non-reports (issue
#15: ≤ 1 % a case at once, ≤ 3 % a case or a question) and, within it, recall first; the CV
numbers printed are the honest estimate (the plain non-reports are in the training data, so
their out-of-fold rate is the one to quote). The shipped ``ae_model.npz`` predates this form
of the script (the blend, the windows, the budgets, the session 5, 8 and 9 files): its refits
were measured and not shipped — bench/README.md, adverse events, "Session 8" and "Session 9".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ae_common import (
    EVAL_DIR,
    OWN_DATA,
    Example,
    FeatureCache,
    featurize,
    prf,
    read_jsonl,
)

from skills.adverse_events.cues import detect_language
from skills.adverse_events.detector import asks_question
from skills.adverse_events.features import CUE_FEATURES, E5_DIM, EMBED_DIM, HASH_DIM
from skills.adverse_events.model import CANDIDATE, MODEL_FILE, AEModel

# Training files: (path, source tag). Our own files live in ``OWN_DATA``.
TRAINING_FILES: tuple[tuple[Path, str], ...] = (
    (EVAL_DIR / "ae_zh.jsonl", "ae_zh"),
    (OWN_DATA / "train_zh.jsonl", "own_zh"),
    (OWN_DATA / "train_en.jsonl", "own_en"),
    (OWN_DATA / "train_en_casereport.jsonl", "own_en_case"),
    (OWN_DATA / "train_en_casereport2.jsonl", "own_en_case2"),
    (OWN_DATA / "templated_zh.jsonl", "own_zh_tpl"),
    (OWN_DATA / "templated_en.jsonl", "own_en_tpl"),
    (OWN_DATA / "templated_chat.jsonl", "own_chat"),
    (OWN_DATA / "templated_service.jsonl", "own_service"),
    (OWN_DATA / "train_reports_registers.jsonl", "own_reg"),
    (OWN_DATA / "train_en_forum.jsonl", "own_en_forum"),
    (OWN_DATA / "train_en_forum2.jsonl", "own_en_forum2"),
    (OWN_DATA / "train_en_casereport3.jsonl", "own_en_case3"),
    (OWN_DATA / "train_good_course.jsonl", "own_course"),
    (OWN_DATA / "train_en_casereport4.jsonl", "own_en_case4"),
    (OWN_DATA / "train_en_forum3.jsonl", "own_en_forum3"),
    (OWN_DATA / "train_reports_colloquial_zh.jsonl", "own_zh_coll"),
    (OWN_DATA / "train_windows.jsonl", "own_windows"),
    (OWN_DATA / "train_nonreports_zh_en.jsonl", "own_nonrep"),
    (OWN_DATA / "train_en_casereport5.jsonl", "own_en_case5"),
    (OWN_DATA / "train_en_forum4.jsonl", "own_en_forum4"),
    (OWN_DATA / "train_en_doctor_chat.jsonl", "own_en_dchat"),
    (OWN_DATA / "plain_negatives.jsonl", "own_plain"),
)
# Total training weight per source group, so 1 200 templated sentences do not drown 300 doctor
# messages. Chinese doctor messages matter most (the product's real input).
GROUP_WEIGHT = {
    "zh": 1.0,
    "zh_tpl": 0.4,
    "en_own": 0.6,
    "forum": 0.6,
    "course": 0.5,
    "en_case": 0.6,
    "en_tpl": 0.6,
    "chat": 0.3,
    "service": 0.1,
    "reg": 0.8,
    "plain": 0.8,
    "window": 0.4,
    "windows": 0.5,
    "nonrep": 0.5,
}
SOURCE_GROUP = {
    "ae_zh": "zh",
    "own_zh": "zh",
    "own_zh_tpl": "zh_tpl",
    "own_en": "en_own",
    "own_en_case": "en_case",
    "own_en_case2": "en_case",
    "own_en_tpl": "en_tpl",
    "own_chat": "chat",
    "own_service": "service",
    "own_reg": "reg",
    "own_en_forum": "en_own",
    "own_en_forum2": "forum",
    "own_en_case3": "en_case",
    "own_course": "course",
    "own_en_case4": "en_case",
    "own_en_case5": "en_case",
    "own_en_forum4": "forum",
    "own_en_dchat": "en_own",
    "own_en_forum3": "forum",
    "own_zh_coll": "reg",
    "own_windows": "windows",
    "own_nonrep": "nonrep",
    "own_plain": "plain",
    "own_window": "window",
}
# The clear stage opens a case without asking, so it is chosen for best F1 above a modest
# recall floor per register (within ``CLEAR_BUDGET``); the candidate stage carries recall.
CLEAR_RECALL = {"zh": 0.92, "en": 0.88, "en_self": 0.85}
MIN_KEY_SUPPORT = 30
CV_SEEDS = (7, 11, 23)
# Our own labelled sets, each of which must meet its register's recall goal by itself.
EN_OWN_SOURCES = (
    "own_en",
    "own_en_case",
    "own_en_case2",
    "own_en_case3",
    "own_en_tpl",
    "own_reg",
    "own_en_forum",
    "own_en_forum2",
    "own_course",
    "own_en_case4",
    "own_en_forum3",
    "own_en_case5",
    "own_en_forum4",
    "own_en_dchat",
)
RECALL_FLOOR_SOURCES = ("ae_zh", "own_zh", "own_zh_coll", *EN_OWN_SOURCES)
NEGATIVE_SOURCES = ("own_chat", "own_service", "own_plain", "own_nonrep")
# False-alarm budgets, out of fold, per register (``budget_sets``). Issue #15 allows 3 % of
# our plain non-reports to reach a case or a confirmation and 1 % to open a case at once; the
# budgets keep a margin for the spread between folds and for messages nobody wrote yet.
CLEAR_BUDGET = 0.007
CANDIDATE_BUDGET = 0.025
# At most this share of our case-report sentences without a drug-caused event, and of our
# forum-style non-reports, may reach a case or a confirmation (precision on clinical and
# patient prose).
CASE_NEGATIVE_BUDGET = 0.40
# And at most this share of them may open a case at once: a case without a question is for
# clear reports, and this budget binds in English, where our plain non-reports are too few
# to (session 8: English clear thresholds of 0.03–0.05 opened cases on chat-like messages).
CLEAR_CASE_NEGATIVE_BUDGET = 0.15
CASE_NEGATIVE_SOURCES = (
    "own_en_case",
    "own_en_case2",
    "own_en_case3",
    "own_en_case4",
    "own_en_case5",
)
FORUM_NEGATIVE_SOURCES = ("own_en_forum", "own_en_forum2", "own_en_forum3", "own_en_forum4")
# Out-of-fold scores of the last full run (same data → same folds), for --thresholds-only.
OOF_CACHE = OWN_DATA.parent.parent.parent / ".cache" / "ae_oof.npz"
GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)
# The hidden layer beside the linear model (``model.AEModel``): its width and the seed of
# its initial weights.
HIDDEN_UNITS = 32
HIDDEN_SEED = 0
# The shipped logit is this share of the linear head's plus the rest of the hidden-layer
# model's (both fitted on the same rows; ``blend``). The hidden-layer model alone learns our
# own sets almost perfectly and is sure of itself far from them (session 8: clinical prose
# it was never shown scored near 0); the linear head is less sure and generalizes further.
LINEAR_SHARE = 0.5
# Multi-sentence messages built from training rows (``window_examples``): how many of each
# kind per language, and their seed.
WINDOWS_PER_KIND = 60
WINDOW_SEED = 5

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def load_training() -> list[Example]:
    examples: list[Example] = []
    for path, source in TRAINING_FILES:
        examples += read_jsonl(path, source)
    return examples


# Sources of the parts of training windows: positives (reports), chatter, questions, and
# non-reports (good courses, negated statements).
REPORT_SOURCES = (
    "ae_zh",
    "own_zh",
    "own_reg",
    "own_en",
    "own_en_case",
    "own_en_case2",
    "own_en_case3",
    "own_en_forum2",
    "own_course",
    "own_en_case4",
    "own_en_forum3",
    "own_zh_coll",
    "own_en_case5",
)
CHATTER_SOURCES = ("own_chat", "own_service")
NON_REPORT_SOURCES = ("own_plain", "own_course", "own_zh", "own_en_forum2", "own_en_forum3")


@dataclasses.dataclass
class Window:
    """A training message made of two training rows (``parts``: their indices), as a doctor
    types several sentences in one message and as the detector scores long messages in
    bounded sentence windows."""

    example: Example
    parts: tuple[int, int]


def join(first: str, second: str) -> str:
    """Two sentences as one message: Chinese run on after a full stop, English after a space."""
    first = first.strip()
    zh = detect_language(first) == "zh"
    if first and first[-1] not in "。！？!?.；;，,~～…":
        first += "。" if zh else "."
    return f"{first}{'' if zh else ' '}{second.strip()}"


def window_examples(examples: list[Example]) -> list[Window]:
    """Multi-sentence training messages, per language ``WINDOWS_PER_KIND`` of each kind:

    - chatter + report (``你好。患者吃了以后出现皮疹``) and question + report → a report;
    - report + a non-report sentence (a negated or good-course statement, a question:
      "…出现皮疹。没有发热。") → a report (the report does not vanish next to other words);
    - chatter + non-report, non-report + question → not a report (two harmless sentences do
      not add up to one).

    The parts are drawn from the training rows (seeded, so the same data gives the same
    windows); cross-validation uses a window only in folds that hold both its parts.
    """
    rng = np.random.default_rng(WINDOW_SEED)
    windows: list[Window] = []
    for language in ("zh", "en"):
        pools: dict[str, list[int]] = {"report": [], "chatter": [], "question": [], "calm": []}
        for i, e in enumerate(examples):
            if detect_language(e.text) != language or len(e.text) > 160:
                continue
            if e.label == 1 and e.source in REPORT_SOURCES:
                pools["report"].append(i)
            elif e.label == 0 and e.source in CHATTER_SOURCES:
                pools["chatter"].append(i)
            elif e.label == 0 and e.source in NON_REPORT_SOURCES:
                pools["question" if asks_question(e.text) else "calm"].append(i)
        kinds = (
            ("chatter", "report", 1),
            ("question", "report", 1),
            ("report", "calm", 1),
            ("report", "question", 1),
            ("chatter", "calm", 0),
            ("calm", "question", 0),
        )
        for first, second, label in kinds:
            if not pools[first] or not pools[second]:
                continue
            for a, b in zip(
                rng.choice(pools[first], WINDOWS_PER_KIND),
                rng.choice(pools[second], WINDOWS_PER_KIND),
                strict=True,
            ):
                text = join(examples[int(a)].text, examples[int(b)].text)
                windows.append(Window(Example(text, label, "own_window"), (int(a), int(b))))
    return windows


def sample_weights(examples: list[Example]) -> Array:
    counts: dict[str, int] = {}
    for e in examples:
        group = SOURCE_GROUP[e.source]
        counts[group] = counts.get(group, 0) + 1
    return np.asarray(
        [GROUP_WEIGHT[SOURCE_GROUP[e.source]] / counts[SOURCE_GROUP[e.source]] for e in examples]
    )


class Fitted:
    """Weights in standardized feature space, folded back for shipping by ``to_model``."""

    def __init__(self, mean: Array, scale: Array, params: list[Array]) -> None:
        self.mean, self.scale, self.params = mean, scale, params

    def to_model(self, thresholds: dict[str, float]) -> AEModel:
        wd, wh, b, w1, b1, v = self.params
        # x = (dense - mean) / scale, so x · w = dense · (w / scale) - (mean / scale) · w.
        shift = self.mean / self.scale
        return AEModel(
            (wd / self.scale).astype(np.float32),
            wh.astype(np.float32),
            float(b[0] - shift @ wd),
            thresholds,
            (w1 / self.scale[:, None]).astype(np.float32),
            (b1 - shift @ w1).astype(np.float32),
            v.astype(np.float32),
        )


def fit(
    dense: npt.NDArray[np.float32],
    buckets: list[npt.NDArray[np.int64]],
    y: Array,
    weights: Array,
    hidden: int = HIDDEN_UNITS,
    l2_dense: float = 3e-2,
    l2_hash: float = 1e-4,
    l2_hidden: float = 1e-3,
    steps: int = 400,
    rate: float = 0.05,
    hidden_rate: float = 0.01,
) -> Fitted:
    """Weighted logistic regression with a small ReLU hidden layer beside it, by full-batch
    Adam (no scipy/sklearn/torch needed).

    The linear part starts at zero as before; the hidden layer starts small and random
    (seeded: the same data gives the same model) and learns at a lower rate, so it adds the
    interactions the linear part cannot express rather than replacing it.
    """
    n = len(y)
    # Standardize the embedding and the English causality indicators: a rare causality
    # indicator ("drug-induced", "event without a drug") then costs the L2 penalty no more than
    # an embedding direction, and can outweigh the embedding's pull towards "event ⇒ report".
    # The cue block stays 0/1 (standardized, its rare Chinese cues swamped chat messages such
    # as "没用，一直在绕圈子"). A column constant over the training rows keeps scale 1.
    standardized = np.ones(dense.shape[1], dtype=bool)
    standardized[EMBED_DIM : EMBED_DIM + len(CUE_FEATURES)] = False
    # The English encoder's block is scaled but not centred: a Chinese message's block is 0
    # and must stay 0, so the English weights cannot move Chinese scores.
    centred = standardized.copy()
    centred[E5_DIM:EMBED_DIM] = False
    spread = dense.std(axis=0).astype(np.float64)
    mean = np.where(centred, dense.mean(axis=0), 0.0)
    scale = np.where(standardized & (spread > 1e-6), spread, 1.0)
    x = (dense - mean) / scale
    lengths = np.asarray([len(b) for b in buckets])
    rows = np.repeat(np.arange(n), lengths)
    idx = np.concatenate(buckets)
    vals = np.repeat(1.0 / np.sqrt(np.maximum(lengths, 1)), lengths)
    w = weights / weights.sum()
    rng = np.random.default_rng(HIDDEN_SEED)
    width = x.shape[1]
    params = [
        np.zeros(width),
        np.zeros(HASH_DIM),
        np.zeros(1),
        rng.normal(0.0, 1.0 / np.sqrt(width), (width, hidden)),
        np.zeros(hidden),
        rng.normal(0.0, 1.0 / np.sqrt(max(hidden, 1)), hidden),
    ]
    rates = [rate, rate, rate, hidden_rate, hidden_rate, hidden_rate]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for step in range(1, steps + 1):
        wd, wh, b, w1, b1, v = params
        pre = x @ w1 + b1
        units = np.maximum(pre, 0.0)
        z = x @ wd + np.bincount(rows, weights=wh[idx] * vals, minlength=n) + b[0] + units @ v
        g = (1.0 / (1.0 + np.exp(-z)) - y) * w
        back = np.outer(g, v) * (pre > 0)
        grads = [
            x.T @ g + l2_dense * wd,
            np.bincount(idx, weights=g[rows] * vals, minlength=HASH_DIM) + l2_hash * wh,
            np.asarray([g.sum()]),
            x.T @ back + l2_hidden * w1,
            back.sum(axis=0),
            units.T @ g + l2_hidden * v,
        ]
        for p, grad, (m, s2), r in zip(params, grads, moments, rates, strict=True):
            m *= 0.9
            m += 0.1 * grad
            s2 *= 0.999
            s2 += 0.001 * grad * grad
            p -= r * (m / (1 - 0.9**step)) / (np.sqrt(s2 / (1 - 0.999**step)) + 1e-8)
    return Fitted(mean, scale, params)


def blend(linear: Fitted, hidden: Fitted, share: float = LINEAR_SHARE) -> Fitted:
    """One model whose logit is ``share`` × the linear head's + (1 − ``share``) × the hidden
    model's: the linear parts add up, the hidden layer's output weights are scaled (both
    fits standardize the same rows, so their weights live in the same space)."""
    wd, wh, b, *_ = linear.params
    hd, hh, hb, w1, b1, v = hidden.params
    mix = [
        share * wd + (1 - share) * hd,
        share * wh + (1 - share) * hh,
        share * b + (1 - share) * hb,
    ]
    return Fitted(hidden.mean, hidden.scale, [*mix, w1, b1, (1 - share) * v])


def fit_blend(
    dense: npt.NDArray[np.float32],
    buckets: list[npt.NDArray[np.int64]],
    y: Array,
    weights: Array,
) -> Fitted:
    """The shipped kind of model: a linear head and a hidden-layer model, blended."""
    return blend(fit(dense, buckets, y, weights, hidden=0), fit(dense, buckets, y, weights))


def scores_of(
    fitted: Fitted, dense: npt.NDArray[np.float32], buckets: list[npt.NDArray[np.int64]]
) -> Array:
    model = fitted.to_model({})
    return np.asarray([model.score(d, b) for d, b in zip(dense, buckets, strict=True)])


def folds(examples: list[Example], k: int, seed: int = 7) -> Array:
    """Fold id per example, stratified by (source, label)."""
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(examples), dtype=int)
    strata: dict[tuple[str, int], list[int]] = {}
    for i, e in enumerate(examples):
        strata.setdefault((e.source, e.label), []).append(i)
    for members in strata.values():
        order = rng.permutation(members)
        offset = int(rng.integers(k))
        for j, i in enumerate(order):
            assignment[i] = (j + offset) % k
    return assignment


def register_sets(
    examples: list[Example], keys: list[str]
) -> dict[str, tuple[npt.NDArray[np.bool_], list[npt.NDArray[np.bool_]]]]:
    """Per register: which examples judge its thresholds, and the per-set recall-floor masks.

    zh is judged on the Chinese doctor messages, en and en_self (first-person English) on our
    English sets; our chat, service and plain negatives count in every register. The recall
    goal holds for each of our own sets with enough positives on its own, so a large easy set
    (the templates) cannot buy a threshold that a small hard one (case reports) fails.
    """
    y = np.asarray([e.label for e in examples])
    register_of = np.asarray([k.split(":")[0] for k in keys])
    source = np.asarray([e.source for e in examples])
    negatives = np.isin(source, NEGATIVE_SOURCES)
    own_zh = np.isin(source, ("ae_zh", "own_zh", "own_reg", "own_course", "own_zh_coll"))
    own_en = np.isin(source, EN_OWN_SOURCES)
    judged = {"zh": own_zh | negatives, "en": own_en | negatives, "en_self": own_en | negatives}
    out = {}
    for reg, judged_mask in judged.items():
        mask = judged_mask & (register_of == reg)
        floor_sets = [
            mask & (source == name)
            for name in np.unique(source[mask])
            if name in RECALL_FLOOR_SOURCES and y[mask & (source == name)].sum() >= MIN_KEY_SUPPORT
        ]
        out[reg] = (mask, floor_sets)
    return out


def budget_sets(examples: list[Example], keys: list[str]) -> dict[str, list[tuple[Mask, float]]]:
    """Per register, the non-reports whose out-of-fold false-alarm rate bounds its thresholds,
    each with its budget for the candidate stage (a case or a confirmation question).

    Our plain doctor messages that are not reports (``own_plain``, the set issue #15's
    budget is about): ``CANDIDATE_BUDGET``; chat and service messages: the same;
    our English case-report sentences without a drug-caused event and our forum-style
    non-reports: ``CASE_NEGATIVE_BUDGET`` (precision on clinical and patient prose).
    """
    y = np.asarray([e.label for e in examples])
    register_of = np.asarray([k.split(":")[0] for k in keys])
    source = np.asarray([e.source for e in examples])
    groups = (
        (source == "own_plain", CANDIDATE_BUDGET),
        (np.isin(source, ("own_chat", "own_service")), CANDIDATE_BUDGET),
        (np.isin(source, CASE_NEGATIVE_SOURCES), CASE_NEGATIVE_BUDGET),
        (np.isin(source, FORUM_NEGATIVE_SOURCES), CASE_NEGATIVE_BUDGET),
    )
    return {
        reg: [((y == 0) & (register_of == reg) & members, budget) for members, budget in groups]
        for reg in ("zh", "en", "en_self")
    }


def within(hit: Mask, negatives: Mask, budget: float) -> bool:
    """Whether ``hit`` flags at most ``budget`` of ``negatives`` (none: always)."""
    return not negatives.any() or float(hit[negatives].mean()) <= budget


def choose_candidate_thresholds(
    examples: list[Example], oof: Array, rules: list[bool], keys: list[str], clear: dict[str, float]
) -> dict[str, float]:
    """The candidate stage: per register the lowest threshold whose false alarms stay within
    every budget of ``budget_sets`` — recall first, as far as the budgets allow.

    It applies to the plain and ``:bare`` keys (never above their clear threshold); a
    ``:question`` key (a general question, no patient) keeps its clear threshold — a question
    that tells of nothing that happened is answered, not confirmed.
    """
    rule = np.asarray(rules)
    clear_cut = np.asarray([clear.get(k, clear[k.split(":")[0]]) for k in keys])
    question = np.asarray([k.endswith(":question") for k in keys])
    out: dict[str, float] = {}
    for reg, budgets in budget_sets(examples, keys).items():
        chosen = float(GRID[-1])
        for t in GRID[::-1]:  # false alarms only grow as t falls: stop at the first breach
            cut = np.where(question, clear_cut, np.minimum(clear_cut, t))
            hit = (oof >= cut) | rule
            if not all(within(hit, negatives, budget) for negatives, budget in budgets):
                break
            chosen = float(t)
        for key in (reg, f"{reg}:bare"):
            out[f"{CANDIDATE}{key}"] = min(chosen, clear.get(key, clear[reg]))
    return out


def fast_prf(y: Mask, hit: Mask) -> tuple[float, float, float]:
    """``prf`` on boolean arrays (the threshold search calls it thousands of times)."""
    tp = int((y & hit).sum())
    flagged, positives = int(hit.sum()), int(y.sum())
    precision = tp / flagged if flagged else 0.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def choose_thresholds(
    examples: list[Example], oof: Array, rules: list[bool], keys: list[str]
) -> dict[str, float]:
    """Per threshold key (``detector.threshold_key``), on out-of-fold scores.

    Each register is judged on its own sets (``register_sets``): the best F1 whose
    case-at-once false alarms stay within ``CLEAR_BUDGET`` on our plain non-reports and
    ``CLEAR_CASE_NEGATIVE_BUDGET`` on our English case-report and forum non-reports and, within
    that, recall ≥ ``CLEAR_RECALL`` on the register and on each floor set where it can be had
    (the budget comes first; where no threshold keeps it, the fewest false alarms beyond it).
    Within a register the plain, ``:question`` and ``:bare`` keys get their own thresholds by
    coordinate ascent: each in
    turn is set to the grid value with the best (budget kept, recall goal met, F1).
    """
    grid = GRID
    y = np.asarray([e.label for e in examples]) == 1
    rule = np.asarray(rules)
    key_of = np.asarray(keys)
    source = np.asarray([e.source for e in examples])
    register_of = np.asarray([k.split(":")[0] for k in keys])
    plain = ~y & (source == "own_plain")
    prose = ~y & np.isin(source, (*CASE_NEGATIVE_SOURCES, *FORUM_NEGATIVE_SOURCES))
    thresholds: dict[str, float] = {}
    for reg, (mask, floor_sets) in register_sets(examples, keys).items():
        names = [reg, f"{reg}:question", f"{reg}:bare"]
        budgeted = plain & (register_of == reg)
        prose_here = prose & (register_of == reg)

        def quality(
            trial: dict[str, float],
            mask: Mask = mask,
            goal: float = CLEAR_RECALL[reg],
            floor_sets: list[Mask] = floor_sets,
            budgeted: Mask = budgeted,
            prose_here: Mask = prose_here,
        ) -> tuple[int, bool, float]:
            # Other registers' examples are outside ``mask``: never counted, so never hit.
            cut = np.asarray([trial.get(k, trial.get(k.split(":")[0], np.inf)) for k in key_of])
            hit = (oof >= cut) | rule
            _, recall, f1 = fast_prf(y[mask], hit[mask])
            floors = all(fast_prf(y[s], hit[s])[1] >= goal for s in floor_sets)
            # False alarms beyond the budget, fewest first (0 once the budget is kept).
            excess = max(int(hit[budgeted].sum()) - int(CLEAR_BUDGET * budgeted.sum()), 0)
            limit = int(CLEAR_CASE_NEGATIVE_BUDGET * prose_here.sum())
            excess += max(int(hit[prose_here].sum()) - limit, 0)
            return -excess, recall >= goal and floors, f1

        # Start from the best single threshold, then refine key by key.
        best = max(grid, key=lambda t: quality(dict.fromkeys(names, float(t))))
        chosen = dict.fromkeys(names, float(best))
        # A key with too few judged messages keeps the register's threshold.
        refined = [n for n in names[1:] if int((key_of[mask] == n).sum()) >= MIN_KEY_SUPPORT]
        for _ in range(3):
            for name in [reg, *refined]:
                chosen[name] = float(
                    max(grid, key=lambda t, n=name: quality({**chosen, n: float(t)}))
                )
        thresholds.update({n: chosen[n] if n in refined else chosen[reg] for n in names})
    # A first-person general question ("Should I stop it if I get muscle pain?") has too few
    # judged messages of its own: it is held to the English general question's threshold at
    # least, never to a first-person report's (session 8: 0.03).
    thresholds["en_self:question"] = max(thresholds["en_self:question"], thresholds["en:question"])
    return thresholds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=len(CV_SEEDS))
    parser.add_argument("--thresholds-only", action="store_true")
    args = parser.parse_args()

    examples = load_training()
    windows = window_examples(examples)
    cache = FeatureCache()
    features = featurize(examples, cache)
    rules, keys = features.rules, features.keys
    # Thresholds are judged on the training rows; the windows only train (``window_examples``).
    extra = featurize([w.example for w in windows], cache)
    base = len(examples)
    dense = np.concatenate([features.dense, extra.dense])
    buckets = features.buckets + extra.buckets
    everything = examples + [w.example for w in windows]
    y = np.asarray([e.label for e in everything], dtype=np.float64)
    weights = sample_weights(everything)
    parts = np.asarray([w.parts for w in windows], dtype=int).reshape(-1, 2)

    # Repeated CV: thresholds chosen on each repeat's out-of-fold scores, then the median per
    # key, so one lucky or unlucky split cannot move a threshold by much.
    if args.thresholds_only:
        with np.load(OOF_CACHE) as kept:
            scores = [kept[f"oof{i}"] for i in range(int(kept["repeats"]))]
    else:
        scores = []
        for seed in CV_SEEDS[: args.repeats]:
            fold_of = folds(examples, args.folds, seed)
            oof = np.zeros(len(examples))
            for k in range(args.folds):
                held = fold_of[parts] == k
                kept = base + np.flatnonzero(~held.any(axis=1))
                train = np.concatenate([np.flatnonzero(fold_of != k), kept])
                test = np.flatnonzero(fold_of == k)
                fitted = fit_blend(
                    dense[train], [buckets[i] for i in train], y[train], weights[train]
                )
                oof[test] = scores_of(fitted, dense[test], [buckets[i] for i in test])
            scores.append(oof)
        np.savez(OOF_CACHE, repeats=len(scores), **{f"oof{i}": o for i, o in enumerate(scores)})
    repeats: list[tuple[Array, dict[str, float]]] = []
    for oof in scores:
        oof = oof.copy()
        # The detector never flags a ``:service`` message or an advice question.
        oof[features.never] = 0.0
        clear = choose_thresholds(examples, oof, rules, keys)
        candidate = choose_candidate_thresholds(examples, oof, rules, keys, clear)
        repeats.append((oof, clear | candidate))
    thresholds = {
        key: float(np.median([chosen[key] for _, chosen in repeats])) for key in repeats[0][1]
    }
    print(f"thresholds ({args.repeats}× {args.folds}-fold CV, median): {thresholds}")
    model = AEModel(np.zeros(1, np.float32), np.zeros(1, np.float32), 0.0, thresholds)
    clear_cut = np.asarray([model.threshold(k) for k in keys])
    candidate_cut = np.asarray(
        [model.threshold(f"{CANDIDATE}{k}", default=model.threshold(k)) for k in keys]
    )
    print(
        f"{'source':12} {'n':>5} | clear: {'P':>6} {'R':>6} {'FP':>4} "
        f"| case or confirm: {'P':>6} {'R':>6} {'FP':>4}   (out-of-fold, pooled over repeats)"
    )
    rule = np.asarray(rules)
    for source in dict.fromkeys(e.source for e in examples):
        idx = [i for i, e in enumerate(examples) if e.source == source]
        labels = [examples[i].label for i in idx] * len(repeats)
        row = f"{source:12} {len(idx):5d}"
        for cut in (clear_cut, candidate_cut):
            pred = [bool(oof[i] >= cut[i] or rule[i]) for oof, _ in repeats for i in idx]
            p, r, _ = prf(labels, pred)
            fp = sum(1 for y, h in zip(labels, pred, strict=True) if h and not y) / len(repeats)
            row += f" | {p:6.3f} {r:6.3f} {fp:4.0f}"
        print(row)
    if args.cv_only:
        return 0
    target = Path(__file__).resolve().parent.parent / "skills" / "adverse_events" / MODEL_FILE
    if args.thresholds_only:
        shipped = AEModel.load(target)
        final = dataclasses.replace(shipped, thresholds=thresholds)
    else:
        final = fit_blend(dense, buckets, y, weights).to_model(thresholds)
    final.save(target)
    print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
