"""Export files that are written once and never replaced (the PV archive sink's files).

Each file is written to a private temporary file, fsync'd, then hard-linked to its name: the
link fails if the name exists, so a file appears complete or not at all and is never
overwritten, even by a concurrent writer. Writing the same content again (a redelivered case)
finds the file and is done. Different content under a name already taken (a case id that was
handed out twice before the store was durable) is kept next to it as
``<name>.conflict-<sha256 prefix><suffix>``: both versions stay, and the conflict is logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


class ArchiveConflictError(OSError):
    """A conflict file holds other content than its hash says (a damaged archive)."""


def write_once(directory: Path, name: str, content: bytes) -> Path:
    """Make ``directory/name`` hold ``content`` without replacing anything; returns the path.

    The path is ``directory/name``, or its conflict twin when that name holds other content.
    Blocking (disk and fsync): call it in a thread.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if _holds(target, content):
        return target
    temporary = directory / f".{name}.{secrets.token_hex(6)}.partial"
    with temporary.open("xb") as partial:
        partial.write(content)
        partial.flush()
        os.fsync(partial.fileno())
    try:
        if _link(temporary, target, content):
            return target
        twin = _conflict_path(target, content)
        log.warning("export %s holds another version; kept it and wrote %s", target, twin.name)
        if _link(temporary, twin, content):
            return twin
        raise ArchiveConflictError(f"{twin} holds content that does not match its name")
    finally:
        temporary.unlink()
        _fsync_directory(directory)


def _holds(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except FileNotFoundError:
        return False


def _link(temporary: Path, target: Path, content: bytes) -> bool:
    """Give ``temporary`` the name ``target`` unless taken; True if ``target`` now holds it."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        return _holds(target, content)
    return True


def _conflict_path(target: Path, content: bytes) -> Path:
    digest = hashlib.sha256(content).hexdigest()[:12]
    return target.with_name(f"{target.stem}.conflict-{digest}{target.suffix}")


def _fsync_directory(directory: Path) -> None:
    """Make the new names durable too (a file's fsync does not cover its directory entry)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
