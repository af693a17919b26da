"""The structured report every sync returns: per record, what happened and why."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from enum import StrEnum

import attrs

from schoolsync.sync.records import RecordKind
from schoolsync.tables import Tabular

__all__ = ["Outcome", "ReportEntry", "SyncReport"]


class Outcome(StrEnum):
    """What a sync did with one record."""

    CREATED = "created"
    LINKED = "linked"
    UPDATED = "updated"
    RESYNCED = "resynced"
    RESTORED = "restored"
    UNCHANGED = "unchanged"
    OUT_OF_SYNC = "out_of_sync"
    LEAVER = "leaver"
    UNLINKED = "unlinked"
    SKIPPED = "skipped"
    BLOCKED_ERASED = "blocked_erased"
    NEEDS_REVIEW = "needs_review"


#: Outcomes that change the store.
WRITING_OUTCOMES = frozenset(
    {
        Outcome.CREATED,
        Outcome.LINKED,
        Outcome.UPDATED,
        Outcome.RESYNCED,
        Outcome.RESTORED,
        Outcome.OUT_OF_SYNC,
        Outcome.LEAVER,
        Outcome.UNLINKED,
    }
)


@attrs.frozen(kw_only=True)
class ReportEntry:
    """One record's line in a report.

    ``label`` is a display name for the person reading the report (never logged); ``fields``
    names the fields written; ``reason`` says why, in words.
    """

    kind: RecordKind
    outcome: Outcome
    reason: str
    app_id: str | None = None
    mis_id: str | None = None
    label: str = ""
    fields: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SyncReport(Tabular):
    """What one sync did. ``entries`` has one line per record looked at.

    ``mode`` is ``"apply"``, ``"incremental"``, ``"rollover"``, ``"unmatch"``...;
    ``notes`` holds school-level remarks (e.g. the MIS has not rolled over yet).
    """

    sync_id: str
    school_id: str
    mode: str
    at: datetime
    entries: tuple[ReportEntry, ...] = ()
    notes: tuple[str, ...] = ()
    committed: bool = True
    messages_sent: int = 0

    def counts(self) -> dict[str, int]:
        """How many records ended with each outcome (only outcomes that occur)."""
        return dict(sorted(Counter(e.outcome.value for e in self.entries).items()))

    def of(self, outcome: Outcome, kind: RecordKind | None = None) -> list[ReportEntry]:
        """The entries with *outcome* (and *kind*, if given)."""
        return [
            e for e in self.entries if e.outcome is outcome and (kind is None or e.kind is kind)
        ]

    def for_app(self, app_id: str) -> ReportEntry | None:
        """The entry about app record *app_id*, if any."""
        return next((e for e in self.entries if e.app_id == app_id), None)

    def for_mis(self, mis_id: str) -> ReportEntry | None:
        """The entry about MIS record *mis_id*, if any."""
        return next((e for e in self.entries if e.mis_id == mis_id), None)

    @property
    def changed(self) -> bool:
        """True if the sync wrote anything."""
        return self.committed and any(e.outcome in WRITING_OUTCOMES for e in self.entries)

    def to_rows(self) -> list[dict[str, object]]:
        """One row per record: kind, ids, outcome, fields written and the reason."""
        return [
            {
                "kind": e.kind.value,
                "app_id": e.app_id,
                "mis_id": e.mis_id,
                "name": e.label,
                "outcome": e.outcome.value,
                "fields": ", ".join(e.fields),
                "reason": e.reason,
            }
            for e in self.entries
        ]

    def table_caption(self) -> str | None:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items()) or "nothing to do"
        return f"{self.mode} sync of school {self.school_id}: {counts}"
