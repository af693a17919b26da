"""The command line's conventions: exit codes (0 done, 1 problems in the data, 2 usage),
`--json` on every command, `--quiet`, `-v` showing the library's log, warnings on standard
error with "and N more", `match --out` never replacing an input, quiet `| head`, progress by
rows within 80 columns, and `--help`/`--version` that import no subcommand."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from schoolsync.cli import main
from schoolsync.cli._common import Progress
from schoolsync.sources.school_upload import write_school_upload

HEADER = "ID,Forename,Surname,Year\n"
ROWS = "".join(f"p{i},Ann{i},Lee,Q{i}\n" for i in range(14))  # 14 unknown year codes


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def pupils(tmp_path: Path) -> Path:
    path = tmp_path / "pupils.csv"
    path.write_text(HEADER + ROWS)
    return path


def test_match_out_never_replaces_an_input_and_must_be_xlsx(pupils: Path, tmp_path: Path) -> None:
    """`--out` naming an input (even by another path) or not ending .xlsx is a usage mistake
    (exit status 2); the input is untouched."""
    before = pupils.read_bytes()
    for out in (pupils, tmp_path / "." / "pupils.csv"):
        code, _, stderr = run("match", str(pupils), str(pupils), "--out", str(out))
        assert 2 == code
        assert "the output must be a .xlsx file" in stderr
    renamed = tmp_path / "mis.xlsx"
    renamed.write_bytes(b"")
    code, _, stderr = run("match", str(pupils), str(renamed), "--out", str(renamed))
    assert 2 == code
    assert "that is an input file; it would be overwritten" in stderr
    assert before == pupils.read_bytes()


def test_warnings_go_to_stderr_ten_then_and_n_more(pupils: Path, tmp_path: Path) -> None:
    """Fourteen warnings: ten shown on standard error, then "and 4 more"; standard output
    holds none; --json lists all fourteen; --quiet shows nothing."""
    args = ["match", str(pupils), str(pupils), "--out", str(tmp_path / "r.xlsx")]
    code, stdout, stderr = run(*args)
    assert 0 == code, stderr
    assert "warning:" not in stdout
    shown = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    assert 11 == len(shown)
    assert "warning: ... and 4 more warnings (--json lists them all)" == shown[-1]
    code, stdout, stderr = run(*args, "--json")
    assert 0 == code
    payload = json.loads(stdout)
    assert 14 == len([w for w in payload["warnings"] if "is not an NC year code" in w])
    assert {"Not matched": 0, "New": 0, "May match": 0, "Matched": 14} == payload["counts"]
    assert (True, 0, "match") == (payload["ok"], payload["exit_code"], payload["command"])
    assert "" == stderr
    code, stdout, stderr = run(*args, "--quiet")
    assert (0, "", "") == (code, stdout, stderr)


def test_exit_codes_and_json_errors(pupils: Path, tmp_path: Path) -> None:
    """0 done, 1 problems in the data, 2 a usage mistake; under --json a failure is a JSON
    object too (ok false, error, exit_code, problems)."""
    code, _, stderr = run("match", str(pupils), str(pupils), "--kind", "teachers")
    assert 2 == code
    assert "Invalid value for '--kind'" in stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Forename,Surname,DOB\n1,Ann,Lee,31/02/2019\n2,Ben,,2019-01-01\n")
    out = str(tmp_path / "r.xlsx")
    code, stdout, _ = run("match", str(bad), str(pupils), "--out", out, "--json")
    assert 1 == code
    payload = json.loads(stdout)
    assert (False, 1) == (payload["ok"], payload["exit_code"])
    assert 2 == len(payload["problems"])
    assert "February has no 31st" in payload["problems"][0]
    code, stdout, _ = run("match", str(pupils), str(pupils), "--out", "x.csv", "--json")
    assert 2 == code
    assert 2 == json.loads(stdout)["exit_code"]


def test_json_on_every_command(tmp_path: Path) -> None:
    """demo, users export, users import, check-upload: each prints one JSON object."""
    code, stdout, _ = run("demo", str(tmp_path / "demo"), "--json")
    assert 0 == code
    demo = json.loads(stdout)
    assert demo["database"].endswith("schoolsync-demo.sqlite")
    assert demo["steps"]
    db = demo["database"]
    users = tmp_path / "users.csv"
    code, stdout, _ = run("users", "export", db, str(users), "--json")
    assert 0 == code
    exported = json.loads(stdout)
    assert exported["users"] > 0
    code, stdout, _ = run("users", "import", db, str(users), "--json")
    assert 0 == code
    assert {"applied": False, "changes": []} == {
        k: v for k, v in json.loads(stdout).items() if k in {"applied", "changes"}
    }
    upload = write_school_upload(tmp_path / "s.csv", [("Oak", "LS1 4AP", "1"), ("Ash", "", "")])
    code, stdout, _ = run("check-upload", str(upload), "--json")
    assert 1 == code
    checked = json.loads(stdout)
    assert (2, False) == (checked["rows"], checked["ok"])
    assert checked["problems"]


def test_verbose_shows_the_library_log_without_personal_data(pupils: Path, tmp_path: Path) -> None:
    """-v shows the library's log lines (ids and counts, no names) on standard error."""
    args = ["match", str(pupils), str(pupils), "--out", str(tmp_path / "r.xlsx")]
    _, _, quiet = run(*args)
    assert "log:" not in quiet
    code, _, stderr = run(*args, "-v")
    assert 0 == code
    assert "log: schoolsync.sources.tabular: read school school from pupils.csv: 14 pupil(s)" in (
        stderr
    )
    assert "Ann" not in "\n".join(line for line in stderr.splitlines() if line.startswith("log:"))


