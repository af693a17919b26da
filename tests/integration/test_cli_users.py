"""`schoolsync users export|import` against an SQLite store, and the CLI's error handling."""

from __future__ import annotations

import io
import sys
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.bulk import read_sheet, write_sheet
from schoolsync.cli import main
from schoolsync.cli._common import run_steps
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust


def make_db(path: Path) -> Path:
    """A trust with two member schools and three accounts, Progress Teaching roles."""
    store = SqliteStore(path)
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        for sid, name in (("s1", "Oakfield Primary"), ("s2", "Riverside Academy")):
            uow.schools.add(School(id=sid, name=name))
            uow.memberships.add(
                Membership(
                    id=f"m{sid}", trust_id="t1", school_id=sid, status=MembershipStatus.ACCEPTED
                )
            )
        for aid, email, name in (
            ("a1", "ada@oak.example", "Ada Lovelace"),
            ("a2", "ben@oak.example", "Ben Okri"),
            ("a3", "cy@river.example", "Cy Twombly"),
        ):
            uow.accounts.add(
                Account(id=aid, trust_id="t1", email=email, name=name, status=AccountStatus.ACTIVE)
            )
        places: tuple[tuple[str, str, str, str | None], ...] = (
            ("r1", "a1", "Trust Admin", None),
            ("r2", "a2", "Staff", "s1"),
            ("r3", "a3", "Admin", "s2"),
        )
        for rid, aid, role, at_school in places:
            uow.assignments.add(
                RoleAssignment(
                    id=rid, account_id=aid, trust_id="t1", role=role, school_id=at_school
                )
            )
        uow.commit()
    store.close()
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_export_writes_the_bulk_file(tmp_path: Path) -> None:
    """`users export` writes the trust's users in the bulk-user-data shape."""
    db = make_db(tmp_path / "s.sqlite")
    code, output = run("users", "export", str(db), str(tmp_path / "users.xlsx"))
    assert 0 == code, output
    assert "Wrote 3 users" in output
    sheet = read_sheet(tmp_path / "users.xlsx")
    assert (
        "Email",
        "Name",
        "Edited",
        "Oakfield Primary",
        "Riverside Academy",
        "Trust Roles",
        "Inactive",
    ) == sheet.header


def test_import_previews_then_applies(tmp_path: Path) -> None:
    """`users import` only previews; --as applies that account's rights; --apply makes the
    changes."""
    db = make_db(tmp_path / "s.sqlite")
    run("users", "export", str(db), str(tmp_path / "users.csv"))
    sheet = read_sheet(tmp_path / "users.csv")
    rows = [list(r) for r in sheet.rows]
    rows.append(["dee@oak.example", "Dee Dee", "", "Staff", "", "", ""])
    edited = write_sheet(tmp_path / "edited.csv", sheet.header, rows)

    code, output = run("users", "import", str(db), str(edited))
    assert 0 == code, output
    assert "Change set: 1 create user, 1 add role" in output
    assert "Preview only" in output
    store = SqliteStore(db)
    with store.unit_of_work() as uow:
        assert 3 == uow.accounts.count()
    store.close()

    code, output = run("users", "import", str(db), str(edited), "--as", "ada@oak.example")
    assert 1 == code
    # No escalation; the refusal names the importer, not their record id.
    assert "Ada Lovelace cannot give 'Staff': it carries `feedback.give`" in output

    code, output = run("users", "import", str(db), str(edited), "--apply")
    assert 0 == code, output
    assert "Applied 2 change(s); 1 account(s) created." in output
    store = SqliteStore(db)
    with store.unit_of_work() as uow:
        assert 4 == uow.accounts.count()
    store.close()


def test_import_with_problems_lists_them_and_exits_1(tmp_path: Path) -> None:
    """Problems are listed with row and column; the exit status is 1 and nothing changes."""
    db = make_db(tmp_path / "s.sqlite")
    path = write_sheet(
        tmp_path / "bad.csv",
        ["Email", "Name", "Oakfeld Primary", "Riverside Academy"],
        [["not-an-email", "X", "", "Staff"], ["new@oak.example", "New", "", "Staf"]],
    )
    code, output = run("users", "import", str(db), str(path), "--apply")
    assert 1 == code
    assert "row 1, column 'Oakfeld Primary': no school of this trust is called" in output
    assert "row 2, column 'Email': not a valid email address" in output
    assert (
        "row 3, column 'Riverside Academy': unknown role 'Staf' (did you mean 'Staff'?)" in output
    )
    assert "Error: bad.csv has 3 problem(s); nothing was changed" in output
    assert "Traceback" not in output


def test_long_work_shows_a_progress_bar_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal, the steps run in order under a progress bar naming each step (on standard
    error); redirected, they run silently, so output files stay clean."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        done: list[str] = []
        run_steps(
            "Importing users.csv",
            [
                ("reading", partial(done.append, "reading")),
                ("checking", partial(done.append, "checking")),
            ],
        )
        assert ["reading", "checking"] == done
        text = stream.getvalue()
        if shown:
            assert "Importing users.csv · checking" in text
            # one line redrawn in place, never wider than an 80-column terminal
            assert all(len(line) < 80 for line in text.split("\r"))
        else:
            assert "" == text


def test_import_shows_a_transfer_with_the_account_giving_up_the_role(tmp_path: Path) -> None:
    """Moving the one Access Coordinator of a school to another account previews as one
    "transfer role" line naming who gives it up, and applies."""
    code, output = run("demo", str(tmp_path / "demo"))
    assert 0 == code, output
    db = tmp_path / "demo" / "schoolsync-demo.sqlite"
    exported = tmp_path / "users.csv"
    assert 0 == run("users", "export", str(db), str(exported))[0]
    text = exported.read_text(encoding="utf-8-sig")
    text = text.replace(
        "amir.khan@oakfield.example,Amir Khan,false,Access Coordinator,",
        "amir.khan@oakfield.example,Amir Khan,false,Teacher,",
    ).replace(
        "dina.patel@oakfield.example,Dina Patel,false,Teacher,",
        "dina.patel@oakfield.example,Dina Patel,false,Access Coordinator,",
    )
    edited = tmp_path / "edited.csv"
    edited.write_text(text, encoding="utf-8")

    code, output = run("users", "import", str(db), str(edited), "--roles", "boost-insights")
    assert 0 == code, output
    assert "1 transfer role" in output
    line = next(x for x in output.splitlines() if x.strip().startswith("transfer role"))
    assert "dina.patel@oakfield.example" in line
    assert "amir.khan@oakfield.example" in line
    assert " from " in next(x for x in output.splitlines() if x.strip().startswith("change"))

    code, output = run(
        "users", "import", str(db), str(edited), "--roles", "boost-insights", "--apply"
    )
    assert 0 == code, output
    assert "Applied 3 change(s)" in output
