"""The trust office: the one object a host creates per store, through which every change passes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import attrs

from schoolsync.access._lifecycle_base import _Operation
from schoolsync.access.activation import ActivationOutcome, redeem_activation, start_activation
from schoolsync.access.admin import AccessAdmin
from schoolsync.access.catalogue import RoleCatalogue, RoleScope
from schoolsync.access.decision import Decision
from schoolsync.access.index import AccessIndex
from schoolsync.access.lifecycle import GrantListener, TrustLifecycle
from schoolsync.access.operation import AuditedOperation
from schoolsync.clock import SystemClock
from schoolsync.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    SyncError,
    ValidationError,
)
from schoolsync.ids import SYSTEM_TOKENS, RandomIds
from schoolsync.outbox import queue_message
from schoolsync.ports import Clock, IdSource, OutboundMessage, Store, TokenSource, UnitOfWork
from schoolsync.records.accounts import Account, AccountStatus, ActivationChallenge, RoleAssignment
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.records.connections import DataSharing, MisConnection
from schoolsync.records.sync import DeletedRecord, RecordKind
from schoolsync.records.tables import ACTIVATION_CHALLENGES, MIS_CONNECTIONS
from schoolsync.service._live import LiveIndex, TrackedStore, TrackedUnitOfWork
from schoolsync.sync import connection as connections
from schoolsync.trusts import TrustPolicy

if TYPE_CHECKING:
    from schoolsync.bulk import ApplyResult, ChangeSet
    from schoolsync.ports import MisSource
    from schoolsync.sync.leavers import PurgeResult, RetentionPolicy
    from schoolsync.sync.plans import PlanOptions, SyncPlan
    from schoolsync.sync.report import SyncReport

__all__ = ["NewUser", "TrustOffice"]

#: The message kind of the sign-up email a new user is sent.
SIGN_UP_MESSAGE = "sign_up"


@attrs.frozen(kw_only=True)
class NewUser:
    """What :meth:`TrustOffice.create_user` made: the account (pending until activated) and
    the one-time activation code to show the administrator once.

    The code is never sent by the library (the sign-up email carries only the link); it is
    left out of ``repr`` so it does not reach a log by accident.
    """

    account: Account
    assignments: tuple[RoleAssignment, ...]
    code: str = attrs.field(repr=False)
    expires_at: datetime


class _OfficeLifecycle(TrustLifecycle):
    """The trust lifecycle of a :class:`TrustOffice`: its messages are queued in the outbox in
    the operation's own unit of work (sent only if it commits)."""

    __slots__ = ()

    def _before_commit(self, op: _Operation) -> None:
        for message in op.messages:
            queue_message(op.uow, message, at=op.at, ids=_IdsFrom(self.new_id))
        op.messages.clear()


@attrs.frozen
class _IdsFrom:
    """An :class:`~schoolsync.ports.IdSource` from the lifecycle's kind -> id function."""

    new_id_of: Callable[[str], str]

    def new_id(self) -> str:
        return self.new_id_of("message")


class _NoDirectSend:
    """The lifecycle's notifier: its messages were queued in the outbox before the commit."""

    def send(self, message: OutboundMessage) -> None:
        raise AssertionError("messages of a TrustOffice go through its outbox")


def _tracked(op: AuditedOperation) -> TrackedUnitOfWork:
    return cast(TrackedUnitOfWork, op.uow)


def _trust_admin_role(catalogue: RoleCatalogue, given: str | None) -> str | None:
    if given is not None:
        return given
    carried = getattr(catalogue, "trust_admin_role", None)
    if isinstance(carried, str):
        return carried
    trust_roles = sorted(n for n, r in catalogue.roles.items() if r.scope is RoleScope.TRUST)
    if "trust_admin" in trust_roles or not trust_roles:
        return "trust_admin" if trust_roles else None
    managing = [
        n
        for n in trust_roles
        if catalogue.manage_permission is not None
        and catalogue.manage_permission in catalogue.effective_permissions(n)
    ]
    return managing[0] if len(managing) == 1 else None


