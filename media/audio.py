"""Voice notes to 16 kHz mono 16-bit PCM, the input every speech recogniser takes.

WeChat sends AMR-NB (kf asks for it: ``voice_format`` 0) and, from some clients, SILK v3.
AMR is decoded by ffmpeg (a subprocess: blocking, so callers run this in a thread); SILK by
the ``pysilk`` decoder of the silk-python package, then resampled by ffmpeg.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

from media.sniff import MediaType

SAMPLE_RATE = 16_000
_SILK_RATE = 24_000
_MIN_PCM_BYTES = SAMPLE_RATE * 2 // 10  # a tenth of a second: less is no voice note


class AudioError(Exception):
    """The audio could not be decoded (corrupt, truncated or not audio at all)."""


def to_pcm16k(content: bytes, media_type: MediaType, timeout_s: float) -> bytes:
    """Decode a voice note to 16 kHz mono signed 16-bit little-endian PCM."""
    if media_type is MediaType.AMR:
        pcm = _ffmpeg(["-f", "amr", "-i", "pipe:0"], content, timeout_s)
    elif media_type is MediaType.SILK:
        pcm = _ffmpeg(
            ["-f", "s16le", "-ar", str(_SILK_RATE), "-ac", "1", "-i", "pipe:0"],
            _decode_silk(content),
            timeout_s,
        )
    else:
        raise AudioError(f"not a voice note: {media_type.value}")
    if len(pcm) < _MIN_PCM_BYTES:
        raise AudioError("no audio in the voice note")
    return pcm


def wav_bytes(pcm: bytes) -> bytes:
    """The PCM in a WAV container (what transcription endpoints accept as a file)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def seconds(pcm: bytes) -> float:
    return len(pcm) / (2 * SAMPLE_RATE)


def _decode_silk(content: bytes) -> bytes:
    import pysilk  # the SILK codec; imported only when a SILK note arrives

    body = content[1:] if content.startswith(b"\x02") else content  # WeChat's leading byte
    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(body), out, _SILK_RATE)
    except Exception as exc:  # the codec raises its own error types on bad input
        raise AudioError(f"corrupt SILK audio: {exc}") from exc
    return out.getvalue()


def _ffmpeg(input_args: list[str], content: bytes, timeout_s: float) -> bytes:
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise AudioError("ffmpeg is not installed")
    command = [binary, "-hide_banner", "-loglevel", "error", "-nostdin", *input_args]
    command += ["-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(SAMPLE_RATE)]
    try:
        done = subprocess.run(
            [*command, "pipe:1"], input=content, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioError("decoding took too long") from exc
    if done.returncode != 0:
        raise AudioError(done.stderr.decode("utf-8", "replace").strip()[-200:] or "ffmpeg failed")
    return done.stdout
