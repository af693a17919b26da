"""Trust-wide views and reports: only schools that said so, and the reasons for the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schoolsync.access import AccessIndex, Permission, Role, RoleCatalogue
from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.grants import Grant
from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.clock import FixedClock
from schoolsync.identifiers import Urn
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import Membership, MembershipStatus, School, Trust, TrustPolicy
from schoolsync.views import (
    ExclusionReason,
    comparison_report,
    gather,
    grant_gap,
    schools_in_view,
    trust_report,
    view_from_records,
)

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
ROLES = {"trust_admin": {"reports.school.view", "users.manage", "dashboards.view"}}
CATALOGUE = RoleCatalogue.build(
    [
        Permission(name="reports.school.view"),
        Permission(name="users.manage"),
        Permission(name="grants.manage"),
        Permission(name="dashboards.view", needs_grant=False),
    ],
    [
        Role(name="trust_admin", scope="trust", permissions=ROLES["trust_admin"]),
        Role(name="access_coordinator", scope="school", permissions={"grants.manage"}),
    ],
)


@pytest.fixture
def world() -> tuple[TrustLifecycle, MemoryStore, FixedClock]:
    """A trust with admin alice and four schools: granted, not granted, pending, left."""
    store = MemoryStore()
    clock = FixedClock(T0)
    life = TrustLifecycle(store, clock, RecordingNotifier())
    trust = life.create_trust(name="Oak Trust", trust_id="t1", designated_academy_trust=True)
    with store.unit_of_work() as uow:
        uow.accounts.add(
            Account(
                id="alice", trust_id="t1", email="a@x.org", name="A", status=AccountStatus.ACTIVE
            )
        )
        uow.assignments.add(
            RoleAssignment(id="ra", account_id="alice", trust_id=trust.id, role="trust_admin")
        )
        for school_id in ("granted", "silent", "pending", "gone"):
            uow.accounts.add(
                Account(
                    id=f"ac-{school_id}",
                    trust_id="t1",
                    email=f"{school_id}@x.org",
                    name="C",
                    status=AccountStatus.ACTIVE,
                )
            )
            uow.assignments.add(
                RoleAssignment(
                    id=f"ra-{school_id}",
                    account_id=f"ac-{school_id}",
                    trust_id="t1",
                    role="access_coordinator",
                    school_id=school_id,
                )
            )
        uow.commit()
    memberships = {}
    for n, school_id in enumerate(("granted", "silent", "pending", "gone")):
        m = life.add_school("t1", School(id=school_id, name=school_id, urn=Urn(f"10000{n}")))
        memberships[school_id] = m.id
        life.send_invitation(m.id)
        if school_id != "pending":
            life.accept_invitation(m.id, actor_id=f"ac-{school_id}")
    life.grant("t1", "granted", {"reports.school.view"}, actor_id="ac-granted")
    life.grant("t1", "gone", {"reports.school.view"}, actor_id="ac-gone")
    life.leave_trust(memberships["gone"], actor_id="ac-gone")
    return life, store, clock


class TestSchoolsInView:
    def test_only_the_granting_member_school_is_in_view(self, world) -> None:
        """Each school left out carries its reason: no grant, invitation pending, not a member."""
        _, store, clock = world
        with store.unit_of_work() as uow:
            view = schools_in_view(
                "alice", "reports.school.view", uow=uow, at=clock.now(), role_permissions=ROLES
            )

        assert ("granted",) == view.school_ids
        assert ExclusionReason.NO_GRANT == view.reason_for("silent")
        assert ExclusionReason.INVITATION_PENDING == view.reason_for("pending")
        assert ExclusionReason.NOT_A_MEMBER == view.reason_for("gone")

    def test_revocation_takes_effect_at_once(self, world) -> None:
        """The next view after a revocation leaves the school out."""
        life, store, clock = world
        with store.unit_of_work() as uow:
            [grant] = uow.grants.list(school_id="granted")
        life.revoke_grant(grant.id, actor_id="ac-granted")

        with store.unit_of_work() as uow:
            view = schools_in_view(
                "alice", "reports.school.view", uow=uow, at=clock.now(), role_permissions=ROLES
            )
        assert () == view.school_ids
        assert "revoked" in next(e.detail for e in view.excluded if e.school_id == "granted")

    def test_permission_outside_the_grant_is_not_in_view(self, world) -> None:
        """A grant of reports does not let the trust manage users."""
        _, store, clock = world
        with store.unit_of_work() as uow:
            view = schools_in_view(
                "alice", "users.manage", uow=uow, at=clock.now(), role_permissions=ROLES
            )

        assert () == view.school_ids
        assert ExclusionReason.NO_GRANT == view.reason_for("granted")

    def test_account_without_the_trust_role_sees_nothing(self, world) -> None:
        """The grant is a ceiling, not a source: without the role there is no access."""
        _, store, clock = world
        with store.unit_of_work() as uow:
            view = schools_in_view(
                "alice", "reports.school.view", uow=uow, at=clock.now(), role_permissions={}
            )

        assert ExclusionReason.NO_ROLE == view.reason_for("granted")

    def test_academy_designation_switch(self) -> None:
        """With the switch on, a trust not designated as an academy trust has no trust-wide views."""
        trust = Trust(id="t", name="Group", designated_academy_trust=False)
        account = Account(id="a", trust_id="t", email="", name="", status=AccountStatus.ACTIVE)
        memberships = [
            Membership(id="m", trust_id="t", school_id="s", status=MembershipStatus.ACCEPTED)
        ]
        grants = [Grant(id="g", trust_id="t", school_id="s", permissions={"p.view"})]

        def view(policy: TrustPolicy):
            return view_from_records(
                account,
                "p.view",
                trust=trust,
                memberships=memberships,
                grants=grants,
                at=T0,
                trust_permissions={"p.view"},
                policy=policy,
            )

        assert ("s",) == view(TrustPolicy()).school_ids
        switched = view(TrustPolicy(views_need_academy_designation=True))
        assert ExclusionReason.VIEWS_NOT_OFFERED == switched.reason_for("s")

    def test_grant_free_permission_needs_membership_only(self, world) -> None:
        """A permission the catalogue marks as needing no grant is in view at every member school."""
        _, store, clock = world
        with store.unit_of_work() as uow:
            view = schools_in_view(
                "alice", "dashboards.view", uow=uow, at=clock.now(), catalogue=CATALOGUE
            )

        assert ("granted", "silent") == view.school_ids

    def test_agrees_with_the_access_index_check(self, world) -> None:
        """With the roles issue's AccessIndex.check plugged in, the view is the same."""
        _, store, clock = world
        with store.unit_of_work() as uow:
            index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=clock.now())
            for permission in ("reports.school.view", "users.manage", "dashboards.view"):
                plain = schools_in_view(
                    "alice", permission, uow=uow, at=clock.now(), catalogue=CATALOGUE
                )
                checked = schools_in_view(
                    "alice",
                    permission,
                    uow=uow,
                    at=clock.now(),
                    catalogue=CATALOGUE,
                    check=index.check,
                )
                allowed = tuple(
                    s
                    for s in ("granted", "silent", "pending", "gone")
                    if index.check("alice", permission, s)
                )

                assert plain.school_ids == checked.school_ids == allowed


