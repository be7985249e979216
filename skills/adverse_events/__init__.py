"""Adverse-event screening: the offline detector, field extraction and identifier masking.

``AEDetector.load().detect(text)`` says whether a message must go to pharmacovigilance and
under which categories; ``extract(text)`` pulls the report fields the message already gives;
``mask_identifiers(text)`` (from ``bot.masking``) removes patient names, ID-card and phone
numbers and e-mail addresses.
"""

from bot.masking import mask_identifiers
from skills.adverse_events.cues import CATEGORIES
from skills.adverse_events.detector import AEDetection, AEDetector
from skills.adverse_events.extraction import (
    SERIOUSNESS_CRITERIA,
    AEExtraction,
    extract,
)

__all__ = [
    "CATEGORIES",
    "SERIOUSNESS_CRITERIA",
    "AEDetection",
    "AEDetector",
    "AEExtraction",
    "extract",
    "mask_identifiers",
]
