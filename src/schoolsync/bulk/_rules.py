"""What bulk changes need from the access rules: the port between bulk/ and access/.

Bulk imports and selection edits must pass the same checks as single edits. They call them
through :class:`AssignmentChecks`, which :func:`schoolsync.bulk.catalogue_checks` implements over
the access package's role catalogue and assignment checks; a host with its own rules can
implement it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from schoolsync.access.accounts import Account
from schoolsync.access.catalogue import RoleScope
from schoolsync.ports import UnitOfWork

__all__ = ["AccountAction", "AssignmentChecks", "RoleScope"]


class AccountAction(StrEnum):
    """Account edits other than role changes that a bulk change can make."""

    CREATE = "create"
    RENAME = "rename"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"


class AssignmentChecks(Protocol):
    """The checks a single edit goes through, asked one change at a time.

    Each ``check_*`` method sees the unit of work *as changed so far* by the same change set
    (earlier changes are already written to it), so caps are counted on the running state.
    A method returns ``None`` when the change is allowed and raises a
    :class:`~schoolsync.errors.SchoolsyncError` (``CapExceededError``, ``AccessDeniedError``,
    ``ValidationError``) naming the reason when it is not. ``actor_id`` ``None`` means the
    system itself (a data officer at the command line): no delegation checks, caps still apply.
    """

    def role_names(self) -> Sequence[str]:
        """Every role name, in the catalogue's order."""
        ...

    def role_scope(self, role: str) -> RoleScope | None:
        """The role's scope, or ``None`` if there is no role with this name."""
        ...

    def check_assign(
        self,
        uow: UnitOfWork,
        *,
        actor_id: str | None,
        account_id: str,
        role: str,
        school_id: str | None,
        at: datetime,
    ) -> None:
        """May *actor_id* give *role* to the account at *school_id* (``None``: trust-wide)?"""
        ...

    def check_unassign(
        self,
        uow: UnitOfWork,
        *,
        actor_id: str | None,
        account_id: str,
        role: str,
        school_id: str | None,
        at: datetime,
    ) -> None:
        """May *actor_id* take *role* at *school_id* away from the account?"""
        ...

    def check_account(
        self,
        uow: UnitOfWork,
        *,
        actor_id: str | None,
        before: Account | None,
        after: Account,
        action: AccountAction,
        at: datetime,
    ) -> None:
        """May *actor_id* change the account from *before* to *after*?

        ``before`` is ``None`` for a new account (``CREATE``); otherwise *after* differs in its
        name (``RENAME``) or status (``DEACTIVATE``/``REACTIVATE``).
        """
        ...