class TestReports:
    def test_providers_of_schools_out_of_view_are_never_called(self, world) -> None:
        """The helper asks only visible schools for data and lists the rest with reasons."""
        _, store, clock = world
        called: list[str] = []

        def provider(school_id: str) -> dict[str, int]:
            called.append(school_id)
            return {"pupils": 100}

        with store.unit_of_work() as uow:
            report = trust_report(
                "alice",
                "reports.school.view",
                provider,
                uow=uow,
                at=clock.now(),
                role_permissions=ROLES,
            )

        assert ["granted"] == called
        assert [{"school_id": "granted", "pupils": 100}] == report.to_rows()
        assert {"silent", "pending", "gone"} == {r["school_id"] for r in report.excluded_rows()}

    @pytest.mark.parametrize("with_check", [False, True])
    def test_comparison_report_with_grants_required_never_calls_a_school_that_did_not_grant(
        self, world, with_check: bool
    ) -> None:
        """With ``grants_required``, a comparison over a permission the host lets trust roles
        use without a grant still asks only the granting school for data: the host's provider,
        which would answer for every school, is never called for the member that did not grant,
        the pending school or the school that left (even when the host's own check would allow
        the member)."""
        life, store, clock = world
        life.grant("t1", "granted", {"dashboards.view"}, actor_id="ac-granted")
        called: list[str] = []

        def provider(school_id: str) -> dict[str, int]:
            called.append(school_id)
            return {"score": 1}  # the host has data for every school

        with store.unit_of_work() as uow:
            index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=clock.now())
            assert index.check("alice", "dashboards.view", "silent")  # no grant needed there
            report = comparison_report(
                "alice",
                "dashboards.view",
                provider,
                uow=uow,
                at=clock.now(),
                catalogue=CATALOGUE,
                check=index.check if with_check else None,
                grants_required=True,
            )
            plain = trust_report(
                "alice",
                "dashboards.view",
                lambda s: s,
                uow=uow,
                at=clock.now(),
                catalogue=CATALOGUE,
            )

        assert ["granted"] == called
        assert ["granted"] == list(report.results)
        assert {"granted", "silent"} == set(plain.results)  # an ordinary view shows both
        assert ExclusionReason.NO_GRANT == report.view.reason_for("silent")
        assert ExclusionReason.INVITATION_PENDING == report.view.reason_for("pending")
        assert ExclusionReason.NOT_A_MEMBER == report.view.reason_for("gone")

    def test_comparison_report_drops_a_school_once_it_revokes(self, world) -> None:
        """Revocation is immediate: the next comparison does not call the revoking school."""
        life, store, clock = world
        with store.unit_of_work() as uow:
            [grant] = [g for g in uow.grants.list(school_id="granted") if g.revoked_at is None]
        providers = {s: (lambda s=s: called.append(s)) for s in ("granted", "silent", "pending")}
        called: list[str] = []
        life.revoke_grant(grant.id, actor_id="ac-granted")

        with store.unit_of_work() as uow:
            report = comparison_report(
                "alice",
                "reports.school.view",
                providers,
                uow=uow,
                at=clock.now(),
                catalogue=CATALOGUE,
            )

        assert [] == called
        assert {} == dict(report.results)

    def test_school_without_a_provider_is_reported_as_no_data(self, world) -> None:
        """A visible school with no data provider is left out, with the reason."""
        _, store, clock = world
        with store.unit_of_work() as uow:
            view = schools_in_view(
                "alice", "reports.school.view", uow=uow, at=clock.now(), role_permissions=ROLES
            )

        report = gather(view, {})

        assert {} == dict(report.results)
        assert ExclusionReason.NO_DATA in {e.reason for e in report.excluded}


class TestGrantGap:
    def test_names_the_most_specific_gap(self) -> None:
        """Expired, revoked, outside scope and none are told apart."""
        expired = Grant(id="g1", trust_id="t", school_id="s", permissions={"p"}, expires_at=T0)
        revoked = Grant(id="g2", trust_id="t", school_id="s", permissions={"p"}, revoked_at=T0)
        other = Grant(id="g3", trust_id="t", school_id="s", permissions={"q"})
        later = T0 + timedelta(hours=1)

        assert "expired" in grant_gap([expired], "a", "p", later)
        assert "revoked" in grant_gap([revoked], "a", "p", later)
        assert "outside" in grant_gap([other], "a", "p", later)
        assert "not granted" in grant_gap([], "a", "p", later)
