"""Adverse-event screening: the offline detector, field extraction and identifier masking.

``AEDetector.load().detect(text)`` says whether a message must go to pharmacovigilance and
under which categories; ``extract(text)`` pulls the report fields the message already gives;
``mask_identifiers(text)`` removes patient names, ID-card and phone numbers.
"""

from skills.adverse_events.cues import CATEGORIES
from skills.adverse_events.detector import AEDetection, AEDetector
from skills.adverse_events.extraction import (
    SERIOUSNESS_CRITERIA,
    AEExtraction,
    extract,
    mask_identifiers,
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
