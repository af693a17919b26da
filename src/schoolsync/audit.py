"""The append-only audit log's event record.

Events hold identifiers (account, school, record ids), never personal data such as names,
emails or birth dates: purges and erasures stay auditable after the person is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

__all__ = ["AuditEvent"]


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One immutable change: who did what to which subject, when, with before and after.

    ``before`` and ``after`` are plain JSON-able values (usually a record unstructured by
    :data:`schoolsync.serialisation.converter`) or ``None``.
    """

    id: str
    at: datetime
    actor_id: str | None
    action: str
    subject_kind: str
    subject_id: str
    trust_id: str | None = None
    school_id: str | None = None
    account_id: str | None = None
    before: Any = None
    after: Any = None
