"""Stateful differential test of the access index against a deliberately naive reference.

Hypothesis interleaves assign, remove, grant, revoke, expire, school leaves/rejoins,
deactivate/activate and check steps, and after every step asserts: check == reference (now and
as of earlier moments), the fast paths and the full evaluation agree on reason and visibility,
check_many == single checks (duplicates included), lists and checks agree both ways, removals
never add access and additions never remove any, caps hold, nobody gave a permission they
lacked, and an index rebuilt from the MemoryStore answers like the live one.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from schoolsync.access import (
    AccessAdmin,
    AccessIndex,
    AccessRecords,
    AccountStatus,
    DenialReason,
    Grant,
    Permission,
    PermissionLevel,
    Role,
    RoleCatalogue,
    RoleScope,
    record_event,
    write_events,
)
from schoolsync.access.accounts import Account
from schoolsync.audit import AuditEvent
from schoolsync.errors import ConflictError, SchoolsyncError
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SCHOOLS = ("S1", "S2", "S3")
ACCOUNTS = ("a1", "a2", "a3", "a4")
CATALOGUE = RoleCatalogue.build(
    [
        "users.manage",
        "grants.manage",
        "reports.pupil_level.view",
        Permission(name="reports.school.view", needs_grant=False),
        Permission(name="trust.reports.compare", level=PermissionLevel.TRUST),
    ],
    [
        Role(
            name="Coordinator",
            scope=RoleScope.SCHOOL,
            permissions={"grants.manage", "users.manage"},
            implies={"Teacher"},
            exactly_one=True,
        ),
        Role(name="Teacher", scope=RoleScope.SCHOOL, permissions={"reports.school.view"}),
        Role(
            name="Leader",
            scope=RoleScope.SCHOOL,
            permissions={"reports.pupil_level.view"},
            requires={"Teacher"},
            max_per_school=2,
        ),
        Role(
            name="Trust Admin",
            scope=RoleScope.TRUST,
            permissions={"users.manage", "reports.pupil_level.view", "trust.reports.compare"},
            implies={"Trust Viewer"},
            max_per_trust=2,
        ),
        Role(name="Trust Viewer", scope=RoleScope.TRUST, permissions={"reports.school.view"}),
    ],
)
PERMS = tuple(sorted(CATALOGUE.permissions))
WHERE: tuple[str | None, ...] = (*SCHOOLS, None, "S9")


def _closure(role: str) -> set[str]:
    perms = set(CATALOGUE.roles[role].permissions)
    for other in CATALOGUE.roles[role].implies:
        perms |= _closure(other)
    return perms


def _trust_roles(records: AccessRecords, acct: Account) -> list[str]:
    return [
        asg.role
        for asg in records.assignments.values()
        if asg.account_id == acct.id
        and asg.school_id is None
        and asg.trust_id == acct.trust_id
        and CATALOGUE.roles[asg.role].scope is RoleScope.TRUST
    ]


def _member(records: AccessRecords, trust_id: str, school_id: str) -> bool:
    return any(
        m.trust_id == trust_id
        and m.school_id == school_id
        and m.status is MembershipStatus.ACCEPTED
        for m in records.memberships.values()
    )


def _grant_reason(records: AccessRecords, a: str, p: str, s: str, at: datetime) -> DenialReason:
    """Why the school's grants do not let a trust role use *p*: read off every grant."""
    mine = [g for g in records.grants.values() if g.school_id == s and g.trust_id == "T"]
    covering = [
        g for g in mine if p in g.permissions and (g.account_ids is None or a in g.account_ids)
    ]
    revoked = [g for g in covering if g.revoked_at is not None and g.revoked_at <= at]
    expired = [
        g for g in covering if g not in revoked and g.expires_at is not None and g.expires_at <= at
    ]
    if covering and len(revoked) + len(expired) == len(covering):
        return DenialReason.GRANT_REVOKED if revoked else DenialReason.GRANT_EXPIRED
    live_for_me = [
        g for g in mine if g.is_live(at) and (g.account_ids is None or a in g.account_ids)
    ]
    if live_for_me and not covering:
        return DenialReason.OUTSIDE_GRANT_SCOPE
    return DenialReason.NO_GRANT


