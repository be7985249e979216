"""The README documents every setting (external tooling relies on the VREP_ names)."""

from __future__ import annotations

from pathlib import Path

from bot.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_settings_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"{ENV_PREFIX}{name.upper()}"
        for name in Settings.model_fields
        if f"`{ENV_PREFIX}{name.upper()}`" not in text
    ]
    assert missing == []
