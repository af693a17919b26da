"""Checking and applying change sets in one unit of work; file-level import and export."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import attrs

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.operation import AssignmentCheck, AuditedOperation
from schoolsync.bulk._cells import normalise_email
from schoolsync.bulk._changes import (
    ApplyResult,
    BulkImportError,
    BulkProblem,
    Change,
    ChangeKind,
    ChangeSet,
    ProblemCode,
    ProblemList,
)
from schoolsync.bulk._files import read_sheet, write_sheet, write_stream
from schoolsync.bulk._plan import TrustUsers, bulk_rows, plan_import, plan_selection
from schoolsync.bulk._rules import (
    AccountAction,
    AccountEdit,
    AssignmentChecks,
    RoleEdit,
    RoleTransfer,
    TransferChecks,
)
from schoolsync.errors import (
    AccessDeniedError,
    CapExceededError,
    ConcurrentWriteError,
    SchoolsyncError,
    StorageError,
)
from schoolsync.ids import RandomIds
from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.sources._frames import DataFrameLike

__all__ = [
    "apply_change_set",
    "check_change_set",
    "edit_selection",
    "export_users",
    "export_users_stream",
    "import_users",
]

IdFactory = Callable[[], str]

#: The audit action of each account edit a bulk change makes.
_ACCOUNT_ACTIONS = {
    AccountAction.CREATE: AuditAction.ACCOUNT_ADDED,
    AccountAction.RENAME: AuditAction.ACCOUNT_RENAMED,
    AccountAction.DEACTIVATE: AuditAction.ACCOUNT_DEACTIVATED,
    AccountAction.REACTIVATE: AuditAction.ACCOUNT_REACTIVATED,
}


def _problem_for(change: Change, exc: SchoolsyncError) -> BulkProblem:
    if isinstance(exc, CapExceededError):
        code = ProblemCode.CAP_EXCEEDED
    elif isinstance(exc, AccessDeniedError):
        code = ProblemCode.NOT_ALLOWED
    else:
        code = ProblemCode.REFUSED
    what = change.kind.value + (f" {change.role!r}" if change.role else "")
    return BulkProblem(
        code=code, message=f"cannot {what}: {exc}", row=change.row, column=change.column
    )


class _Run:
    """Writes a change set's changes into a unit of work, checking each one first."""

    def __init__(
        self,
        uow: UnitOfWork,
        change_set: ChangeSet,
        checks: AssignmentChecks,
        at: datetime,
        new_id: IdFactory,
        *,
        apply: bool,
    ) -> None:
        self.uow = uow
        self.cs = change_set
        self.checks = checks
        self.at = at
        self.new_id = new_id
        self.problems = ProblemList()
        self.created: dict[str, str] = {}
        self.failed_creates: set[str] = set()
        #: Every write goes through one audited operation (the access write path).
        self.op = AuditedOperation(
            uow=uow, at=at, actor_id=change_set.actor_id, new_event_id=new_id, take_locks=apply
        )
        # Before anything is read: the trust (a change set's accounts, emails, trust roles
        # and per-trust caps are the trust's), then every school it touches, in sorted order.
        # Concurrent applies to one trust are serialised; a preview takes no lock.
        self.op.lock(
            trust_ids=(change_set.trust_id,),
            school_ids={c.school_id for c in change_set.changes if c.school_id},
        )
        self.events = self.op.events
        self.applied = 0
        users = TrustUsers.load(uow, change_set.trust_id)
        self.accounts = {a.id: a for a in users.accounts}
        self.emails = {normalise_email(a.email) for a in users.accounts}
        self.assignments: dict[tuple[str, str, str | None], RoleAssignment] = {
            (a.account_id, a.role, a.school_id): a for a in users.assignments
        }

    def _write_account(
        self, before: Account | None, after: Account, action: AuditAction | None = None
    ) -> None:
        self.op.write(before, after, action=action)
        self.accounts[after.id] = after

    def _account_id(self, change: Change) -> str | None:
        if change.account_id is not None:
            return change.account_id
        return self.created.get(normalise_email(change.email))

    def run(self) -> None:
        # Role additions (and transfers) refused on the first try are retried after the others,
        # so that a role whose requirement is given in the same change set does not depend on
        # column order.
        deferred: list[tuple[Change, SchoolsyncError]] = []
        for change in sorted(self.cs.changes, key=Change.sort_key):
            try:
                done = self._one(change)
            except (StorageError, ConcurrentWriteError):
                raise  # the store failed: the unit of work is over, not just this change
            except SchoolsyncError as exc:
                if change.kind in (ChangeKind.ADD_ROLE, ChangeKind.TRANSFER):
                    deferred.append((change, exc))
                    continue
                self.problems.append(_problem_for(change, exc))
                if change.kind is ChangeKind.CREATE_USER:
                    self.failed_creates.add(normalise_email(change.email))
                continue
            if done:
                self.applied += 1
        progress = True
        while deferred and progress:
            progress = False
            still: list[tuple[Change, SchoolsyncError]] = []
            for change, _ in deferred:
                try:
                    done = self._one(change)
                except (StorageError, ConcurrentWriteError):
                    raise
                except SchoolsyncError as exc:
                    still.append((change, exc))
                    continue
                progress = True
                if done:
                    self.applied += 1
            deferred = still
        self.problems += [_problem_for(change, exc) for change, exc in deferred]
        self.problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        if self.applied:
            self.uow.audit.append(
                AuditEvent(
                    id=self.new_id(),
                    at=self.at,
                    actor_id=self.cs.actor_id,
                    action=AuditAction.BULK_CHANGE_SET_APPLIED,
                    subject_kind="change_set",
                    subject_id=self.cs.trust_id,
                    trust_id=self.cs.trust_id,
                    after={k: v for k, v in self.cs.summary().items() if v},
                )
            )

    def _one(self, change: Change) -> bool:
        """Check and write one change; False if there was nothing to do."""
        kind = change.kind
        if kind is ChangeKind.CREATE_USER:
            return self._create(change)
        account_id = self._account_id(change)
        if account_id is None:
            if normalise_email(change.email) in self.failed_creates:
                return False  # the create was refused; that problem is already listed
            self.problems.add(
                ProblemCode.UNKNOWN_ACCOUNT,
                "the account no longer exists",
                row=change.row,
                column=change.column,
            )
            return False
        account = self.accounts.get(account_id)
        if account is None:
            self.problems.add(
                ProblemCode.UNKNOWN_ACCOUNT,
                f"no account {account_id!r} in this trust",
                row=change.row,
                column=change.column,
            )
            return False
        if kind is ChangeKind.ADD_ROLE or kind is ChangeKind.REMOVE_ROLE:
            return self._role(change, account)
        if kind is ChangeKind.TRANSFER:
            return self._transfer(change, account)
        action = {
            ChangeKind.RENAME: AccountAction.RENAME,
            ChangeKind.DEACTIVATE: AccountAction.DEACTIVATE,
            ChangeKind.REACTIVATE: AccountAction.REACTIVATE,
        }[kind]
        if kind is ChangeKind.RENAME:
            if change.name is None or change.name == account.name:
                return False
        elif (kind is ChangeKind.DEACTIVATE and account.status is AccountStatus.INACTIVE) or (
            kind is ChangeKind.REACTIVATE and account.status is not AccountStatus.INACTIVE
        ):
            return False
        if kind is ChangeKind.RENAME:
            updated = attrs.evolve(
                account, name=change.name or account.name, edited_after_sync=True
            )
        else:
            status = (
                AccountStatus.INACTIVE
                if action is AccountAction.DEACTIVATE
                else AccountStatus.ACTIVE
            )
            updated = attrs.evolve(account, status=status, edited_after_sync=True)
        edit = AccountEdit(before=account, after=updated, action=action)
        self.checks.check_account(self.uow, edit, actor_id=self.cs.actor_id, at=self.at)
        self._write_account(account, updated, _ACCOUNT_ACTIONS[action])
        return True

    def _create(self, change: Change) -> bool:
        key = normalise_email(change.email)
        if key in self.emails:
            self.problems.add(
                ProblemCode.DUPLICATE_EMAIL,
                "an account with this email now exists; export again",
                row=change.row,
                column=change.column,
            )
            self.failed_creates.add(key)
            return False
        account_id = self.new_id()
        account = Account(
            id=account_id,
            trust_id=self.cs.trust_id,
            email=change.email,
            name=change.name or "",
            status=AccountStatus.PENDING,
            created_at=self.at,
        )
        edit = AccountEdit(before=None, after=account, action=AccountAction.CREATE)
        self.checks.check_account(self.uow, edit, actor_id=self.cs.actor_id, at=self.at)
        self._write_account(None, account, _ACCOUNT_ACTIONS[AccountAction.CREATE])
        self.emails.add(key)
        self.created[key] = account_id
        return True

    def _role(self, change: Change, account: Account) -> bool:
        assert change.role is not None
        key = (account.id, change.role, change.school_id)
        existing = self.assignments.get(key)
        remove = change.kind is ChangeKind.REMOVE_ROLE
        if (existing is None) is remove:
            return False  # already taken away, or already held
        edit = RoleEdit(
            account_id=account.id, role=change.role, school_id=change.school_id, remove=remove
        )

        def check() -> None:
            self.checks.check_role(self.uow, edit, actor_id=self.cs.actor_id, at=self.at)

        if existing is not None:
            self.op.unassign_role(existing, check=check)
            del self.assignments[key]
        else:
            self.assignments[key] = self._give(account, change.role, change.school_id, check)
        self._mark_edited(account)
        return True

    def _give(
        self,
        account: Account,
        role: str,
        school_id: str | None,
        check: AssignmentCheck | None = None,
        action: AuditAction = AuditAction.ROLE_ASSIGNED,
    ) -> RoleAssignment:
        """Give *role* through the one write path of role assignments."""
        return self.op.assign_role(
            account_id=account.id,
            trust_id=self.cs.trust_id,
            role=role,
            school_id=school_id,
            new_id=self.new_id,
            assigned_by=self.cs.actor_id,
            check=check,
            action=action,
        )

    def _transfer(self, change: Change, account: Account) -> bool:
        """Move an "exactly one" role from ``from_account_id`` to *account* (one checked step)."""
        assert change.role is not None
        giver = self.accounts.get(change.from_account_id or "")
        if giver is None:
            self.problems.add(
                ProblemCode.UNKNOWN_ACCOUNT,
                "the account giving up the role no longer exists",
                row=change.from_row,
                column=change.from_column,
            )
            return False
        existing = self.assignments.get((giver.id, change.role, change.school_id))
        received = (account.id, change.role, change.school_id) in self.assignments
        if existing is None:
            # The role moved on since the preview: give it as an ordinary addition (refused if
            # someone else holds it now), or nothing if the receiver already has it.
            return self._role(attrs.evolve(change, kind=ChangeKind.ADD_ROLE), account)
        if received:
            removal = attrs.evolve(
                change,
                kind=ChangeKind.REMOVE_ROLE,
                email=giver.email,
                account_id=giver.id,
                row=change.from_row,
                column=change.from_column,
            )
            return self._role(removal, giver)
        edit = RoleTransfer(
            from_account_id=giver.id,
            to_account_id=account.id,
            role=change.role,
            school_id=change.school_id,
        )
        if isinstance(self.checks, TransferChecks):
            self.checks.check_transfer(self.uow, edit, actor_id=self.cs.actor_id, at=self.at)
        else:  # checks that do not know transfers judge the two halves in turn
            for half in (
                RoleEdit(
                    account_id=giver.id, role=edit.role, school_id=edit.school_id, remove=True
                ),
                RoleEdit(account_id=account.id, role=edit.role, school_id=edit.school_id),
            ):
                self.checks.check_role(self.uow, half, actor_id=self.cs.actor_id, at=self.at)
        self.op.unassign_role(existing, action=AuditAction.ROLE_TRANSFERRED)
        del self.assignments[(giver.id, change.role, change.school_id)]
        self.assignments[(account.id, change.role, change.school_id)] = self._give(
            account, change.role, change.school_id, action=AuditAction.ROLE_TRANSFERRED
        )
        self._mark_edited(self.accounts[giver.id])
        self._mark_edited(self.accounts[account.id])
        return True

    def _mark_edited(self, account: Account) -> None:
        """The bulk file's Edited column: an existing account was changed in the app."""
        if not account.edited_after_sync and account.id not in self.created.values():
            self._write_account(account, attrs.evolve(account, edited_after_sync=True))


