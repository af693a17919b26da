"""Bad input to every `schoolsync` command is one clear line and exit status 1, never a
traceback: a missing file, a folder given for a file, a file of the wrong format, an XLSX that
is really a CSV, a CSV in an encoding the readers cannot take, an unknown role preset, a role
model file that is not a valid catalogue (the line names the file and the field)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from schoolsync.bulk import export_users
from schoolsync.cli import main
from schoolsync.sources.school_upload import write_school_upload
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a small store, its users' export and one file of each bad kind."""
    root = tmp_path_factory.mktemp("bad-input")
    store = SqliteStore(root / "s.sqlite")
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        uow.schools.add(School(id="s1", name="Oakfield Primary"))
        uow.memberships.add(
            Membership(id="m1", trust_id="t1", school_id="s1", status=MembershipStatus.ACCEPTED)
        )
        uow.commit()
    export_users(store, "t1", root / "users.xlsx")
    write_school_upload(root / "schools.xlsx", [("Oakfield Primary", "LS1 4AP", "140001")])
    store.close()
    (root / "folder").mkdir()
    (root / "renamed.xlsx").write_text("Email,Name\nann@oak.example,Ann Lee\n")  # a CSV
    (root / "latin.csv").write_bytes(b"ID,Forename,Surname\n1,\x81\x8d,\x90\x9d\n")  # not text
    (root / "unicode.csv").write_bytes("ID,Forename,Surname\n1,Zoë,Lee\n".encode("utf-16"))
    (root / "notes.txt").write_text("just some notes\n")
    (root / "report.pdf").write_bytes(b"%PDF-1.7\n")
    roles = '[[permissions]]\nname = "users.manage"\n\n[[roles]]\nname = "Admin"\n'
    (root / "bad-scope.toml").write_text(roles + 'scope = "galaxy"\npermissions = []\n')
    (root / "not-toml.toml").write_text('name = "x"\n[[roles\n')
    (root / "list.json").write_text("[1, 2]\n")
    (root / "utf16.toml").write_bytes(roles.encode("utf-16"))
    (root / "typos.toml").write_text(
        roles + 'scope = "school"\npermissions = ["users.manag"]\nimplies = ["Teachr"]\n'
    )
    return root


