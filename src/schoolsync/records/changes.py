"""The access change log: the audit events of each committed change of access records, by
version, so every process sharing a store keeps its access index current incrementally.

One row (id :data:`HEAD_ID`) holds the newest version; each change is a row whose id is its
version zero-padded (:func:`change_id`), holding that commit's access events (ids only, as in
the audit log). :class:`schoolsync.TrustOffice` writes both in the change's own unit of work,
under one store lock, so versions follow the commit order.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from schoolsync.records.audit import AuditEvent

__all__ = ["HEAD_ID", "AccessChange", "change_id"]

#: The id of the row holding the newest version.
HEAD_ID = "head"


def change_id(version: int) -> str:
    """The id of the row holding change *version* (sorts in version order)."""
    return f"v{version:012d}"


@attrs.frozen(kw_only=True)
class AccessChange:
    """One committed change of access records (or, under :data:`HEAD_ID`, the newest version).

    ``events`` are the access audit events the change committed; the head row has none.
    """

    id: str
    version: int
    at: datetime
    events: tuple[AuditEvent, ...] = ()
