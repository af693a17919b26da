"""Records the MIS sync keeps: links, backups, soft-deleted records and erasure tombstones."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = ["Backup", "DeletedRecord", "RecordKind", "SyncLink", "SyncState", "Tombstone"]


class RecordKind(StrEnum):
    """Which kind of school record a link, backup or deletion is about."""

    PUPIL = "pupil"
    STAFF = "staff"
    CLASS = "class"
    YEAR_GROUP = "year_group"


class SyncState(StrEnum):
    """A linked record's sync state (an app-only record has no link at all)."""

    SYNCED = "synced"
    OUT_OF_SYNC = "out_of_sync"


@attrs.frozen(kw_only=True)
class SyncLink:
    """Links an app record (``app_id``) to an MIS record (``mis_id``) at one school."""

    id: str
    school_id: str
    kind: RecordKind
    app_id: str
    mis_id: str
    state: SyncState = SyncState.SYNCED
    linked_at: datetime | None = None
    last_synced_at: datetime | None = None
    upn: str | None = None


@attrs.frozen(kw_only=True)
class Backup:
    """The app's record as it was before a sync first overwrote it (``data`` is unstructured)."""

    id: str
    school_id: str
    kind: RecordKind
    record_id: str
    taken_at: datetime
    data: Any
    sync_id: str | None = None


@attrs.frozen(kw_only=True)
class DeletedRecord:
    """A soft-deleted record, recoverable until ``purge_after``."""

    id: str
    school_id: str
    kind: RecordKind
    record_id: str
    deleted_at: datetime
    purge_after: datetime
    data: Any
    mis_id: str | None = None
    upn: str | None = None


@attrs.frozen(kw_only=True)
class Tombstone:
    """What is left of an erased person: a keyed hash of identifiers, no personal data."""

    id: str
    school_id: str
    kind: RecordKind
    key_hash: str
    erased_at: datetime
