"""A Boost-style group comparison report works with the Boost Insights preset exactly as
shipped (issue 13): group admins see their schools' reports by membership alone, so a group
whose Access Coordinators only ticked user-management permissions still compares every member
school (it used to need a live grant for the membership-only report permission, and a real
Boost group got an empty comparison)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schoolsync.access.presets import BOOST_INSIGHTS_TOML, boost_insights
from schoolsync.testing.world import World, world
from schoolsync.views import ExclusionReason, comparison_report

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def boost_group() -> World:
    """A Boost group as the help pages set it up: two member schools (one ticked a group
    admin's user-management permissions, the other nothing), one still invited."""
    catalogue = boost_insights()
    assert catalogue.to_dict() == type(catalogue).from_toml(BOOST_INSIGHTS_TOML).to_dict()
    return (
        world(catalogue, now=NOW)
        .trust("G", name="Oak Group")
        .school("S1", name="Oakfield Primary", in_trust="G")
        .school("S2", name="Elm Academy", in_trust="G")
        .school("S3", name="Ash Primary", in_trust="G", status="invitation_sent")
        .account("ga1")
        .account("ga2")
        .account("ac1")
        .account("staff")
        .role("ga1", "Group Admin")
        .role("ga2", "Group Admin")
        .role("ac1", "Access Coordinator", at="S1")
        .role("staff", "Teacher", at="S1")
        .grant("S1", ["users.manage", "users.invite"], accounts=["ga1"])  # the coordinator's ticks
    )


@pytest.mark.parametrize("how", ["catalogue", "check"])
def test_group_admins_compare_every_member_school(how: str) -> None:
    """Both group admins (ticked or not) compare both member schools; only the invited school
    is left out, and its provider is never called."""
    w = boost_group()
    index = w.index()
    for admin in ("ga1", "ga2"):
        called: list[str] = []

        def provider(school_id: str, called: list[str] = called) -> dict[str, float]:
            called.append(school_id)
            return {"reading": 0.7}

        with w.store().unit_of_work() as uow:
            report = comparison_report(
                admin,
                "reports.school.view",
                provider,
                uow=uow,
                at=NOW,
                compare_permission="trust.reports.compare",
                **(
                    {"catalogue": boost_insights()}
                    if how == "catalogue"
                    else {"check": index.check}
                ),
            )

        assert ["S1", "S2"] == sorted(report.results) == sorted(called)
        assert ExclusionReason.INVITATION_PENDING is report.view.reason_for("S3")
        # The report agrees with the checks school by school.
        for school in ("S1", "S2", "S3"):
            allowed = bool(index.check(admin, "reports.school.view", school))
            assert allowed is (school in report.results)


def test_only_accounts_that_may_compare_get_a_comparison() -> None:
    """A teacher (no trust role, so no ``trust.reports.compare``) gets nothing, and no
    provider is asked."""
    w = boost_group()
    called: list[str] = []
    with w.store().unit_of_work() as uow:
        report = comparison_report(
            "staff",
            "reports.school.view",
            called.append,
            uow=uow,
            at=NOW,
            catalogue=boost_insights(),
            compare_permission="trust.reports.compare",
        )

    assert ([], {}) == (called, dict(report.results))
    assert ExclusionReason.NO_ROLE is report.view.reason_for("S1")


def test_a_permission_that_needs_the_tick_is_compared_only_where_ticked() -> None:
    """User management needs the coordinator's tick: ga1 compares Oakfield only, ga2 none."""
    w = boost_group()
    with w.store().unit_of_work() as uow:
        ticked = comparison_report(
            "ga1", "users.manage", str, uow=uow, at=NOW, catalogue=boost_insights()
        )
        unticked = comparison_report(
            "ga2", "users.manage", str, uow=uow, at=NOW, catalogue=boost_insights()
        )

    assert ["S1"] == list(ticked.results)
    assert ExclusionReason.NO_GRANT is ticked.view.reason_for("S2")
    assert [] == list(unticked.results)


def test_a_host_may_still_ask_each_school_to_consent_to_comparisons() -> None:
    """``grants_required=True`` keeps the stricter rule: no school granted the reports, so
    none is compared."""
    w = boost_group()
    with w.store().unit_of_work() as uow:
        report = comparison_report(
            "ga1",
            "reports.school.view",
            str,
            uow=uow,
            at=NOW,
            catalogue=boost_insights(),
            grants_required=True,
        )

    assert {} == dict(report.results)
    assert ExclusionReason.NO_GRANT is report.view.reason_for("S1")
