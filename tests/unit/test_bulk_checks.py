"""CatalogueChecks: bulk edits pass the single-edit rules (caps, delegation, grants, requires)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schoolsync.access import (
    Account,
    AccountStatus,
    Grant,
    Permission,
    PermissionLevel,
    Role,
    RoleAssignment,
    RoleCatalogue,
    RoleScope,
)
from schoolsync.bulk import (
    CatalogueChecks,
    ChangeKind,
    ProblemCode,
    edit_selection,
    import_users,
    write_sheet,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

AT = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
SCHOOL_PERMS = {"users.manage", "reports.school.view", "appraisal.records.view", "settings.edit"}

CATALOGUE = RoleCatalogue.build(
    [
        "users.manage",
        "reports.school.view",
        "appraisal.records.view",
        "settings.edit",
        Permission(name="trust.settings.edit", level=PermissionLevel.TRUST),
    ],
    [
        Role(
            name="Trust Admin",
            scope=RoleScope.TRUST,
            permissions={*SCHOOL_PERMS, "trust.settings.edit"},
            max_per_trust=2,
        ),
        Role(
            name="Trust Report Viewer", scope=RoleScope.TRUST, permissions={"reports.school.view"}
        ),
        Role(name="Admin", scope=RoleScope.SCHOOL, permissions=SCHOOL_PERMS, max_per_school=2),
        Role(
            name="User Manager",
            scope=RoleScope.SCHOOL,
            permissions={"users.manage", "reports.school.view"},
        ),
        Role(name="Staff", scope=RoleScope.SCHOOL, permissions={"reports.school.view"}),
        Role(
            name="Appraisal Leader",
            scope=RoleScope.SCHOOL,
            permissions={"appraisal.records.view"},
            requires={"Staff"},
        ),
    ],
    grant_permission=None,
)
CHECKS = CatalogueChecks(CATALOGUE)


def make_store(*, grant: bool = False) -> MemoryStore:
    """Trust t with schools s1, s2; ta = Trust Admin; ad1 = Admin at s1; um = User Manager at s1;
    x1..x3 plain accounts."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t", name="Trust"))
        for sid in ("s1", "s2"):
            uow.schools.add(School(id=sid, name=f"School {sid}"))
            uow.memberships.add(
                Membership(
                    id=f"m{sid}", trust_id="t", school_id=sid, status=MembershipStatus.ACCEPTED
                )
            )
        for aid in ("ta", "ad1", "um", "x1", "x2", "x3"):
            uow.accounts.add(
                Account(
                    id=aid,
                    trust_id="t",
                    email=f"{aid}@s.example",
                    name=aid.upper(),
                    status=AccountStatus.ACTIVE,
                )
            )
        places: tuple[tuple[str, str, str, str | None], ...] = (
            ("r1", "ta", "Trust Admin", None),
            ("r2", "ad1", "Admin", "s1"),
            ("r3", "um", "User Manager", "s1"),
            ("r4", "x1", "Staff", "s1"),
        )
        for rid, aid, role, at_school in places:
            uow.assignments.add(
                RoleAssignment(id=rid, account_id=aid, trust_id="t", role=role, school_id=at_school)
            )
        if grant:
            uow.grants.add(
                Grant(
                    id="g1", trust_id="t", school_id="s2", permissions=SCHOOL_PERMS, granted_at=AT
                )
            )
        uow.commit()
    return store


def problems(
    store: MemoryStore, accounts: list[str], *, actor: str | None, **kwargs: Any
) -> list[ProblemCode]:
    change_set = edit_selection(
        store, "t", accounts, checks=CHECKS, at=AT, actor_id=actor, **kwargs
    )
    return [p.code for p in change_set.problems]


class TestCaps:
    def test_school_cap_names_the_current_holders(self) -> None:
        """A second Admin fits under the cap of 2; a third is refused, naming the holders."""
        store = make_store()
        change_set = edit_selection(
            store, "t", ["x1", "x2"], checks=CHECKS, at=AT, add=[("Admin", "s1")]
        )
        [problem] = change_set.problems
        assert ProblemCode.CAP_EXCEEDED == problem.code
        assert "at most 2 holder(s) at school s1; current holders: ad1, x1" in problem.message

    def test_trust_cap(self) -> None:
        """Trust Admin is capped at 2 across the trust."""
        assert [ProblemCode.CAP_EXCEEDED] == problems(
            make_store(), ["x1", "x2"], actor=None, add=[("Trust Admin", None)]
        )


