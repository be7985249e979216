"""E2B(R3)-shaped XML and the JSON document of a case, as PV receives them.

The XML is not a full ICH HL7 message: it uses the E2B(R3) data element ids as element names
(C report, D patient, E reaction, G drug, H narrative, with the China regional C.1.CN fields
from settings) so that PV can map it into its safety database. The reporter's identity and
contact go in only when the doctor consented to follow-up.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from bot.settings import Settings
from skills.adverse_events.cases import AECase, Asked, ReporterContact, Seriousness, masked

FORMAT = "virtualrep E2B(R3)-shaped 1"
QUALIFICATION_PHYSICIAN = "1"  # C.2.r.4
REPORT_TYPE_SPONTANEOUS = "1"  # C.1.3
SERIOUSNESS_ELEMENTS = (
    ("E.i.3.2a", Seriousness.DEATH),
    ("E.i.3.2b", Seriousness.LIFE_THREATENING),
    ("E.i.3.2c", Seriousness.HOSPITALISATION),
    ("E.i.3.2d", Seriousness.DISABILITY),
    ("E.i.3.2e", Seriousness.CONGENITAL_ANOMALY),
    ("E.i.3.2f", Seriousness.OTHER_MEDICALLY_IMPORTANT),
)
SPECIAL_SITUATION_CODES = {  # G.k.10.r
    "overdose": "2",
    "medication_error": "7",
    "misuse": "8",
    "abuse": "9",
    "occupational_exposure": "10",
    "off_label": "11",
}
LANGUAGES = {"zh": "zho", "en": "eng"}  # ISO 639-2, as E.i.1.1b asks


def e2b_date(moment: datetime) -> str:
    """CCYYMMDDhhmmss+ZZZZ."""
    return moment.strftime("%Y%m%d%H%M%S%z")


# E2B(R3) null flavours for an empty field, by how the form's question ended: asked but
# unknown, not asked; anything else (a case saved before steps were recorded) is unknown.
NULL_FLAVORS = {Asked.DONT_KNOW: "ASKU", Asked.NO_ANSWER: "ASKU", Asked.NOT_ASKED: "NASK"}
EMPTY_READS = {
    Asked.ANSWERED: "Reported none",
    Asked.DONT_KNOW: "Reporter did not know",
    Asked.NO_ANSWER: "Asked twice, no answer",
    Asked.NOT_ASKED: "Not asked (the report form ended first)",
}


def _flavor(case: AECase, step: str) -> str:
    how = case.how_asked(step)
    return NULL_FLAVORS.get(how, "UNK") if how else "UNK"


def _add(
    parent: ET.Element, tag: str, text: str | None, null: str = "UNK", **attrs: str
) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is None:
        element.set("nullFlavor", null)
    else:
        element.text = text
    return element


def narrative(case: AECase) -> str:
    """H.1: what was reported, in the reporter's words, and how the report was collected."""
    lines = [
        f"Spontaneous report {case.case_id} received via {case.channel.value} "
        f"({case.mode.value} mode) on {case.day0.isoformat()}."
    ]
    lines.append("Categories: " + ", ".join(case.categories or ["adverse_event"]) + ".")
    lines += [
        f"Reporter's words: {s.text}" + (f" [media {s.media}]" if s.media else "")
        for s in case.sources
    ]
    for event in case.events:
        if event.onset:
            lines.append(f"Onset of '{event.verbatim}': {event.onset}.")
    if case.concomitant:
        lines.append("Concomitant medicines: " + "; ".join(case.concomitant) + ".")
    empty = case.empty_fields
    for how, reads in EMPTY_READS.items():
        if steps := [step for step, why in empty.items() if why == how.value]:
            lines.append(f"{reads}: " + ", ".join(steps) + ".")
    if unknown := [step for step, why in empty.items() if why == "unknown"]:
        lines.append("Not known (not recorded): " + ", ".join(unknown) + ".")
    if others := [step for step in case.unknown if step not in empty]:  # consent, contact
        lines.append("Reporter did not know: " + ", ".join(others) + ".")
    if case.incomplete:
        reason = case.submit_reason.value if case.submit_reason else "unknown"
        lines.append(
            f"Report incomplete (submitted: {reason}); missing: "
            + (", ".join(case.missing_criteria) or "details")
            + "."
        )
    return "\n".join(lines)


