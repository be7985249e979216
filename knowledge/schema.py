"""The metadata every approved document carries, and the checks that make a document admissible.

A document without an approval code or an expiry date may not reach a doctor, so validation
reports the first missing field by name (``MissingField``) and ingestion refuses the whole file.
Evaluation corpora are the one exception: they are marked ``unapproved_eval`` and never shown.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ContentType = Literal[
    "prescribing_information",
    "standard_response",
    "study_summary",
    "publication",
    "meeting_material",
    "patient_material",
]
Audience = Literal["hcp", "public"]
Language = Literal["zh", "en"]
Status = Literal["approved", "withdrawn"]

# Far-future expiry given to evaluation corpora, which have no approval metadata of their own.
EVAL_EXPIRY = date(9999, 12, 31)
EVAL_APPROVAL_CODE = "UNAPPROVED-EVAL"

REQUIRED_FOR_APPROVAL = ("approval_code", "expires_on")


class MetadataError(ValueError):
    """The metadata of one document is unusable; ``str(err)`` names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DocumentMeta(BaseModel):
    """Approval metadata of one document (one version of it)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    doc_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\s@#]+$")
    title: str = Field(min_length=1)
    product: str | None = None
    therapeutic_area: str | None = None
    content_type: ContentType = "standard_response"
    audience: Audience = "hcp"
    language: Language = "zh"
    approval_code: str = Field(min_length=1)
    version: str = Field("1", min_length=1, max_length=40)
    valid_from: date | None = None
    expires_on: date
    status: Status = "approved"
    citation: str | None = None
    tags: tuple[str, ...] = ()
    # Approved label facts, read by the off-label guardrail of the Q&A skill (PI summaries).
    approved_indications: tuple[str, ...] = ()
    approved_populations: tuple[str, ...] = ()
    approved_dose: str | None = None
    unapproved_eval: bool = False

    @field_validator("version", "approval_code", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # YAML reads ``version: 2`` or ``version: 1.0`` as a number; versions are labels.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("tags", "approved_indications", "approved_populations", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(
                part.strip() for part in value.replace("，", ",").split(",") if part.strip()
            )
        return value

    def visible_on(self, today: date) -> bool:
        """Approved and inside its validity window on ``today``."""
        if self.status != "approved":
            return False
        if self.valid_from is not None and today < self.valid_from:
            return False
        return today <= self.expires_on

    @property
    def version_key(self) -> str:
        return f"{self.doc_id}@{self.version}"


def build_meta(raw: dict[str, Any], *, unapproved_eval: bool = False) -> DocumentMeta:
    """Validate raw metadata (front matter, sidecar or JSONL fields) into ``DocumentMeta``.

    With ``unapproved_eval`` the approval fields may be missing: the document is then marked so
    it never reaches a doctor. Raises ``MetadataError`` naming the first missing/invalid field.
    """
    data = {key: value for key, value in raw.items() if value is not None and value != ""}
    if "id" in data and "doc_id" not in data:
        data["doc_id"] = data.pop("id")
    if "lang" in data and "language" not in data:
        data["language"] = data.pop("lang")
    if unapproved_eval:
        data.setdefault("approval_code", EVAL_APPROVAL_CODE)
        data.setdefault("expires_on", EVAL_EXPIRY)
        data["unapproved_eval"] = True
        data.setdefault("audience", "hcp")
    else:
        data.pop("unapproved_eval", None)
        for field in ("doc_id", "title", *REQUIRED_FOR_APPROVAL):
            if field not in data:
                raise MetadataError(field, "missing")
    try:
        return DocumentMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "?"
        reason = str(first["msg"])
        if isinstance(first.get("input"), bool):
            # YAML reads an unquoted yes/no/on/off as a boolean: title: Off arrives as False.
            reason += f" (YAML read it as {first['input']}; put the value in quotes)"
        raise MetadataError(field, reason) from None
