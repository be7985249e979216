"""English causality indicators and the register/question cues the case-report register needs."""

from __future__ import annotations

import pytest

from skills.adverse_events.causality import DRUG, FEATURES, causal_vector
from skills.adverse_events.cues import match_cues, normalize, register


def flags(text: str) -> dict[str, bool]:
    return {name: bool(v) for name, v in zip(FEATURES, causal_vector(text), strict=True)}


@pytest.mark.parametrize(
    "word",
    [
        "losartan",
        "cocaine",
        "ceftriaxone",
        "cephalexin",
        "imipenem",
        "apixaban",
        "FK506",
        "CsA",
        "TMP-SMX",
        "5-FU",
        "oral contraceptives",
        "alteplase",
    ],
)
def test_drug_names_stems_and_abbreviations_are_drugs(word: str) -> None:
    assert DRUG.search(normalize(word))


@pytest.mark.parametrize("word", ["disease", "diseases", "increase", "release", "peptide"])
def test_common_words_that_end_like_a_stem_are_not_drugs(word: str) -> None:
    assert not DRUG.search(normalize(word))


def test_event_without_a_drug_is_flagged() -> None:
    assert flags("Two days later he developed fever and hypotension.")["event_without_drug"]
    assert not flags("Two days after starting lamotrigine he developed a rash.")[
        "event_without_drug"
    ]


def test_drug_stopped_because_of_an_event() -> None:
    assert flags("Azathioprine was withdrawn because of leukopenia.")["stopped_because"]
    assert not flags("The rash resolved within two weeks.")["stopped_because"]


def test_benefit_without_a_causal_word() -> None:
    assert flags("Naloxone reversed the respiratory depression.")["benefit_without_causal"]
    assert not flags("Lamotrigine-induced rash was treated to control the itch.")[
        "benefit_without_causal"
    ]


def test_chinese_text_has_no_causality_indicators() -> None:
    assert not any(flags("患者用药后出现皮疹").values())


def test_roman_numeral_i_is_not_first_person() -> None:
    assert register("Grade I hypersensitivity reaction after cefazolin.") == "en"
    assert register("I got a rash on it.") == "en_self"


def test_narrative_when_is_not_a_general_question() -> None:
    assert not match_cues("When fluvoxamine was added, clozapine levels rose.").general_question
    assert match_cues("When should the drug be stopped").general_question
