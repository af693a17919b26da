"""The five product presets replay what their help pages state (see docs/presets.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schoolsync.access import AccessAdmin, AccountStatus, RoleScope
from schoolsync.access.presets import (
    PRESETS,
    boost_insights,
    fft_aspire,
    hodder_admin_hub,
    progress_teaching,
    schoot,
)
from schoolsync.errors import AccessDeniedError, CapExceededError, RoleRequirementError
from schoolsync.testing.assertions import assert_allowed, assert_denied
from schoolsync.testing.world import world

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_round_trips(name: str) -> None:
    """Each preset is a valid catalogue whose TOML/JSON form rebuilds the same catalogue."""
    from schoolsync.access import RoleCatalogue

    cat = PRESETS[name]()

    assert cat.to_dict() == RoleCatalogue.from_dict(cat.to_dict()).to_dict()


class TestProgressTeaching:
    """Progress Teaching: 5 trust roles, 5 school roles; leader areas follow the role names."""

    def test_five_trust_and_five_school_roles(self) -> None:
        """The catalogue has exactly the documented roles."""
        cat = progress_teaching()

        trust = {n for n, r in cat.roles.items() if r.scope is RoleScope.TRUST}
        school = {n for n, r in cat.roles.items() if r.scope is RoleScope.SCHOOL}
        assert {
            "Trust Admin",
            "Trust Leader Appraisal",
            "Trust Leader Coaching",
            "Trust Leader Feedback",
            "Trust Report Viewer",
        } == trust
        assert {
            "Admin",
            "School Leader Appraisal",
            "School Leader Coaching",
            "School Leader Feedback",
            "Staff",
        } == school

    def test_trust_roles(self) -> None:
        """Trust Admin edits settings anywhere and deletes records but cannot give feedback
        without Staff; leaders see their own area (the source swaps Coaching and Feedback:
        we follow the names); the Report Viewer sees dashboards, no staff records."""
        w = (
            world(progress_teaching(), now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("admin")
            .account("coach")
            .account("fb")
            .account("viewer")
            .role("admin", "Trust Admin")
            .role("coach", "Trust Leader Coaching")
            .role("fb", "Trust Leader Feedback")
            .role("viewer", "Trust Report Viewer")
        )
        index = w.index()

        assert_allowed(index, "admin", "settings.edit", "S1")
        assert_allowed(index, "admin", "feedback.records.delete", "S1")
        assert_denied(index, "admin", "feedback.give", "S1", reason="no_role")
        assert_allowed(index, "coach", "coaching.records.view", "S1")
        assert_denied(index, "coach", "feedback.records.view", "S1")
        assert_allowed(index, "fb", "feedback.records.view", "S1")
        assert_denied(index, "fb", "coaching.records.view", "S1")
        assert_denied(index, "coach", "settings.edit", "S1")
        assert_allowed(index, "viewer", "dashboards.view", "S1")
        assert_denied(index, "viewer", "appraisal.records.view", "S1")

    def test_staff_and_inactive(self) -> None:
        """Staff give and receive feedback and see dashboards; Make User Inactive denies all."""
        w = (
            world(progress_teaching(), now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("s")
            .role("s", "Staff", at="S1")
        )
        index = w.index()
        assert_allowed(index, "s", "feedback.give", "S1")
        assert_denied(index, "s", "appraisal.records.view", "S1")

        AccessAdmin(index).set_status(
            actor_id=None, account_id="s", status=AccountStatus.INACTIVE, at=NOW
        )

        assert_denied(index, "s", "dashboards.view", "S1", reason="inactive")


def fft_school(accounts: int) -> AccessAdmin:
    """An FFT Aspire school S1 with accounts u0, u1, ... and no roles yet."""
    w = world(fft_aspire(), now=NOW).trust("T").school("S1", in_trust="T")
    for i in range(accounts):
        w.account(f"u{i}")
    return AccessAdmin(w.index())


def give(admin: AccessAdmin, account: str, role: str, actor: str | None = None) -> None:
    """Assign *role* at S1 (as the system unless *actor* is given)."""
    admin.assign(actor_id=actor, account_id=account, role=role, school_id="S1", at=NOW)


SETUP = "School setup & Pupil Tracking"


class TestFftAspire:
    """FFT Aspire: caps 4 and 6, dependent report permissions, pending users."""

    def test_caps_and_dependencies(self) -> None:
        """At most 4 setup admins (implying Manage data); pupil-level data needs school reports."""
        admin = fft_school(8)
        for i in range(4):
            give(admin, f"u{i}", SETUP)

        with pytest.raises(CapExceededError) as info:
            give(admin, "u4", SETUP)
        assert_allowed(admin.index, "u0", "data.manage", "S1")
        with pytest.raises(RoleRequirementError):
            give(admin, "u5", "View pupil-level data", actor="u0")
        assert ("u0", "u1", "u2", "u3") == info.value.holders
        assert 4 == info.value.cap

    def test_manage_data_cap_of_six_counts_setup_admins(self) -> None:
        """Manage data holds at most 6 per school, setup admins (who imply it) included; the
        refusal names the current holders."""
        admin = fft_school(8)
        for i in range(2):
            give(admin, f"u{i}", SETUP)
        for i in range(2, 6):
            give(admin, f"u{i}", "Manage data")

        with pytest.raises(CapExceededError) as info:
            give(admin, "u6", "Manage data")
        with pytest.raises(CapExceededError):  # a setup admin would be a seventh data manager
            give(admin, "u6", SETUP)
        assert ("u0", "u1", "u2", "u3", "u4", "u5") == info.value.holders
        assert 6 == info.value.cap

    def test_report_permissions_depend_on_school_level_reports(self) -> None:
        """Pupil-level data and any Collaborate group need View school-level reports first;
        once it is held both can be given, and it cannot then be taken away from under them."""
        admin = fft_school(1)

        for role in ("View pupil-level data", "View any Collaborate group"):
            with pytest.raises(RoleRequirementError, match="requires 'View school-level reports'"):
                give(admin, "u0", role)
        give(admin, "u0", "View school-level reports")
        for role in ("View pupil-level data", "View any Collaborate group"):
            give(admin, "u0", role)

        assert_allowed(admin.index, "u0", "reports.pupil_level.view", "S1")
        assert_allowed(admin.index, "u0", "collaborate.groups.view_any", "S1")
        (base,) = [a for a in admin.index.assignments_of("u0") if a.role.startswith("View school")]
        with pytest.raises(RoleRequirementError):
            admin.unassign(actor_id=None, assignment_id=base.id, at=NOW)

    def test_pending_users_are_denied(self) -> None:
        """A new user waits in Pending users (denied) until activated."""
        w = (
            world(fft_aspire(), now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("p", status="pending")
            .role("p", "View school-level reports", at="S1")
        )

        assert_denied(w.index(), "p", "reports.school.view", "S1", reason="inactive")


class TestBoostInsights:
    """Boost Insights: two group admins; Access Coordinators tick each admin's permissions."""

    def boost(self) -> object:
        return (
            world(boost_insights(), now=NOW)
            .trust("G", name="Group")
            .school("S1", name="Oakfield Primary", in_trust="G")
            .school("S2", name="Elm", in_trust="G", status="invitation_sent")
            .account("ga1")
            .account("ga2")
            .account("ac1")
            .role("ga1", "Group Admin")
            .role("ac1", "Access Coordinator", at="S1")
        )

    def test_reports_after_acceptance_users_only_when_ticked(self) -> None:
        """After acceptance a group admin sees reports; user management needs the tick."""
        w = self.boost()
        index = w.index()  # type: ignore[attr-defined]

        assert_allowed(index, "ga1", "reports.school.view", "S1")
        assert_denied(index, "ga1", "reports.school.view", "S2", reason="school_not_in_trust")
        denied = assert_denied(index, "ga1", "users.manage", "S1", reason="no_grant")
        assert denied.missing is not None
        assert ("ac1",) == denied.missing.accounts
        assert_allowed(index, "ga1", "trust.reports.compare")

    def test_admin_added_later_gets_nothing_until_ticked(self) -> None:
        """The coordinator's tick names admins; one added later needs a new tick."""
        w = self.boost().grant("S1", ["users.manage"], accounts=["ga1"])  # type: ignore[attr-defined]
        w.role("ga2", "Group Admin")
        index = w.index()

        assert_allowed(index, "ga1", "users.manage", "S1")
        assert_denied(index, "ga2", "users.manage", "S1", reason="no_grant")
        w.grant("S1", ["users.manage"], accounts=["ga2"])
        assert_allowed(w.index(), "ga2", "users.manage", "S1")

    def test_two_admins_and_one_coordinator(self) -> None:
        """A third group admin and a second coordinator are refused."""
        w = self.boost().role("ga2", "Group Admin").account("x")  # type: ignore[attr-defined]
        admin = AccessAdmin(w.index())

        with pytest.raises(CapExceededError):
            admin.assign(actor_id=None, account_id="x", role="Group Admin", at=NOW)
        with pytest.raises(CapExceededError):
            admin.assign(
                actor_id=None, account_id="x", role="Access Coordinator", school_id="S1", at=NOW
            )


