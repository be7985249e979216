"""Field extraction from report messages, and masking of patient identifiers."""

from __future__ import annotations

from bot.masking import mask_identifiers
from skills.adverse_events.extraction import SERIOUSNESS_CRITERIA, extract


def test_chinese_report_fields() -> None:
    text = (
        "患者ZS，女，45岁，吃了你们的阿托伐他汀两周后出现肌肉酸痛，已经住院，现在好转了，"
        "批号：B23051"
    )
    got = extract(text, products=["阿托伐他汀"])
    assert got.patient_initials == "ZS"
    assert got.age == "45岁" and got.age_group == "adult"
    assert got.sex == "female"
    assert got.products == ("阿托伐他汀",)
    assert got.batch_numbers == ("B23051",)
    assert "肌肉酸痛" in got.events
    assert "两周后" in got.onset
    assert got.seriousness == ("hospitalisation",)
    assert got.outcome == "recovering"


def test_english_report_fields() -> None:
    text = (
        "Patient J.S., 54M, developed angioedema 2 days after starting lisinopril; admitted to ICU."
    )
    got = extract(text)
    assert got.patient_initials == "J.S."
    assert got.age == "54" and got.sex == "male"
    assert got.products == ("lisinopril",)
    assert got.events == ("angioedema",)
    assert got.onset == ("2 days after",)
    assert got.seriousness == ("hospitalisation",)


def test_product_from_generic_pattern_and_age_group_words() -> None:
    got = extract("一个8个月大的宝宝吃了布洛芬后吐了两次")
    assert got.products == ("布洛芬",)
    assert got.age == "8个月大" and got.age_group == "infant"
    assert got.events == ("吐了两次",)


def test_seriousness_and_fatal_outcome() -> None:
    got = extract("病人用药后心跳骤停，抢救无效死亡")
    assert got.seriousness[:2] == ("death", "life_threatening")
    assert set(got.seriousness) <= set(SERIOUSNESS_CRITERIA)
    assert got.outcome == "fatal"
    english = extract("She died of liver failure three weeks after the first dose.")
    assert "death" in english.seriousness and english.outcome == "fatal"


def test_outcome_not_recovered_and_unknown() -> None:
    assert extract("注射部位红肿，一周还没消").outcome == "not_recovered"
    assert extract("病人用药后头晕").outcome is None


def test_special_situations_and_congenital_anomaly() -> None:
    got = extract("患者孕期一直吃这个药，孩子出生后发现唇腭裂")
    assert "pregnancy" in got.special_situations
    assert "congenital_anomaly" in got.seriousness
    assert "overdose" in extract("孩子误服了三片").special_situations


def test_nothing_said_means_nothing_extracted() -> None:
    got = extract("早上好")
    assert got.patient_initials is None and got.age is None and got.sex is None
    assert got.products == () and got.events == () and got.seriousness == ()


def test_masks_chinese_patient_names_but_keeps_age_and_sex() -> None:
    assert (
        mask_identifiers("患者张三，男，67岁，用药后皮疹")
        == "患者[姓名已隐藏]，男，67岁，用药后皮疹"
    )
    assert mask_identifiers("病人王小明吃了药以后头晕") == "病人[姓名已隐藏]吃了药以后头晕"
    assert mask_identifiers("患者姓名：欧阳娜娜，女") == "患者姓名：[姓名已隐藏]，女"


def test_does_not_mask_words_that_only_look_like_names() -> None:
    for text in (
        "患者高血压多年，用药后头晕",
        "病人白细胞降到2.5",
        "患者ZS，女",
        "病人张某用药后皮疹",
    ):
        assert mask_identifiers(text) == text


def test_masks_id_card_and_phone_numbers() -> None:
    text = "病人身份证11010519491231002X，电话138-1234-5678，座机010-62345678"
    assert (
        mask_identifiers(text) == "病人身份证[身份证号已隐藏]，电话[电话已隐藏]，座机[电话已隐藏]"
    )


def test_masks_english_patient_names_and_keeps_initials() -> None:
    assert (
        mask_identifiers("Patient John Smith, 54M, developed a rash.")
        == "Patient [name withheld], 54M, developed a rash."
    )
    assert mask_identifiers("patient J.S. developed a rash") == "patient J.S. developed a rash"
    assert mask_identifiers("Call me on +44 20 7946 0958.") == "Call me on [phone withheld]."


def test_a_denied_criterion_is_not_seriousness() -> None:
    """Read with its negation, in its own clause: a report typed into an open case adds its
    seriousness to the case, so "没有住院" must not make it serious."""
    for text in (
        "病人没有住院",
        "未住院，门诊观察",
        "不需要住院",
        "he was not hospitalised",
        "didn't need to be admitted",
        "no hospitalisation needed",
    ):
        assert extract(text).seriousness == (), text
    for text in (
        "没有好转，住院了",
        "患者没有及时停药导致住院",
        "He did not improve and was admitted",
        "no improvement, admitted to ICU",
        "没有住院，但是后来进了ICU",
    ):
        assert extract(text).seriousness == ("hospitalisation",), text
