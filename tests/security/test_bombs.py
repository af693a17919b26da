"""Every reader, on every class of hostile input and at several sizes, ends in a correct read or
a typed error within a stated bound: 200 MiB of address space above what it started with, and
5 s of CPU time for any input under 1 MiB (5 s per MiB begun for the few larger inputs).

Each file is read in a fresh subprocess (``_child.py``) that sets ``RLIMIT_AS`` on itself, and
``RLIMIT_CPU`` before each reader: a reader that balloons dies with ``MemoryError`` (reported as
"escaped"), one that runs too long is killed by the kernel with SIGXCPU. CPU time, not wall-clock
time: on a machine loaded by other work, wall-clock time says little about the reader, CPU time
counts only what it did. A generous wall-clock timeout remains as a guard against a hang.

``SCHOOLSYNC_BOMB_FIGURES=path`` appends each reader's measured CPU and wall time to *path*
(JSON lines), for ``docs/security.md``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import hostile_corpus as corpus
import pytest
from hostile_readers import BUNDLE_READERS, CSV_READERS, XLSX_READERS

CHILD = Path(__file__).with_name("_child.py")
#: The address space any reader may add while reading an input under 1 MiB.
LIMIT_MIB = 200
#: The CPU time any reader may use on an input under 1 MiB (and per MiB begun above that).
CPU_S_PER_MIB = 5
#: A guard against a hang only (a sleeping reader uses no CPU): the CPU bound is the test.
TIMEOUT_S = 300
_MIB = 1024 * 1024


def cpu_bound(size: int) -> int:
    """The CPU seconds a reader may use on an input of *size* bytes."""
    return CPU_S_PER_MIB * max(1, math.ceil(size / _MIB))


def read_in_child(
    path: Path, readers: tuple[str, ...], cpu_s: int
) -> tuple[list[dict[str, object]], subprocess.CompletedProcess[str]]:
    """Each reader's outcome on *path* (with its CPU and wall time), read in ``_child.py``
    under the memory limit and *cpu_s* of CPU per reader; and the finished process."""
    done = subprocess.run(
        [sys.executable, str(CHILD), str(LIMIT_MIB), str(cpu_s), str(path), *readers],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return [json.loads(s) for s in done.stdout.splitlines() if s.startswith("{")], done


def run_readers(
    path: Path, readers: tuple[str, ...], *, cpu_s: int | None = None
) -> list[dict[str, object]]:
    """The outcome of each reader on *path*, read under the memory and CPU limits."""
    bound = cpu_s if cpu_s is not None else cpu_bound(path.stat().st_size)
    outcomes, done = read_in_child(path, readers, bound)
    if done.returncode == -signal.SIGXCPU:
        # The child lifts the bound as each reader returns: the killed one is the first
        # without an outcome line.
        slow = readers[len(outcomes)] if len(outcomes) < len(readers) else "(after the last)"
        pytest.fail(f"reader {slow!r} used more than {bound} s of CPU on {path.name}")
    assert len(outcomes) == len(readers), done.stderr[-2000:]
    figures = os.environ.get("SCHOOLSYNC_BOMB_FIGURES")
    if figures:
        with open(figures, "a", encoding="utf-8") as out:
            for o in outcomes:
                out.write(json.dumps({"file": path.name, "bytes": path.stat().st_size, **o}) + "\n")
    for o in outcomes:
        del o["cpu_s"], o["wall_s"]
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
    ("shared_strings", 10_000),
    ("shared_strings", 100_000),
    ("many_shared_strings", 2_000),
    ("many_shared_strings", 20_000),
    ("rich_text_runs", 2_000),
    ("rich_text_runs", 20_000),
    ("deep_nesting", 1_000),
    ("deep_nesting", 100_000),
    ("empty_cells", 2_000),
    ("empty_cells", 20_000),
    ("dense_cells", 60_000),
    ("dense_cells", 600_000),
    ("empty_rows", 2_000),
    ("empty_rows", 30_000),
    ("row_claim", 1),
    ("malformed", 1_000),
    ("malformed", 10_000),
    ("damaged_lzma", 1_000),
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
    if attack in {"row_claim", "malformed", "damaged_lzma", "deep_nesting", "empty_cells"}:
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
    ("long_line", 2_000),
    ("long_line", 600_000),
    ("damaged_lzma", 1_000),
    ("damaged_lzma", 10_000),
]


@pytest.mark.parametrize(("attack", "size"), BUNDLE_CASES)
def test_bundle_readers_are_bounded(tmp_path: Path, attack: str, size: int) -> None:
    """OneRoster and SDS zips whose members inflate without limit, or are damaged: a typed
    error (or a read), within the memory and CPU caps, never a bare MemoryError or LZMAError.
    (The blank lines used to be read one by one, each a row to skip: 3 MB of them took 4-7 s
    of CPU per reader, 60 MB minutes; the CPU cap fails that.)"""
    data = corpus.BUNDLE[attack](size)
    assert len(data) < 1024 * 1024
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    outcomes = run_readers(path, BUNDLE_READERS)
    assert_bounded(outcomes)
    if attack != "blank_lines":
        assert {o["outcome"] for o in outcomes} == {"typed"}, outcomes


CSV_CASES = [
    ("single_line", 9_000),
    ("single_line", 900_000),
    ("many_commas", 9_000),
    ("many_commas", 900_000),
    ("quoted_field", 9_000),
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
    outcomes = run_readers(path, CSV_READERS, cpu_s=CPU_S_PER_MIB)  # its content is 1 KB
    assert_bounded(outcomes)
    assert {o["outcome"] for o in outcomes} == {"typed"}, outcomes


@pytest.mark.parametrize("size", [200_000, 900_000])
def test_a_gias_field_beyond_the_csv_limit_is_typed(tmp_path: Path, size: int) -> None:
    """A GIAS links field over 128 KiB is a FileFormatError, not _csv.Error."""
    path = tmp_path / "links.csv"
    path.write_bytes(corpus.gias_big_field(size))
    assert run_readers(path, ("gias",))[0]["error"] == "FileFormatError"


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_a_deeply_nested_ctf_reads_in_linear_time(tmp_path: Path, size: int) -> None:
    """Up to 140,000 levels of nesting (just under 1 MiB): read within the CPU bound. The
    element path used to be rebuilt at every end tag (80,000 levels took 20.7 s; this depth,
    a minute)."""
    path = tmp_path / "deep.xml"
    path.write_bytes(corpus.ctf_deep(size))
    assert path.stat().st_size < _MIB
    outcomes = run_readers(path, ("ctf",))
    assert outcomes == [{"reader": "ctf", "outcome": "ok", "rows": 1}]


@pytest.mark.parametrize("size", [1_000_000, 4_000_000])
def test_elements_outside_pupil_data_do_not_accumulate(tmp_path: Path, size: int) -> None:
    """A million elements outside the pupil data (4 MB) used to take about 470 MiB (3 million,
    1.4 GiB): now each is dropped as it ends, and the read fits the 200 MiB cap (and 5 s of CPU
    per MiB)."""
    path = tmp_path / "wide.xml"
    path.write_bytes(corpus.ctf_wide(size))
    assert run_readers(path, ("ctf",)) == [{"reader": "ctf", "outcome": "ok", "rows": 1}]
