"""Bulk transfers: an "exactly one" role moved from one account to another in a bulk file or a
selection edit is one TRANSFER change, applied through AccessAdmin.transfer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schoolsync.access import (
    Account,
    AccountStatus,
    Grant,
    Role,
    RoleAssignment,
    RoleCatalogue,
    RoleScope,
)
from schoolsync.bulk import (
    BulkImportError,
    BulkRowError,
    CatalogueChecks,
    ChangeKind,
    ChangeSet,
    ProblemCode,
    TransferChecks,
    apply_change_set,
    edit_selection,
    export_users,
    import_users,
    read_sheet,
    write_sheet,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

AT = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
COORDINATOR = "Boost Insights Access Coordinator"

CATALOGUE = RoleCatalogue.build(
    ["users.manage", "reports.school.view", "grants.manage"],
    [
        Role(
            name="Trust Admin",
            scope=RoleScope.TRUST,
            permissions={"users.manage", "reports.school.view", "grants.manage"},
        ),
        Role(
            name="Admin",
            scope=RoleScope.SCHOOL,
            permissions={"users.manage", "reports.school.view"},
        ),
        Role(
            name=COORDINATOR,
            scope=RoleScope.SCHOOL,
            permissions={"users.manage", "grants.manage", "reports.school.view"},
            exactly_one=True,
        ),
        Role(name="Staff", scope=RoleScope.SCHOOL, permissions={"reports.school.view"}),
    ],
    grant_permission=None,
)
CHECKS = CatalogueChecks(CATALOGUE)
S1 = "School s1"


def make_store() -> MemoryStore:
    """Trust t, schools s1 and s2. ta: Trust Admin; ad1: Admin at s1; c1: the coordinator at s1;
    c2: the coordinator at s2; x1: Staff at s1."""
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
        for aid in ("ta", "ad1", "c1", "c2", "x1"):
            uow.accounts.add(
                Account(
                    id=aid,
                    trust_id="t",
                    email=f"{aid}@s.example",
                    name=aid.upper(),
                    status=AccountStatus.ACTIVE,
                )
            )
        places = (
            ("r1", "ta", "Trust Admin", None),
            ("r2", "ad1", "Admin", "s1"),
            ("r3", "c1", COORDINATOR, "s1"),
            ("r4", "c2", COORDINATOR, "s2"),
            ("r5", "x1", "Staff", "s1"),
        )
        for rid, aid, role, school in places:
            uow.assignments.add(
                RoleAssignment(id=rid, account_id=aid, trust_id="t", role=role, school_id=school)
            )
        uow.commit()
    return store


def holders(store: MemoryStore, role: str, school_id: str) -> list[str]:
    with store.unit_of_work() as uow:
        return sorted(
            a.account_id
            for a in uow.assignments.list()
            if a.role == role and a.school_id == school_id
        )


def edited_file(
    store: MemoryStore, tmp_path: Path, cells: dict[str, str], *, extra: list[str] | None = None
) -> tuple[Path, dict[str, int]]:
    """Export, set the S1 cell of the rows named in *cells* (by account id), write the CSV back.
    Also returns each account's spreadsheet row number."""
    sheet = read_sheet(export_users(store, "t", tmp_path / "users.csv"))
    column = sheet.header.index(S1)
    rows = [list(r) for r in sheet.rows]
    numbers: dict[str, int] = {}
    for index, row in enumerate(rows):
        account_id = row[0].split("@")[0]
        numbers[account_id] = sheet.row_number(index)
        if account_id in cells:
            row[column] = cells[account_id]
    if extra is not None:
        rows.append(extra)
        numbers["new"] = sheet.row_number(len(rows) - 1)
    return write_sheet(tmp_path / "edited.csv", sheet.header, rows), numbers


def test_catalogue_checks_know_transfers() -> None:
    """CatalogueChecks implements the optional TransferChecks protocol."""
    assert isinstance(CHECKS, TransferChecks)
    assert CHECKS.is_exactly_one(COORDINATOR)
    assert not CHECKS.is_exactly_one("Admin")


