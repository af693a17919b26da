"""Property: a bulk edit is refused exactly when the same single edit through AccessAdmin is."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import event, given
from hypothesis import strategies as st

from schoolsync.access import AccessIndex
from schoolsync.access.admin import AccessAdmin
from schoolsync.access.presets import boost_insights, fft_aspire, progress_teaching
from schoolsync.bulk import CatalogueChecks, edit_selection
from schoolsync.errors import SchoolsyncError
from schoolsync.testing.world import world

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CATALOGUES = {"pt": progress_teaching(), "fft": fft_aspire(), "boost": boost_insights()}
SCHOOLS = ("s1", "s2")
ACCOUNTS = ("a1", "a2", "a3", "a4")


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, object, str | None, str, str, str | None]:
    name = draw(st.sampled_from(sorted(CATALOGUES)))
    catalogue = CATALOGUES[name]
    roles = sorted(catalogue.roles)
    w = world(catalogue, now=NOW).trust("T")
    for school in SCHOOLS:
        w = w.school(school, in_trust="T")
    for account in ACCOUNTS:
        w = w.account(account)
    given_roles: set[tuple[str, str, str | None]] = set()
    for _ in range(draw(st.integers(0, 8))):
        account = draw(st.sampled_from(ACCOUNTS))
        role = draw(st.sampled_from(roles))
        school = (
            None if catalogue.roles[role].scope.value == "trust" else draw(st.sampled_from(SCHOOLS))
        )
        if (account, role, school) not in given_roles:
            given_roles.add((account, role, school))
            w = w.role(account, role, at=school)
    if draw(st.booleans()):
        perms = sorted(catalogue.permissions)
        w = w.grant(
            draw(st.sampled_from(SCHOOLS)), draw(st.sets(st.sampled_from(perms), min_size=1))
        )
    actor = draw(st.sampled_from([None, *ACCOUNTS]))
    target = draw(st.sampled_from(ACCOUNTS))
    role = draw(st.sampled_from(roles))
    school = draw(st.sampled_from([None, *SCHOOLS]))
    if (target, role, school) in given_roles:
        school = "s2" if school == "s1" else "s1"  # never re-give a held role
        if (target, role, school) in given_roles:
            school = None if (target, role, None) not in given_roles else school
    return name, w, actor, target, role, school


@given(case=cases())
def test_bulk_refuses_exactly_what_a_single_edit_refuses(case: tuple) -> None:  # type: ignore[type-arg]
    """edit_selection adding one role has a problem iff AccessAdmin.assign raises for it."""
    name, w, actor, target, role, school = case
    catalogue = CATALOGUES[name]
    store = w.store()  # type: ignore[attr-defined]
    with store.unit_of_work() as uow:
        held = {(a.account_id, a.role, a.school_id) for a in uow.assignments.list()}
        index = AccessIndex.from_unit_of_work(catalogue, uow, now=NOW)
    if (target, role, school) in held:
        return  # a held role is no change for bulk and a duplicate for single edits
    try:
        AccessAdmin(index).assign(
            actor_id=actor, account_id=target, role=role, school_id=school, at=NOW
        )
        single_ok = True
    except SchoolsyncError:
        single_ok = False
    change_set = edit_selection(
        store,
        "T",
        [target],
        checks=CatalogueChecks(catalogue),
        at=NOW,
        add=[(role, school)],
        actor_id=actor,
    )
    event(f"single edit allowed: {single_ok}")
    assert single_ok == change_set.ok, (change_set.problem_rows(), single_ok)
    assert single_ok == (len(change_set.roles_to_add) == 1 and change_set.ok)
