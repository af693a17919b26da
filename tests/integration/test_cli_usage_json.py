"""Under ``--json``, click's own argument-parsing errors (a missing argument, an unknown option,
a bad choice, a missing file) are the same JSON object as every other error (``docs/cli.md``):
``command``, ``ok: false``, ``warnings``, ``error``, ``exit_code`` 2 (1 for a missing file,
as without ``--json``), on standard output, with click's usage text still on standard error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from schoolsync.cli import main

CASES = [
    (["match", "--json"], "match", 2, "Missing argument 'APP_FILE'"),
    (["match", "a.csv", "b.csv", "--kind", "teachers", "--json"], "match", 2, "'teachers'"),
    (["match", "a.csv", "b.csv", "--bogus", "--json"], "match", 2, "No such option '--bogus'"),
    (["users", "import", "--json"], "users import", 2, "Missing argument"),
    (["check-upload", "--json", "--sheet"], "check-upload", 2, "requires an argument"),
    (["nosuch", "--json"], "schoolsync", 2, "No such command 'nosuch'"),
    (["check-upload", "missing.xlsx", "--json"], "check-upload", 1, "does not exist"),
]


def _usage_json(stdout: str) -> dict[str, object]:
    found = json.loads(stdout)
    assert isinstance(found, dict)
    assert set(found) == {"command", "ok", "warnings", "error", "exit_code"}, found
    return found


@pytest.mark.parametrize(("args", "command", "code", "says"), CASES)
def test_a_parsing_error_is_json_under_json(
    args: list[str],
    command: str,
    code: int,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The object names the command and the error; the exit status is click's (2 for usage)."""
    monkeypatch.chdir(tmp_path)
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("ID,Forename,Surname\n")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, result.output
    found = _usage_json(result.stdout)
    assert found["ok"] is False
    assert found["exit_code"] == code
    assert found["command"] == command
    assert says in str(found["error"])
    assert found["warnings"] == []
    assert "Error:" in result.stderr  # the human message stays on standard error


def test_without_json_stdout_stays_empty() -> None:
    """Without ``--json`` nothing changes: the usage text on standard error, nothing on
    standard output."""
    result = CliRunner().invoke(main, ["match", "--kind", "teachers"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr


def test_json_after_a_double_dash_is_an_argument_not_the_option() -> None:
    """``-- --json`` passes the text ``--json`` on as an argument (a file that does not exist):
    no JSON object."""
    result = CliRunner().invoke(main, ["check-upload", "--", "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "'--json' does not exist" in result.stderr


def test_an_error_the_command_raises_is_printed_once(tmp_path: Path) -> None:
    """A usage mistake found by the command itself (``--out`` not ending .xlsx) is one JSON
    object, not two."""
    app = tmp_path / "app.csv"
    mis = tmp_path / "mis.csv"
    for path in (app, mis):
        path.write_text("ID,Forename,Surname\np1,Ann,Lee\n")
    result = CliRunner().invoke(
        main, ["match", str(app), str(mis), "--out", str(tmp_path / "x.csv"), "--json"]
    )
    assert result.exit_code == 2
    assert _usage_json(result.stdout)["exit_code"] == 2


def test_a_real_process_prints_the_json_and_exits_2(tmp_path: Path) -> None:
    """The installed entry point, in a real process: JSON on stdout, exit status 2."""
    done = subprocess.run(
        [sys.executable, "-c", "from schoolsync.cli import main; main()", "match", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    found = _usage_json(done.stdout)
    assert found == {
        "command": "match",
        "ok": False,
        "warnings": [],
        "error": "Missing argument 'APP_FILE'.",
        "exit_code": 2,
    }
    assert "Traceback" not in done.stderr
