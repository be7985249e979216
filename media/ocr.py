"""Text in images (Chinese and English) with RapidOCR: PP-OCRv4 models on onnxruntime, shipped
inside the ``rapidocr-onnxruntime`` wheel, so nothing is downloaded at run time.

Blocking (call from a thread). The engine is loaded once per process on first use. PDFs are
read from their text layer (pypdf); a scanned PDF's page images are OCR'd instead.
"""

from __future__ import annotations

import io
import threading
from functools import cache
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from media.spacing import respace

MAX_PIXELS = 40_000_000  # a larger "photo" is a decompression bomb, not a lab report
_MAX_SIDE = 2000  # the detector works on at most this; larger photos are scaled down first
_MIN_SCORE = 0.8  # printed text scores above 0.9; a red patch on skin reads as "O" at 0.55
_MIN_CHARS = 2  # one glyph alone is a shape, not text
_PDF_PAGES = 5
_lock = threading.Lock()


class ImageError(Exception):
    """The bytes are not a readable image or PDF."""


@cache
def _engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR  # loads three ONNX models: import only when used

    # The detector sees at most 960 px on the long side: the default ("at least 736 on the
    # short side") blows a small photo up several times and is ~5x slower for no better text.
    return RapidOCR(det_limit_side_len=960, det_limit_type="max")


def image_text(content: bytes) -> str:
    """The lines of text in an image, top to bottom, with dropped English spaces put back
    (``media.spacing``); "" when there is none."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError("the image is too large")
            image.thumbnail((_MAX_SIDE, _MAX_SIDE))
            pixels = np.asarray(image.convert("RGB"))[:, :, ::-1]  # BGR, as OpenCV expects
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageError(f"not a readable image: {exc}") from exc
    with _lock:  # one engine per process; onnxruntime sessions already use both cores
        result, _ = _engine()(pixels, use_cls=False)  # upright photos: no 180° classifier
    lines = [
        respace(str(text).strip())
        for _box, text, score in result or ()
        if float(score) >= _MIN_SCORE
    ]
    text = "\n".join(line for line in lines if line)
    return text if sum(char.isalnum() for char in text) >= _MIN_CHARS else ""


def pdf_text(content: bytes) -> str:
    """The text layer of the first pages; for a scan, the text in its page images."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pages = PdfReader(io.BytesIO(content)).pages[:_PDF_PAGES]
        text = "\n".join((page.extract_text() or "").strip() for page in pages).strip()
        if text:
            return text
        images = [image.data for page in pages for image in page.images]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ImageError(f"not a readable PDF: {exc}") from exc
    return "\n".join(filter(None, (image_text(data) for data in images[:_PDF_PAGES])))
