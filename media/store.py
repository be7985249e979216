"""The media store: the original bytes of every voice note, image and file a person sent.

Files are content-addressed (``<sha256 in base32>.<ext>`` in one directory), so a redelivered
message stores nothing twice and nothing is ever overwritten with other bytes; writes go to a
temporary name first and are renamed into place, so a reader never sees half a file. The
directory is ``VREP_MEDIA_DIR`` (default ``<VREP_DATA_DIR>/media``): point every replica at the
same shared volume and they all see the same files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from media.sniff import MediaType


@dataclass(frozen=True)
class StoredMedia:
    """One stored original: ``ref`` is what cases and the audit trail keep."""

    ref: str  # "<sha256 base32>.<ext>", the file name in the store
    media_type: MediaType | None  # None: kept, but not a type the bot can read
    size: int


class MediaStore:
    """Content-addressed files in one directory (blocking: call it from a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, content: bytes, media_type: MediaType | None) -> StoredMedia:
        """Store ``content`` once; the same bytes again return the same ref."""
        # base32, not hex: a ref has no long digit run that identifier masking (which every
        # case passes through) would take for a phone or ID number.
        digest = base64.b32encode(hashlib.sha256(content).digest()).decode().rstrip("=").lower()
        ref = f"{digest}.{media_type.extension if media_type else 'bin'}"
        target = self.path(ref)
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(content)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return StoredMedia(ref, media_type, len(content))

    def path(self, ref: str) -> Path:
        """Where a stored file lives; refuses refs that are not a plain stored name."""
        if "/" in ref or "\\" in ref or ref.startswith("."):
            raise ValueError(f"not a media ref: {ref!r}")
        return self.root / ref

    def read(self, ref: str) -> bytes:
        return self.path(ref).read_bytes()
