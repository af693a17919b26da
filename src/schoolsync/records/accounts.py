"""Accounts and role assignments (records)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

__all__ = ["Account", "AccountStatus", "ActivationChallenge", "RoleAssignment"]


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


def _account_id(challenge: ActivationChallenge) -> str:
    return challenge.account_id


@attrs.frozen(kw_only=True)
class ActivationChallenge:
    """A pending activation of one account: hashes only, never the link token or the code.

    Stored one per account (``id`` is the account's id, in the ``activation_challenges``
    table), so ``attempts`` counts every wrong try at the account, whichever challenge it was
    made against: a new challenge keeps the count (the lockout is per account).
    """

    account_id: str
    salt: str
    link_hash: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    max_attempts: int = 5
    attempts: int = 0
    used_at: datetime | None = None
    work_factor: int = 2**14
    id: str = attrs.field(default=attrs.Factory(_account_id, takes_self=True))

    @property
    def locked(self) -> bool:
        """True once the attempts are used up."""
        return self.attempts >= self.max_attempts
