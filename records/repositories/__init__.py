"""One repository per aggregate: each takes an ``AsyncSession``, asks one question per
method and never commits (the service owns the transaction)."""

from records.repositories.activity import ActivityRepository
from records.repositories.audit import AuditRepository
from records.repositories.cases import CaseRepository
from records.repositories.mi import MIRepository
from records.repositories.people import PeopleRepository

__all__ = [
    "ActivityRepository",
    "AuditRepository",
    "CaseRepository",
    "MIRepository",
    "PeopleRepository",
]