def check_change_set(
    store: Store, change_set: ChangeSet, *, checks: AssignmentChecks, at: datetime
) -> ChangeSet:
    """Run every change through the same checks as a single edit, and change nothing.

    The changes are tried in order inside a unit of work that is then rolled back, so caps are
    counted as they would be after the earlier changes (a swap of two admins is fine). Returns
    the change set with the problems found added to its own.
    """
    with store.unit_of_work() as uow:
        run = _Run(uow, change_set, checks, at, RandomIds().new_id, apply=False)
        run.run()
        uow.rollback()
    if not run.problems:
        return change_set
    return attrs.evolve(change_set, problems=(*change_set.problems, *run.problems))


def apply_change_set(
    store: Store,
    change_set: ChangeSet,
    *,
    checks: AssignmentChecks,
    at: datetime,
    new_id: IdFactory | None = None,
) -> ApplyResult:
    """Make every change of *change_set* in one unit of work, or none of them.

    Each change goes through the same checks as a single edit (against the store as it is now,
    which may have moved on since the preview); every write is an audit event holding ids only,
    plus one ``bulk.change_set.applied`` event with the counts. Changes already made since the
    preview (a role already held, an account already inactive) are skipped.

    Args:
        new_id: makes ids for new accounts, assignments and audit events (default: UUID4 hex,
            :class:`schoolsync.ids.RandomIds`; pass ``SequentialIds().new_id`` for repeatable ids).

    The trust is locked for the unit of work (``UnitOfWork.lock_trust``), then every school
    the changes touch (``lock_school``, in sorted order), before anything is read: concurrent
    applies to one trust are serialised, so a cap (per school or per trust) holds whatever
    the interleaving, and the loser is judged on the winner's result.

    Raises:
        BulkImportError: the change set has problems, or a check refused a change now; nothing
            was changed.
        ConcurrentWriteError: another writer held the trust or one of the schools for longer
            than the store waits (the memory store does not wait); nothing was changed.
    """
    if change_set.problems:
        raise BulkImportError.from_problems(
            "the change set has problems; fix the file and import it again", change_set.problems
        )
    with store.unit_of_work() as uow:
        run = _Run(uow, change_set, checks, at, new_id or RandomIds().new_id, apply=True)
        run.run()
        if run.problems:
            uow.rollback()
            raise BulkImportError.from_problems(
                "the changes were refused; nothing was changed", run.problems
            )
        uow.commit()
    return ApplyResult(
        created_account_ids=tuple(run.created.values()),
        changes_applied=run.applied,
        audit_event_ids=tuple(e.id for e in run.events),
    )


