"""The access index: exact, fast, explainable decisions over a trust's access records.

:class:`AccessIndex` precomputes, for every active account, the permissions it holds at each
school (and at its trust) with the paths that give them, so :meth:`AccessIndex.check` is a dict
lookup. Changes arrive as audit events (:meth:`AccessIndex.apply`) and update only the
accounts they touch; ``at=`` answers as of a past moment by undoing later events.

This module is the caching and the time travel. The access rule itself (school roles at their
school, trust roles through a live grant, membership-only permissions) lives in
:mod:`schoolsync.access.rules`; denial explanations (the missing fact and who can supply it)
in :mod:`schoolsync.access.explain`.
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from schoolsync.access.catalogue import PermissionLevel, RoleCatalogue
from schoolsync.access.decision import (
    AccessChange,
    AccessDiff,
    AccessTable,
    Decision,
    DenialReason,
    _denial,
)
from schoolsync.access.explain import (
    Explainer,
    Lookup,
    LookupProvider,
    PlaceNames,
    allowed_decisions,
    decide,
)
from schoolsync.access.records import AccessRecords, _kind_of, is_access_event
from schoolsync.access.rules import Access, AccessFacts
from schoolsync.records.accounts import Account, RoleAssignment
from schoolsync.records.audit import AuditEvent

if TYPE_CHECKING:
    from schoolsync.ports import Clock, Store, UnitOfWork

__all__ = ["AccessIndex", "AccessRequest"]

#: Precomputed allow decisions of one (account, school): permission -> Decision.
_Allowed = dict[str, Decision]
_NO_ROLE = DenialReason.NO_ROLE
_INACTIVE = DenialReason.INACTIVE
_UNKNOWN = DenialReason.UNKNOWN_SCHOOL
_SCHOOL_LEVEL = PermissionLevel.SCHOOL


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (if it was running), for work that
    makes many objects and no reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _AccountNames(Mapping[str, str]):
    """Account id -> the account's name, read from the records when looked up (blank: left out)."""

    __slots__ = ("_accounts",)

    def __init__(self, accounts: Mapping[str, Account]) -> None:
        self._accounts = accounts

    def __getitem__(self, account_id: str) -> str:
        name = self._accounts[account_id].name.strip()
        if not name:
            raise KeyError(account_id)
        return name

    def __iter__(self) -> Iterator[str]:
        return (a for a, acct in self._accounts.items() if acct.name.strip())

    def __len__(self) -> int:
        return sum(1 for _ in self)


@attrs.frozen
class AccessRequest:
    """One question for :meth:`AccessIndex.check_many`: may *account_id* use *permission* at *school_id*."""

    account_id: str
    permission: str
    school_id: str | None = None


