"""The designation rule (Schoot: only organisations designated as academy trusts get
trust-wide views) is ONE switch, used by checks and views alike, and a denial for it says
"designation", never "no grant" (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schoolsync.access import DenialReason
from schoolsync.access.presets import boost_insights, schoot
from schoolsync.access.rules import designation_required
from schoolsync.testing.assertions import assert_denied
from schoolsync.testing.world import World, world
from schoolsync.trusts import TrustPolicy
from schoolsync.views import ExclusionReason, comparison_report, schools_in_view

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def schoot_org(designated: bool) -> World:
    """A Schoot organisation: two schools, both granting course progress; one Administrator."""
    return (
        world(schoot(), now=NOW)
        .trust("O", designated=designated)
        .school("S1", in_trust="O")
        .school("S2", in_trust="O")
        .account("boss")
        .role("boss", "Administrator")
        .grant("S1", ["course_progress.view"])
        .grant("S2", ["course_progress.view"])
    )


def test_an_undesignated_organisation_is_denied_for_designation_not_for_a_grant() -> None:
    """Both schools granted, so the only thing missing is the designation: the decision says
    so in its reason and its explanation."""
    index = schoot_org(designated=False).index()

    denied = assert_denied(index, "boss", "course_progress.view", "S1")

    assert DenialReason.NOT_DESIGNATED is denied.reason
    assert denied.missing is not None
    assert "designation" == denied.missing.kind
    assert "(not_designated)" in denied.explain()
    assert "has not granted" not in denied.explain()


@pytest.mark.parametrize("designated", [False, True])
@pytest.mark.parametrize("how", ["catalogue", "check"])
def test_views_follow_the_catalogue_switch_like_checks(designated: bool, how: str) -> None:
    """The view takes the switch from the catalogue it is given (or the one an index's check
    brings), with the host's default policy: it agrees with the checks school by school, and
    an excluded school says ``NOT_DESIGNATED``."""
    w = schoot_org(designated)
    index = w.index()
    store = w.store()
    with store.unit_of_work() as uow:
        view = schools_in_view(
            "boss",
            "course_progress.view",
            uow=uow,
            at=NOW,
            **({"catalogue": schoot()} if how == "catalogue" else {"check": index.check}),
        )

    for school in ("S1", "S2"):
        assert bool(index.check("boss", "course_progress.view", school)) is view.includes(school)
        expected = None if designated else ExclusionReason.NOT_DESIGNATED
        assert expected is view.reason_for(school)


def test_designating_the_organisation_turns_checks_and_views_on_together() -> None:
    """One switch, one fact: once the trust is designated both answer yes."""
    w = schoot_org(designated=False)
    w.trust("O", designated=True)

    index = w.index()
    with w.store().unit_of_work() as uow:
        view = schools_in_view("boss", "course_progress.view", uow=uow, at=NOW, catalogue=schoot())

    assert ("S1", "S2") == index.schools_with("boss", "course_progress.view")
    assert ("S1", "S2") == view.school_ids


def test_a_policy_contradicting_the_catalogue_is_refused() -> None:
    """A host cannot switch designation on for views only while the catalogue's checks ignore
    it: the two switches would disagree, so the view refuses to answer."""
    w = (
        world(boost_insights(), now=NOW)
        .trust("G")
        .school("S1", in_trust="G")
        .account("ga")
        .role("ga", "Group Admin")
    )
    policy = TrustPolicy(views_need_academy_designation=True)

    with pytest.raises(ValueError, match="one switch"):
        designation_required(boost_insights(), views_switch=True)
    with w.store().unit_of_work() as uow, pytest.raises(ValueError, match="one switch"):
        schools_in_view(
            "ga", "reports.school.view", uow=uow, at=NOW, catalogue=boost_insights(), policy=policy
        )
    # Switches that agree, and the policy alone for a host without a catalogue, are fine.
    assert designation_required(schoot(), views_switch=True)
    assert designation_required(None, views_switch=True)
    assert not designation_required(None)


def test_a_comparison_in_an_undesignated_organisation_says_designation() -> None:
    """A report helper leaves every school out for the designation, not for a grant."""
    w = schoot_org(designated=False)
    with w.store().unit_of_work() as uow:
        report = comparison_report(
            "boss", "course_progress.view", lambda s: s, uow=uow, at=NOW, catalogue=schoot()
        )

    assert {} == dict(report.results)
    assert {"not_designated"} == {row["reason"] for row in report.excluded_rows()}


def test_the_older_exclusion_name_still_reads() -> None:
    """``VIEWS_NOT_OFFERED`` (and its stored value) is the designation exclusion."""
    assert ExclusionReason.VIEWS_NOT_OFFERED is ExclusionReason.NOT_DESIGNATED
    assert ExclusionReason("views_not_offered") is ExclusionReason.NOT_DESIGNATED