def export_users(store: Store, trust_id: str, path: str | Path) -> Path:
    """Write the trust's users to *path* as a bulk-user-data file (XLSX for ``.xlsx``, else CSV).

    Columns: Email, Name, Edited, one per member school holding that school's roles, Trust
    Roles, and Inactive. Values are neutralised so none can run as a spreadsheet formula.

    Raises:
        NotFoundError: no trust with this id.
        OSError: the file cannot be written.
    """
    with store.unit_of_work() as uow:
        users = TrustUsers.load(uow, trust_id)
    header, rows = bulk_rows(users)
    return write_sheet(path, header, rows)


def export_users_stream(
    store: Store, trust_id: str, stream: BinaryIO, *, xlsx: bool = False
) -> None:
    """:func:`export_users` to an open binary stream (e.g. a web app's download response)."""
    with store.unit_of_work() as uow:
        users = TrustUsers.load(uow, trust_id)
    header, rows = bulk_rows(users)
    write_stream(stream, header, rows, xlsx=xlsx)


def import_users(
    store: Store,
    trust_id: str,
    path: str | Path | BinaryIO | DataFrameLike,
    *,
    checks: AssignmentChecks,
    at: datetime,
    actor_id: str | None = None,
) -> ChangeSet:
    """Read an edited bulk file and return the :class:`ChangeSet` it asks for. Changes nothing.

    The result lists every problem (file, columns, emails, roles, caps, delegation) with its
    row and column; pass it to :func:`apply_change_set` once it has none. *path* may also be an
    open binary file (an upload) or a pandas or polars DataFrame (problems then name its index
    labels), read with :func:`read_sheet`.

    Raises:
        FileFormatError: the file is not a readable CSV/XLSX file.
        NotFoundError: no trust with this id.
        OSError: the file cannot be opened.
    """
    sheet = read_sheet(path)
    with store.unit_of_work() as uow:
        users = TrustUsers.load(uow, trust_id)
    planned = plan_import(sheet, users, checks=checks, actor_id=actor_id)
    return check_change_set(store, planned, checks=checks, at=at)


def edit_selection(
    store: Store,
    trust_id: str,
    account_ids: Iterable[str],
    *,
    checks: AssignmentChecks,
    at: datetime,
    add: Sequence[tuple[str, str | None]] = (),
    remove: Sequence[tuple[str, str | None]] = (),
    make_inactive: bool = False,
    actor_id: str | None = None,
) -> ChangeSet:
    """The checked :class:`ChangeSet` of an "Edit Selected" action; changes nothing.

    *add*/*remove* are ``(role, school_id)`` pairs (``None`` for a trust role). Apply the result
    with :func:`apply_change_set`, the same path as a file import.
    """
    with store.unit_of_work() as uow:
        users = TrustUsers.load(uow, trust_id)
    planned = plan_selection(
        users,
        account_ids,
        checks=checks,
        add=add,
        remove=remove,
        make_inactive=make_inactive,
        actor_id=actor_id,
    )
    return check_change_set(store, planned, checks=checks, at=at)
