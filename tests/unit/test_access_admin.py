"""AccessAdmin: caps, delegation without escalation, requirements, edit rules and audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schoolsync.access import AccessAdmin, Account, AccountStatus
from schoolsync.access.presets import boost_insights, fft_aspire, hodder_admin_hub
from schoolsync.errors import (
    AccessDeniedError,
    CapExceededError,
    DuplicateRecordError,
    RoleRequirementError,
)
from schoolsync.testing.assertions import assert_allowed, assert_denied
from schoolsync.testing.world import world

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def fft_admin() -> AccessAdmin:
    w = world(fft_aspire(), now=NOW).trust("T").school("S1", in_trust="T")
    for name in ("boss", "a1", "a2", "a3", "a4", "a5", "m1", "m2", "m3"):
        w.account(name)
    w.role("boss", "School setup & Pupil Tracking", at="S1")
    return AccessAdmin(w.index())


def test_cap_names_current_holders() -> None:
    """A fifth School setup holder is refused, naming the four who hold it."""
    admin = fft_admin()
    for name in ("a1", "a2", "a3"):
        admin.assign(
            actor_id=None,
            account_id=name,
            role="School setup & Pupil Tracking",
            school_id="S1",
            at=NOW,
        )

    with pytest.raises(CapExceededError) as info:
        admin.assign(
            actor_id=None,
            account_id="a4",
            role="School setup & Pupil Tracking",
            school_id="S1",
            at=NOW,
        )

    assert ("a1", "a2", "a3", "boss") == info.value.holders
    assert 4 == info.value.cap


def test_implied_role_holders_count_towards_its_cap() -> None:
    """Manage data allows 6 holders, counting setup admins who hold it through implication."""
    admin = fft_admin()
    for name in ("a1", "a2", "a3"):
        admin.assign(
            actor_id=None,
            account_id=name,
            role="School setup & Pupil Tracking",
            school_id="S1",
            at=NOW,
        )
    admin.assign(actor_id=None, account_id="m1", role="Manage data", school_id="S1", at=NOW)
    admin.assign(actor_id=None, account_id="m2", role="Manage data", school_id="S1", at=NOW)

    with pytest.raises(CapExceededError, match="Manage data"):
        admin.assign(actor_id=None, account_id="m3", role="Manage data", school_id="S1", at=NOW)


def test_delegation_needs_manage_and_no_escalation() -> None:
    """An actor needs users.manage and every permission of the role it gives."""
    admin = fft_admin()
    admin.assign(actor_id="boss", account_id="a1", role="Manage data", school_id="S1", at=NOW)

    with pytest.raises(AccessDeniedError, match="no escalation"):
        admin.assign(
            actor_id="boss",
            account_id="a2",
            role="View school-level reports",
            school_id="S1",
            at=NOW,
        )
    with pytest.raises(AccessDeniedError, match="cannot give roles here"):
        admin.assign(actor_id="a1", account_id="a2", role="Manage data", school_id="S1", at=NOW)


def test_requires_must_be_held_first_and_cannot_be_pulled() -> None:
    """Pupil-level data requires school-level reports, before and after."""
    admin = fft_admin()

    with pytest.raises(RoleRequirementError, match="requires 'View school-level reports'"):
        admin.assign(
            actor_id=None, account_id="a1", role="View pupil-level data", school_id="S1", at=NOW
        )
    events = admin.assign(
        actor_id=None, account_id="a1", role="View school-level reports", school_id="S1", at=NOW
    )
    admin.assign(
        actor_id=None, account_id="a1", role="View pupil-level data", school_id="S1", at=NOW
    )
    with pytest.raises(RoleRequirementError, match="remove 'View pupil-level data' first"):
        admin.unassign(actor_id=None, assignment_id=events[0].subject_id, at=NOW)


def test_duplicate_assignment_refused() -> None:
    """Holding the same role twice at one scope is refused."""
    admin = fft_admin()

    with pytest.raises(DuplicateRecordError):
        admin.assign(
            actor_id=None,
            account_id="boss",
            role="School setup & Pupil Tracking",
            school_id="S1",
            at=NOW,
        )


def test_exactly_one_access_coordinator() -> None:
    """A second coordinator is refused; the only one can be transferred, not removed."""
    w = world(hodder_admin_hub(), now=NOW).trust("T").school("S1", in_trust="T")
    w.account("ac").account("next")
    w.role("ac", "Access Co-ordinator", at="S1", assignment_id="r-ac")
    admin = AccessAdmin(w.index())

    with pytest.raises(CapExceededError, match="current holders: ac"):
        admin.assign(
            actor_id=None, account_id="next", role="Access Co-ordinator", school_id="S1", at=NOW
        )
    with pytest.raises(RoleRequirementError, match="exactly one"):
        admin.unassign(actor_id="ac", assignment_id="r-ac", at=NOW)
    admin.transfer(actor_id="ac", assignment_id="r-ac", to_account_id="next", at=NOW)

    assert_allowed(admin.index, "next", "mis_sync.configure", "S1")
    assert_denied(admin.index, "ac", "mis_sync.configure", "S1", reason="no_role")


def test_trust_cap_of_two_group_admins() -> None:
    """A trust holds at most two Group Admins."""
    w = world(boost_insights(), now=NOW).trust("T")
    w.account("g1").account("g2").account("g3").role("g1", "Group Admin").role("g2", "Group Admin")
    admin = AccessAdmin(w.index())

    with pytest.raises(CapExceededError, match="current holders: g1, g2"):
        admin.assign(actor_id=None, account_id="g3", role="Group Admin", at=NOW)


def test_admin_cannot_change_another_users_name_or_email() -> None:
    """Admins change job roles, not names or emails; users change their own."""
    admin = fft_admin()
    admin.index.records.accounts["a1"]  # exists

    with pytest.raises(AccessDeniedError, match="cannot change another user's email"):
        admin.edit_account(actor_id="boss", account_id="a1", email="new@example.org", at=NOW)
    admin.edit_account(actor_id="boss", account_id="a1", job_role="Head of maths", at=NOW)
    events = admin.edit_account(actor_id="a1", account_id="a1", email="me@example.org", at=NOW)

    assert "me@example.org" == admin.index.records.accounts["a1"].email
    assert "Head of maths" == admin.index.records.accounts["a1"].job_role
    assert "me@example.org" not in repr(events)


def test_invite_is_pending_until_activated_and_deactivation_denies() -> None:
    """An invited account is denied everything until active; inactive accounts too."""
    admin = fft_admin()
    admin.invite(
        actor_id="boss",
        account=Account(
            id="new", trust_id="T", email="n@example.org", name="N", status=AccountStatus.ACTIVE
        ),
        at=NOW,
    )
    admin.assign(actor_id="boss", account_id="new", role="Manage data", school_id="S1", at=NOW)

    assert_denied(admin.index, "new", "data.manage", "S1", reason="inactive")
    admin.set_status(actor_id="boss", account_id="new", status=AccountStatus.ACTIVE, at=NOW)
    assert_allowed(admin.index, "new", "data.manage", "S1")
    admin.set_status(actor_id="boss", account_id="new", status=AccountStatus.INACTIVE, at=NOW)
    assert_denied(admin.index, "new", "data.manage", "S1", reason="inactive")


def test_every_change_is_an_audit_event_with_ids_only() -> None:
    """Assignments produce events with actor, time, subject, before and after."""
    admin = fft_admin()

    events = admin.assign(
        actor_id="boss", account_id="a1", role="Manage data", school_id="S1", at=NOW
    )

    (event,) = events
    assert ("boss", NOW, "assignment", "a1", "S1") == (
        event.actor_id,
        event.at,
        event.subject_kind,
        event.account_id,
        event.school_id,
    )
    assert event.before is None
    assert "Manage data" == event.after["role"]
    assert event in admin.index.history


def test_preview_before_assigning() -> None:
    """apply=False plus preview shows the gain without making it."""
    admin = fft_admin()

    events = admin.assign(
        actor_id="boss", account_id="a1", role="Manage data", school_id="S1", at=NOW, apply=False
    )
    diff = admin.index.preview(events)

    assert [("a1", "S1", "data.manage")] == [
        (c.account_id, c.school_id, c.permission) for c in diff.gained
    ]
    assert_denied(admin.index, "a1", "data.manage", "S1")


def test_activation_makes_a_pending_account_active() -> None:
    """Redeeming the link and code activates the invited account (an audited change)."""
    from schoolsync.access import ActivationOutcome, start_activation

    admin = fft_admin()
    admin.invite(
        actor_id="boss",
        account=Account(id="new", trust_id="T", email="n@example.org", name="N"),
        at=NOW,
    )
    admin.assign(actor_id="boss", account_id="new", role="Manage data", school_id="S1", at=NOW)
    challenge, token, code = start_activation("new", now=NOW, work_factor=2**10)

    wrong, challenge, none = admin.activate(
        challenge=challenge, link_token=token, code="XXXXXXXX", at=NOW
    )
    outcome, challenge, events = admin.activate(
        challenge=challenge, link_token=token, code=code, at=NOW
    )

    assert (ActivationOutcome.WRONG_CODE, []) == (wrong, none)
    assert ActivationOutcome.ACTIVATED == outcome
    assert ["account.activated"] == [e.action for e in events]
    assert_allowed(admin.index, "new", "data.manage", "S1")


def test_no_escalation_through_an_implied_role() -> None:
    """Giving a role whose own permissions the giver holds is refused when a role it implies
    carries a permission the giver lacks; the same giver may give the role without it."""
    from schoolsync.access import Role, RoleCatalogue

    catalogue = RoleCatalogue.build(
        ["users.manage", "grants.manage", "data.manage"],
        [
            Role(name="Manager", scope="school", permissions={"users.manage"}),
            Role(
                name="Deputy",
                scope="school",
                permissions={"users.manage"},
                implies={"Data"},
            ),
            Role(name="Data", scope="school", permissions={"data.manage"}),
            Role(name="Helper", scope="school", permissions={"users.manage"}),
        ],
    )
    w = world(catalogue, now=NOW).trust("T").school("S1", in_trust="T")
    for name in ("giver", "taker"):
        w.account(name)
    w.role("giver", "Manager", at="S1")
    admin = AccessAdmin(w.index())

    with pytest.raises(AccessDeniedError, match=r"'Deputy': it carries `data\.manage`"):
        admin.assign(actor_id="giver", account_id="taker", role="Deputy", school_id="S1", at=NOW)
    assert_denied(admin.index, "taker", "data.manage", "S1", reason="no_role")

    admin.assign(actor_id="giver", account_id="taker", role="Helper", school_id="S1", at=NOW)
    assert_allowed(admin.index, "taker", "users.manage", "S1")
