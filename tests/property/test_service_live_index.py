"""The live index never drifts: after any sequence of changes made through one office, that
office's index and another office's (on the same store, catching up from the change log) give
every account exactly the access an index built from the store now gives."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schoolsync.access.index import AccessIndex
from schoolsync.access.presets import boost_insights
from schoolsync.clock import FixedClock
from schoolsync.errors import SchoolsyncError
from schoolsync.records import (
    Account,
    AccountStatus,
    Membership,
    MembershipStatus,
    RoleAssignment,
    School,
    Trust,
)
from schoolsync.service import TrustOffice
from schoolsync.testing.memory import MemoryStore

NOW = datetime(2026, 9, 1, 9, tzinfo=UTC)
SCHOOLS = ("s0", "s1", "s2")
ACCOUNTS = ("c0", "c1", "c2", "g0", "g1", "t0", "t1", "t2")


def _store() -> MemoryStore:
    """Three member schools with their Access Coordinators (c*), two Group Admins (g*) and
    three teachers-to-be (t*)."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="trust", name="Trust"))
        for n, school in enumerate(SCHOOLS):
            uow.schools.add(School(id=school, name=f"School {n}"))
            uow.memberships.add(
                Membership(
                    id=f"m-{school}",
                    trust_id="trust",
                    school_id=school,
                    status=MembershipStatus.ACCEPTED,
                )
            )
        for account in ACCOUNTS:
            uow.accounts.add(
                Account(
                    id=account,
                    trust_id="trust",
                    email=f"{account}@x.example",
                    name=account,
                    status=AccountStatus.ACTIVE,
                )
            )
        for n, school in enumerate(SCHOOLS):
            uow.assignments.add(
                RoleAssignment(
                    id=f"ac-{n}",
                    account_id=f"c{n}",
                    trust_id="trust",
                    role="Access Coordinator",
                    school_id=school,
                )
            )
        for n in range(2):
            uow.assignments.add(
                RoleAssignment(
                    id=f"ga-{n}", account_id=f"g{n}", trust_id="trust", role="Group Admin"
                )
            )
        uow.commit()
    return store


_steps = st.lists(
    st.tuples(
        st.sampled_from(["grant", "revoke", "teach", "unteach", "deactivate", "activate"]),
        st.integers(0, 2),
        st.integers(0, 2),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps)
def test_the_live_index_equals_a_fresh_build_after_any_changes(
    steps: list[tuple[str, int, int]],
) -> None:
    store = _store()
    clock = FixedClock(NOW)
    office = TrustOffice(store, catalogue=boost_insights(), clock=clock, max_staleness=0)
    other = TrustOffice(store, catalogue=boost_insights(), clock=clock, max_staleness=0)
    grants: dict[str, str] = {}
    for step, s, a in steps:
        school = SCHOOLS[s]
        try:
            if step == "grant":
                grant = office.trusts.grant(
                    "trust",
                    school,
                    ["users.manage"],
                    actor_id=f"c{s}",
                    account_ids=[f"g{a % 2}"],
                )
                grants[school] = grant.id
            elif step == "revoke" and school in grants:
                office.trusts.revoke_grant(grants.pop(school), actor_id=f"c{s}")
            elif step == "teach":
                office.assign_role(
                    actor_id=f"c{s}", account_id=f"t{a}", role="Teacher", school_id=school
                )
            elif step == "unteach":
                held = [
                    r
                    for r in office.index.assignments_of(f"t{a}")
                    if r.school_id == school and r.role == "Teacher"
                ]
                if held:
                    office.unassign_role(actor_id=f"c{s}", assignment_id=held[0].id)
            elif step in ("deactivate", "activate"):
                office.set_status(
                    actor_id=f"c{s}",
                    account_id=f"t{a}",
                    status="inactive" if step == "deactivate" else "active",
                )
        except SchoolsyncError:
            pass  # a refused change changes nothing; the indexes must still agree
    fresh = AccessIndex.from_store(boost_insights(), store, now=NOW)
    for account in ACCOUNTS:
        assert office.index.access_of(account) == fresh.access_of(account)
        assert other.index.access_of(account) == fresh.access_of(account)
    assert office.live.builds == 1
    assert other.live.builds == 1
