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
from typing import Protocol, runtime_checkable

import attrs

from schoolsync.access.accounts import Account
from schoolsync.access.catalogue import RoleScope
from schoolsync.ports import UnitOfWork

__all__ = [
    "AccountAction",
    "AccountEdit",
    "AssignmentChecks",
    "RoleEdit",
    "RoleScope",
    "RoleTransfer",
    "TransferChecks",
]


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
class RoleTransfer:
    """An "exactly one" *role* at *school_id* (``None``: trust-wide) moving from the account
    ``from_account_id`` to ``to_account_id`` in one change."""

    from_account_id: str
    to_account_id: str
    role: str
    school_id: str | None


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


@runtime_checkable
class TransferChecks(Protocol):
    """Optional addition to :class:`AssignmentChecks`: checks that know "exactly one" roles.

    When the checks given to a bulk function also implement this protocol, a removal of an
    "exactly one" role from one account and its addition to another at the same school (or
    trust-wide) in the same change set become one ``TRANSFER`` change, checked with
    :meth:`check_transfer`. Without it, the two stay separate changes.
    """

    def is_exactly_one(self, role: str) -> bool:
        """True if *role* must have exactly one holder per school (or per trust)."""
        ...

    def check_transfer(
        self, uow: UnitOfWork, edit: RoleTransfer, *, actor_id: str | None, at: datetime
    ) -> None:
        """May *actor_id* move the role of *edit* from one account to the other?"""
        ...