class TrustOffice:
    """The trust's central office: the one object through which a host makes every change.

    A multi-academy trust runs its schools' shared administration from a central office; this
    object is that office for one store. Create it once per store (per process) and keep it:
    it holds the live access index. Every call that changes something is **one unit of work**:
    checked, written, audited, its messages queued in the outbox (:mod:`schoolsync.outbox`;
    a relay such as :func:`schoolsync.outbox.deliver_outbox` sends them), or nothing at all.

    Its parts:

    * :meth:`check` (and :attr:`index`): access decisions from an index kept current by itself,
      after this process's commits at once and after other processes' within *max_staleness*
      seconds (one indexed read of the store's access version; changes are applied
      incrementally, never by rebuilding);
    * :attr:`trusts`: trust set-up, the School Upload, invitations, trust admins and grants
      (:class:`~schoolsync.access.lifecycle.TrustLifecycle`, its messages in the outbox);
    * users and roles: :meth:`create_user` (with activation), :meth:`activate`,
      :meth:`resend_activation`, :meth:`unlock_activation`, :meth:`assign_role`,
      :meth:`unassign_role`, :meth:`transfer_role`, :meth:`edit_account`,
      :meth:`set_status`, and bulk change sets (:meth:`import_users`,
      :meth:`edit_selection`, :meth:`apply_change_set`);
    * the MIS: :meth:`set_up_mis_connection`, :meth:`authorise_mis`, :meth:`deauthorise_mis`,
      :meth:`set_data_sharing`, then :meth:`review`, :meth:`plan_sync`, :meth:`apply_sync`,
      :meth:`nightly_sync`, :meth:`unmatch`, and leavers (:meth:`soft_delete`,
      :meth:`restore_deleted`, :meth:`purge_expired`). Every sync reads the school's
      connection from the store inside its own unit of work, under the school's lock: a
      deauthorised connection stops it whatever copy the caller held.

    Args:
        store: where everything lives.
        catalogue: the role model (a preset such as ``schoolsync.access.presets.fft_aspire()``).
        clock: the time (default :class:`~schoolsync.clock.SystemClock`).
        ids: record and event ids (default random).
        tokens: secrets: sign-up links, codes, trust-admin links (default the system's CSPRNG).
        policy: the trust rules (:class:`~schoolsync.trusts.TrustPolicy`).
        trust_admin_role: the trust role an accepted trust admin gets (default: the one the
            catalogue names, else its only trust role holding ``users.manage``).
        listeners: told about every committed grant change.
        sign_up_link: the host's sign-up address, a template with ``{account_id}`` and
            ``{token}`` (``"https://app.example/sign-up?a={account_id}&t={token}"``); the
            sign-up message carries it as ``data["link"]``.
        activation_valid_for: how long a sign-up link and code work.
        max_attempts: wrong activation attempts an account may make before it is locked.
        activation_work_factor: the scrypt work factor of activation hashes.
        retention: how long leavers' records stay recoverable (default 30 days).
        max_staleness: seconds a check may go without looking for other processes' changes.
        monotonic: the timer behind *max_staleness*.
    """

    def __init__(
        self,
        store: Store,
        *,
        catalogue: RoleCatalogue,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        tokens: TokenSource = SYSTEM_TOKENS,
        policy: TrustPolicy | None = None,
        trust_admin_role: str | None = None,
        listeners: Iterable[GrantListener] = (),
        sign_up_link: str | None = None,
        activation_valid_for: timedelta = timedelta(days=7),
        max_attempts: int = 5,
        activation_work_factor: int = 2**14,
        retention: RetentionPolicy | None = None,
        max_staleness: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ids: IdSource = ids if ids is not None else RandomIds()
        self.tokens = tokens
        self.policy = policy if policy is not None else TrustPolicy()
        self.sign_up_link = sign_up_link
        self.activation_valid_for = activation_valid_for
        self.max_attempts = max_attempts
        self.activation_work_factor = activation_work_factor
        self.retention = retention
        self._writing = threading.RLock()
        self.live = LiveIndex(
            store,
            catalogue,
            clock=self.clock,
            max_staleness=max_staleness,
            monotonic=monotonic,
        )
        # The hot path: a check is the live index's own, one call deep (the method below
        # documents it; this binding only skips a layer of Python calls).
        self.check = self.live.check  # type: ignore[method-assign]
        role = _trust_admin_role(catalogue, trust_admin_role)
        self.trusts: TrustLifecycle = _OfficeLifecycle(
            store=TrackedStore(store, self.live, eager_lock=True, mutex=self._writing),
            clock=self.clock,
            notifier=_NoDirectSend(),
            policy=self.policy,
            listeners=list(listeners),
            trust_admin_role=role or "trust_admin",
            catalogue=catalogue if role is not None else None,
            new_id=lambda kind: f"{kind}-{self.ids.new_id()}",
            new_token=lambda: self.tokens.token_urlsafe(32),
        )

    # -- decisions ----------------------------------------------------------------------------

    def check(self, account_id: str, permission: str, school_id: str | None = None) -> Decision:
        """May *account_id* use *permission* at *school_id* (``None``: at the trust)?

        Answered from the live index: this process's changes are in it at once, other
        processes' within ``max_staleness`` seconds (call :meth:`refresh` to look now).
        """
        return self.live.check(account_id, permission, school_id)

    @property
    def index(self) -> AccessIndex:
        """The live :class:`~schoolsync.access.AccessIndex` (caught up if it may be stale), for
        lists, tables, previews and history; change it only through this office."""
        return self.live.index

    def refresh(self) -> None:
        """Catch up with every change committed to the store by any process, now."""
        self.live.refresh()

    # -- the shape of every change ------------------------------------------------------------

    @contextmanager
    def _access(self, actor_id: str | None) -> Iterator[AuditedOperation]:
        """One unit of work changing access records: the access lock first, the index caught
        up with the store under it (so checks see every committed change), then the body; the
        commit logs the changes and applies them to the index."""
        tracked = TrackedStore(self.store, self.live, eager_lock=True, mutex=self._writing)
        with tracked.unit_of_work() as uow:
            self.live.catch_up(uow)
            op = AuditedOperation(
                uow=uow, at=self.clock.now(), actor_id=actor_id, new_event_id=self.ids.new_id
            )
            yield op
            for message in op.messages:
                queue_message(uow, message, at=op.at, ids=self.ids)
            op.messages.clear()
            uow.commit()

    def _admin(self) -> AccessAdmin:
        return AccessAdmin(self.live.current, new_id=self.ids.new_id)

    # -- roles --------------------------------------------------------------------------------

    def assign_role(
        self, *, actor_id: str | None, account_id: str, role: str, school_id: str | None = None
    ) -> RoleAssignment:
        """Give *account_id* the *role* at *school_id* (``None``: a trust role).

        Checked as every assignment is (scope, requirements, delegation by *actor_id*, caps:
        an "exactly one" role such as a school's Access Coordinator can have only one
        holder), written and audited as ``ROLE_ASSIGNED``. ``actor_id=None`` is the system
        (set-up): no delegation check.
        """
        with self._access(actor_id) as op:
            account = self._admin().check_assignment(
                actor_id=actor_id, account_id=account_id, role=role, school_id=school_id
            )
            return op.assign_role(
                account_id=account_id,
                trust_id=account.trust_id,
                role=role,
                school_id=school_id,
                new_id=self.ids.new_id,
                assigned_by=actor_id,
            )

    def unassign_role(self, *, actor_id: str | None, assignment_id: str) -> None:
        """Take a role away (refused for the last holder of an "exactly one" role: use
        :meth:`transfer_role`, and while another held role requires it)."""
        with self._access(actor_id) as op:
            self._admin().unassign(
                actor_id=actor_id, assignment_id=assignment_id, at=op.at, apply=False
            )
            op.unassign_role(op.uow.assignments.require(assignment_id))

    def transfer_role(
        self, *, actor_id: str | None, assignment_id: str, to_account_id: str
    ) -> RoleAssignment:
        """Move a role from its holder to *to_account_id* in one change (how an "exactly one"
        role, such as a school's Access Coordinator, changes hands)."""
        with self._access(actor_id) as op:
            events = self._admin().transfer(
                actor_id=actor_id,
                assignment_id=assignment_id,
                to_account_id=to_account_id,
                at=op.at,
                apply=False,
            )
            before = op.uow.assignments.require(assignment_id)
            op.unassign_role(before, action=AuditAction.ROLE_REMOVED)
            del events
            return op.assign_role(
                account_id=to_account_id,
                trust_id=before.trust_id,
                role=before.role,
                school_id=before.school_id,
                new_id=self.ids.new_id,
                assigned_by=actor_id,
            )

    # -- accounts -----------------------------------------------------------------------------

    def create_user(
        self,
        *,
        actor_id: str | None,
        trust_id: str,
        email: str,
        name: str,
        job_role: str | None = None,
        roles: Iterable[tuple[str, str | None]] = (),
        staff_ids: Sequence[str] = (),
    ) -> NewUser:
        """Add a user: a pending account, its roles, and a sign-up message with the link.

        The account is checked and audited (``ACCOUNT_ADDED``), each ``(role, school_id)`` of
        *roles* through the checks every assignment passes, an activation challenge is stored
        (hashes only) and the sign-up message (kind ``"sign_up"``, ``data["link"]`` /
        ``data["token"]``) is queued in the outbox, all in one unit of work. The activation
        code is returned in :class:`NewUser` to show the administrator once; the library never
        sends it.
        """
        if not email.strip() or "@" not in email:
            raise ValidationError("email", None, "a user needs an email address")
        if not name.strip():
            raise ValidationError("name", None, "a user needs a name")
        account = Account(
            id=self.ids.new_id(),
            trust_id=trust_id,
            email=email.strip(),
            name=" ".join(name.split()),
            job_role=job_role,
            status=AccountStatus.PENDING,
            staff_ids=tuple(staff_ids),
        )
        applied: list[AuditEvent] = []
        try:
            with self._access(actor_id) as op:
                op.uow.trusts.require(trust_id)
                admin = self._admin()
                admin.invite(actor_id=actor_id, account=account, at=op.at, apply=False)
                account = attrs.evolve(account, created_at=op.at)
                self._applying(op, applied, lambda: op.write(None, account), account)
                made = []
                for role, school_id in roles:
                    admin.check_assignment(
                        actor_id=actor_id, account_id=account.id, role=role, school_id=school_id
                    )
                    made.append(
                        self._applying(
                            op,
                            applied,
                            lambda role=role, school_id=school_id: op.assign_role(  # type: ignore[misc]
                                account_id=account.id,
                                trust_id=trust_id,
                                role=role,
                                school_id=school_id,
                                new_id=self.ids.new_id,
                                assigned_by=actor_id,
                            ),
                        )
                    )
                code, expires_at = self._issue_activation(op, account)
                _tracked(op).applied.update(e.id for e in applied)
        except BaseException:
            if applied:  # the index holds changes that were never committed
                self.live.rebuild()
            raise
        return NewUser(account=account, assignments=tuple(made), code=code, expires_at=expires_at)

    def _applying(
        self,
        op: AuditedOperation,
        applied: list[AuditEvent],
        write: Callable[[], Any],
        account: Account | None = None,
    ) -> Any:
        """Write through *write* and apply its events to the index at once (the next check
        of the same unit of work sees them; a pending account grants nothing meanwhile)."""
        start = len(op.events)
        result = write()
        events = op.events[start:]
        with self.live.holding() as index:
            index.apply(events)
            if account is not None:
                index.records.accounts[account.id] = account
        applied.extend(events)
        return result

    def _issue_activation(self, op: AuditedOperation, account: Account) -> tuple[str, datetime]:
        """Store a new challenge (keeping the account's attempts) and queue the sign-up message."""
        challenges = op.uow.repository(ACTIVATION_CHALLENGES)
        earlier = challenges.get(account.id)
        challenge, token, code = start_activation(
            account.id,
            now=op.at,
            valid_for=self.activation_valid_for,
            max_attempts=self.max_attempts,
            work_factor=self.activation_work_factor,
            tokens=self.tokens,
        )
        if earlier is not None:  # the lockout is per account: a new challenge keeps the count
            challenge = attrs.evolve(challenge, attempts=earlier.attempts)
        challenges.put(challenge)
        self._audit_activation(op, account, AuditAction.ACTIVATION_ISSUED, challenge)
        data = {
            "account_id": account.id,
            "token": token,
            "expires_at": challenge.expires_at.isoformat(),
        }
        if self.sign_up_link is not None:
            data["link"] = self.sign_up_link.format(account_id=account.id, token=token)
        op.send(
            OutboundMessage(
                kind=SIGN_UP_MESSAGE,
                to=account.email,
                subject="Sign up to finish setting up your account",
                data=data,
            )
        )
        return code, challenge.expires_at

    def _audit_activation(
        self,
        op: AuditedOperation,
        account: Account,
        action: AuditAction,
        challenge: ActivationChallenge,
    ) -> None:
        op.uow.audit.append(
            AuditEvent(
                id=self.ids.new_id(),
                at=op.at,
                actor_id=op.actor_id,
                action=action,
                subject_kind="activation_challenge",
                subject_id=account.id,
                trust_id=account.trust_id,
                account_id=account.id,
                after={
                    "attempts": challenge.attempts,
                    "max_attempts": challenge.max_attempts,
                    "expires_at": challenge.expires_at.isoformat(),
                },
            )
        )

    def activate(self, *, account_id: str, link_token: str, code: str) -> ActivationOutcome:
        """Redeem the sign-up link and code of *account_id*; on success the account is active.

        Every wrong try counts against the account (whichever challenge it was made against)
        and is audited; at ``max_attempts`` the account is locked until an administrator calls
        :meth:`unlock_activation`. Returns the outcome; raises only when the account has no
        challenge (:class:`~schoolsync.errors.NotFoundError`).
        """
        with self._access(account_id) as op:
            challenges = op.uow.repository(ACTIVATION_CHALLENGES)
            challenge = challenges.get(account_id)
            if challenge is None:
                raise NotFoundError("activation challenge", account_id)
            outcome, after = redeem_activation(
                challenge, link_token=link_token, code=code, now=op.at
            )
            if after != challenge:
                challenges.put(after)
            account = op.uow.accounts.require(account_id)
            if outcome is ActivationOutcome.ACTIVATED:
                if account.status is AccountStatus.PENDING:
                    op.write(
                        account,
                        attrs.evolve(account, status=AccountStatus.ACTIVE),
                        action=AuditAction.ACCOUNT_ACTIVATED,
                    )
            elif after.attempts != challenge.attempts:
                self._audit_activation(op, account, AuditAction.ACTIVATION_FAILED, after)
        return outcome

    def _may_manage(self, actor_id: str | None, account: Account) -> None:
        if actor_id is not None and not self._admin()._may_manage(actor_id, account):
            raise AccessDeniedError(f"{actor_id} cannot manage account {account.id}")

    def resend_activation(self, *, actor_id: str | None, account_id: str) -> NewUser:
        """Issue a new sign-up link and code for a pending account (the old ones stop working;
        the attempts already made still count). Returns the new code to show once."""
        with self._access(actor_id) as op:
            account = op.uow.accounts.require(account_id)
            self._may_manage(actor_id, account)
            if account.status is not AccountStatus.PENDING:
                raise ConflictError(f"account {account_id!r} is already activated")
            code, expires_at = self._issue_activation(op, account)
        return NewUser(account=account, assignments=(), code=code, expires_at=expires_at)

    def unlock_activation(self, *, actor_id: str | None, account_id: str) -> None:
        """Clear the wrong attempts of an account locked out of activation (audited)."""
        with self._access(actor_id) as op:
            account = op.uow.accounts.require(account_id)
            self._may_manage(actor_id, account)
            challenges = op.uow.repository(ACTIVATION_CHALLENGES)
            challenge = challenges.get(account_id)
            if challenge is None:
                raise NotFoundError("activation challenge", account_id)
            after = attrs.evolve(challenge, attempts=0)
            challenges.put(after)
            self._audit_activation(op, account, AuditAction.ACTIVATION_UNLOCKED, after)

    def edit_account(
        self,
        *,
        actor_id: str | None,
        account_id: str,
        name: str | None = None,
        email: str | None = None,
        job_role: str | None = None,
    ) -> Account:
        """Change an account's details, by the rules of
        :meth:`~schoolsync.access.AccessAdmin.edit_account` (a user changes their own name and
        email; administrators only where the catalogue allows)."""
        with self._access(actor_id) as op:
            account = op.uow.accounts.require(account_id)
            events = self._admin().edit_account(
                actor_id=actor_id,
                account_id=account_id,
                at=op.at,
                name=name,
                email=email,
                job_role=job_role,
                apply=False,
            )
            if not events:
                return account
            after = attrs.evolve(
                account,
                name=account.name if name is None else name,
                email=account.email if email is None else email,
                job_role=account.job_role if job_role is None else job_role,
            )
            op.write(account, after)
            return after

    def set_status(
        self, *, actor_id: str | None, account_id: str, status: AccountStatus | str
    ) -> Account:
        """Make an account active or inactive ("Make User Inactive")."""
        status = AccountStatus(status)
        with self._access(actor_id) as op:
            account = op.uow.accounts.require(account_id)
            events = self._admin().set_status(
                actor_id=actor_id, account_id=account_id, status=status, at=op.at, apply=False
            )
            if not events:
                return account
            after = attrs.evolve(account, status=status)
            op.write(account, after)
            return after

    # -- bulk change sets ---------------------------------------------------------------------

    def import_users(self, trust_id: str, path: Any, *, actor_id: str | None = None) -> ChangeSet:
        """Read an edited bulk users file (CSV/XLSX path or open binary file) into the
        :class:`~schoolsync.bulk.ChangeSet` it asks for, for a person to preview. Changes
        nothing."""
        from schoolsync.bulk import CatalogueChecks, import_users

        return import_users(
            self.store,
            trust_id,
            path,
            checks=CatalogueChecks(self.catalogue),
            at=self.clock.now(),
            actor_id=actor_id,
        )

    def edit_selection(
        self,
        trust_id: str,
        account_ids: Iterable[str],
        *,
        actor_id: str | None = None,
        add: Sequence[tuple[str, str | None]] = (),
        remove: Sequence[tuple[str, str | None]] = (),
        make_inactive: bool = False,
    ) -> ChangeSet:
        """The checked :class:`~schoolsync.bulk.ChangeSet` of an "Edit Selected" action
        (*add*/*remove* are ``(role, school_id)`` pairs), for a person to preview before
        :meth:`apply_change_set`. Changes nothing."""
        from schoolsync.bulk import CatalogueChecks, edit_selection

        return edit_selection(
            self.store,
            trust_id,
            account_ids,
            checks=CatalogueChecks(self.catalogue),
            at=self.clock.now(),
            add=add,
            remove=remove,
            make_inactive=make_inactive,
            actor_id=actor_id,
        )

    def apply_change_set(self, change_set: ChangeSet) -> ApplyResult:
        """Make every change of a previewed change set in one unit of work, or none
        (:func:`schoolsync.bulk.apply_change_set`, with the catalogue's checks)."""
        from schoolsync.bulk import CatalogueChecks, apply_change_set

        return apply_change_set(
            TrackedStore(self.store, self.live, eager_lock=True, mutex=self._writing),
            change_set,
            checks=CatalogueChecks(self.catalogue),
            at=self.clock.now(),
            new_id=self.ids.new_id,
        )

    # -- the MIS connection -------------------------------------------------------------------

    def mis_connection(self, school_id: str) -> MisConnection | None:
        """The school's stored MIS connection (``None`` if it was never set up)."""
        with self.store.unit_of_work() as uow:
            return uow.repository(MIS_CONNECTIONS).get(school_id)

    def _can_configure(self, account_id: str, permission: str, school_id: str) -> bool:
        return bool(self.live.current.check(account_id, permission, school_id))

    @contextmanager
    def _connection_unit(self, school_id: str) -> Iterator[tuple[UnitOfWork, MisConnection]]:
        """The school's lock, the index caught up, and the stored connection."""
        with self.store.unit_of_work() as uow:
            uow.lock_school(school_id)
            self.live.catch_up(uow)
            connection = uow.repository(MIS_CONNECTIONS).get(school_id)
            if connection is None:
                raise NotFoundError("MIS connection", school_id)
            yield uow, connection

    def set_up_mis_connection(
        self,
        *,
        actor_id: str,
        school_id: str,
        provider: str,
        required_scopes: Collection[str],
        optional_scopes: Collection[str] = (),
        sharing_scope: str | None = None,
    ) -> MisConnection:
        """Record the school's MIS connection (not connected yet: :meth:`authorise_mis` next).

        Only an account holding ``mis_sync.configure`` at the school (its Access Co-ordinator)
        may; setting it up again replaces a connection that is not authorised.
        """
        with self.store.unit_of_work() as uow:
            uow.lock_school(school_id)
            self.live.catch_up(uow)
            uow.schools.require(school_id)
            if not self._can_configure(actor_id, connections.CONFIGURE_PERMISSION, school_id):
                raise AccessDeniedError(
                    f"account {actor_id!r} may not set up the MIS connection of school "
                    f"{school_id!r}: it needs {connections.CONFIGURE_PERMISSION!r}"
                )
            repo = uow.repository(MIS_CONNECTIONS)
            existing = repo.get(school_id)
            if existing is not None and existing.is_active:
                raise ConflictError(
                    f"school {school_id!r} has an authorised MIS connection; deauthorise it first"
                )
            at = self.clock.now()
            connection = MisConnection(
                school_id=school_id,
                provider=provider,
                required_scopes=frozenset(required_scopes),
                optional_scopes=frozenset(optional_scopes),
                sharing_scope=sharing_scope,
                changed_at=at,
                changed_by=actor_id,
            )
            repo.put(connection)
            uow.audit.append(
                AuditEvent(
                    id=self.ids.new_id(),
                    at=at,
                    actor_id=actor_id,
                    action=AuditAction.MIS_CONNECTION_SET_UP,
                    subject_kind="mis_connection",
                    subject_id=school_id,
                    school_id=school_id,
                    account_id=actor_id,
                    after={"provider": provider, "status": connection.status.value},
                )
            )
            uow.commit()
        return connection

    def _change_connection(
        self, school_id: str, change: Callable[[MisConnection, datetime, UnitOfWork], MisConnection]
    ) -> MisConnection:
        with self._connection_unit(school_id) as (uow, connection):
            after = change(connection, self.clock.now(), uow)
            uow.repository(MIS_CONNECTIONS).put(after)
            uow.commit()
        return after

    def authorise_mis(
        self, *, actor_id: str, school_id: str, granted_scopes: Collection[str]
    ) -> MisConnection:
        """Authorise the school's stored connection with *granted_scopes*
        (:func:`schoolsync.sync.connection.authorise`); syncing may run."""
        return self._change_connection(
            school_id,
            lambda c, at, uow: connections.authorise(
                c,
                actor_id=actor_id,
                granted_scopes=granted_scopes,
                at=at,
                can_configure=self._can_configure,
                audit=uow.audit,
                ids=self.ids,
            ),
        )

    def deauthorise_mis(self, *, actor_id: str, school_id: str) -> MisConnection:
        """Deauthorise the school's stored connection: every sync of the school stops, at
        once, in every process (each reads the connection inside its own unit of work)."""
        return self._change_connection(
            school_id,
            lambda c, at, uow: connections.deauthorise(
                c,
                actor_id=actor_id,
                at=at,
                can_configure=self._can_configure,
                audit=uow.audit,
                ids=self.ids,
            ),
        )

    def set_data_sharing(
        self, *, actor_id: str, school_id: str, sharing: DataSharing
    ) -> MisConnection:
        """Choose which results the school shares back to its MIS
        (:func:`schoolsync.sync.connection.set_data_sharing`)."""
        return self._change_connection(
            school_id,
            lambda c, at, uow: connections.set_data_sharing(
                c,
                sharing,
                actor_id=actor_id,
                at=at,
                can_configure=self._can_configure,
                audit=uow.audit,
                ids=self.ids,
            ),
        )

    # -- reviews and syncs --------------------------------------------------------------------

    def _stored_connection(self, uow: UnitOfWork, school_id: str) -> MisConnection:
        """The school's connection as stored now, active or not."""
        connection = uow.repository(MIS_CONNECTIONS).get(school_id)
        if connection is None:
            raise SyncError(f"school {school_id!r} has no MIS connection; set one up first")
        return connection

    def _active_connection(self, uow: UnitOfWork, school_id: str) -> MisConnection:
        """The school's connection as stored now (the caller holds the school's lock)."""
        connection = self._stored_connection(uow, school_id)
        connections.require_active(connection, school_id)
        return connection

    def review(self, school_id: str, source: MisSource) -> list[Any]:
        """Match the school's MIS records (*source*) with the app's: one
        :class:`~schoolsync.matching.MatchReview` per kind (year groups, classes, pupils,
        staff) for a person to decide, honouring the match decisions people made before (an
        unmatched pair shows as New and Not matched, a hand match stays). Changes nothing."""
        from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
        from schoolsync.sync.incremental import read_snapshot
        from schoolsync.sync.state import SchoolRecords

        with self.store.unit_of_work() as uow:
            self._active_connection(uow, school_id)
            current = SchoolRecords.load(uow, school_id)
        snapshot = read_snapshot(source, school_id)
        decided = current.decisions
        return [
            match_year_groups(list(snapshot.year_groups), list(current.year_groups.values())),
            match_classes(
                list(snapshot.classes), list(current.classes.values()), decisions=decided
            ),
            match_pupils(list(snapshot.pupils), list(current.pupils.values()), decisions=decided),
            match_staff(list(snapshot.staff), list(current.staff.values()), decisions=decided),
        ]

    def plan_sync(
        self, school_id: str, reviews: Any, *, options: PlanOptions | None = None
    ) -> SyncPlan:
        """The sync plan of the reviews a person decided, for them to read before
        :meth:`apply_sync`. Changes nothing."""
        from schoolsync.sync.planning import plan
        from schoolsync.sync.state import SchoolRecords

        with self.store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, school_id)
        return plan(reviews, current, at=self.clock.now(), options=options)

    def apply_sync(
        self, plan: SyncPlan, *, actor_id: str | None = None, force: bool = False
    ) -> SyncReport:
        """Apply a sync plan in one unit of work: the school's lock, its connection read from
        the store (a deauthorised one refuses, whatever copy anyone held), backups first, the
        writes, the audit event and the welcome messages of new staff in the outbox."""
        from schoolsync.sync.applying import _welcome, apply

        with self.store.unit_of_work() as uow:
            uow.lock_school(plan.school_id)
            connection = self._active_connection(uow, plan.school_id)
            if plan.writes and (force or not plan.guard_exceeded):
                school = uow.schools.get(plan.school_id)
                for message in _welcome(plan, school.name if school is not None else None):
                    queue_message(
                        uow, message, at=self.clock.now(), ids=self.ids, school_id=plan.school_id
                    )
            return apply(
                plan,
                uow,
                connection=connection,
                at=self.clock.now(),
                actor_id=actor_id,
                force=force,
                ids=self.ids,
            )

    def nightly_sync(
        self,
        school_id: str,
        source: MisSource,
        *,
        since: datetime | None = None,
        options: PlanOptions | None = None,
        actor_id: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Any:
        """The nightly sync of one school: the nightly job's own code
        (:func:`schoolsync.nightly.sync_school`, what :func:`schoolsync.nightly.run_school`
        runs for each school of a night), run here for one school.

        *source* is the school's MIS feed (a full export, or a delta since *since*), or a live
        broker connector (``schoolsync.brokers``: its delta from the stored watermark,
        deletions soft-deleted; *since* is not used). The feed is read outside any
        transaction; then, in one unit of work holding the school's lock, the connection is
        read from the store again (deauthorised meanwhile: :class:`~schoolsync.errors.SyncError`,
        nothing written), a broker's watermark is checked (moved by another sync meanwhile:
        :class:`~schoolsync.errors.StaleFetchError`, nothing written), and the sync, the
        welcome messages of new staff (in the outbox), the soft deletes and the new watermark
        commit together. After the commit (and after a refusal by the change-size guard) the
        school's queued assessment results are sent back through the connector
        (:func:`schoolsync.nightly.default_results_port`: Assembly, a OneRoster gradebook),
        as the nightly job sends them.

        Returns the :class:`~schoolsync.sync.SyncReport` of a file feed, or the
        :class:`~schoolsync.brokers.sync.BrokerSyncReport` of a broker.
        """
        from schoolsync.nightly._school import default_results_port, sync_school

        synced = sync_school(
            TrackedStore(self.store, self.live, eager_lock=False),
            school_id,
            source,
            connection_of=lambda uow: self._stored_connection(uow, school_id),
            at=self.clock.now(),
            since=since,
            options=options,
            actor_id=actor_id,
            force=force,
            dry_run=dry_run,
            retention=self.retention,
            ids=self.ids,
            results=default_results_port(source),
        )
        return synced.broker if synced.broker is not None else synced.report

    def unmatch(self, kind: RecordKind, app_id: str, *, actor_id: str | None = None) -> SyncReport:
        """Undo the match of app record *app_id* (:func:`schoolsync.sync.unmatch`): its data
        before the first sync is restored exactly, the MIS record unlinked."""
        from schoolsync.sync.applying import unmatch

        return unmatch(
            self.store, kind, app_id, at=self.clock.now(), actor_id=actor_id, ids=self.ids
        )

    # -- leavers ------------------------------------------------------------------------------

    def soft_delete(
        self, kind: RecordKind, record_id: str, *, actor_id: str | None = None
    ) -> DeletedRecord:
        """Delete a leaver's record recoverably (:func:`schoolsync.sync.soft_delete`), with
        the office's retention policy."""
        from schoolsync.sync.leavers import soft_delete

        return soft_delete(
            self.store,
            kind,
            record_id,
            at=self.clock.now(),
            retention=self.retention,
            actor_id=actor_id,
            ids=self.ids,
        )

    def restore_deleted(self, deleted_id: str, *, actor_id: str | None = None) -> object:
        """Bring a soft-deleted record back exactly as it was, within its retention period."""
        from schoolsync.sync.leavers import restore_deleted

        return restore_deleted(
            self.store, deleted_id, at=self.clock.now(), actor_id=actor_id, ids=self.ids
        )

    def purge_expired(
        self, *, school_id: str | None = None, actor_id: str | None = None
    ) -> PurgeResult:
        """Remove for good the soft-deleted records whose retention period is over (none
        under a legal hold)."""
        from schoolsync.sync.leavers import purge_expired

        return purge_expired(
            self.store,
            at=self.clock.now(),
            school_id=school_id,
            retention=self.retention,
            actor_id=actor_id,
            ids=self.ids,
        )