class TestSchoot:
    """Schoot: Admin role plus each school's grant; admins promote members."""

    def test_course_progress_needs_admin_and_grant(self) -> None:
        """Only Administrators see course progress, and only at schools that granted it."""
        w = (
            world(schoot(), now=NOW)
            .trust("M", designated=True)
            .school("S1", in_trust="M")
            .school("S2", in_trust="M")
            .account("boss")
            .account("mem")
            .role("boss", "Administrator")
            .role("mem", "Member")
            .grant("S1", ["course_progress.view"])
        )
        index = w.index()

        assert ("S1",) == index.schools_with("boss", "course_progress.view")
        assert_denied(index, "boss", "course_progress.view", "S2", reason="no_grant")
        assert_denied(index, "mem", "course_progress.view", "S1", reason="no_role")

    def test_undesignated_organisation_gets_no_trust_wide_view(self) -> None:
        """Without the academy-trust designation no school's course progress is visible,
        even with a grant; designating the trust turns the view on at once."""
        w = (
            world(schoot(), now=NOW)
            .trust("O", designated=False)
            .school("S1", in_trust="O")
            .account("boss")
            .role("boss", "Administrator")
            .grant("S1", ["course_progress.view"])
        )
        index = w.index()

        denied = assert_denied(index, "boss", "course_progress.view", "S1", reason="not_designated")
        assert denied.missing is not None
        assert "designation" == denied.missing.kind
        assert () == index.schools_with("boss", "course_progress.view")
        w.trust("O", designated=True)
        index.apply(w.events[-1])
        assert ("S1",) == index.schools_with("boss", "course_progress.view")

    def test_any_administrator_promotes_a_member(self) -> None:
        """An Administrator gives Admin rights to a Member; a Member cannot."""
        w = (
            world(schoot(), now=NOW)
            .trust("M")
            .account("boss")
            .account("mem")
            .account("other")
            .role("boss", "Administrator")
            .role("mem", "Member")
            .role("other", "Member")
        )
        admin = AccessAdmin(w.index())

        with pytest.raises(AccessDeniedError):
            admin.assign(actor_id="other", account_id="mem", role="Administrator", at=NOW)
        admin.assign(actor_id="boss", account_id="mem", role="Administrator", at=NOW)
        assert_allowed(admin.index, "mem", "users.manage")


