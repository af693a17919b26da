"""Bulk user import/export: change sets, problems with row and column, atomic audited apply."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.bulk import (
    AccountEdit,
    BulkImportError,
    ChangeKind,
    ProblemCode,
    RoleEdit,
    RoleScope,
    apply_change_set,
    edit_selection,
    export_users,
    export_users_stream,
    import_users,
    read_sheet,
    write_sheet,
)
from schoolsync.errors import AccessDeniedError, CapExceededError, FileFormatError
from schoolsync.ports import UnitOfWork
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

AT = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)

ROLES = {
    "Trust Admin": RoleScope.TRUST,
    "Trust Report Viewer": RoleScope.TRUST,
    "Admin": RoleScope.SCHOOL,
    "Staff": RoleScope.SCHOOL,
    "School Leader Feedback": RoleScope.SCHOOL,
}


class FakeChecks:
    """Admin is capped at 2 per school; only Trust Admins (or the system) may give Admin."""

    def role_names(self) -> Sequence[str]:
        return list(ROLES)

    def role_scope(self, role: str) -> RoleScope | None:
        return ROLES.get(role)

    def _is_trust_admin(self, uow: UnitOfWork, actor_id: str | None) -> bool:
        return actor_id is None or any(
            a.account_id == actor_id and a.role == "Trust Admin" for a in uow.assignments.list()
        )

    def check_role(
        self, uow: UnitOfWork, edit: RoleEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        if edit.remove:
            if not self._is_trust_admin(uow, actor_id) and edit.role != "Staff":
                raise AccessDeniedError(f"{actor_id} may not remove {edit.role}")
            return
        if edit.role == "Admin":
            holders = [
                a.account_id
                for a in uow.assignments.list(school_id=edit.school_id)
                if a.role == "Admin"
            ]
            if len(holders) >= 2:
                raise CapExceededError(edit.role, 2, f"school {edit.school_id}", holders)
        if edit.role in {"Admin", "Trust Admin"} and not self._is_trust_admin(uow, actor_id):
            raise AccessDeniedError(f"{actor_id} may not give {edit.role}")

    def check_account(
        self, uow: UnitOfWork, edit: AccountEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        if not self._is_trust_admin(uow, actor_id):
            raise AccessDeniedError(f"{actor_id} may not {edit.action}")


CHECKS = FakeChecks()


def make_store(*, ben_named: str = "Ben Okri") -> MemoryStore:
    """Trust t1 with schools s1 and s2 (and s9 outside it); Ada, Ben and Cy with roles."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        for sid, name in (("s1", "Oakfield Primary"), ("s2", "Riverside Academy")):
            uow.schools.add(School(id=sid, name=name))
            uow.memberships.add(
                Membership(
                    id=f"m-{sid}", trust_id="t1", school_id=sid, status=MembershipStatus.ACCEPTED
                )
            )
        uow.schools.add(School(id="s9", name="Outsider School"))
        people = [
            ("a1", "ada@oak.example", "Ada Lovelace"),
            ("a2", "ben@oak.example", ben_named),
            ("a3", "cy@river.example", "Cy Twombly"),
        ]
        for aid, email, name in people:
            uow.accounts.add(
                Account(id=aid, trust_id="t1", email=email, name=name, status=AccountStatus.ACTIVE)
            )
        for rid, aid, role, sid in (
            ("r1", "a1", "Trust Admin", None),
            ("r2", "a1", "Admin", "s1"),
            ("r3", "a2", "Staff", "s1"),
            ("r4", "a3", "Staff", "s2"),
            ("r5", "a3", "Admin", "s2"),
        ):
            uow.assignments.add(
                RoleAssignment(id=rid, account_id=aid, trust_id="t1", role=role, school_id=sid)
            )
        uow.commit()
    return store


def export_rows(store: MemoryStore, tmp_path: Path) -> tuple[list[str], list[list[str]]]:
    sheet = read_sheet(export_users(store, "t1", tmp_path / "users.csv"))
    return list(sheet.header), [list(r) for r in sheet.rows]