class AccessIndex:
    """Precomputed access for a trust's accounts; answers checks, lists, history and previews.

    Build it with :meth:`build` (from records), :meth:`from_store` or :meth:`from_unit_of_work`.
    The index is evaluated at ``now``; pass a :class:`~schoolsync.ports.Clock` to follow real
    time, or call :meth:`advance` (the domain never reads the system clock itself).

    An index is not safe for concurrent :meth:`apply` calls: serialise changes (one writer), or
    keep one index per worker and apply the same events to each. Building pauses Python's cyclic
    garbage collector (restored afterwards), which halves the build time of large trusts.
    """

    def __init__(
        self,
        catalogue: RoleCatalogue,
        records: AccessRecords,
        *,
        now: datetime,
        clock: Clock | None = None,
        history: Sequence[AuditEvent] = (),
    ) -> None:
        self.catalogue = catalogue
        self._permissions = catalogue.permissions
        self._view = AccessFacts(catalogue, records)
        self._names = PlaceNames(self._view)
        self._clock = clock
        self._history: list[AuditEvent] = sorted(history, key=lambda e: e.at)
        self._history_times: list[datetime] = [e.at for e in self._history]
        #: account -> school (``None``: the trust) -> permission -> the allow decision.
        self._cells: dict[str, dict[str | None, _Allowed]] = {}
        self._schools_of: dict[str, dict[str, tuple[str, ...]]] = {}
        self._holders: dict[tuple[str | None, str], set[str]] = {}
        #: The explainer of denials made at (version, now); reset when either changes.
        self._explainer: Explainer | None = None
        #: Accepted member schools per trust (for visibility), worked out on demand.
        self._members: dict[str, frozenset[str]] = {}
        self._past: tuple[datetime, AccessFacts] | None = None
        self._version = 0
        self._active: set[str] = set()
        self._now = now
        self._set_window()
        # Building creates many long-lived objects: pause the cyclic collector meanwhile.
        with _collector_paused():
            for account_id in records.accounts:
                self._compute(account_id)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        catalogue: RoleCatalogue,
        records: AccessRecords,
        *,
        now: datetime,
        clock: Clock | None = None,
        history: Iterable[AuditEvent] = (),
    ) -> AccessIndex:
        """An index over *records* (the index keeps and updates them), evaluated at *now*.

        *history* is the audit log (events of access records) that ``at=`` questions undo.
        """
        return cls(catalogue, records, now=now, clock=clock, history=list(history))

    @classmethod
    def from_unit_of_work(
        cls,
        catalogue: RoleCatalogue,
        uow: UnitOfWork,
        *,
        now: datetime,
        clock: Clock | None = None,
    ) -> AccessIndex:
        """An index over the records and the audit log of a unit of work (a store's state)."""
        return cls(
            catalogue,
            AccessRecords.from_unit_of_work(uow),
            now=now,
            clock=clock,
            history=[e for e in uow.audit.events() if is_access_event(e)],
        )

    @classmethod
    def from_store(
        cls,
        catalogue: RoleCatalogue,
        store: Store,
        *,
        now: datetime,
        clock: Clock | None = None,
    ) -> AccessIndex:
        """An index over a store's committed records and audit log (one read-only unit of work)."""
        with store.unit_of_work() as uow:
            return cls.from_unit_of_work(catalogue, uow, now=now, clock=clock)

    @property
    def records(self) -> AccessRecords:
        """The records the index answers from (read them; change them only through :meth:`apply`)."""
        return self._view.records

    @property
    def account_names(self) -> Mapping[str, str]:
        """Account id -> the account's name, for ``decision.explain(names=index.account_names)``.

        Decisions name schools and trusts by name but accounts by id, so their text holds no
        personal data by default; pass these names where a person reads the text (an admin
        screen), never into logs. A live view of the records: O(1) to get, names looked up on use.
        """
        return _AccountNames(self._view.records.accounts)

    def assignments_of(self, account_id: str) -> list[RoleAssignment]:
        """The account's role assignments, by id."""
        found = self._view.by_account.get(account_id, {})
        return [found[k] for k in sorted(found)]

    def assignments_at(self, school_id: str | None) -> list[RoleAssignment]:
        """Role assignments at a school (``None``: trust roles), by id."""
        found = self._view.by_school.get(school_id, {})
        return [found[k] for k in sorted(found)]

    @property
    def now(self) -> datetime:
        """The moment ``at=None`` questions are answered for."""
        return self._now

    @property
    def history(self) -> tuple[AuditEvent, ...]:
        """The access audit events the index knows, oldest first."""
        return tuple(self._history)

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Access audit events matching every given filter, oldest first (``until`` exclusive)."""
        return [
            e
            for e in self._history
            if (account_id is None or e.account_id == account_id)
            and (school_id is None or e.school_id == school_id)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]

    # -- maintenance --------------------------------------------------------------------

    def _set_window(self) -> None:
        bounds = self._view.boundaries()
        i = bisect.bisect_right(bounds, self._now)
        self._window_start = bounds[i - 1] if i > 0 else None
        self._window_end = bounds[i] if i < len(bounds) else None

    def _in_window(self, at: datetime) -> bool:
        return (self._window_start is None or at >= self._window_start) and (
            self._window_end is None or at < self._window_end
        )

    def _forget(self, account_id: str) -> None:
        for school_id, cell in self._cells.pop(account_id, {}).items():
            for p in cell:
                holders = self._holders.get((school_id, p))
                if holders is not None:
                    holders.discard(account_id)
        self._schools_of.pop(account_id, None)
        self._active.discard(account_id)

    def _compute(self, account_id: str) -> None:
        self._forget(account_id)
        if self._view.active_account(account_id) is not None:
            self._active.add(account_id)
        access = self._view.access(account_id, self._now)
        if not access:
            return
        by_perm: dict[str, list[str]] = {}
        mine = self._cells[account_id] = {}
        for school_id, cell in access.items():
            mine[school_id] = allowed_decisions(account_id, school_id, cell, self._names)
            for p in cell:
                self._holders.setdefault((school_id, p), set()).add(account_id)
                if school_id is not None:
                    by_perm.setdefault(p, []).append(school_id)
        self._schools_of[account_id] = {p: tuple(sorted(s)) for p, s in by_perm.items()}

    def advance(self, now: datetime) -> None:
        """Answer ``at=None`` questions for *now* from here on (grants start and expire)."""
        previous, self._now = self._now, now
        self._explainer = None
        if self._in_window(now):
            return
        self._set_window()
        self._changed()
        low, high = min(previous, now), max(previous, now)
        crossed = {
            (g.school_id, g.trust_id)
            for g in self._view.records.grants.values()
            if any(
                t is not None and low < t <= high
                for t in (g.granted_at, g.expires_at, g.revoked_at)
            )
        }
        for school_id, trust_id in sorted(crossed):
            for account_id in sorted(self._view.trust_accounts.get(trust_id, ())):
                self._compute_pair(account_id, school_id)

    def _sync_clock(self) -> None:
        if self._clock is not None:
            now = self._clock.now()
            if now != self._now:
                self.advance(now)

    def apply(self, events: AuditEvent | Iterable[AuditEvent]) -> None:
        """Apply audit events (record changes) and update the accounts they affect."""
        if isinstance(events, AuditEvent):
            events = (events,)
        affected: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        records = self._view.records
        for event in events:
            kind = _kind_of(event.subject_kind)
            if kind is None or not is_access_event(event):
                continue
            before = records.table(kind).get(event.subject_id)
            records.apply_event(event)
            after = records.table(kind).get(event.subject_id)
            accounts, schools = self._view.update(kind, before, after)
            affected |= accounts
            pairs |= schools
            pos = bisect.bisect_right(self._history_times, event.at)
            self._history.insert(pos, event)
            self._history_times.insert(pos, event.at)
            if kind == "grant":
                self._set_window()
        self._changed()
        self._past = None
        for account_id in affected:
            self._compute(account_id)
        for account_id, school_id in pairs:
            if account_id not in affected:
                self._compute_pair(account_id, school_id)

    def _changed(self) -> None:
        """Records or the moment changed: denials made from now on explain from the new state."""
        self._version += 1
        self._explainer = None
        self._members.clear()

    def _compute_pair(self, account_id: str, school_id: str) -> None:
        """Recompute one account's access at one school (after a grant or membership change)."""
        mine = self._cells.setdefault(account_id, {})
        old = mine.pop(school_id, None)
        by_perm = self._schools_of.setdefault(account_id, {})
        if old is not None:
            for p in old:
                holders = self._holders.get((school_id, p))
                if holders is not None:
                    holders.discard(account_id)
                remaining = tuple(x for x in by_perm.get(p, ()) if x != school_id)
                if remaining:
                    by_perm[p] = remaining
                else:
                    by_perm.pop(p, None)
        cell = self._view.access(account_id, self._now, only_school=school_id).get(school_id)
        if cell:
            mine[school_id] = allowed_decisions(account_id, school_id, cell, self._names)
            for p in cell:
                self._holders.setdefault((school_id, p), set()).add(account_id)
                by_perm[p] = tuple(sorted((*by_perm.get(p, ()), school_id)))

    # -- decisions ----------------------------------------------------------------------

    def _view_at(self, at: datetime) -> AccessFacts:
        """The view as of *at*: the live one, or one rebuilt by undoing later events."""
        if not self._history_times or at >= self._history_times[-1]:
            return self._view
        if self._past is not None and self._past[0] == at:
            return self._past[1]
        records = self._view.records.copy()
        i = bisect.bisect_right(self._history_times, at)
        for event in reversed(self._history[i:]):
            records.undo_event(event)
        view = AccessFacts(self.catalogue, records)
        self._past = (at, view)
        return view

    def check(
        self,
        account_id: str,
        permission: str,
        school_id: str | None = None,
        at: datetime | None = None,
    ) -> Decision:
        """May *account_id* use *permission* at *school_id* (``None``: at the trust itself)?

        Without *at*, answers for :attr:`now` from the precomputed index; with *at*, as of that
        moment (past moments replay the audit log backwards).
        """
        if at is not None:
            return self._check_at(account_id, permission, school_id, at)
        if self._clock is not None:
            self._sync_clock()
        mine = self._cells.get(account_id)
        if mine is None:
            return self._deny_now(account_id, permission, school_id, None, None)
        cell = mine.get(school_id)
        if cell is not None:
            decision = cell.get(permission)
            if decision is not None:
                return decision
        return self._deny_now(account_id, permission, school_id, cell, mine.get(None))

    def _deny_now(
        self,
        account_id: str,
        permission: str,
        school_id: str | None,
        cell: _Allowed | None,
        trust_cell: _Allowed | None,
    ) -> Decision:
        """A denial at :attr:`now`: the reason from precomputed facts, the explanation lazily."""
        perm = self._permissions.get(permission)
        if perm is None:
            self.catalogue.permission(permission)  # raises, naming the nearest permission
        explainer = self._explainer
        if explainer is None:
            explainer = self._explainer = Explainer(self._view, self._now, self._lookup_provider())
        if cell is not None and trust_cell is None:
            # The common case: an active account with school roles here, none giving it.
            return _denial(account_id, permission, school_id, _NO_ROLE, True, explainer)
        if school_id is None:
            if account_id in self._active:
                return _denial(account_id, permission, None, _NO_ROLE, True, explainer)
            return _denial(account_id, permission, None, _INACTIVE, False, explainer)
        records = self._view.records
        if school_id not in records.schools:
            return _denial(account_id, permission, school_id, _UNKNOWN, False, explainer)
        if account_id not in self._active:
            return _denial(account_id, permission, school_id, _INACTIVE, False, explainer)
        if trust_cell is None:  # no trust role: only the account's school roles count here
            return _denial(account_id, permission, school_id, _NO_ROLE, cell is not None, explainer)
        if permission in trust_cell and perm is not None and perm.level is _SCHOOL_LEVEL:
            # A trust role holds it: membership, designation and the school's grants decide.
            access: Access = (
                {} if cell is None else {school_id: {p: d.paths for p, d in cell.items()}}
            )
            reason, visible = self._view.classify(
                account_id, permission, school_id, self._now, access
            )
            return _denial(account_id, permission, school_id, reason, visible, explainer)
        visible = cell is not None or school_id in self._member_schools(
            records.accounts[account_id].trust_id
        )
        return _denial(account_id, permission, school_id, _NO_ROLE, visible, explainer)

    def _member_schools(self, trust_id: str) -> frozenset[str]:
        found = self._members.get(trust_id)
        if found is None:
            found = self._members[trust_id] = frozenset(
                school_id
                for school_id, ms in self._view.memberships_by_school.items()
                if any(m.trust_id == trust_id and m.is_member for m in ms.values())
            )
        return found

    def _lookup(self, school_id: str | None, permission: str) -> Iterable[str]:
        return self._holders.get((school_id, permission), ())

    def _lookup_provider(
        self,
    ) -> LookupProvider:
        version = self._version

        def provide() -> Lookup | None:
            return self._lookup if self._version == version else None

        return provide

    def _check_at(
        self, account_id: str, permission: str, school_id: str | None, at: datetime
    ) -> Decision:
        view = self._view_at(at)
        if view is self._view and self._in_window(at):
            cell = self._cells.get(account_id, {}).get(school_id)
            if cell is not None and permission in cell:
                return cell[permission]
        return decide(view, account_id, permission, school_id, at)

    def check_many(
        self,
        requests: Iterable[AccessRequest | tuple[str, str, str | None]],
        at: datetime | None = None,
    ) -> list[Decision]:
        """One decision per request, in order (duplicates answered each time).

        Faster than a loop of :meth:`check` collecting the same decisions: the cyclic garbage
        collector is paused while the batch runs. Each denial is a new :class:`Decision`, and
        as they pile up in the answer the collector would otherwise pass over the whole index
        (hundreds of thousands of objects) again and again; decisions make no reference
        cycles, so the pause leaves nothing uncollected.
        """
        out: list[Decision] = []
        append = out.append
        with _collector_paused():
            if at is not None or self._clock is not None:
                check = self.check  # a past moment, or a clock to follow request by request
                for r in requests:
                    if isinstance(r, AccessRequest):
                        append(check(r.account_id, r.permission, r.school_id, at))
                    else:
                        append(check(r[0], r[1], r[2], at))
                return out
            # :meth:`check` at :attr:`now`, inlined (the call costs as much as the lookups).
            cells = self._cells
            deny = self._deny_now
            for r in requests:
                if isinstance(r, AccessRequest):
                    account_id, permission, school_id = r.account_id, r.permission, r.school_id
                else:
                    account_id, permission, school_id = r[0], r[1], r[2]
                mine = cells.get(account_id)
                if mine is None:
                    append(deny(account_id, permission, school_id, None, None))
                    continue
                cell = mine.get(school_id)
                if cell is not None:
                    decision = cell.get(permission)
                    if decision is not None:
                        append(decision)
                        continue
                append(deny(account_id, permission, school_id, cell, mine.get(None)))
        return out

    # -- lists --------------------------------------------------------------------------

    def schools_with(
        self, account_id: str, permission: str, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Every school (sorted ids) where *account_id* holds *permission*; exact, never truncated."""
        self.catalogue.permission(permission)
        if at is None:
            if self._clock is not None:
                self._sync_clock()
            return self._schools_of.get(account_id, {}).get(permission, ())
        access = self._view_at(at).access(account_id, at)
        return tuple(
            sorted(s for s, cell in access.items() if s is not None and permission in cell)
        )

    def accounts_with(
        self, permission: str, school_id: str | None, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Every account (sorted ids) holding *permission* at *school_id* (``None``: the trust)."""
        self.catalogue.permission(permission)
        if at is None:
            if self._clock is not None:
                self._sync_clock()
            return tuple(sorted(self._holders.get((school_id, permission), ())))
        view = self._view_at(at)
        return tuple(
            sorted(
                a
                for a in view.records.accounts
                if permission in view.access(a, at).get(school_id, {})
            )
        )

    def access_table(self, account_id: str, at: datetime | None = None) -> AccessTable:
        """The account's whole access, one row per (school, permission), for an admin screen."""
        if at is None:
            if self._clock is not None:
                self._sync_clock()
            access: Access = {
                s: {p: d.paths for p, d in cell.items()}
                for s, cell in self._cells.get(account_id, {}).items()
            }
        else:
            access = self._view_at(at).access(account_id, at)
        entries = tuple(
            (s, p, access[s][p])
            for s in sorted(access, key=lambda x: (x is not None, x or ""))
            for p in sorted(access[s])
        )
        names = _display_names(self._view, [account_id], access)
        return AccessTable(account_id=account_id, entries=entries, names=names)

    def access_of(self, account_id: str) -> frozenset[tuple[str | None, str]]:
        """Every (school or ``None``, permission) pair the account holds now."""
        return frozenset(
            (s, p) for s, cell in self._cells.get(account_id, {}).items() for p in cell
        )

    # -- previews -----------------------------------------------------------------------

    def preview(self, events: AuditEvent | Iterable[AuditEvent]) -> AccessDiff:
        """The access diff the events would cause, without applying them.

        Compared at :attr:`now`, or at the latest event's time if that is later (so a
        revocation dated a moment from now shows what it removes).
        """
        if isinstance(events, AuditEvent):
            events = (events,)
        events = list(events)
        at = max([self._now, *(e.at for e in events)])
        records = self._view.records.copy()
        view = AccessFacts(self.catalogue, records)
        affected: set[str] = set()
        for event in events:
            kind = _kind_of(event.subject_kind)
            if kind is None or not is_access_event(event):
                continue
            before = records.table(kind).get(event.subject_id)
            records.apply_event(event)
            after = records.table(kind).get(event.subject_id)
            accounts, pairs = view.update(kind, before, after)
            affected |= accounts | {a for a, _ in pairs}
        gained: list[AccessChange] = []
        lost: list[AccessChange] = []
        same_moment = at == self._now
        for account_id in sorted(affected):
            if same_moment:
                old = self.access_of(account_id)
            else:
                old_access = self._view.access(account_id, at)
                old = frozenset((s, p) for s, cell in old_access.items() for p in cell)
            new_access = view.access(account_id, at)
            new = frozenset((s, p) for s, cell in new_access.items() for p in cell)
            for s, p in sorted(new - old, key=lambda x: (x[0] or "", x[1])):
                gained.append(AccessChange(account_id=account_id, school_id=s, permission=p))
            for s, p in sorted(old - new, key=lambda x: (x[0] or "", x[1])):
                lost.append(AccessChange(account_id=account_id, school_id=s, permission=p))
        changes = [*gained, *lost]
        names = _display_names(
            view, {c.account_id for c in changes}, {c.school_id for c in changes}
        )
        return AccessDiff(gained=tuple(gained), lost=tuple(lost), names=names)


def _display_names(
    view: AccessFacts, account_ids: Iterable[str], school_ids: Iterable[str | None]
) -> dict[str, str]:
    """Id -> name of the accounts and schools (or trusts) a table shows, for the person reading
    its HTML view (names are personal data: never logged)."""
    names = {s: n for s in school_ids if s is not None and (n := view.place_name(s))}
    for account_id in account_ids:
        account = view.records.accounts.get(account_id)
        if account is not None and account.name:
            names[account_id] = account.name
    return names