def reference_decision(
    records: AccessRecords,
    a: str,
    p: str,
    s: str | None,
    at: datetime,
    allowed: set[tuple[str, str, str | None]],
) -> tuple[DenialReason | None, bool]:
    """(reason or ``None`` when allowed, visible), read straight off the records.

    No index, no cache: every assignment, membership and grant is looked at on every call;
    *allowed* is :func:`everything` at *at* (the reference's own allow answers).
    """
    if s is not None and s not in records.schools:
        return DenialReason.UNKNOWN_SCHOOL, False
    acct = records.accounts.get(a)
    if acct is None or acct.status is not AccountStatus.ACTIVE:
        return DenialReason.INACTIVE, False
    if (a, p, s) in allowed:
        return None, True
    if s is None:
        return DenialReason.NO_ROLE, True
    trust_roles = _trust_roles(records, acct)
    member = bool(trust_roles) and _member(records, acct.trust_id, s)
    anything_here = any((a, q, s) in allowed for q in PERMS)
    visible = anything_here or member
    held_by_trust_role = any(p in _closure(r) for r in trust_roles)
    if held_by_trust_role and CATALOGUE.permissions[p].level is PermissionLevel.SCHOOL:
        if not member:
            return DenialReason.SCHOOL_NOT_IN_TRUST, visible
        return _grant_reason(records, a, p, s, at), visible
    return DenialReason.NO_ROLE, visible


def reference(records: AccessRecords, a: str, p: str, s: str | None, at: datetime) -> bool:
    """The rules, read straight off the records: no index, no cache."""
    acct = records.accounts.get(a)
    if acct is None or acct.status is not AccountStatus.ACTIVE:
        return False
    if s is not None and s not in records.schools:
        return False
    for asg in records.assignments.values():
        if asg.account_id != a or p not in _closure(asg.role):
            continue
        role = CATALOGUE.roles[asg.role]
        if role.scope is RoleScope.SCHOOL:
            if s is not None and asg.school_id == s:
                return True
            continue
        if asg.school_id is not None or asg.trust_id != acct.trust_id:
            continue
        if s is None:
            return True
        perm = CATALOGUE.permissions[p]
        if perm.level is PermissionLevel.TRUST:
            continue
        if not _member(records, acct.trust_id, s):
            continue
        if not perm.needs_grant:
            return True
        for g in records.grants.values():
            if (
                g.school_id == s
                and g.trust_id == acct.trust_id
                and g.is_live(at)
                and g.covers(a, p)
            ):
                return True
    return False


def everything(records: AccessRecords, at: datetime) -> set[tuple[str, str, str | None]]:
    return {
        (a, p, s) for a in ACCOUNTS for p in PERMS for s in WHERE if reference(records, a, p, s, at)
    }


def reasons(
    records: AccessRecords, at: datetime
) -> dict[tuple[str, str, str | None], tuple[DenialReason | None, bool]]:
    """The reference's (reason, visible) for every request of the small world."""
    allowed = everything(records, at)
    return {
        (a, p, s): reference_decision(records, a, p, s, at, allowed)
        for a in ACCOUNTS
        for p in PERMS
        for s in WHERE
    }


