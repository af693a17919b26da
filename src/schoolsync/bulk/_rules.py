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

import attrs

from schoolsync.access.accounts import Account
from schoolsync.access.catalogue import RoleScope
from schoolsync.ports import UnitOfWork

__all__ = ["AccountAction", "AccountEdit", "AssignmentChecks", "RoleEdit", "RoleScope"]


class AccountAction(StrEnum):
    """Account edits other than role changes that a bulk change can make."""

    CREATE = "create"
    RENAME = "rename"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"


@attrs.frozen(kw_only=True)
class RoleEdit:
    """One role given to an account (or, with ``remove``, taken away) at a school or trust-wide
    (``school_id`` ``None``)."""

    account_id: str
    role: str
    school_id: str | None
    remove: bool = False


@attrs.frozen(kw_only=True)
class AccountEdit:
    """An account created (``before`` ``None``), renamed, made inactive or reactivated."""

    before: Account | None
    after: Account
    action: AccountAction


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

    def check_role(
        self, uow: UnitOfWork, edit: RoleEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        """May *actor_id* give (or take away) the role of *edit*?"""
        ...

    def check_account(
        self, uow: UnitOfWork, edit: AccountEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        """May *actor_id* make *edit* (``after`` differs from ``before`` in its name for
        ``RENAME``, its status for ``DEACTIVATE``/``REACTIVATE``)?"""
        ...
