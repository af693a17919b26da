"""The audit log's event record (re-exported from :mod:`schoolsync.records.audit`)."""

from __future__ import annotations

from schoolsync.records.audit import (
    AuditEvent,
)

__all__ = [
    "AuditEvent",
]
