"""Accounts and role assignments (re-exported from :mod:`schoolsync.records.accounts`)."""

from __future__ import annotations

from schoolsync.records.accounts import (
    Account,
    AccountStatus,
    RoleAssignment,
)

__all__ = [
    "Account",
    "AccountStatus",
    "RoleAssignment",
]
