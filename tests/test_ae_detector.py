"""The offline adverse-event detector and the ``classify-ae --jsonl`` contract."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings
from skills.adverse_events import cli
from skills.adverse_events.cues import match_cues
from skills.adverse_events.detector import (
    CATEGORIES,
    WINDOW_CHARS,
    AEDetection,
    AEDetector,
    rule_report,
    sentence_windows,
)
from skills.adverse_events.features import DENSE_DIM, HASH_DIM
from skills.adverse_events.model import AEModel


@pytest.fixture(scope="module")
def detector() -> AEDetector:
    return AEDetector.load()


# (text, category that must be among the detected ones)
REPORTS = [
    ("我有个病人吃了你们的降压药后脸和脚都肿了", "adverse_event"),
    ("病人用药后出现过敏性休克，已经抢救过来，在ICU", "adverse_event"),
    ("My patient developed hives two days after starting the tablets.", "adverse_event"),
    ("患者服药期间发现怀孕了，孕7周", "pregnancy"),
    ("My patient just found out she is 6 weeks pregnant on this drug.", "pregnancy"),
    ("哺乳期妈妈吃了这个药，孩子一直哭闹不睡", "lactation"),
    ("老人一次吃了八片，家属送来急诊", "overdose"),
    ("The child swallowed about ten tablets by accident.", "overdose"),
    ("有个年轻人把这个药碾碎了鼻吸，已经上瘾", "abuse"),
    ("患者把外用的药水拿来口服了", "misuse"),
    ("药房发错规格了，病人吃了一周的10mg", "medication_error"),
    ("The pharmacy dispensed the wrong strength and she took it for a week.", "medication_error"),
    ("我们给一个6岁孩子超说明书用了，用后一直呕吐", "off_label"),
    ("病人吃了三个月，血糖一点没降", "lack_of_efficacy"),
    ("护士配药时药液溅到眼睛里了，现在眼睛红", "occupational_exposure"),
    ("这批胶囊里有好几粒是空的，批号230917", "quality_complaint"),
    ("Found particles in the vial, lot 88X21.", "quality_complaint"),
    ("患者合用克拉霉素后出现肌痛，CK升高", "interaction"),
]

NOT_REPORTS = [
    "这个药常见不良反应有哪些？",
    "How should a rash be managed?",
    "用药期间出现皮疹应该怎么处理？",
    "这个药会引起低血糖吗",
    "What are the most common side effects?",
    "病人吃了半年，没有出现任何不良反应",
    "No side effects in any of my patients so far.",
    "如果出现肌肉疼痛怎么办？",
    "If a patient develops angioedema, what should I do?",
    "孕妇能用这个药吗？",
    "帮我报名下周的学术会议",
    "早上好",
]


# Answers to form questions, menu words, greetings, names and places: the screener sees every
# message, and none of these may open a case.
FORM_ANSWERS_AND_CHAT = [
    "Jane Smith",
    "张伟",
    "Dr. Michael Chen",
    "李建国主任",
    "Sample General Hospital",
    "北京协和医院",
    "心内科",
    "Cardiology",
    "1",
    "2",
    "my registrations",
    "是",
    "yes",
    "no",
    "45岁 男",
    "stop",
    "不知道",
    "thanks",
    "谢谢",
    "好的",
    "What time does the meeting start?",
    "会议地址在哪里",
    "Is there a recent meta-analysis on statins and diabetes risk?",
    "有没有这个药的三期临床研究文献",
]
# Case-report English: a drug named as the cause of an event, against clinical sentences
# that name drugs and events without that link.
CASE_REPORT_ADE = [
    "A 45-year-old man developed toxic epidermal necrolysis ten days after starting allopurinol.",
    "We report a case of acute pancreatitis induced by valproic acid.",
    "Linezolid-associated thrombocytopenia in an elderly woman.",
    "Severe hypoglycemia occurred during glibenclamide therapy.",
    "The interstitial nephritis was attributed to omeprazole.",
    # The usual shapes of case-report titles and narrative (written for this test).
    "Methotrexate-induced pulmonary toxicity.",
    "Fatal hepatic failure during ketoconazole therapy.",
    "Two cases of neuroleptic malignant syndrome associated with clozapine.",
    "Cardiac arrest in a patient receiving intravenous phenytoin.",
    "A 54-year-old woman with arthritis developed nephrotic syndrome after gold therapy.",
    "The possibility that the pancytopenia was due to azathioprine was considered.",
    "This is the first report of optic neuritis associated with infliximab.",
    "Reversible encephalopathy after high-dose cytarabine.",
    "Lithium toxicity developed when enalapril was added.",
    "Rechallenge with carbamazepine reproduced the rash.",
    "Severe hypoglycemia occurred in an elderly patient taking glyburide and clarithromycin.",
    "We report a case of vancomycin-associated linear IgA bullous dermatosis.",
    "Tardive dyskinesia emerged after 6 months of metoclopramide.",
    "Stevens-Johnson syndrome following lamotrigine initiation in a child.",
    "Hemolytic anemia in G6PD deficiency after rasburicase.",
    "The rash was attributed to allopurinol.",
    "Acute interstitial nephritis secondary to omeprazole.",
    "Bleomycin lung in a patient with testicular cancer.",
    "Isoniazid hepatotoxicity: a fatal case.",
    "Torsades de pointes in a patient on methadone maintenance.",
]
CASE_REPORT_NOT_ADE = [
    "The patient was treated with prednisone 60 mg daily for three weeks.",
    "Serum creatinine was 2.3 mg/dL on admission.",
    "Cyclosporine levels were within the therapeutic range.",
    "A 45-year-old man presented with fever and a productive cough.",
    "He was treated with intravenous ceftriaxone and recovered fully.",
    "The thrombocytopenia was attributed to a viral infection.",
    "Renal biopsy showed acute tubular necrosis.",
    "Methotrexate was continued and the arthritis remained in remission.",
]


@pytest.mark.parametrize("text", FORM_ANSWERS_AND_CHAT)
def test_form_answers_names_and_chat_are_not_reports(detector: AEDetector, text: str) -> None:
    verdict = detector.detect(text)
    assert not verdict.report, verdict


@pytest.mark.parametrize("text", CASE_REPORT_ADE)
def test_case_report_drug_events_are_reports(detector: AEDetector, text: str) -> None:
    assert detector.detect(text).report


@pytest.mark.parametrize("text", CASE_REPORT_NOT_ADE)
def test_clinical_sentences_without_a_drug_cause_are_not_reports(
    detector: AEDetector, text: str
) -> None:
    assert not detector.detect(text).report


@pytest.mark.parametrize(("text", "category"), REPORTS)
def test_reports_are_detected_with_their_category(
    detector: AEDetector, text: str, category: str
) -> None:
    verdict = detector.detect(text)
    assert verdict.report or verdict.confirm, verdict  # reaches PV, at once or once confirmed
    assert category in verdict.categories, verdict
    assert set(verdict.categories) <= set(CATEGORIES)
    assert verdict.evidence or verdict.score > 0.5


@pytest.mark.parametrize("text", NOT_REPORTS)
def test_questions_negations_and_hypotheticals_are_not_reports(
    detector: AEDetector, text: str
) -> None:
    verdict = detector.detect(text)
    assert not verdict.report, verdict
    assert verdict.categories == ()


def test_report_with_known_effect_question_is_flagged_both_ways(detector: AEDetector) -> None:
    verdict = detector.detect("我的病人吃了X后出皮疹，这是已知的吗？")
    assert verdict.report
    assert verdict.is_known_effect_question
    assert verdict.language == "zh"
    english = detector.detect("A patient of mine got a bad rash on it - is that a known effect?")
    # Reaches PV (a case, or the confirmation question first) and the question is answered.
    assert english.report or english.confirm
    assert english.is_known_effect_question and english.language == "en"


def test_plain_report_is_not_a_known_effect_question(detector: AEDetector) -> None:
    assert not detector.detect("病人用药后头晕得厉害，已经停药了").is_known_effect_question


def test_empty_message(detector: AEDetector) -> None:
    assert detector.detect("   ") == AEDetection(False, False, (), 0.0, "en", False, ())


def _run(monkeypatch: pytest.MonkeyPatch, stdin: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(["classify-ae", "--jsonl"])
    code = args.handler(args, Settings(_env_file=None))
    return code, out.getvalue(), err.getvalue()


def test_classify_ae_jsonl_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        {"id": "a", "text": "病人一次吃了十片，现在在急诊"},
        {"id": 7, "text": "这个药的常见不良反应有哪些？"},
    ]
    stdin = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in lines) + "\n"
    code, out, err = _run(monkeypatch, stdin)
    assert code == 0 and err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    assert [set(r) for r in rows] == [{"id", "report", "confirm", "categories"}] * 2
    assert rows[0]["id"] == "a" and rows[0]["report"] is True and rows[0]["confirm"] is False
    assert "overdose" in rows[0]["categories"]
    assert rows[1] == {"id": 7, "report": False, "confirm": False, "categories": []}


def test_classify_ae_skips_bad_lines_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _run(monkeypatch, 'not json\n{"id": "b", "text": "早上好"}\n')
    assert code == 1
    assert "line 1" in err
    assert json.loads(out) == {"id": "b", "report": False, "confirm": False, "categories": []}


# The textbook reports of issue #15 and the advice questions of issue #18, through the contract.
CONTRACT_CASES = [
    ("My patient on Noravex was hospitalised with acute kidney injury", True),
    ("My patient stopped Noravex because of severe muscle pain.", True),
    ("A patient was admitted with pancreatitis after a month on Noravex.", True),
    ("A patient on Noravex came to the ER with dark urine and CK 12 000.", True),
    ("患者同时在吃吉非罗齐，我能直接把诺拉维加上去吗？", False),
    ("患者同时服用诺拉维和氨氯地平，可以吗？", False),
]


def test_classify_ae_reports_and_advice_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = "".join(
        json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n"
        for i, (text, _) in enumerate(CONTRACT_CASES)
    )
    code, out, _ = _run(monkeypatch, stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [row["report"] for row in rows] == [expected for _, expected in CONTRACT_CASES]


def test_long_messages_are_screened_in_bounded_windows(detector: AEDetector) -> None:
    chatter = "我们科室最近在整理血脂门诊的随访资料，想请你们帮忙提供一些患者教育材料。" * 12
    windows = sentence_windows(chatter + "另外，有个患者服用诺拉维两周后出现横纹肌溶解，已住院。")
    assert len(windows) > 1 and all(len(window) <= WINDOW_CHARS for window in windows)
    verdict = detector.detect(chatter + "另外，有个患者服用诺拉维两周后出现横纹肌溶解，已住院。")
    assert verdict.report and "adverse_event" in verdict.categories
    assert not detector.detect(chatter).report


def test_windows_cover_the_whole_text() -> None:
    text = "一句话。" * 200 + "x" * 700
    windows = sentence_windows(text)
    assert all(len(window) <= WINDOW_CHARS for window in windows)
    assert "".join(windows).replace(" ", "").count("一句话") >= 200
    assert "".join(windows).count("x") >= 700


# A special situation only asked about, or an interaction with no reaction, is scored, not
# reported by rule; the same situations stated as facts still are (session 8).
RULE_CASES = [
    ("喂奶的妈妈能吃这个药吗", False),
    ("病人在吃华法林，加用诺拉维需要调INR吗？", False),
    ("给患者加了诺拉维，两周后LDL降了40%", False),
    ("患者合用克拉霉素后出现肌痛，CK升高", True),
    ("患者同时吃了华法林和诺拉维，INR升到5", True),
    ("病人吃了过期的诺拉维，要紧吗？", True),
    ("患者一次吃了10片诺拉维", True),
]


@pytest.mark.parametrize(("text", "expected"), RULE_CASES)
def test_rule_reports_need_a_fact(text: str, expected: bool) -> None:
    assert rule_report(match_cues(text), text) is expected


def test_model_hidden_layer_adds_to_the_linear_score(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    dense = rng.normal(size=DENSE_DIM).astype(np.float32)
    buckets = np.asarray([1, 5, 9], dtype=np.int64)
    linear = AEModel(
        rng.normal(size=DENSE_DIM).astype(np.float32) * 0.01,
        np.zeros(HASH_DIM, np.float32),
        0.2,
        {"en": 0.5},
    )
    hidden = dataclasses.replace(
        linear,
        hidden_weights=rng.normal(size=(DENSE_DIM, 4)).astype(np.float32) * 0.05,
        hidden_bias=np.full(4, 0.1, np.float32),
        output_weights=np.asarray([0.5, -0.2, 0.3, 0.1], np.float32),
    )
    units = np.maximum(dense @ hidden.hidden_weights + hidden.hidden_bias, 0.0)
    logit = float(dense @ linear.dense_weights) + 0.2 + float(units @ hidden.output_weights)
    assert hidden.score(dense, buckets) == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-5)
    hidden.save(tmp_path / "m.npz")
    loaded = AEModel.load(tmp_path / "m.npz")
    assert loaded.score(dense, buckets) == pytest.approx(hidden.score(dense, buckets), rel=1e-6)
    linear.save(tmp_path / "l.npz")
    assert AEModel.load(tmp_path / "l.npz").hidden_weights.size == 0
