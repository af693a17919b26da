"""Every reader, on every class of hostile input and at several sizes, ends in a correct read or
a typed error while its address space is capped at 200 MiB above what it started with.

Each file is read in a fresh subprocess (``_child.py``) that sets ``RLIMIT_AS`` on itself, so a
reader that balloons dies with ``MemoryError`` (reported as "escaped") instead of taking the
machine; a generous subprocess timeout catches a reader that runs away in time. Inputs stay
under 1 MiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hostile_corpus as corpus
import pytest
from hostile_readers import BUNDLE_READERS, CSV_READERS, XLSX_READERS

CHILD = Path(__file__).with_name("_child.py")
#: The address space any reader may add while reading an input under 1 MiB.
LIMIT_MIB = 200
#: Generous: a bounded reader finishes these inputs in a few seconds on a slow CI machine.
TIMEOUT_S = 120


def run_readers(
    path: Path, readers: tuple[str, ...], timeout: float = TIMEOUT_S
) -> list[dict[str, object]]:
    """The outcome of each reader on *path*, read under the memory limit."""
    done = subprocess.run(
        [sys.executable, str(CHILD), str(LIMIT_MIB), str(path), *readers],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(outcomes) == len(readers), done.stderr[-2000:]
    return outcomes


def assert_bounded(outcomes: list[dict[str, object]]) -> None:
    # A MemoryError wrapped in a typed error is still a reader that ran out of memory.
    escaped = [
        o for o in outcomes if o["outcome"] == "escaped" or "MemoryError" in str(o.get("message"))
    ]
    assert not escaped, escaped


#: Each XLSX class at a small and a large size (the large one just under 1 MiB).
XLSX_CASES = [
    ("xfd", 1_000),
    ("xfd", 40_000),
    ("shared_strings", 100_000),
    ("many_shared_strings", 20_000),
    ("rich_text_runs", 20_000),
    ("deep_nesting", 100_000),
    ("row_claim", 1),
    ("malformed", 10_000),
    ("damaged_lzma", 10_000),
]


@pytest.mark.parametrize(("attack", "size"), XLSX_CASES)
def test_xlsx_readers_are_bounded(tmp_path: Path, attack: str, size: int) -> None:
    """Bulk, School Upload and tabular XLSX readers: a read or a typed error, within bounds."""
    data = corpus.XLSX[attack](size)
    assert len(data) < 1024 * 1024
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(data)
    outcomes = run_readers(path, XLSX_READERS)
    assert_bounded(outcomes)
    if attack in {"row_claim", "malformed", "damaged_lzma", "deep_nesting"}:
        assert {o["outcome"] for o in outcomes} == {"typed"}, outcomes


def test_xfd_rows_are_read_without_padding(tmp_path: Path) -> None:
    """A cell at column XFD on every row: the rows are read (the far cells are not)."""
    path = tmp_path / "xfd.xlsx"
    path.write_bytes(corpus.xlsx_xfd(1_000))
    outcomes = run_readers(path, ("bulk",))
    # Every data row is empty within the header's columns: none is left once trailing empty
    # rows are dropped.
    assert outcomes == [{"reader": "bulk", "outcome": "ok", "rows": 0}]


BUNDLE_CASES = [
    ("commas", 2_000),
    ("commas", 600_000),
    ("blank_lines", 30_000),
    ("blank_lines", 600_000),
    ("long_line", 600_000),
    ("damaged_lzma", 10_000),
]


@pytest.mark.parametrize(("attack", "size"), BUNDLE_CASES)
def test_bundle_readers_are_bounded(tmp_path: Path, attack: str, size: int) -> None:
    """OneRoster and SDS zips whose members inflate without limit, or are damaged: a typed
    error (or a read), within the memory cap, never a bare MemoryError or LZMAError."""
    data = corpus.BUNDLE[attack](size)
    assert len(data) < 1024 * 1024
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    outcomes = run_readers(path, BUNDLE_READERS)
    assert_bounded(outcomes)
    if attack != "blank_lines":
        assert {o["outcome"] for o in outcomes} == {"typed"}, outcomes


CSV_CASES = [
    ("single_line", 900_000),
    ("many_commas", 900_000),
    ("quoted_field", 900_000),
]


@pytest.mark.parametrize(("attack", "size"), CSV_CASES)
def test_csv_readers_are_bounded(tmp_path: Path, attack: str, size: int) -> None:
    """Plain CSV: one giant line, endless commas, an unclosed quote: bounded, typed."""
    path = tmp_path / "hostile.csv"
    path.write_bytes(corpus.CSV[attack](size))
    outcomes = run_readers(path, CSV_READERS)
    assert_bounded(outcomes)


def test_a_500_mb_single_line_csv_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """A 500 MB file with no line break (sparse: it costs no disk) is refused by every CSV
    reader within the memory cap: lines are read with a bound, whole-sheet readers check the
    size first."""
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"Email,School name,Postcode,URN\n" + b"a" * 1000)
        handle.truncate(500 * 1000 * 1000)
    outcomes = run_readers(path, CSV_READERS)
    assert_bounded(outcomes)
    assert {o["outcome"] for o in outcomes} == {"typed"}, outcomes


def test_a_gias_field_beyond_the_csv_limit_is_typed(tmp_path: Path) -> None:
    """A GIAS links field over 128 KiB is a FileFormatError, not _csv.Error."""
    path = tmp_path / "links.csv"
    path.write_bytes(corpus.gias_big_field(200_000))
    assert run_readers(path, ("gias",))[0]["error"] == "FileFormatError"


def test_a_deeply_nested_ctf_reads_in_linear_time(tmp_path: Path) -> None:
    """140,000 levels of nesting (about 1 MiB): read in well under the timeout. The element
    path used to be rebuilt at every end tag (80,000 levels took 20.7 s; this depth, a minute)."""
    path = tmp_path / "deep.xml"
    path.write_bytes(corpus.ctf_deep(1_000_000))
    outcomes = run_readers(path, ("ctf",), timeout=30)
    assert outcomes == [{"reader": "ctf", "outcome": "ok", "rows": 1}]


def test_elements_outside_pupil_data_do_not_accumulate(tmp_path: Path) -> None:
    """A million elements outside the pupil data (4 MB) used to take about 470 MiB (3 million,
    1.4 GiB): now each is dropped as it ends, and the read fits the 200 MiB cap."""
    path = tmp_path / "wide.xml"
    path.write_bytes(corpus.ctf_wide(4_000_000))
    assert run_readers(path, ("ctf",)) == [{"reader": "ctf", "outcome": "ok", "rows": 1}]
