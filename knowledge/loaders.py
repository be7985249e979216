"""Read source files into (metadata, text) documents: Markdown, PDF, DOCX, plain text, JSONL.

Metadata comes from YAML front matter (Markdown), from a sidecar file next to the source
(``NAME.meta.yaml``, ``NAME.yaml``/``.yml`` or ``NAME.json`` — for PDF, DOCX, text and Markdown
without front matter) or from the fields of each JSONL line. A document whose metadata is
incomplete becomes a ``Refusal`` naming the file and the field; it is never partly loaded.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.schema import DocumentMeta, MetadataError, build_meta

SOURCE_SUFFIXES = frozenset({".md", ".markdown", ".pdf", ".docx", ".txt", ".jsonl"})
_SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json", ".yaml", ".yml", ".json")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class SourceDocument:
    """One admissible document: validated metadata, full text and where it came from."""

    meta: DocumentMeta
    text: str
    origin: str
    markdown: bool


@dataclass(frozen=True)
class Refusal:
    """A document that may not be ingested; ``line`` is what the operator sees."""

    origin: str
    field: str
    reason: str

    @property
    def line(self) -> str:
        return f"refused {self.origin}: {self.field} {self.reason}"


@dataclass(frozen=True)
class SourceFiles:
    """What an ingest was given, found in one walk of each folder."""

    sources: list[Path]  # files to load, in order (a file given directly is always one)
    skipped: list[Path]  # files inside the folders of another format, for the operator


def find_source_files(paths: Iterable[Path | str]) -> SourceFiles:
    """Files and folders (recursively, sorted) to the source files they hold and the files of
    another format beside them (hidden files and metadata sidecars are neither): each folder
    is walked once, and a file reached twice (a folder given twice, or inside two folders
    given) is listed once."""
    sources: dict[Path, None] = {}
    skipped: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            sources[path] = None
            continue
        for child in _content_files(path):
            (sources if _is_source(child) else skipped)[child] = None
    return SourceFiles(list(sources), list(skipped))


def _content_files(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, sorted, except hidden ones (or in hidden folders) and sidecars."""
    for child in sorted(folder.rglob("*")):
        hidden = any(part.startswith(".") for part in child.relative_to(folder).parts)
        if child.is_file() and not hidden and not _is_sidecar(child):
            yield child


def _is_source(path: Path) -> bool:
    return path.suffix.lower() in SOURCE_SUFFIXES and not _is_sidecar(path)


def _is_sidecar(path: Path) -> bool:
    return any(path.name.lower().endswith(suffix) for suffix in _SIDECAR_SUFFIXES)


def load_file(path: Path, *, unapproved_eval: bool = False) -> list[SourceDocument | Refusal]:
    """Parse one file into documents (many for JSONL, one otherwise) or refusals."""
    suffix = path.suffix.lower()
    if not path.is_file():
        return [Refusal(str(path), "path", "does not exist")]
    if suffix not in SOURCE_SUFFIXES:
        return [Refusal(str(path), "format", f"{suffix or 'none'} is not supported")]
    if suffix == ".jsonl":
        return _load_jsonl(path, unapproved_eval)
    try:
        raw_meta, text = _read_text_and_meta(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [Refusal(str(path), "file", f"unreadable ({exc})")]
    raw_meta.setdefault("doc_id", re.sub(r"[^\w.-]+", "-", path.stem).strip("-"))
    if "title" not in raw_meta:
        heading = _HEADING.search(text)
        raw_meta["title"] = heading.group(1) if heading else path.stem
    return [
        _validated(
            raw_meta, text, str(path), suffix in (".md", ".markdown", ".docx"), unapproved_eval
        )
    ]


def _validated(
    raw_meta: dict[str, Any], text: str, origin: str, markdown: bool, unapproved_eval: bool
) -> SourceDocument | Refusal:
    if not text.strip():
        return Refusal(origin, "text", "is empty")
    try:
        meta = build_meta(raw_meta, unapproved_eval=unapproved_eval)
    except MetadataError as exc:
        return Refusal(origin, exc.field, exc.reason)
    return SourceDocument(meta=meta, text=text.strip(), origin=origin, markdown=markdown)


def _read_text_and_meta(path: Path) -> tuple[dict[str, Any], str]:
    suffix = path.suffix.lower()
    meta: dict[str, Any] = {}
    if suffix in (".md", ".markdown"):
        text = path.read_text(encoding="utf-8-sig")
        match = _FRONT_MATTER.match(text)
        if match:
            loaded = yaml.safe_load(match.group(1)) or {}
            if not isinstance(loaded, dict):
                raise ValueError("front matter is not a mapping")
            meta = loaded
            text = text[match.end() :]
    elif suffix == ".pdf":
        text = _pdf_text(path)
    elif suffix == ".docx":
        text = _docx_text(path)
    else:
        text = path.read_text(encoding="utf-8-sig")
    sidecar = _sidecar_meta(path)
    return {**sidecar, **meta}, text


def _sidecar_meta(path: Path) -> dict[str, Any]:
    for suffix in _SIDECAR_SUFFIXES:
        for candidate in (path.with_name(path.name + suffix), path.with_suffix(suffix)):
            if candidate != path and candidate.is_file():
                raw = candidate.read_text(encoding="utf-8-sig")
                loaded = json.loads(raw) if suffix.endswith(".json") else yaml.safe_load(raw)
                if not isinstance(loaded, dict):
                    raise ValueError(f"{candidate.name} is not a mapping")
                return loaded
    return {}


def _pdf_text(path: Path) -> str:
    """The PDF's text layer; ``ValueError`` when it is not a readable PDF (it is refused)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs each repair of a recoverable structure error (a wrong xref offset) as a
    # warning, which reached the operator as a stray log line; what counts is the text layer,
    # and a file without a readable one is refused below.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except PyPdfError as exc:
        raise ValueError(f"damaged or not a PDF: {exc}") from exc


def _docx_text(path: Path) -> str:
    """Paragraphs of a DOCX, with Word headings turned into Markdown headings for chunking."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        paragraphs = docx.Document(str(path)).paragraphs
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"damaged or not a DOCX: {exc}") from exc
    lines: list[str] = []
    for paragraph in paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = style.removeprefix("Heading ").strip()
        if style.startswith("Heading") and level.isdigit():
            lines.append("#" * min(int(level), 6) + " " + text)
        elif style == "Title":
            lines.append("# " + text)
        else:
            lines.append(text)
    return "\n\n".join(lines)


def _load_jsonl(path: Path, unapproved_eval: bool) -> list[SourceDocument | Refusal]:
    out: list[SourceDocument | Refusal] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            origin = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append(Refusal(origin, "json", f"invalid ({exc.msg})"))
                continue
            if not isinstance(row, dict):
                out.append(Refusal(origin, "json", "is not an object"))
                continue
            text = str(row.pop("text", "") or "")
            out.append(_validated(row, text, origin, False, unapproved_eval))
    return out