def test_csv_swap_is_one_transfer_and_applies(tmp_path: Path) -> None:
    """Moving the coordinator from c1 to x1 in the file is one transfer; applying it leaves x1
    the only holder, audited as two 'role.transferred' events, and the file then imports empty."""
    store = make_store()
    path, rows = edited_file(store, tmp_path, {"c1": "", "x1": f"Staff; {COORDINATOR}"})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    assert change_set.ok, change_set.problem_rows()
    [transfer] = change_set.changes
    assert transfer.kind is ChangeKind.TRANSFER
    assert (transfer.account_id, transfer.from_account_id) == ("x1", "c1")
    assert (transfer.role, transfer.school_id) == (COORDINATOR, "s1")
    assert (transfer.row, transfer.column) == (rows["x1"], S1)
    assert (transfer.from_row, transfer.from_column) == (rows["c1"], S1)
    assert change_set.transfers == (transfer,)
    assert not change_set.roles_to_add
    assert not change_set.roles_to_remove

    result = apply_change_set(store, change_set, checks=CHECKS, at=AT)
    assert result.changes_applied == 1
    assert holders(store, COORDINATOR, "s1") == ["x1"]
    assert holders(store, COORDINATOR, "s2") == ["c2"]
    with store.unit_of_work() as uow:
        events = uow.audit.events(trust_id="t")
        edited = {a.id for a in uow.accounts.list() if a.edited_after_sync}
    moved = [e for e in events if e.action == "role.transferred"]
    assert len(moved) == 2
    assert {e.actor_id for e in moved} == {None}
    assert edited == {"c1", "x1"}
    assert import_users(store, "t", path, checks=CHECKS, at=AT).is_empty


def test_preview_shows_the_transfer(tmp_path: Path) -> None:
    """to_rows() has one 'transfer role' row naming both accounts; the HTML table shows it."""
    store = make_store()
    path, rows = edited_file(store, tmp_path, {"c1": "", "x1": f"Staff; {COORDINATOR}"})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    assert change_set.to_rows() == [
        {
            "change": "transfer role",
            "email": "x1@s.example",
            "name": None,
            "role": COORDINATOR,
            "where": S1,
            "row": rows["x1"],
            "from": "c1@s.example",
            "problem": None,
        }
    ]
    assert change_set.describe() == "1 transfer role"
    html = change_set._repr_html_()
    assert "<th>From</th>" in html  # the header in words (docs: tables.human_header)
    assert "transfer role" in html
    assert "c1@s.example" in html
    assert "x1@s.example" in html


def test_swap_by_an_authorised_actor_applies(tmp_path: Path) -> None:
    """The Trust Admin, through s1's grant of every permission of the role, may move it."""
    store = make_store()
    with store.unit_of_work() as uow:
        perms = {"users.manage", "reports.school.view", "grants.manage"}
        uow.grants.add(
            Grant(id="g1", trust_id="t", school_id="s1", permissions=perms, granted_at=AT)
        )
        uow.commit()
    path, _ = edited_file(store, tmp_path, {"c1": "", "x1": f"Staff; {COORDINATOR}"})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT, actor_id="ta")
    assert change_set.ok, change_set.problem_rows()
    apply_change_set(store, change_set, checks=CHECKS, at=AT)
    assert holders(store, COORDINATOR, "s1") == ["x1"]
    with store.unit_of_work() as uow:
        moved = [e for e in uow.audit.events(trust_id="t") if e.action == "role.transferred"]
    assert {e.actor_id for e in moved} == {"ta"}


def test_unauthorised_swap_is_refused_with_row_and_column(tmp_path: Path) -> None:
    """An Admin lacks grants.manage, so cannot give the coordinator role: the transfer is a
    NOT_ALLOWED problem at the receiving row and the school's column, and applying changes nothing."""
    store = make_store()
    path, rows = edited_file(store, tmp_path, {"c1": "", "x1": f"Staff; {COORDINATOR}"})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT, actor_id="ad1")
    [problem] = change_set.problems
    assert problem.code is ProblemCode.NOT_ALLOWED
    assert (problem.row, problem.column) == (rows["x1"], S1)
    assert "grants.manage" in problem.message
    with pytest.raises(BulkImportError):
        apply_change_set(store, change_set, checks=CHECKS, at=AT)
    forced = ChangeSet(trust_id="t", actor_id="ad1", changes=change_set.changes)
    with pytest.raises(BulkImportError) as caught:
        apply_change_set(store, forced, checks=CHECKS, at=AT)
    [refusal] = caught.value.exceptions
    assert isinstance(refusal, BulkRowError)
    assert refusal.problem.code is ProblemCode.NOT_ALLOWED
    assert (refusal.row, refusal.column) == (rows["x1"], S1)
    assert holders(store, COORDINATOR, "s1") == ["c1"]