def write_edit(
    tmp_path: Path, header: list[str], rows: list[list[str]], name: str = "edit.csv"
) -> Path:
    return write_sheet(tmp_path / name, header, rows)


def row_of(rows: list[list[str]], email: str) -> list[str]:
    return next(r for r in rows if r[0] == email)


class TestExport:
    def test_header_follows_the_seed_shape_with_member_schools_only(self, tmp_path: Path) -> None:
        """Columns are Email, Name, Edited, each member school, Trust Roles and Inactive."""
        header, _ = export_rows(make_store(), tmp_path)
        assert [
            "Email",
            "Name",
            "Edited",
            "Oakfield Primary",
            "Riverside Academy",
            "Trust Roles",
            "Inactive",
        ] == header

    def test_rows_hold_each_schools_roles_and_trust_roles(self, tmp_path: Path) -> None:
        """Each account's row lists its roles per school and its trust roles."""
        _, rows = export_rows(make_store(), tmp_path)
        assert [
            "ada@oak.example",
            "Ada Lovelace",
            "false",
            "Admin",
            "",
            "Trust Admin",
            "false",
        ] == row_of(rows, "ada@oak.example")
        assert [
            "cy@river.example",
            "Cy Twombly",
            "false",
            "",
            "Admin; Staff",
            "",
            "false",
        ] == row_of(rows, "cy@river.example")

    def test_formula_like_values_are_neutralised_in_the_file(self, tmp_path: Path) -> None:
        """A name starting with = is written with a leading apostrophe, and read back as it was."""
        store = make_store(ben_named="=HYPERLINK(1)")
        path = export_users(store, "t1", tmp_path / "users.csv")
        assert "'=HYPERLINK(1)" in path.read_text(encoding="utf-8-sig")
        assert (
            "=HYPERLINK(1)"
            == row_of([list(r) for r in read_sheet(path).rows], "ben@oak.example")[1]
        )

    def test_unchanged_file_imports_as_an_empty_change_set(self, tmp_path: Path) -> None:
        """Exporting and re-importing without edits changes nothing."""
        store = make_store()
        for name in ("users.csv", "users.xlsx"):
            path = export_users(store, "t1", tmp_path / name)
            change_set = import_users(store, "t1", path, checks=CHECKS, at=AT)
            assert change_set.is_empty, change_set.to_rows()


