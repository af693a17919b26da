"""The command line on hostile files: one line naming the problem, exit status 1, never a
traceback, and never the personal data that made a reader fail; within the readers' bounds
(200 MiB of address space, 5 s of CPU for the command's work, in ``_cli_child.py``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import hostile_corpus as corpus
import openpyxl
import pytest

from schoolsync.bulk import write_sheet

CLI_CHILD = Path(__file__).with_name("_cli_child.py")
#: The memory and CPU the command may use beyond its imports (as for the readers).
LIMIT_MIB = 200
CPU_S = 5


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(CLI_CHILD), str(LIMIT_MIB), str(CPU_S), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,  # a guard against a hang only: the CPU limit is the bound
        check=False,
    )
    assert done.returncode != -signal.SIGXCPU, f"{args[0]} used more than {CPU_S} s of CPU"
    return done


HEADER = ["ID", "Forename", "Surname", "Date of birth"]


def _app(tmp_path: Path) -> Path:
    return write_sheet(tmp_path / "app.csv", HEADER, [["a1", "Jon", "Smith", "2015-09-14"]])


HOSTILE = {
    "xfd.xlsx": lambda: corpus.xlsx_xfd(2_000),
    "malformed.xlsx": lambda: corpus.xlsx_malformed(1_000),
    "lzma.xlsx": lambda: corpus.xlsx_damaged_lzma(1_000),
    "rows.xlsx": lambda: corpus.xlsx_row_claim(1),
    "bundle.zip": lambda: corpus.bundle_damaged_lzma(1_000),
    "commas.zip": lambda: corpus.bundle_commas(2_000),
    "sjis.xml": lambda: corpus.ctf_encoding("Shift_JIS"),
    "line.csv": lambda: corpus.csv_single_line(2_000_000),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_match_reports_a_hostile_file_in_one_line(tmp_path: Path, name: str) -> None:
    """``schoolsync match`` on each hostile MIS file: exit status 0 or 1, no traceback."""
    (tmp_path / name).write_bytes(HOSTILE[name]())
    done = _run("match", str(_app(tmp_path)), name, "--out", "review.xlsx", cwd=tmp_path)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert done.returncode in (0, 1), done.stderr[-3000:]


@pytest.mark.parametrize("name", ["malformed.xlsx", "lzma.xlsx", "rows.xlsx", "xfd.xlsx"])
def test_check_upload_reports_a_hostile_workbook_in_one_line(tmp_path: Path, name: str) -> None:
    """``schoolsync check-upload`` on a broken workbook: a one-line error, no traceback (the
    XFD sheet is readable: its far cells are ignored and it holds no school)."""
    (tmp_path / name).write_bytes(HOSTILE[name]())
    done = _run("check-upload", name, cwd=tmp_path)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert done.returncode == (0 if name == "xfd.xlsx" else 1), done.stdout + done.stderr


def test_control_characters_in_names_do_not_crash_match(tmp_path: Path) -> None:
    """A pupil whose name holds control characters: the review workbook is written with them
    cleaned, and the name is not printed."""
    name = "Zo\x01e\x1b[31mQuintrell\x07"
    write_sheet(tmp_path / "mis.csv", HEADER, [["m1", name, "Smith", "2015-09-14"]])
    done = _run("match", str(_app(tmp_path)), "mis.csv", "--out", "review.xlsx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "Quintrell" not in done.stdout + done.stderr
    cells = [
        str(c)
        for row in openpyxl.load_workbook(tmp_path / "review.xlsx")["Review"].iter_rows(
            values_only=True
        )
        for c in row
        if c is not None
    ]
    cleaned = [c for c in cells if "Quintrell" in c]
    assert cleaned, cells
    assert not any(ch in c for c in cleaned for ch in "\x01\x1b\x07")
