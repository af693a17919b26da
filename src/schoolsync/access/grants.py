"""School-to-trust grants (re-exported from :mod:`schoolsync.records.grants`)."""

from __future__ import annotations

from schoolsync.records.grants import (
    Grant,
)

__all__ = [
    "Grant",
]
