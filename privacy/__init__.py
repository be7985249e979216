"""Privacy (PIPL): the notice and consent on first contact, the personalisation opt-out, and
the doctor's requests to see, export and erase their data, in chat and from ops.

The seam: ``create_middleware(services)`` (after adverse-event screening),
``create_router(services, priority)``, ``create_welcome_hook(services)`` (the notice in the
kf welcome), ``add_commands(subparsers)`` for
``virtualrep privacy export|erase|show DOCTOR``, ``install_storage_retention(services)`` (the
daily job for what Storage holds about doctors), and ``ConsentRecords``, the consent history's
store, which the system of record can take over.
"""

from privacy.chat import create_middleware, create_router
from privacy.cli import add_commands
from privacy.records import ConsentRecord, ConsentRecords, StorageConsentRecords
from privacy.retention import install_storage_retention
from privacy.welcome import create_welcome_hook

__all__ = [
    "ConsentRecord",
    "ConsentRecords",
    "StorageConsentRecords",
    "add_commands",
    "create_middleware",
    "create_router",
    "create_welcome_hook",
    "install_storage_retention",
]
