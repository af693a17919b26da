"""Records the MIS sync keeps (re-exported from :mod:`schoolsync.records.sync`)."""

from __future__ import annotations

from schoolsync.records.sync import (
    Backup,
    DeletedRecord,
    RecordKind,
    SyncLink,
    SyncState,
    Tombstone,
)

__all__ = [
    "Backup",
    "DeletedRecord",
    "RecordKind",
    "SyncLink",
    "SyncState",
    "Tombstone",
]
