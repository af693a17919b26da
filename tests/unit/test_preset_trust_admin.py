"""Presets carry the role a trust admin gets, so a host using a preset never names it twice
(issue 13): the catalogue names it, the trust lifecycle takes it from there."""

from __future__ import annotations

import pytest

from schoolsync.access import RoleCatalogue, RoleScope
from schoolsync.access.accounts import Account, AccountStatus
from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.access.presets import PRESETS, boost_insights, fft_aspire, progress_teaching
from schoolsync.clock import FixedClock
from schoolsync.errors import CapExceededError, CatalogueError, ValidationError
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import TrustKind

EXPECTED = {
    "progress_teaching": "Trust Admin",
    "fft_aspire": None,
    "boost_insights": "Group Admin",
    "schoot": "Administrator",
    "hodder_admin_hub": None,
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_names_its_trust_admin_role(name: str) -> None:
    """A preset with trust roles names the one its accepted trust admins get (a trust role);
    a preset without trust roles names none."""
    cat = PRESETS[name]()

    assert EXPECTED[name] == cat.trust_admin_role
    if cat.trust_admin_role is not None:
        assert RoleScope.TRUST is cat.roles[cat.trust_admin_role].scope
    else:
        assert not [r for r in cat.roles.values() if r.scope is RoleScope.TRUST]
    again = RoleCatalogue.from_dict(cat.to_dict())
    assert cat.trust_admin_role == again.trust_admin_role


def _group(life: TrustLifecycle, accounts: tuple[str, ...]) -> str:
    trust = life.create_trust(name="Oak Group", kind=TrustKind.SCHOOL_GROUP, max_trust_admins=3)
    with life.store.unit_of_work() as uow:
        for account_id in accounts:
            uow.accounts.add(
                Account(
                    id=account_id,
                    trust_id=trust.id,
                    email=f"{account_id}@oak.example",
                    name=account_id,
                    status=AccountStatus.ACTIVE,
                )
            )
        uow.commit()
    return trust.id


def test_a_boost_group_set_up_with_the_preset_alone_gets_group_admins() -> None:
    """With the Boost Insights preset and no role named, an accepted admin holds "Group
    Admin", and the preset's cap of two Group Admins holds (the trust allows three admins, so
    only the role's cap can refuse the third)."""
    life = TrustLifecycle(
        MemoryStore(), FixedClock(), RecordingNotifier(), catalogue=boost_insights()
    )
    trust_id = _group(life, ("ga1", "ga2", "ga3"))

    for account_id in ("ga1", "ga2"):
        life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, account_id))
    with pytest.raises(CapExceededError):
        life.nominate_trust_admin(trust_id, "ga3")

    with life.store.unit_of_work() as uow:
        held = sorted((a.account_id, a.role) for a in uow.assignments.list())
    assert [("ga1", "Group Admin"), ("ga2", "Group Admin")] == held


def test_a_role_named_by_the_host_still_wins() -> None:
    """A host that names another trust role of the catalogue gets that one."""
    life = TrustLifecycle(
        MemoryStore(),
        FixedClock(),
        RecordingNotifier(),
        catalogue=progress_teaching(),
        trust_admin_role="Trust Report Viewer",
    )
    trust_id = _group(life, ("head",))

    life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, "head"))

    with life.store.unit_of_work() as uow:
        assert ["Trust Report Viewer"] == [a.role for a in uow.assignments.list()]


def test_a_catalogue_without_trust_admins_refuses_a_nomination_by_name() -> None:
    """FFT Aspire has no trust roles: the lifecycle still serves it (memberships, grants), and
    a trust admin nomination is refused naming the missing setting; nothing is written."""
    life = TrustLifecycle(MemoryStore(), FixedClock(), RecordingNotifier(), catalogue=fft_aspire())
    trust_id = _group(life, ("x",))

    with pytest.raises(ValidationError) as info:
        life.nominate_trust_admin(trust_id, "x")

    assert "trust_admin_role" == info.value.field
    with life.store.unit_of_work() as uow:
        assert () == uow.trusts.require(trust_id).admin_nominations


@pytest.mark.parametrize(
    ("named", "reason"),
    [("Group Admn", "did you mean 'Group Admin'"), ("Teacher", "must be a trust role")],
)
def test_the_catalogue_refuses_a_trust_admin_role_that_is_not_a_trust_role(
    named: str, reason: str
) -> None:
    """An unknown role (with a suggestion) or a school role is a catalogue problem."""
    data = boost_insights().to_dict()
    data["trust_admin_role"] = named

    with pytest.raises(CatalogueError) as info:
        RoleCatalogue.from_dict(data)

    [problem] = info.value.exceptions
    assert isinstance(problem, ValidationError)
    assert ("trust_admin_role", named) == (problem.field, problem.value)
    assert reason in str(problem)
