"""The audit chain: records (:mod:`.records`), stores (:mod:`.store`) and archives (:mod:`.archive`)."""

from .archive import FORMAT, Checkpoint, export_archive, import_archive, iter_archive
from .records import AuditRecord
from .store import AuditStore, SqliteAuditStore

__all__ = [
    "FORMAT",
    "AuditRecord",
    "AuditStore",
    "Checkpoint",
    "SqliteAuditStore",
    "export_archive",
    "import_archive",
    "iter_archive",
]
