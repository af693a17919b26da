"""Accounts and role assignments (records)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

__all__ = ["Account", "AccountStatus", "RoleAssignment"]


class AccountStatus(StrEnum):
    """An account's lifecycle: invited (pending) accounts and inactive ones are denied everything."""

    PENDING = "pending"
    ACTIVE = "active"
    INACTIVE = "inactive"


@attrs.frozen(kw_only=True)
class Account:
    """A user account in a trust.

    ``staff_ids`` links the account to the staff records it stands for (one per school).
    ``edited_after_sync`` is the bulk file's *Edited* column.
    """

    id: str
    trust_id: str
    email: str
    name: str
    status: AccountStatus = AccountStatus.PENDING
    staff_ids: tuple[str, ...] = ()
    job_role: str | None = None
    edited_after_sync: bool = False
    created_at: datetime | None = None


@attrs.frozen(kw_only=True)
class RoleAssignment:
    """An account holds ``role`` at one school (``school_id``) or across its trust (``None``)."""

    id: str
    account_id: str
    trust_id: str
    role: str
    school_id: str | None = None
    assigned_by: str | None = None
    assigned_at: datetime | None = None