CASES = {
    # users export
    "export: missing store": (
        ["users", "export", "{d}/nope.sqlite", "{d}/o.csv"],
        "nope.sqlite: no such file; expected a schoolsync SQLite store",
    ),
    "export: a folder for the store": (
        ["users", "export", "{d}/folder", "{d}/o.csv"],
        "'{d}/folder' is a directory",
    ),
    "export: a store that is not a database": (
        ["users", "export", "{d}/notes.txt", "{d}/o.csv"],
        "notes.txt: not an SQLite database",
    ),
    "export: unknown trust": (
        ["users", "export", "{d}/s.sqlite", "{d}/o.csv", "--trust", "zz"],
        "--trust 'zz': no such trust; the store holds t1 (Northern Lights Trust)",
    ),
    "export: a format it cannot write": (
        ["users", "export", "{d}/s.sqlite", "{d}/o.pdf"],
        "o.pdf: a .pdf file; expected a .csv or .xlsx file",
    ),
    "export: a folder for the output": (
        ["users", "export", "{d}/s.sqlite", "{d}/folder"],
        "'{d}/folder' is a directory",
    ),
    # users import
    "import: missing file": (
        ["users", "import", "{d}/s.sqlite", "{d}/missing.csv"],
        "'{d}/missing.csv' does not exist",
    ),
    "import: a folder for the file": (
        ["users", "import", "{d}/s.sqlite", "{d}/folder"],
        "'{d}/folder' is a directory",
    ),
    "import: an xlsx that is really a csv": (
        ["users", "import", "{d}/s.sqlite", "{d}/renamed.xlsx"],
        "renamed.xlsx: named .xlsx but it is not an Excel workbook (a CSV file renamed?)",
    ),
    "import: a csv in a strange encoding": (
        ["users", "import", "{d}/s.sqlite", "{d}/latin.csv"],
        "latin.csv: the file is neither UTF-8 nor Windows-1252 text",
    ),
    "import: text that is not a bulk file": (
        ["users", "import", "{d}/s.sqlite", "{d}/notes.txt"],
        "notes.txt: not a bulk-user-data file (it needs Email and Name columns)",
    ),
    "import: a pdf": (
        ["users", "import", "{d}/s.sqlite", "{d}/report.pdf"],
        "report.pdf: a .pdf file; expected a .csv or .xlsx file",
    ),
    "import: unknown preset": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--roles", "nope"],
        "--roles 'nope': not a preset (boost-insights, fft-aspire, hodder-admin-hub,",
    ),
    "import: a roles file with a bad field": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--roles", "{d}/bad-scope.toml"],
        "bad-scope.toml, field 'roles[0].scope': role catalogue data is malformed: "
        "invalid value for type, expected RoleScope (value 'galaxy')",
    ),
    "import: a roles file that is not TOML": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--roles", "{d}/not-toml.toml"],
        "not-toml.toml: role catalogue is not valid TOML: Expected ']]' at the end of an array "
        "declaration (at line 2, column 8)",
    ),
    "import: a roles json that is not an object": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--roles", "{d}/list.json"],
        "list.json: role catalogue data is malformed: expected an object with permissions",
    ),
    "import: a roles file that is not UTF-8": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--roles", "{d}/utf16.toml"],
        "utf16.toml: not UTF-8 text; save the role model as UTF-8",
    ),
    "import: a roles file with several mistakes": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--roles", "{d}/typos.toml"],
        "typos.toml: role catalogue is invalid (3 problems): "
        "field \"roles['Admin'].permissions\" (value 'users.manag'): unknown permission; "
        "did you mean 'users.manage'? | field \"roles['Admin'].implies\" (value 'Teachr'): "
        "unknown role | field 'grant_permission' (value 'grants.manage'): unknown permission",
    ),
    "import: unknown importing account": (
        ["users", "import", "{d}/s.sqlite", "{d}/users.xlsx", "--as", "who@oak.example"],
        "--as 'who@oak.example': no account of this trust has this email",
    ),
    "import: missing store": (
        ["users", "import", "{d}/nope.sqlite", "{d}/users.xlsx"],
        "nope.sqlite: no such file",
    ),
    # check-upload
    "check-upload: missing file": (["check-upload", "{d}/missing.xlsx"], "does not exist"),
    "check-upload: a folder": (["check-upload", "{d}/folder"], "'{d}/folder' is a directory"),
    "check-upload: an xlsx that is really a csv": (
        ["check-upload", "{d}/renamed.xlsx"],
        "renamed.xlsx: named .xlsx but it is not an Excel workbook",
    ),
    "check-upload: a csv in a strange encoding": (
        ["check-upload", "{d}/latin.csv"],
        "latin.csv: the file is neither UTF-8 nor Windows-1252 text",
    ),
    "check-upload: a pdf": (["check-upload", "{d}/report.pdf"], "report.pdf: a .pdf file"),
    "check-upload: a store that is not a database": (
        ["check-upload", "{d}/schools.xlsx", "--store", "{d}/notes.txt"],
        "notes.txt: not an SQLite database",
    ),
    # match
    "match: missing file": (
        ["match", "{d}/missing.csv", "{d}/unicode.csv"],
        "'{d}/missing.csv' does not exist",
    ),
    "match: a folder that is no export": (
        ["match", "{d}/folder", "{d}/folder"],
        "folder: not a OneRoster or SDS export (it has no manifest.csv, student.csv or users.csv)",
    ),
    "match: an xlsx that is really a csv": (
        ["match", "{d}/renamed.xlsx", "{d}/renamed.xlsx"],
        "renamed.xlsx: named .xlsx but it is not an Excel workbook",
    ),
    "match: a csv in a strange encoding": (
        ["match", "{d}/latin.csv", "{d}/latin.csv"],
        "latin.csv: the file is neither UTF-8 nor Windows-1252 text",
    ),
    "match: a wrong format": (
        ["match", "{d}/report.pdf", "{d}/report.pdf"],
        "report.pdf: expected a .csv, .xlsx, CTF .xml, or a OneRoster/SDS folder or .zip",
    ),
    "match: a folder for the workbook": (
        ["match", "{d}/users.xlsx", "{d}/users.xlsx", "--out", "{d}/folder"],
        "'{d}/folder' is a directory",
    ),
    # demo
    "demo: a file for the folder": (["demo", "{d}/notes.txt"], "'{d}/notes.txt' is a file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_line_and_exit_1(files: Path, case: str) -> None:
    """The case's message on one line, prefixed "Error: "; exit status 1; no traceback."""
    args, expected = CASES[case]
    result = CliRunner().invoke(main, [a.format(d=files) for a in args])
    assert 1 == result.exit_code, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    lines = result.output.strip().splitlines()
    assert 1 == len(lines), result.output
    assert lines[0].startswith("Error: ")
    assert expected.format(d=files) in lines[0]


def test_a_utf16_bulk_file_is_read(files: Path) -> None:
    """Excel's "Unicode Text" (UTF-16, tab-separated) is a readable bulk file, not garbage."""
    path = files / "users-unicode.txt"
    path.write_bytes("Email\tName\nann@oak.example\tAnn Lée\n".encode("utf-16"))
    result = CliRunner().invoke(main, ["users", "import", str(files / "s.sqlite"), str(path)])
    assert 0 == result.exit_code, result.output
    assert "Change set: 1 create user" in result.output


def test_a_missing_argument_shows_the_usage() -> None:
    """Leaving out an argument is a usage mistake: click's usage line and exit status 2."""
    result = CliRunner().invoke(main, ["users", "export"], prog_name="schoolsync")
    assert 2 == result.exit_code
    assert result.output.startswith("Usage: schoolsync users export [OPTIONS] STORE.sqlite OUT")
    assert "Error: Missing argument 'STORE.sqlite'." in result.output


def test_a_bad_roles_file_error_keeps_its_file_field_and_cause(files: Path) -> None:
    """The error for a bad role model names the file and field as attributes too, and keeps the
    catalogue's problems as its cause."""
    from schoolsync.cli._common import load_catalogue
    from schoolsync.errors import CatalogueError, FileFormatError

    with pytest.raises(FileFormatError) as raised:
        load_catalogue(str(files / "bad-scope.toml"))

    assert ("bad-scope.toml", "roles[0].scope", "galaxy") == (
        raised.value.file,
        raised.value.field,
        raised.value.value,
    )
    assert isinstance(raised.value.__cause__, CatalogueError)
