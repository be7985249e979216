"""What a file really is, read from its first bytes (never from the declared type or name).

WeCom tells the message type (voice, image, file) and, for files, a name the sender chose; both
can lie. Only the formats the bot can read are recognised: AMR and SILK voice notes, the image
formats WeChat sends, and PDF.
"""

from __future__ import annotations

from enum import StrEnum


class MediaType(StrEnum):
    AMR = "audio/amr"
    SILK = "audio/silk"
    JPEG = "image/jpeg"
    PNG = "image/png"
    GIF = "image/gif"
    WEBP = "image/webp"
    BMP = "image/bmp"
    PDF = "application/pdf"

    @property
    def is_audio(self) -> bool:
        return self.value.startswith("audio/")

    @property
    def is_image(self) -> bool:
        return self.value.startswith("image/")

    @property
    def extension(self) -> str:
        return {MediaType.JPEG: "jpg"}.get(self, self.value.split("/")[1])


_SIGNATURES: tuple[tuple[bytes, MediaType], ...] = (
    (b"#!AMR\n", MediaType.AMR),
    (b"#!SILK_V3", MediaType.SILK),
    (b"\x02#!SILK_V3", MediaType.SILK),  # WeChat's variant has one leading byte
    (b"\xff\xd8\xff", MediaType.JPEG),
    (b"\x89PNG\r\n\x1a\n", MediaType.PNG),
    (b"GIF87a", MediaType.GIF),
    (b"GIF89a", MediaType.GIF),
    (b"BM", MediaType.BMP),
    (b"%PDF-", MediaType.PDF),
)


def sniff(content: bytes) -> MediaType | None:
    """The type the bytes say they are, or None for anything the bot cannot read."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return MediaType.WEBP
    for magic, media_type in _SIGNATURES:
        if content.startswith(magic):
            return media_type
    return None