def test_addition_without_removal_is_a_cap_problem(tmp_path: Path) -> None:
    """Giving the role to x1 while c1 keeps it would make two holders: refused at x1's cell."""
    store = make_store()
    path, rows = edited_file(store, tmp_path, {"x1": f"Staff; {COORDINATOR}"})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    assert [c.kind for c in change_set.changes] == [ChangeKind.ADD_ROLE]
    [problem] = change_set.problems
    assert problem.code is ProblemCode.CAP_EXCEEDED
    assert (problem.row, problem.column) == (rows["x1"], S1)


def test_removal_without_addition_is_refused(tmp_path: Path) -> None:
    """Taking the role from c1 with nobody receiving it would leave no holder: refused at c1's cell."""
    store = make_store()
    path, rows = edited_file(store, tmp_path, {"c1": ""})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    assert [c.kind for c in change_set.changes] == [ChangeKind.REMOVE_ROLE]
    [problem] = change_set.problems
    assert problem.code is ProblemCode.REFUSED
    assert (problem.row, problem.column) == (rows["c1"], S1)
    assert "exactly one holder" in problem.message


def test_removal_and_addition_at_different_schools_do_not_pair(tmp_path: Path) -> None:
    """c2 gives up the role at s2 while x1 receives it at s1: no transfer, two problems."""
    store = make_store()
    sheet = read_sheet(export_users(store, "t", tmp_path / "users.csv"))
    s1, s2 = sheet.header.index(S1), sheet.header.index("School s2")
    rows = [list(r) for r in sheet.rows]
    for row in rows:
        if row[0] == "c2@s.example":
            row[s2] = ""
        if row[0] == "x1@s.example":
            row[s1] = f"Staff; {COORDINATOR}"
    path = write_sheet(tmp_path / "edited.csv", sheet.header, rows)
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    assert not change_set.transfers
    assert sorted(p.code for p in change_set.problems) == [
        ProblemCode.CAP_EXCEEDED,
        ProblemCode.REFUSED,
    ]


def test_transfer_to_a_user_created_in_the_same_file(tmp_path: Path) -> None:
    """A new row may receive the role c1 gives up: the user is created, then receives it."""
    store = make_store()
    new_row = ["new@s.example", "New Person", "", COORDINATOR, "", "", ""]
    path, _rows = edited_file(store, tmp_path, {"c1": ""}, extra=new_row)
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    assert change_set.ok, change_set.problem_rows()
    assert [c.kind for c in change_set.changes] == [ChangeKind.CREATE_USER, ChangeKind.TRANSFER]
    result = apply_change_set(store, change_set, checks=CHECKS, at=AT)
    assert holders(store, COORDINATOR, "s1") == list(result.created_account_ids)


def test_selection_edit_swap_is_a_transfer() -> None:
    """Edit Selected on c1 and x1 removing and adding the role at s1 is one transfer."""
    store = make_store()
    change_set = edit_selection(
        store,
        "t",
        ["c1", "x1"],
        checks=CHECKS,
        at=AT,
        add=[(COORDINATOR, "s1")],
        remove=[(COORDINATOR, "s1")],
    )
    assert change_set.ok, change_set.problem_rows()
    assert [(c.kind, c.from_account_id, c.account_id) for c in change_set.changes] == [
        (ChangeKind.TRANSFER, "c1", "x1")
    ]
    apply_change_set(store, change_set, checks=CHECKS, at=AT)
    assert holders(store, COORDINATOR, "s1") == ["x1"]


def test_transfer_applied_after_the_role_moved_on(tmp_path: Path) -> None:
    """If someone else moved the role to x1 since the preview, applying has nothing to do."""
    store = make_store()
    path, _ = edited_file(store, tmp_path, {"c1": "", "x1": f"Staff; {COORDINATOR}"})
    change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
    apply_change_set(store, change_set, checks=CHECKS, at=AT)
    again = apply_change_set(store, change_set, checks=CHECKS, at=AT)
    assert again.changes_applied == 0
    assert holders(store, COORDINATOR, "s1") == ["x1"]