class TestImportChanges:
    def test_edits_become_creates_role_changes_and_deactivations(self, tmp_path: Path) -> None:
        """A new row creates a user; edited cells add and remove roles; Inactive true deactivates."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        row_of(rows, "ben@oak.example")[3] = "Staff; School Leader Feedback"
        row_of(rows, "cy@river.example")[4] = "Staff"
        row_of(rows, "cy@river.example")[6] = "true"
        rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "Trust Report Viewer", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )

        assert change_set.ok
        assert ["dee@oak.example"] == [c.email for c in change_set.users_to_create]
        assert {
            ("ben@oak.example", "School Leader Feedback", "s1"),
            ("dee@oak.example", "Staff", "s1"),
            ("dee@oak.example", "Trust Report Viewer", None),
        } == {(c.email, c.role, c.school_id) for c in change_set.roles_to_add}
        assert [("cy@river.example", "Admin", "s2")] == [
            (c.email, c.role, c.school_id) for c in change_set.roles_to_remove
        ]
        assert ["a3"] == [c.account_id for c in change_set.to_make_inactive]

    def test_preview_changes_nothing(self, tmp_path: Path) -> None:
        """Importing a file only previews: the store is unchanged until apply."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "", ""])
        import_users(store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT)
        with store.unit_of_work() as uow:
            assert 3 == uow.accounts.count()

    def test_email_matching_ignores_case_and_blank_name_keeps_the_name(
        self, tmp_path: Path
    ) -> None:
        """ADA@OAK.EXAMPLE is Ada's row; a blank Name cell is not a rename."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        row = row_of(rows, "ada@oak.example")
        row[0], row[1] = "ADA@OAK.EXAMPLE", ""
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        assert change_set.is_empty

    def test_left_out_rows_and_school_columns_change_nothing(self, tmp_path: Path) -> None:
        """A file holding one row and no Riverside column leaves everything else alone."""
        store = make_store()
        header = ["Email", "Name", "Oakfield Primary"]
        rows = [["ben@oak.example", "Ben Okri", "Staff"]]
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        assert change_set.is_empty

    def test_change_set_renders_as_rows_and_html(self, tmp_path: Path) -> None:
        """to_rows() gives one dict per change; _repr_html_ is an escaped HTML table."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        rows.append(["<b>x</b>", "<script>", "", "Staff", "", "", ""])
        rows.append(["eve@oak.example", "Eve <Evil>", "", "Staff", "", "", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        table = change_set.to_rows()
        assert {
            "change": "add role",
            "email": "eve@oak.example",
            "name": None,
            "role": "Staff",
            "where": "Oakfield Primary",
            "row": 6,
            "from": None,
            "problem": None,
        } in table
        html = change_set._repr_html_()
        assert html.startswith('<table class="schoolsync">')
        assert "Eve &lt;Evil&gt;" in html
        assert "<script>" not in html
        assert "1 create user, 1 add role; 1 problem" in html


class TestImportProblems:
    def problems(
        self, tmp_path: Path, header: list[str], rows: list[list[str]]
    ) -> list[tuple[int | None, str | None, ProblemCode]]:
        change_set = import_users(
            make_store(), "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        return [(p.row, p.column, p.code) for p in change_set.problems]

    def test_unknown_school_column_is_reported_with_a_suggestion(self, tmp_path: Path) -> None:
        """A heading that names no member school is a problem on row 1, with "did you mean"."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        header[3] = "Oakfeld Primary"
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        [problem] = change_set.problems
        assert (1, "Oakfeld Primary", ProblemCode.UNKNOWN_SCHOOL_COLUMN) == (
            problem.row,
            problem.column,
            problem.code,
        )
        assert "did you mean 'Oakfield Primary'?" in problem.message

    def test_unknown_role_and_wrong_scope_name_row_and_column(self, tmp_path: Path) -> None:
        """Unknown roles and trust roles in a school column are reported where they are."""
        header = ["Email", "Name", "Oakfield Primary", "Trust Roles"]
        rows = [
            ["ben@oak.example", "Ben Okri", "Staff; Admn", ""],
            ["ada@oak.example", "Ada Lovelace", "Admin; Trust Admin", "Trust Admin; Staff"],
        ]
        assert [
            (2, "Oakfield Primary", ProblemCode.UNKNOWN_ROLE),
            (3, "Oakfield Primary", ProblemCode.WRONG_SCOPE),
            (3, "Trust Roles", ProblemCode.WRONG_SCOPE),
        ] == self.problems(tmp_path, header, rows)

    def test_malformed_blank_and_duplicate_emails(self, tmp_path: Path) -> None:
        """Bad, blank and repeated emails are problems in the Email column of their row."""
        header = ["Email", "Name", "Oakfield Primary"]
        rows = [
            ["not-an-email", "X", "Staff"],
            ["", "Y", "Staff"],
            ["new@oak.example", "New", "Staff"],
            ["NEW@oak.example", "New Again", "Staff"],
        ]
        assert [
            (2, "Email", ProblemCode.MALFORMED_EMAIL),
            (3, "Email", ProblemCode.MALFORMED_EMAIL),
            (5, "Email", ProblemCode.DUPLICATE_EMAIL),
        ] == self.problems(tmp_path, header, rows)

    def test_missing_required_column(self, tmp_path: Path) -> None:
        """A file without an Email column is refused as a whole."""
        assert [(1, "Email", ProblemCode.MISSING_COLUMN)] == self.problems(
            tmp_path, ["Name", "Oakfield Primary"], [["Ben", "Staff"]]
        )

    def test_cap_exceeded_is_counted_on_the_running_state(self, tmp_path: Path) -> None:
        """A third Admin at one school breaks the cap; swapping one Admin for another does not."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        row_of(rows, "ben@oak.example")[3] = "Admin; Staff"
        rows.append(["dee@oak.example", "Dee Dee", "", "Admin", "", "", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        assert [(5, "Oakfield Primary", ProblemCode.CAP_EXCEEDED)] == [
            (p.row, p.column, p.code) for p in change_set.problems
        ]
        row_of(rows, "ada@oak.example")[3] = ""
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        assert change_set.ok

    def test_role_the_importer_may_not_give(self, tmp_path: Path) -> None:
        """An importer without the right to give Admin gets a not-allowed problem for that cell."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        row_of(rows, "ben@oak.example")[4] = "Admin"
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT, actor_id="a2"
        )
        assert [(3, "Riverside Academy", ProblemCode.NOT_ALLOWED)] == [
            (p.row, p.column, p.code) for p in change_set.problems
        ]


class TestApply:
    def test_apply_writes_every_change_and_audits_by_id(self, tmp_path: Path) -> None:
        """Applying creates users, changes roles and statuses; audit events hold no names or emails."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        row_of(rows, "cy@river.example")[6] = "true"
        row_of(rows, "ben@oak.example")[1] = "Benjamin Okri"
        rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        ids = iter(f"id{i}" for i in range(100))
        result = apply_change_set(store, change_set, checks=CHECKS, at=AT, new_id=lambda: next(ids))

        with store.unit_of_work() as uow:
            new = uow.accounts.require(result.created_account_ids[0])
            assert ("dee@oak.example", "Dee Dee", AccountStatus.PENDING) == (
                new.email,
                new.name,
                new.status,
            )
            assert AccountStatus.INACTIVE == uow.accounts.require("a3").status
            assert "Benjamin Okri" == uow.accounts.require("a2").name
            assert uow.accounts.require("a2").edited_after_sync
            assert [("Staff", "s1")] == [
                (a.role, a.school_id) for a in uow.assignments.list() if a.account_id == new.id
            ]
            events = uow.audit.events(trust_id="t1")
        assert {
            "account.added",
            "assignment.added",
            "account.deactivated",
            "account.renamed",
            "bulk.change_set.applied",
        } == {e.action for e in events}
        text = repr(events)
        for personal in ("Dee Dee", "dee@oak.example", "Benjamin", "Okri"):
            assert personal not in text
        # and the file now round-trips to nothing
        assert import_users(
            store, "t1", export_users(store, "t1", tmp_path / "again.xlsx"), checks=CHECKS, at=AT
        ).is_empty

    def test_changed_accounts_are_marked_edited_new_ones_are_not(self, tmp_path: Path) -> None:
        """After an import, the Edited column is true for changed accounts only."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        row_of(rows, "ben@oak.example")[3] = ""
        rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        apply_change_set(store, change_set, checks=CHECKS, at=AT)
        _, after = export_rows(store, tmp_path)
        assert {
            "ada@oak.example": "false",
            "ben@oak.example": "true",
            "cy@river.example": "false",
            "dee@oak.example": "false",
        } == {r[0]: r[2] for r in after}

    def test_audit_events_replay_to_the_access_records(self, tmp_path: Path) -> None:
        """The events of an apply, replayed over the records before it, give the records after."""
        from schoolsync.access import AccessRecords

        store = make_store()
        with store.unit_of_work() as uow:
            replayed = AccessRecords.from_unit_of_work(uow)
        header, rows = export_rows(store, tmp_path)
        row_of(rows, "cy@river.example")[4] = "Staff"
        row_of(rows, "cy@river.example")[6] = "true"
        rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "Trust Report Viewer", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        apply_change_set(store, change_set, checks=CHECKS, at=AT)
        with store.unit_of_work() as uow:
            for event in uow.audit.events():
                replayed.apply_event(event)
            actual = AccessRecords.from_unit_of_work(uow)
        assert actual.assignments == replayed.assignments
        assert {k: a.status for k, a in actual.accounts.items()} == {
            k: a.status for k, a in replayed.accounts.items()
        }

    def test_change_set_with_problems_is_refused_whole(self, tmp_path: Path) -> None:
        """A change set with any problem raises BulkImportError and changes nothing."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "", ""])
        rows.append(["bad-email", "Bad", "", "Staff", "", "", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        with pytest.raises(BulkImportError) as caught:
            apply_change_set(store, change_set, checks=CHECKS, at=AT)
        assert ["row 6, column 'Email': not a valid email address"] == caught.value.problems()
        with store.unit_of_work() as uow:
            assert 3 == uow.accounts.count()
            assert [] == uow.audit.events()

    def test_a_change_refused_at_apply_time_rolls_everything_back(self, tmp_path: Path) -> None:
        """If the store moved on since the preview and a check now fails, nothing is written."""
        store = make_store()
        header, rows = export_rows(store, tmp_path)
        rows.append(["dee@oak.example", "Dee Dee", "", "Admin", "", "", ""])
        change_set = import_users(
            store, "t1", write_edit(tmp_path, header, rows), checks=CHECKS, at=AT
        )
        assert change_set.ok
        with store.unit_of_work() as uow:  # meanwhile, someone else fills the Admin cap
            uow.assignments.add(
                RoleAssignment(
                    id="r9", account_id="a2", trust_id="t1", role="Admin", school_id="s1"
                )
            )
            uow.commit()
        with pytest.raises(BulkImportError, match="nothing was changed"):
            apply_change_set(store, change_set, checks=CHECKS, at=AT)
        with store.unit_of_work() as uow:
            assert 3 == uow.accounts.count()


class TestLocking:
    def test_apply_is_refused_while_another_writer_holds_a_school(self) -> None:
        """Applying waits for no one: a school locked by another unit of work refuses the apply."""
        from schoolsync.errors import ConcurrentWriteError

        store = make_store()
        change_set = edit_selection(
            store, "t1", ["a2"], checks=CHECKS, at=AT, add=[("Staff", "s2")]
        )
        with store.unit_of_work() as other:
            other.lock_school("s2")
            with pytest.raises(ConcurrentWriteError):
                apply_change_set(store, change_set, checks=CHECKS, at=AT)
        apply_change_set(store, change_set, checks=CHECKS, at=AT)


class TestEditSelection:
    def test_selection_edit_uses_the_same_change_set_path(self) -> None:
        """Edit Selected: add a role to several accounts and make them inactive, then apply."""
        store = make_store()
        change_set = edit_selection(
            store,
            "t1",
            ["a2", "a3"],
            checks=CHECKS,
            at=AT,
            add=[("Staff", "s1")],
            make_inactive=True,
        )
        assert [
            (ChangeKind.DEACTIVATE, "a2"),
            (ChangeKind.DEACTIVATE, "a3"),
            (ChangeKind.ADD_ROLE, "a3"),
        ] == [(c.kind, c.account_id) for c in change_set.changes]
        apply_change_set(store, change_set, checks=CHECKS, at=AT)
        with store.unit_of_work() as uow:
            assert {AccountStatus.INACTIVE} == {
                uow.accounts.require(i).status for i in ("a2", "a3")
            }

    def test_selection_problems_unknown_account_and_cap(self) -> None:
        """Unknown accounts and a cap the selection would exceed are reported."""
        change_set = edit_selection(
            make_store(), "t1", ["a2", "zz", "a3"], checks=CHECKS, at=AT, add=[("Admin", "s1")]
        )
        assert [ProblemCode.UNKNOWN_ACCOUNT, ProblemCode.CAP_EXCEEDED] == [
            p.code for p in change_set.problems
        ]


class TestFiles:
    def test_xlsx_export_drops_control_characters_it_cannot_hold(self, tmp_path: Path) -> None:
        """A name with a bell character exports to XLSX (without it) instead of failing."""
        store = make_store(ben_named="Ben\x07")
        path = export_users(store, "t1", tmp_path / "users.xlsx")
        assert "Ben" == row_of([list(r) for r in read_sheet(path).rows], "ben@oak.example")[1]

    def test_xlsx_cells_are_text_not_formulas(self, tmp_path: Path) -> None:
        """Every exported XLSX cell is stored as text, so nothing runs when the file is opened."""
        import openpyxl

        path = write_sheet(
            tmp_path / "x.xlsx",
            ["Email", "Name", "Other"],
            [["a@b.example", "=1+1", "\x01=cmd"]],  # a dropped control character uncovers "="
        )
        sheet = openpyxl.load_workbook(path).active
        assert sheet is not None
        assert {"s"} == {cell.data_type for row in sheet.iter_rows() for cell in row}
        assert "'=1+1" == sheet["B2"].value
        assert "'=cmd" == sheet["C2"].value

    def test_unreadable_files_raise_file_format_errors(self, tmp_path: Path) -> None:
        """A CSV named .xlsx, an empty or binary CSV and a .pdf give FileFormatError naming the
        file and saying what is wrong."""
        from schoolsync.errors import FileFormatError

        bad = tmp_path / "bad.xlsx"
        bad.write_text("not a zip")
        with pytest.raises(FileFormatError, match=r"bad\.xlsx"):
            read_sheet(bad)
        with pytest.raises(
            FileFormatError, match=r"bad\.xlsx: named \.xlsx but it is not an Excel"
        ):
            read_sheet(bad)
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        with pytest.raises(FileFormatError, match="empty"):
            read_sheet(empty)
        binary = tmp_path / "binary.csv"
        binary.write_bytes(b"Email,Name\x00\x00\x01")
        with pytest.raises(FileFormatError, match=r"binary\.csv: not a text file"):
            read_sheet(binary)
        pdf = tmp_path / "users.pdf"
        pdf.write_bytes(b"%PDF")
        with pytest.raises(FileFormatError, match=r"users\.pdf: a \.pdf file; expected a \.csv"):
            read_sheet(pdf)

    def test_excel_csv_variants_are_read(self, tmp_path: Path) -> None:
        """Windows-1252 text, UTF-16 "Unicode Text" and semicolon-separated files (European
        Excel) read correctly."""
        legacy = tmp_path / "legacy.csv"
        legacy.write_bytes("Email,Name\r\nzoe@oak.example,Zoë Brontë\r\n".encode("cp1252"))
        assert (("zoe@oak.example", "Zoë Brontë"),) == read_sheet(legacy).rows
        unicode = tmp_path / "unicode.txt"  # Excel's "Unicode Text": UTF-16, tab-separated
        unicode.write_bytes("Email\tName\r\nzoe@oak.example\tZoë Brontë\r\n".encode("utf-16"))
        assert (("zoe@oak.example", "Zoë Brontë"),) == read_sheet(unicode).rows
        semi = tmp_path / "semi.csv"
        semi.write_text('Email;Name;Oakfield Primary\nzoe@oak.example;Zoe;"Staff; Admin"\n')
        sheet = read_sheet(semi)
        assert ("Email", "Name", "Oakfield Primary") == sheet.header
        assert (("zoe@oak.example", "Zoe", "Staff; Admin"),) == sheet.rows

    def test_uploads_are_read_from_open_binary_files(self, tmp_path: Path) -> None:
        """A web download is written to a stream; an upload (bytes, no suffix) is read as XLSX
        or CSV by its content."""
        import io

        store = make_store()
        for xlsx in (True, False):
            download = io.BytesIO()
            export_users_stream(store, "t1", download, xlsx=xlsx)  # a web download
            data = download.getvalue()
            assert xlsx == data.startswith(b"PK")
            change_set = import_users(store, "t1", io.BytesIO(data), checks=CHECKS, at=AT)
            assert change_set.is_empty
            assert "upload" == change_set.source
        with pytest.raises(FileFormatError, match="empty"):
            read_sheet(io.BytesIO(b""), name="blank.csv")