def case_xml(case: AECase, contact: ReporterContact | None, settings: Settings) -> bytes:
    case = masked(case)  # H.1 and every E/G field: identifiers never leave in an export
    root = ET.Element("ichicsr", {"format": FORMAT})
    c = ET.SubElement(root, "C")
    _add(c, "C.1.1", f"{settings.pv_sender_organisation}-{case.case_id}")
    _add(c, "C.1.2", e2b_date(case.submitted_at or case.updated_at))
    _add(c, "C.1.3", REPORT_TYPE_SPONTANEOUS)
    _add(c, "C.1.4", e2b_date(case.day0))
    _add(c, "C.1.5", e2b_date(case.updated_at))
    _add(c, "C.1.7", "true" if case.serious else "false")
    _add(c, "C.1.CN.1", settings.pv_cn_report_source or None)
    _add(c, "C.1.CN.2", "serious" if case.serious else "non-serious")
    _add(c, "C.1.CN.3", settings.pv_cn_mah_id or None)
    reporter = ET.SubElement(c, "C.2.r", {"index": "1"})
    consented = contact is not None and contact.consent_to_follow_up is True
    if consented and contact is not None:
        _add(reporter, "C.2.r.1", contact.name)
        _add(reporter, "C.2.r.2.1", contact.organisation)
        _add(reporter, "C.2.r.2.7", contact.preferred_contact)
    _add(reporter, "C.2.r.3", settings.pv_reporter_country)
    _add(reporter, "C.2.r.4", QUALIFICATION_PHYSICIAN)
    _add(c, "C.3.3", settings.pv_sender_organisation)

    d = ET.SubElement(root, "D")
    patient = _flavor(case, "patient")
    _add(d, "D.1", case.patient.initials or ("MSK" if case.patient.identifiable else None), patient)
    if case.patient.age:
        _add(d, "D.2.2a", case.patient.age)
        _add(d, "D.2.2b", "a")  # years
    else:
        _add(d, "D.2.2a", None, patient)
    sex = {"male": "1", "female": "2"}.get(case.patient.sex or "")
    _add(d, "D.5", sex, patient)

    for index, event in enumerate(case.events, start=1):
        e = ET.SubElement(root, "E.i", {"index": str(index)})
        _add(e, "E.i.1.1a", event.verbatim)
        _add(e, "E.i.1.1b", LANGUAGES.get(event.language, event.language))
        _add(e, "E.i.2.1b", None)  # MedDRA code: PV codes it
        for tag, flag in SERIOUSNESS_ELEMENTS:
            known = case.seriousness is not None
            value = ("true" if flag in (case.seriousness or ()) else "false") if known else None
            _add(e, tag, value, _flavor(case, "seriousness"))
        _add(e, "E.i.7", str(case.outcome.value) if case.outcome is not None else "0")

    situations = [
        SPECIAL_SITUATION_CODES[c] for c in case.categories if c in SPECIAL_SITUATION_CODES
    ]
    for index, product in enumerate(case.products, start=1):
        g = ET.SubElement(root, "G.k", {"index": str(index)})
        _add(g, "G.k.1", "1")  # suspect
        _add(g, "G.k.2.2", product.name)
        _add(g, "G.k.4.r.7", product.batch)
        for code in situations:
            _add(g, "G.k.10.r", code)
    for offset, medicine in enumerate(case.concomitant, start=len(case.products) + 1):
        g = ET.SubElement(root, "G.k", {"index": str(offset)})
        _add(g, "G.k.1", "2")  # concomitant
        _add(g, "G.k.2.2", medicine)

    h = ET.SubElement(root, "H")
    _add(h, "H.1", narrative(case))
    if case.sources:
        summary = ET.SubElement(h, "H.5.r", {"index": "1"})
        _add(summary, "H.5.r.1a", "\n".join(source.text for source in case.sources))
        _add(summary, "H.5.r.1b", LANGUAGES.get(case.language, case.language))
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def case_document(case: AECase, contact: ReporterContact | None) -> dict[str, Any]:
    """The JSON PV receives (webhook body, archive): the case (masked) plus the reporter if
    consented — the reporter's contact stays in its own block, never in the narrative."""
    case = masked(case)
    return {
        "case_id": case.case_id,
        "case": case.model_dump(mode="json"),
        "serious": case.serious,
        "missing_criteria": case.missing_criteria,
        # Each empty field and why: answered (none), dont_know, no_answer, not_asked, unknown.
        "empty_fields": case.empty_fields,
        "reporter": reporter_block(contact),
    }


def reporter_block(contact: ReporterContact | None) -> dict[str, Any]:
    """The reporter as PV sees it: the follow-up consent answer always (None: not answered),
    the contact details only when the reporter consented to follow-up."""
    reporter: dict[str, Any] = {"qualification": "physician"}
    if contact is not None and contact.consent_to_follow_up:
        reporter |= contact.model_dump(mode="json", exclude={"case_id"})
    else:
        reporter["consent_to_follow_up"] = contact.consent_to_follow_up if contact else None
    return reporter


def case_json(
    case: AECase, contact: ReporterContact | None, attachments: list[dict[str, Any]] | None = None
) -> bytes:
    """The document as UTF-8 JSON; ``attachments`` (media/: the originals the case was read
    from, see ``media.attachments``) are added when there are any."""
    document = case_document(case, contact) | ({"attachments": attachments} if attachments else {})
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
