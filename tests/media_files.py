"""Real media for the tests, made on the spot: speech by espeak-ng encoded as AMR-NB by sox
(libopencore-amrnb) or as SILK by pysilk, images with text drawn by Pillow in Noto Sans CJK.
``deploy/ensure-packages.sh media`` (``make test``) installs the Debian packages. Each file is
made once per test session."""

from __future__ import annotations

import io
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@cache
def speech_wav(text: str, voice: str) -> bytes:
    """``text`` spoken by espeak-ng (``voice`` "zh" or "en"), as 16-bit mono WAV."""
    return subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "190", "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout


@cache
def speech_amr(text: str, voice: str = "zh") -> bytes:
    """The speech as a WeChat voice note: AMR-NB, 8 kHz mono, 12.2 kbit/s."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.wav", Path(folder) / "out.amr"
        source.write_bytes(speech_wav(text, voice))
        subprocess.run(
            ["sox", str(source), "-r", "8000", "-c", "1", "-t", "amr-nb", "-C", "7", str(target)],
            check=True,
            capture_output=True,
        )
        return target.read_bytes()


def wav_seconds(wav: bytes) -> float:
    """Length of espeak-ng's WAV (its streamed header leaves the frame count unset)."""
    import wave

    with wave.open(io.BytesIO(wav)) as reader:
        rate, width = reader.getframerate(), reader.getsampwidth()
    return (len(wav) - 44) / (rate * width)


@cache
def speech_silk(text: str, voice: str = "zh") -> bytes:
    """The speech as WeChat's SILK v3 (24 kHz), with WeChat's leading 0x02 byte."""
    import wave

    import pysilk

    with wave.open(io.BytesIO(speech_wav(text, voice))) as reader:
        rate, pcm = reader.getframerate(), reader.readframes(reader.getnframes())
    resampled = subprocess.run(
        ["sox", "-t", "raw", "-r", str(rate), "-e", "signed", "-b", "16", "-c", "1", "-",
         "-t", "raw", "-r", "24000", "-"],
        input=pcm, capture_output=True, check=True,
    ).stdout  # fmt: skip
    out = io.BytesIO()
    pysilk.encode(io.BytesIO(resampled), out, 24000, 24000, tencent=True)
    return out.getvalue()


@cache
def text_image(*lines: str, fmt: str = "PNG") -> bytes:
    """A photo-like picture of ``lines`` (black on white, 32 px Noto Sans CJK)."""
    font = ImageFont.truetype(str(CJK_FONT), 32)
    image = Image.new("RGB", (40 + 34 * max(len(line) for line in lines), 30 + 60 * len(lines)))
    image.paste("white", (0, 0, *image.size))
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((20, 15 + 60 * number), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@cache
def rash_photo() -> bytes:
    """A photo with no text in it: a red patch on skin colour."""
    image = Image.new("RGB", (320, 240), (224, 180, 150))
    ImageDraw.Draw(image).ellipse((90, 60, 230, 180), fill=(200, 40, 40))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()
