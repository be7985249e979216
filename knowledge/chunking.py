"""Split a document into retrievable chunks that keep their section path for citations.

Markdown headings split first (LangChain's ``MarkdownHeaderTextSplitter``); long sections are
then cut at paragraph, line and sentence ends — Chinese 。！？； as well as English — with
overlap (``RecursiveCharacterTextSplitter``). Chunk ids are ``doc_id@version#n``: stable for the
same text, distinct across versions so a new version can be written before the old one goes.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge.loaders import SourceDocument

CHUNK_CHARS = 500
OVERLAP_CHARS = 80
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    seq: int
    section: str
    text: str


def chunk_document(doc: SourceDocument) -> list[Chunk]:
    """Chunks of one document, in reading order."""
    body = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_CHARS,
        chunk_overlap=OVERLAP_CHARS,
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )
    pieces: list[tuple[str, str]] = []
    if doc.markdown:
        headed = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True).split_text(doc.text)
        for part in headed:
            section = " > ".join(
                str(part.metadata[key]) for _, key in _HEADERS if key in part.metadata
            )
            pieces.extend((section, text) for text in body.split_text(part.page_content))
    else:
        pieces.extend(("", text) for text in body.split_text(doc.text))
    meta = doc.meta
    return [
        Chunk(chunk_id=f"{meta.doc_id}@{meta.version}#{seq}", seq=seq, section=section, text=text)
        for seq, (section, text) in enumerate((s, t) for s, t in pieces if t.strip())
    ]


def retrieval_text(title: str, section: str, text: str) -> str:
    """What is embedded and indexed: the chunk with its title and section path as context."""
    context = [part for part in (title, section) if part and part not in text]
    return "\n".join([" > ".join(context), text]) if context else text