def test_progress_counts_rows_on_one_line_within_80_columns() -> None:
    """The progress line names the stage and the rows read, never wider than 79 characters
    (a long file name is cut), and is drawn only on a terminal."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with Progress("Matching", stream=stream) as progress:
        progress.stage("reading " + "a-very-long-export-name-" * 6 + ".csv")
        for _ in range(3):
            progress.advance(20_000)
        assert "60,000 rows" in progress.line() or progress.line().endswith("…".ljust(1))
        assert 79 == len(progress.line())
    frames = [f for f in stream.getvalue().split("\r") if f]
    assert frames
    assert all(len(f) <= 79 for f in frames)
    short = Progress("Matching", stream=Terminal())
    short.stage("reading mis.csv")
    short.advance(1234)
    assert short.line().startswith("Matching · reading mis.csv · 1,234 rows · ")
    redirected = io.StringIO()
    with Progress("Matching", stream=redirected) as progress:
        progress.stage("reading")
    assert "" == redirected.getvalue()


def _schoolsync(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from schoolsync.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


def test_help_and_version_import_no_subcommand() -> None:
    """`--help` lists every command and `--version` answers without importing any command's
    module (nor openpyxl): that is what keeps them fast."""
    code = (
        "import sys\nfrom schoolsync.cli import main\n"
        "try:\n    main([sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m.startswith(('schoolsync.cli.', 'openpyxl'))]\n"
        "print('LOADED', loaded)\n"
    )
    for flag in ("--help", "--version"):
        done = subprocess.run(
            [sys.executable, "-c", code, flag], capture_output=True, text=True, check=True
        )
        assert "LOADED []" in done.stdout, done.stdout
    listed = _schoolsync("--help").stdout
    for command in ("demo", "match", "check-upload", "users"):
        assert f"  {command} " in listed


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`schoolsync check-upload big.csv | head -1`: no "Broken pipe" error, no traceback."""
    rows = [(f"School {i}", "", "") for i in range(3000)]  # 3000 rows with problems
    upload = write_school_upload(tmp_path / "big.csv", rows)
    env = dict(os.environ)
    done = subprocess.run(
        f'"{sys.executable}" -c "from schoolsync.cli import main; main()" '
        f'check-upload "{upload}" | head -1',
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.stdout.startswith("big.csv")
    assert "Broken pipe" not in done.stderr
    assert "Traceback" not in done.stderr
