"""The one masking function: what it hides, what it keeps, and the JSON walk used for state."""

from __future__ import annotations

import pytest

from bot.masking import mask_identifiers, mask_strings


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("3天前开始，患者电话13812345678", "3天前开始，患者电话[电话已隐藏]"),
        ("患者张三身份证110105491231002", "患者[姓名已隐藏]身份证[身份证号已隐藏]"),
        ("病人李四，身份证11010519491231002X", "病人[姓名已隐藏]，身份证[身份证号已隐藏]"),
        ("家属手机 +86 138-1234-5678 随时联系", "家属手机 [电话已隐藏] 随时联系"),
        (
            "科室座机 010 62345678，邮箱 zhang.san@hospital.cn",
            "科室座机 [电话已隐藏]，邮箱 [邮箱已隐藏]",
        ),
        ("Mr. John Smith had a rash", "Mr. [name withheld] had a rash"),
        ("Ms. Mary Jones, mary.jones@example.org", "Ms. [name withheld], [e-mail withheld]"),
        ("patient Anna Lee, 54F", "patient [name withheld], 54F"),
    ],
)
def test_identifiers_are_masked(text: str, masked: str) -> None:
    assert mask_identifiers(text) == masked
    assert mask_identifiers(masked) == masked  # idempotent: safe on every path


@pytest.mark.parametrize(
    "text",
    [
        "患者ZS，45岁，男",
        "patient J.S., 62, female",
        "诺拉维 10mg 每日一次",
        "AE-20261122-0001",
        "",
    ],
)
def test_what_pv_needs_is_kept(text: str) -> None:
    assert mask_identifiers(text) == text


def test_stored_json_is_masked_but_identifiers_kept() -> None:
    state = {
        "transcript": [{"who": "doctor", "text": "患者王五电话13912345678"}],
        "case_id": "AE-20261122-0001",
        "pending": {"question": "email me at a@b.cn", "external_userid": "wm13812345678x"},
        "count": 3,
    }
    assert mask_strings(state) == {
        "transcript": [{"who": "doctor", "text": "患者[姓名已隐藏]电话[电话已隐藏]"}],
        "case_id": "AE-20261122-0001",
        "pending": {
            "question": "email me at [e-mail withheld]",
            "external_userid": "wm13812345678x",
        },
        "count": 3,
    }
