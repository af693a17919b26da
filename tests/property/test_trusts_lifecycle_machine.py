"""Random sequences of invitations, acceptances, grants, revocations, removals and role changes.

Must hold after every step:
- a trust account sees a school (for a permission that needs a grant) only if the school is an
  accepted member and a grant from that school, live now, covers the permission for the account;
- revocation, narrowing, leaving and removal take effect at once (the next view already obeys);
- the trust-wide view agrees with the roles issue's ``AccessIndex.check`` built from the store;
- a permission that needs no grant follows membership and role alone (the ceiling applies only
  where a grant is needed);
- only the school's own Access Coordinator consents: while a school's coordinator has lost the
  role, its grants cannot be given, narrowed or revoked and its invitation not answered;
- the audit log replayed from empty reproduces the stored memberships and grants exactly.

Role changes are trust-role assignments given and taken away, accounts deactivated, and school
coordinators losing and regaining their role.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from schoolsync.access import AccessIndex, Permission, Role, RoleCatalogue
from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.lifecycle import (
    RecordingGrantListener,
    TrustLifecycle,
    replay_memberships_and_grants,
)
from schoolsync.access.records import record_event
from schoolsync.clock import FixedClock
from schoolsync.errors import AccessDeniedError, NotFoundError, SchoolsyncError
from schoolsync.identifiers import Urn
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import MembershipStatus, School
from schoolsync.views import schools_in_view

SCHOOLS = ("s0", "s1", "s2", "s3")
ADMINS = ("a1", "a2", "a3")
PERMS = ("reports.school.view", "users.manage")
FREE = "dashboards.view"  # a permission trust roles use at member schools without a grant
ROLES = {"trust_admin": frozenset({*PERMS, FREE})}
CATALOGUE = RoleCatalogue.build(
    [*PERMS, Permission(name=FREE, needs_grant=False), "grants.manage"],
    [
        Role(name="trust_admin", scope="trust", permissions={*PERMS, FREE}),
        Role(name="access_coordinator", scope="school", permissions={"grants.manage"}),
    ],
)
T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


@attrs.define
class ModelGrant:
    school_id: str
    permissions: frozenset[str]
    account_ids: frozenset[str] | None
    expires_at: datetime | None


class TrustMachine(RuleBasedStateMachine):
    """The lifecycle service against a small model of what the schools consented to."""

    @initialize()
    def setup(self) -> None:
        self.store = MemoryStore()
        self.clock = FixedClock(T0)
        self.listener = RecordingGrantListener()
        numbers = itertools.count(1)
        self.life = TrustLifecycle(
            self.store,
            self.clock,
            RecordingNotifier(),
            listeners=[self.listener],
            new_id=lambda kind: f"{kind}-{next(numbers)}",  # reproducible draws by id
        )
        self.life.create_trust(name="Trust", trust_id="t", designated_academy_trust=True)
        with self.store.unit_of_work() as uow:
            for account_id in (*ADMINS, *(f"ac-{s}" for s in SCHOOLS)):
                uow.accounts.add(
                    Account(
                        id=account_id, trust_id="t", email="", name="", status=AccountStatus.ACTIVE
                    )
                )
            for s in SCHOOLS:
                uow.assignments.add(
                    RoleAssignment(
                        id=f"ra-{s}",
                        account_id=f"ac-{s}",
                        trust_id="t",
                        role="access_coordinator",
                        school_id=s,
                    )
                )
            uow.commit()
        for n, s in enumerate(SCHOOLS):
            self.life.add_school("t", School(id=s, name=s, urn=Urn(f"10000{n}")))
        self.members: set[str] = set()
        self.live: dict[str, ModelGrant] = {}
        self.role_holders: set[str] = set()
        self.inactive: set[str] = set()
        self.coordinated: set[str] = set(SCHOOLS)  # schools whose coordinator holds the role
        for account_id in ("a1", "a2"):
            self.assign(account_id)
        for school in SCHOOLS[:2]:  # start with two members, so grants and endings are common
            self.join(school)

    # -- helpers ---------------------------------------------------------------------------

    def membership(self, school_id: str):
        with self.store.unit_of_work() as uow:
            [m] = [m for m in uow.memberships.list(school_id=school_id) if m.trust_id == "t"]
        return m

    def write_assignment(self, before: RoleAssignment | None, after: RoleAssignment | None) -> None:
        with self.store.unit_of_work() as uow:
            if after is None:
                assert before is not None
                uow.assignments.remove(before.id)
            else:
                uow.assignments.put(after)
            uow.audit.append(
                record_event("assignment", before, after, at=self.clock.now(), actor_id=None)
            )
            uow.commit()

    def drop_school_grants(self, school_id: str) -> None:
        for grant_id in [g for g, mg in self.live.items() if mg.school_id == school_id]:
            del self.live[grant_id]

    # -- rules -----------------------------------------------------------------------------

    @rule(school=st.sampled_from(SCHOOLS))
    def invite(self, school: str) -> None:
        m = self.membership(school)
        if m.status in (
            MembershipStatus.LEFT,
            MembershipStatus.REMOVED,
            MembershipStatus.DECLINED,
            MembershipStatus.EXPIRED,
        ):
            with self.store.unit_of_work() as uow:
                school_record = uow.schools.require(school)
            m = self.life.add_school("t", school_record)
        if m.status is MembershipStatus.ACCEPTED:
            return
        if school not in self.coordinated:
            with pytest.raises(NotFoundError):  # nobody at the school to invite
                self.life.send_invitation(m.id)
            return
        self.life.send_invitation(m.id)

    @rule(school=st.sampled_from(SCHOOLS), decline=st.booleans())
    def answer(self, school: str, decline: bool) -> None:
        m = self.membership(school)
        if school not in self.coordinated:
            respond = self.life.decline_invitation if decline else self.life.accept_invitation
            with pytest.raises(AccessDeniedError):
                respond(m.id, actor_id=f"ac-{school}")
            assert m == self.membership(school)
            return
        try:
            if decline:
                self.life.decline_invitation(m.id, actor_id=f"ac-{school}")
            else:
                self.life.accept_invitation(m.id, actor_id=f"ac-{school}")
                self.members.add(school)
        except SchoolsyncError:
            assert m.status is not MembershipStatus.INVITATION_SENT or (
                m.invitation_expires_at is not None and m.invitation_expires_at <= self.clock.now()
            )

    @rule(
        hours=st.integers(min_value=1, max_value=24 * 20) | st.integers(min_value=1, max_value=12)
    )
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        now = self.clock.now()
        for grant_id in [
            g for g, mg in self.live.items() if mg.expires_at is not None and mg.expires_at <= now
        ]:
            del self.live[grant_id]

    @rule()
    def sweep(self) -> None:
        self.life.expire_invitations()
        self.life.expire_grants()

    @rule(school=st.sampled_from(SCHOOLS))
    def join(self, school: str) -> None:
        """Invite and accept in one step (so that members, and grants, are common)."""
        self.invite(school)
        self.answer(school, decline=False)

    @rule(
        data=st.data(),
        permissions=st.sets(st.sampled_from(PERMS), min_size=1),
        named=st.none() | st.sets(st.sampled_from(ADMINS), min_size=1),
        days=st.none() | st.integers(min_value=1, max_value=30),
    )
    def grant(
        self,
        data: st.DataObject,
        permissions: set[str],
        named: set[str] | None,
        days: int | None,
    ) -> None:
        if not self.members:
            return
        school = data.draw(st.sampled_from(sorted(self.members)))
        expires = None if days is None else self.clock.now() + timedelta(days=days)
        if school not in self.coordinated:
            with pytest.raises(AccessDeniedError):
                self.life.grant(
                    "t", school, permissions, actor_id=f"ac-{school}", account_ids=named
                )
            return
        g = self.life.grant(
            "t", school, permissions, actor_id=f"ac-{school}", account_ids=named, expires_at=expires
        )
        self.live[g.id] = ModelGrant(
            school, frozenset(permissions), None if named is None else frozenset(named), expires
        )

    @rule(school=st.sampled_from(SCHOOLS))
    def grant_without_membership(self, school: str) -> None:
        if school in self.members:
            return
        try:
            self.life.grant("t", school, set(PERMS), actor_id=f"ac-{school}")
        except SchoolsyncError:
            return
        raise AssertionError("a school that is not a member granted its trust access")

    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        if not self.live:
            return
        grant_id = data.draw(st.sampled_from(sorted(self.live)))
        school = self.live[grant_id].school_id
        if school not in self.coordinated:
            with pytest.raises(AccessDeniedError):
                self.life.revoke_grant(grant_id, actor_id=f"ac-{school}")
            return
        del self.live[grant_id]
        self.life.revoke_grant(grant_id, actor_id=f"ac-{school}")
        assert grant_id == self.listener.events[-1].grant_id  # hosts are told at once

    @rule(data=st.data())
    def narrow(self, data: st.DataObject) -> None:
        if not self.live:
            return
        grant_id = data.draw(st.sampled_from(sorted(self.live)))
        old = self.live[grant_id]
        permissions = data.draw(st.sets(st.sampled_from(sorted(old.permissions)), min_size=1))
        pool = sorted(old.account_ids) if old.account_ids is not None else list(ADMINS)
        accounts = data.draw(st.none() | st.sets(st.sampled_from(pool), min_size=1))
        if old.school_id not in self.coordinated:
            with pytest.raises(AccessDeniedError):
                self.life.narrow_grant(
                    grant_id, actor_id=f"ac-{old.school_id}", permissions=permissions
                )
            return
        new = self.life.narrow_grant(
            grant_id, actor_id=f"ac-{old.school_id}", permissions=permissions, account_ids=accounts
        )
        if new.id != grant_id:
            del self.live[grant_id]
            self.live[new.id] = ModelGrant(
                old.school_id, new.permissions, new.account_ids, old.expires_at
            )

    @rule(school=st.sampled_from(SCHOOLS), by_school=st.booleans())
    def end(self, school: str, by_school: bool) -> None:
        m = self.membership(school)
        try:
            if by_school:
                self.life.leave_trust(m.id, actor_id=f"ac-{school}")
            else:
                self.life.remove_school(m.id)
        except SchoolsyncError:
            return
        self.members.discard(school)
        self.drop_school_grants(school)

    @rule(account_id=st.sampled_from(ADMINS))
    def assign(self, account_id: str) -> None:
        if account_id in self.role_holders:
            return
        self.write_assignment(
            None,
            RoleAssignment(
                id=f"ra-{account_id}", account_id=account_id, trust_id="t", role="trust_admin"
            ),
        )
        self.role_holders.add(account_id)

    @rule(account_id=st.sampled_from(ADMINS))
    def unassign(self, account_id: str) -> None:
        if account_id not in self.role_holders:
            return
        with self.store.unit_of_work() as uow:
            before = uow.assignments.require(f"ra-{account_id}")
        self.write_assignment(before, None)
        self.role_holders.discard(account_id)

    @rule(school=st.sampled_from(SCHOOLS))
    def coordinator_role_changes(self, school: str) -> None:
        """The school's coordinator loses its role (or gets it back)."""
        assignment = RoleAssignment(
            id=f"ra-{school}",
            account_id=f"ac-{school}",
            trust_id="t",
            role="access_coordinator",
            school_id=school,
        )
        if school in self.coordinated:
            self.write_assignment(assignment, None)
            self.coordinated.discard(school)
        else:
            self.write_assignment(None, assignment)
            self.coordinated.add(school)

    @rule(account_id=st.sampled_from(ADMINS), active=st.booleans())
    def set_status(self, account_id: str, active: bool) -> None:
        status = AccountStatus.ACTIVE if active else AccountStatus.INACTIVE
        with self.store.unit_of_work() as uow:
            before = uow.accounts.require(account_id)
            after = attrs.evolve(before, status=status)
            uow.accounts.put(after)
            uow.audit.append(
                record_event("account", before, after, at=self.clock.now(), actor_id=None)
            )
            uow.commit()
        if active:
            self.inactive.discard(account_id)
        else:
            self.inactive.add(account_id)

    # -- invariants ------------------------------------------------------------------------

    def allowed_by_model(self, account_id: str, permission: str, school: str) -> bool:
        now = self.clock.now()
        return (
            account_id in self.role_holders
            and account_id not in self.inactive
            and school in self.members
            and any(
                g.school_id == school
                and permission in g.permissions
                and (g.account_ids is None or account_id in g.account_ids)
                and (g.expires_at is None or g.expires_at > now)
                for g in self.live.values()
            )
        )

    @invariant()
    def views_only_show_consenting_schools(self) -> None:
        now = self.clock.now()
        with self.store.unit_of_work() as uow:
            index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=now)
            for account_id in ADMINS:
                for permission in PERMS:
                    view = schools_in_view(
                        account_id, permission, uow=uow, at=now, role_permissions=ROLES
                    )
                    checked = schools_in_view(
                        account_id,
                        permission,
                        uow=uow,
                        at=now,
                        catalogue=CATALOGUE,
                        check=index.check,
                    )
                    expected = tuple(
                        s for s in SCHOOLS if self.allowed_by_model(account_id, permission, s)
                    )
                    assert expected == view.school_ids
                    assert expected == checked.school_ids
                    for s in SCHOOLS:
                        assert bool(index.check(account_id, permission, s)) == (s in expected)
                free = schools_in_view(
                    account_id,
                    FREE,
                    uow=uow,
                    at=now,
                    role_permissions=ROLES,
                    grant_free_permissions={FREE},
                )
                holder = account_id in self.role_holders and account_id not in self.inactive
                assert free.school_ids == (tuple(sorted(self.members)) if holder else ())

    @invariant()
    def live_grants_are_exactly_the_consented_ones(self) -> None:
        """Revoking, narrowing, leaving and removal end grants at once; nothing else does."""
        now = self.clock.now()
        with self.store.unit_of_work() as uow:
            live = {g.id: g for g in uow.grants.list() if g.is_live(now)}
        assert set(self.live) == set(live)
        for grant_id, model in self.live.items():
            assert (model.school_id, model.permissions, model.account_ids) == (
                live[grant_id].school_id,
                live[grant_id].permissions,
                live[grant_id].account_ids,
            )

    @invariant()
    def audit_replay_reproduces_state(self) -> None:
        with self.store.unit_of_work() as uow:
            state = replay_memberships_and_grants(uow.audit.events())
            assert {m.id: m for m in uow.memberships.list()} == state.memberships
            assert {g.id: g for g in uow.grants.list()} == state.grants


TrustMachine.TestCase.settings = settings(settings.default, stateful_step_count=25, deadline=None)
test_trust_lifecycle_machine = TrustMachine.TestCase
