"""Settings: defaults, overrides from the environment, one-line errors naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

VALID_AES_KEY = "a" * 43


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.startswith("VREP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_defaults() -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.redis_url is None
    assert settings.wecom_api_base == "https://qyapi.weixin.qq.com"
    assert not settings.wecom_configured and not settings.llm_configured


def test_environment_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VREP_PORT", "9000")
    monkeypatch.setenv("VREP_WECOM_SECRET", "s3cret")
    monkeypatch.setenv("VREP_WECOM_AES_KEY", VALID_AES_KEY)
    settings = load_settings()
    assert settings.port == 9000
    assert "s3cret" not in repr(settings)
    assert settings.wecom_secret is not None
    assert settings.wecom_secret.get_secret_value() == "s3cret"


def test_dotenv_file(tmp_path: object) -> None:
    with open(".env", "w", encoding="utf-8") as handle:
        handle.write("VREP_LOG_LEVEL=DEBUG\n")
    assert load_settings().log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VREP_WECOM_AES_KEY", "tooshort"),
        ("VREP_REDIS_URL", "localhost:6379"),
        ("VREP_REDIS_URL", "redis://localhost:notaport"),
        ("VREP_PORT", "eighty"),
        ("VREP_PORT", "70000"),
        ("VREP_OPENAI_BASE_URL", "ftp://x"),
        ("VREP_TIMEZONE", "Mars/Olympus"),
        ("VREP_LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid {variable}:")
    assert "\n" not in message


def test_cli_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "VREP_WECOM_AES_KEY": "short"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "virtualrep: invalid VREP_WECOM_AES_KEY: must be the 43-character EncodingAESKey "
        "from the WeCom console"
    ]


def test_malformed_roster_stops_with_one_line(tmp_path: Path) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text("reps: [\n", encoding="utf-8")
    env = {**os.environ, "VREP_REP_ROSTER": str(roster)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        env=env,
        input="hi\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("virtualrep: invalid VREP_REP_ROSTER: ")


def test_the_timestamp_window_must_be_shorter_than_the_dedup_ttl() -> None:
    """Else a callback replayed after its dedup key expired would be handled twice."""
    with pytest.raises(SettingsError) as caught:
        load_settings(wecom_timestamp_window_s=7200, dedup_ttl_s=3600)
    message = str(caught.value)
    assert "VREP_WECOM_TIMESTAMP_WINDOW_S" in message and "VREP_DEDUP_TTL_S" in message
    assert "\n" not in message
    assert load_settings(wecom_timestamp_window_s=3599, dedup_ttl_s=3600)


def test_cli_refuses_a_window_beyond_the_dedup_ttl_with_one_line() -> None:
    env = {**os.environ, "VREP_WECOM_TIMESTAMP_WINDOW_S": "90000"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("virtualrep: invalid settings: VREP_WECOM_TIMESTAMP_WINDOW_S (90000)")


def test_data_paths_default_under_the_data_dir_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the autouse fixture runs this from tmp_path; the store lives elsewhere
    store = tmp_path / "elsewhere" / "store"
    monkeypatch.setenv("VREP_DATA_DIR", str(store))
    settings = load_settings()
    assert (settings.kb_dir, settings.pv_export_dir) == (store / "kb", store / "pv")
    assert not (Path.cwd() / "data").exists()
    monkeypatch.setenv("VREP_PV_EXPORT_DIR", "")  # set empty: the default, not the cwd
    assert load_settings().pv_export_dir == store / "pv"
    monkeypatch.setenv("VREP_PV_EXPORT_DIR", str(tmp_path / "archive"))  # set: kept as given
    assert load_settings().pv_export_dir == tmp_path / "archive"
    assert load_settings(kb_dir=tmp_path / "kb").kb_dir == tmp_path / "kb"
    monkeypatch.delenv("VREP_DATA_DIR")
    monkeypatch.delenv("VREP_PV_EXPORT_DIR")
    settings = load_settings()  # nothing set: the README's data/ of the working directory
    assert (settings.kb_dir, settings.pv_export_dir) == (Path("data/kb"), Path("data/pv"))
