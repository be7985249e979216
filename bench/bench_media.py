"""Media reading: OCR accuracy and latency, voice-note decoding latency.

    .venv/bin/python bench/bench_media.py [--repeat 3]

OCR: lines of Chinese and English medical text rendered by Pillow (Noto Sans CJK, 32 px, as
JPEG) are read by ``media.ocr.image_text``; character error rate (edit distance over the
reference length, spaces ignored) per language, lines read exactly with their spaces, and
seconds per image (after the first call, which loads the models). Voice: espeak-ng speech
encoded as AMR-NB (sox) and SILK (pysilk), decoded to 16 kHz PCM by ``media.audio.to_pcm16k``:
seconds of decoding per second of audio.
No offline speech model is shipped (see bench/README.md), so there is no transcription CER.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.audio import seconds, to_pcm16k  # noqa: E402
from media.ocr import image_text  # noqa: E402
from media.sniff import MediaType  # noqa: E402
from tests.media_files import speech_amr, speech_silk, text_image  # noqa: E402

LINES = {
    "zh": [
        "患者服用诺拉维后出现皮疹，已住院",
        "谷丙转氨酶 180 U/L，肌酐 95 μmol/L",
        "检验报告单 血常规 白细胞计数偏低",
        "用药后第三天出现恶心和头晕",
        "处方：诺拉维 每日两次 每次一片",
    ],
    "en": [
        "Patient developed a rash after Noravex",
        "ALT 180 U/L, creatinine 95 umol/L",
        "Laboratory report: low white cell count",
        "Nausea and dizziness on day three",
        "Prescription: Noravex twice daily",
    ],
}
SPEECH = {
    "zh": "我的病人吃了诺拉维以后起了皮疹",
    "en": "My patient has a rash after taking Noravex",
}


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (char != other))
    return row[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    image_text(text_image("warm up"))
    for language, lines in LINES.items():
        errors = length = exact = 0
        timings = []
        for line in lines:
            photo = text_image(line, fmt="JPEG")
            for _ in range(args.repeat):
                started = time.perf_counter()
                read = image_text(photo)
                timings.append(time.perf_counter() - started)
            reference, hypothesis = line.replace(" ", ""), read.replace(" ", "")
            errors += edit_distance(reference, hypothesis)
            length += len(reference)
            exact += read == line  # spaces included (media.spacing puts dropped ones back)
            print(f"  {language} {line!r} -> {read!r}")
        print(
            f"OCR {language}: CER {errors / length:.3f} over {length} characters, "
            f"{exact}/{len(lines)} lines exact with spaces; "
            f"p50 {statistics.median(timings):.2f} s, max {max(timings):.2f} s per image"
        )
    for language, text in SPEECH.items():
        for note, kind in ((speech_amr(text, language), MediaType.AMR),
                           (speech_silk(text, language), MediaType.SILK)):  # fmt: skip
            timings, length = [], 0.0
            for _ in range(args.repeat):
                started = time.perf_counter()
                length = seconds(to_pcm16k(note, kind, timeout_s=60))
                timings.append(time.perf_counter() - started)
            per_second = statistics.median(timings) / length
            print(f"decode {kind.value} {language}: {length:.1f} s audio, {per_second:.3f} s/s")


if __name__ == "__main__":
    main()