class TestDelegation:
    def test_school_admin_gives_roles_only_at_their_school(self) -> None:
        """An Admin at s1 may give Staff at s1 but not at s2, where they hold nothing."""
        store = make_store()
        assert [] == problems(store, ["x2"], actor="ad1", add=[("Staff", "s1")])
        assert [ProblemCode.NOT_ALLOWED] == problems(
            store, ["x2"], actor="ad1", add=[("Staff", "s2")]
        )

    def test_no_escalation_beyond_own_permissions(self) -> None:
        """A User Manager may give Staff but not Admin, which carries permissions they lack."""
        store = make_store()
        assert [] == problems(store, ["x2"], actor="um", add=[("Staff", "s1")])
        assert [ProblemCode.NOT_ALLOWED] == problems(
            store, ["x2"], actor="um", add=[("Admin", "s1")]
        )

    def test_trust_admin_needs_the_schools_grant(self) -> None:
        """A Trust Admin manages users at s2 only once s2 has granted users.manage to the trust."""
        assert [ProblemCode.NOT_ALLOWED] == problems(
            make_store(), ["x2"], actor="ta", add=[("Staff", "s2")]
        )
        assert [] == problems(make_store(grant=True), ["x2"], actor="ta", add=[("Staff", "s2")])

    def test_inactive_actor_may_do_nothing(self) -> None:
        """An inactive account's bulk edit is refused."""
        store = make_store()
        with store.unit_of_work() as uow:
            ad1 = uow.accounts.require("ad1")
            uow.accounts.put(
                Account(
                    id="ad1",
                    trust_id="t",
                    email=ad1.email,
                    name=ad1.name,
                    status=AccountStatus.INACTIVE,
                )
            )
            uow.commit()
        assert [ProblemCode.NOT_ALLOWED] == problems(
            store, ["x2"], actor="ad1", add=[("Staff", "s1")]
        )

    def test_making_inactive_needs_manage_where_the_account_has_roles(self) -> None:
        """An s1 Admin may make an s1 user inactive; the Trust Admin without s1's grant may not."""
        store = make_store()
        assert [] == problems(store, ["x1"], actor="ad1", make_inactive=True)
        assert [ProblemCode.NOT_ALLOWED] == problems(
            store, ["x1"], actor="um", add=[("Admin", "s1")]
        )


class TestRequires:
    def test_required_role_must_be_held_or_given_in_the_same_change_set(self) -> None:
        """Appraisal Leader needs Staff at the school: refused alone, fine together with Staff."""
        store = make_store()
        assert [ProblemCode.REFUSED] == problems(
            store, ["x2"], actor=None, add=[("Appraisal Leader", "s1")]
        )
        change_set = edit_selection(
            store,
            "t",
            ["x2"],
            checks=CHECKS,
            at=AT,
            add=[("Appraisal Leader", "s1"), ("Staff", "s1")],
        )
        assert change_set.ok
        assert 2 == len(change_set.of_kind(ChangeKind.ADD_ROLE))

    def test_wrong_scope_role_in_a_selection_edit(self) -> None:
        """A trust role offered at a school is a scope problem, found before any check."""
        assert [ProblemCode.WRONG_SCOPE] == problems(
            make_store(), ["x2"], actor=None, add=[("Trust Admin", "s1")]
        )


class TestEditRules:
    def test_only_the_system_renames_other_users(self, tmp_path: Path) -> None:
        """A changed Name from an admin is refused (the user changes it); the system may fix it."""
        store = make_store()
        path = write_sheet(
            tmp_path / "names.csv", ["Email", "Name"], [["x1@s.example", "Xavier One"]]
        )
        refused = import_users(store, "t", path, checks=CHECKS, at=AT, actor_id="ad1")
        assert [ProblemCode.NOT_ALLOWED] == [p.code for p in refused.problems]
        assert "cannot change another user's name" in refused.problems[0].message
        allowed = import_users(store, "t", path, checks=CHECKS, at=AT)
        assert allowed.ok
        assert [ChangeKind.RENAME] == [c.kind for c in allowed.changes]


def test_with_names_replaces_whole_ids_only() -> None:
    """Messages shown to people name accounts and schools; ids inside emails, dotted
    permissions, quoted role names or longer words are left alone."""
    from schoolsync.bulk import with_names

    names = {"grace": "Grace Hopper", "oak": "Oakfield Primary", "users": "U"}
    text = "grace may not use users.manage at oak; 'oak' oakfield grace@oak.example (grace)."
    assert (
        "Grace Hopper may not use users.manage at Oakfield Primary; "
        "'oak' oakfield grace@oak.example (Grace Hopper)."
    ) == with_names(text, names)
    assert "at oak" == with_names("at oak", {})