class AccessMachine(RuleBasedStateMachine):
    """Random operations on a small trust, checked against the reference after each."""

    @initialize()
    def setup(self) -> None:
        self.now = START
        records = AccessRecords.of(
            trusts=[Trust(id="T", name="Trust")],
            schools=[School(id=s, name=f"School {s}") for s in SCHOOLS],
            memberships=[
                Membership(id=f"m{s}", trust_id="T", school_id=s, status=MembershipStatus.ACCEPTED)
                for s in SCHOOLS
            ],
            accounts=[
                Account(id=a, trust_id="T", email="", name="", status=AccountStatus.ACTIVE)
                for a in ACCOUNTS
            ],
        )
        self.store = MemoryStore()
        with self.store.unit_of_work() as uow:
            for kind, table in (
                ("trust", records.trusts),
                ("school", records.schools),
                ("membership", records.memberships),
                ("account", records.accounts),
            ):
                write_events(
                    uow,
                    [record_event(kind, None, r, at=START, actor_id=None) for r in table.values()],
                    records,
                )
            uow.commit()
        with self.store.unit_of_work() as uow:
            self.index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=START)
        numbers = itertools.count(1)
        # Deterministic assignment ids: rules draw from sorted ids, so random ids would make
        # hypothesis's data generation differ between runs of the same example.
        self.admin = AccessAdmin(self.index, new_id=lambda: f"a{next(numbers):05d}")
        self.snapshots: list[
            tuple[datetime, dict[tuple[str, str, str | None], tuple[DenialReason | None, bool]]]
        ] = []
        self.counter = 0
        self.before: set[tuple[str, str, str | None]] = set()
        self.expect: str = "none"

    # -- helpers ------------------------------------------------------------------------

    def _tick(self) -> None:
        self.snapshots.append((self.now, reasons(self.index.records, self.now)))
        self.now += timedelta(minutes=1)
        self.index.advance(self.now)
        self.before = everything(self.index.records, self.now)

    def _commit(self, events: list[AuditEvent], expect: str) -> None:
        with self.store.unit_of_work() as uow:
            write_events(uow, events, self.index.records)
            uow.commit()
        self.expect = expect

    def _event(self, kind: str, before: object, after: object, expect: str) -> None:
        event = record_event(kind, before, after, at=self.now, actor_id=None)
        self.index.apply(event)
        self._commit([event], expect)

    # -- rules --------------------------------------------------------------------------

    @rule(
        actor=st.sampled_from((None, *ACCOUNTS)),
        account=st.sampled_from(ACCOUNTS),
        role=st.sampled_from(sorted(CATALOGUE.roles)),
        school=st.sampled_from(SCHOOLS),
    )
    def assign(self, actor: str | None, account: str, role: str, school: str) -> None:
        self._tick()
        where = school if CATALOGUE.roles[role].scope is RoleScope.SCHOOL else None
        try:
            events = self.admin.assign(
                actor_id=actor, account_id=account, role=role, school_id=where, at=self.now
            )
        except (ConflictError, SchoolsyncError, PermissionError):
            self.expect = "same"
            return
        if actor is not None:
            for p in CATALOGUE.effective_permissions(role):
                assert (actor, p, where) in self.before, (
                    "a permission was given by one who lacks it"
                )
        self._commit(events, "more")

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        self._tick()
        ids = sorted(self.index.records.assignments)
        if not ids:
            self.expect = "same"
            return
        try:
            events = self.admin.unassign(
                actor_id=None, assignment_id=data.draw(st.sampled_from(ids)), at=self.now
            )
        except ConflictError:
            self.expect = "same"
            return
        self._commit(events, "less")

    @rule(
        school=st.sampled_from(SCHOOLS),
        perms=st.frozensets(st.sampled_from(PERMS), min_size=1),
        accounts=st.none() | st.frozensets(st.sampled_from(ACCOUNTS), min_size=1),
        minutes=st.none() | st.integers(1, 5),
    )
    def grant(
        self,
        school: str,
        perms: frozenset[str],
        accounts: frozenset[str] | None,
        minutes: int | None,
    ) -> None:
        self._tick()
        self.counter += 1
        g = Grant(
            id=f"g{self.counter}",
            trust_id="T",
            school_id=school,
            permissions=perms,
            account_ids=accounts,
            granted_at=self.now,
            expires_at=None if minutes is None else self.now + timedelta(minutes=minutes),
        )
        self._event("grant", None, g, "more")

    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        self._tick()
        live = sorted(g for g, v in self.index.records.grants.items() if v.revoked_at is None)
        if not live:
            self.expect = "same"
            return
        g = self.index.records.grants[data.draw(st.sampled_from(live))]
        self._event("grant", g, attrs.evolve(g, revoked_at=self.now), "less")

    @rule(minutes=st.integers(1, 4))
    def expire(self, minutes: int) -> None:
        self._tick()
        self.now += timedelta(minutes=minutes)
        self.index.advance(self.now)
        self.before = everything(self.index.records, self.now)
        self.expect = "less"

    @rule(school=st.sampled_from(SCHOOLS))
    def school_leaves(self, school: str) -> None:
        self._tick()
        m = self.index.records.memberships[f"m{school}"]
        events = [
            record_event(
                "membership",
                m,
                attrs.evolve(m, status=MembershipStatus.LEFT),
                at=self.now,
                actor_id=None,
            )
        ]
        for g in sorted(self.index.records.grants.values(), key=lambda x: x.id):
            if g.school_id == school and g.revoked_at is None:
                events.append(
                    record_event(
                        "grant", g, attrs.evolve(g, revoked_at=self.now), at=self.now, actor_id=None
                    )
                )
        self.index.apply(events)
        self._commit(events, "less")

    @rule(school=st.sampled_from(SCHOOLS))
    def school_rejoins(self, school: str) -> None:
        self._tick()
        m = self.index.records.memberships[f"m{school}"]
        self._event("membership", m, attrs.evolve(m, status=MembershipStatus.ACCEPTED), "more")

    @rule(account=st.sampled_from(ACCOUNTS), active=st.booleans())
    def set_status(self, account: str, active: bool) -> None:
        self._tick()
        status = AccountStatus.ACTIVE if active else AccountStatus.INACTIVE
        events = self.admin.set_status(
            actor_id=None, account_id=account, status=status, at=self.now
        )
        self._commit(events, "more" if active else "less")

    @rule(data=st.data())
    def check_past(self, data: st.DataObject) -> None:
        if not self.snapshots:
            return
        at, expected = data.draw(st.sampled_from(self.snapshots))
        for a in ACCOUNTS:
            for p in PERMS:
                for s in WHERE:
                    d = self.index.check(a, p, s, at=at)
                    assert expected[(a, p, s)] == (d.reason, d.visible), d.explain()

    @rule()
    def rebuild_from_store(self) -> None:
        with self.store.unit_of_work() as uow:
            rebuilt = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=self.now)
        for a in ACCOUNTS:
            for p in PERMS:
                for s in WHERE:
                    assert self.index.check(a, p, s) == rebuilt.check(a, p, s)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def matches_reference_and_lists(self) -> None:
        if not hasattr(self, "index"):
            return
        now_access = everything(self.index.records, self.now)
        expected = reasons(self.index.records, self.now)
        requests = [(a, p, s) for a in ACCOUNTS for p in PERMS for s in WHERE]
        decisions = self.index.check_many([*requests, *requests[:5]])
        for (a, p, s), d in zip(requests, decisions, strict=False):
            assert ((a, p, s) in now_access) == bool(d), d.explain()
            # The reference's denial reason (closed list) and visibility, not just allow/deny.
            assert expected[(a, p, s)] == (d.reason, d.visible), d.explain()
            assert d == self.index.check(a, p, s)
            # The fast paths give the same reason and visibility as the full evaluation.
            assert d == self.index.check(a, p, s, at=self.now)
        assert decisions[-5:] == decisions[:5]
        for a in ACCOUNTS:
            for p in PERMS:
                listed = set(self.index.schools_with(a, p))
                assert listed == {s for s in SCHOOLS if (a, p, s) in now_access}
        for p in PERMS:
            for s in (*SCHOOLS, None):
                assert set(self.index.accounts_with(p, s)) == {
                    a for a in ACCOUNTS if (a, p, s) in now_access
                }
        if self.expect == "more":
            assert self.before <= now_access
        elif self.expect == "less":
            assert now_access <= self.before
        elif self.expect == "same":
            assert now_access == self.before

    @invariant()
    def caps_hold(self) -> None:
        if not hasattr(self, "index"):
            return
        for role in CATALOGUE.roles.values():
            for school in SCHOOLS:
                cap = role.cap_at(RoleScope.SCHOOL)
                if cap is not None and role.scope is RoleScope.SCHOOL:
                    assert len(self.admin.holders(role.name, "T", school)) <= cap
            cap = role.cap_at(RoleScope.TRUST)
            if cap is not None and role.scope is RoleScope.TRUST:
                assert len(self.admin.holders(role.name, "T", None)) <= cap


AccessMachine.TestCase.settings = settings(
    AccessMachine.TestCase.settings, stateful_step_count=25, deadline=None
)
TestAccessMachine = AccessMachine.TestCase
