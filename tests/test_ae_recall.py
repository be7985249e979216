"""The detector's English recall rules (``skills/adverse_events/recall.py``): pure, table-driven.

Each rule only makes a message a candidate (the doctor is asked once); these tests pin which
shapes count and which look-alikes do not.
"""

from __future__ import annotations

import pytest

from skills.adverse_events.recall import drug_caused_event, recall_shape, told_a_reaction

# A drug named as the cause of an event, in case-report English (written for this test).
DRUG_CAUSED = [
    "Bleomycin lung in a patient with testicular cancer.",
    "Lithium toxicity after the addition of a thiazide.",
    "Carbamazepine-induced hyponatraemia in an elderly woman.",
    "Hepatitis attributed to isoniazid resolved on withdrawal.",
    "Torsade de pointes in a patient receiving intravenous erythromycin.",
    "Acute interstitial nephritis developed during omeprazole therapy.",
    "Clozapine was withdrawn because of a falling neutrophil count.",
    "Severe hypoglycaemia followed the first dose of gliclazide.",
    "Amiodarone pneumonitis presenting as bilateral infiltrates.",
    "Rechallenge with allopurinol reproduced the eruption.",
]
# Case-report sentences that name a drug or an event but no drug as a cause.
NOT_DRUG_CAUSED = [
    "She was treated with prednisolone and her symptoms improved.",
    "The fever was due to a urinary tract infection and resolved with ceftriaxone.",
    "Renal failure secondary to septic shock required dialysis.",
    "Methotrexate was started for rheumatoid arthritis.",
    "The patient had a history of hypertension and diabetes.",
    "He received three cycles of chemotherapy without complication.",
    "How should statin-associated muscle symptoms be managed?",
]
# A patient telling of a symptom they had on a medicine (forum English).
TOLD = [
    "This med made me so tired I slept through my alarms.",
    "I've gained 20 lbs since I started it.",
    "The brain zaps when I miss a dose are awful.",
    "Couldn't sleep for the first two weeks on it.",
    "My hands shake so badly on lithium I can't hold a cup.",
    "Nausea and headache the first few days.",
    "It gave me the worst dry mouth of my life.",
    # a request and a report in one message, the product as "it" (trial finding F8's shape)
    "only need the leaflet, also my pt on it got hives last week",
]
# First-person or forum English that tells of no reaction to a medicine.
NOT_TOLD = [
    "I haven't had any side effects at all.",
    "My headaches are much less frequent on it.",
    "My fatigue is from my anemia, iron levels were really low.",
    "I'm worried it will make me gain weight.",
    "Does it make you tired?",
    "I've had insomnia since my teens, it runs in the family.",
    "I take it every morning with breakfast.",
]


@pytest.mark.parametrize("text", DRUG_CAUSED)
def test_a_drug_named_as_the_cause_of_an_event_is_a_shape(text: str) -> None:
    assert drug_caused_event(text)
    assert recall_shape(text) == "drug-caused event"


@pytest.mark.parametrize("text", NOT_DRUG_CAUSED)
def test_a_drug_given_or_another_cause_is_no_shape(text: str) -> None:
    assert recall_shape(text) is None


@pytest.mark.parametrize("text", TOLD)
def test_a_patient_telling_of_a_symptom_is_a_shape(text: str) -> None:
    assert told_a_reaction(text)
    assert recall_shape(text) is not None


@pytest.mark.parametrize("text", NOT_TOLD)
def test_denied_supposed_asked_or_other_causes_are_no_shape(text: str) -> None:
    assert recall_shape(text) is None


@pytest.mark.parametrize("text", ["患者用药后出现皮疹", "病人吃了诺拉维以后腿疼得厉害"])
def test_chinese_is_left_to_the_classifier(text: str) -> None:
    assert recall_shape(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "What is the max dose of Noravex in renal impairment? I have a patient who got bad "
        "muscle pain after I went up to 20 mg.",
        "Is this common? Hepatitis developed six weeks after isoniazid was started.",
    ],
)
def test_a_report_beside_a_question_is_a_shape(text: str) -> None:
    assert recall_shape(text) is not None


def test_a_question_alone_is_no_shape_even_in_two_sentences() -> None:
    assert recall_shape("I have a patient on Noravex. Can it cause muscle pain?") is None