class TestHodderAdminHub:
    """Hodder Admin Hub: only the Access Co-ordinator sets up the MIS connection."""

    def test_only_the_access_coordinator_configures_mis_sync(self) -> None:
        """Administrators and teachers cannot configure the MIS sync; the coordinator can."""
        w = (
            world(hodder_admin_hub(), now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("ac")
            .account("adm")
            .account("t")
            .role("ac", "Access Co-ordinator", at="S1")
            .role("adm", "Administrator", at="S1")
            .role("t", "Teacher", at="S1")
        )
        index = w.index()

        assert ("ac",) == index.accounts_with("mis_sync.configure", "S1")
        assert_denied(index, "adm", "mis_sync.configure", "S1", reason="no_role")
        assert_allowed(index, "adm", "users.manage", "S1")
        assert_allowed(index, "ac", "reports.school.view", "S1")

    def test_no_other_role_carries_mis_sync_and_there_is_one_coordinator(self) -> None:
        """mis_sync.configure belongs to the Access Co-ordinator alone (no role implies it
        from below), and a school has exactly one Access Co-ordinator."""
        cat = hodder_admin_hub()
        w = (
            world(cat, now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("ac")
            .account("x")
            .role("ac", "Access Co-ordinator", at="S1")
        )
        admin = AccessAdmin(w.index())

        assert ("Access Co-ordinator",) == cat.roles_granting("mis_sync.configure")
        with pytest.raises(CapExceededError) as info:
            admin.assign(
                actor_id=None, account_id="x", role="Access Co-ordinator", school_id="S1", at=NOW
            )
        assert ("ac",) == info.value.holders
