"""CPU time and wall time of every reader on the hostile-input corpus (#16).

Each input of ``tests/security/test_bombs.py`` (every attack class at every size it is tested
at) is read by each reader in a subprocess under the same limits as the test (200 MiB above
start, 5 s of CPU per MiB begun); printed is the outcome and the CPU and wall time each reader
took. ``--quick`` runs the smaller size of each class only.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

SECURITY = Path(__file__).resolve().parent.parent / "tests" / "security"
sys.path.insert(0, str(SECURITY))

import hostile_corpus as corpus  # noqa: E402
from hostile_readers import BUNDLE_READERS, CSV_READERS, XLSX_READERS  # noqa: E402
from test_bombs import (  # noqa: E402
    BUNDLE_CASES,
    CSV_CASES,
    XLSX_CASES,
    cpu_bound,
    read_in_child,
)


def _cases(quick: bool) -> list[tuple[str, bytes, str, tuple[str, ...]]]:
    groups = [
        ("xlsx", XLSX_CASES, corpus.XLSX, ".xlsx", XLSX_READERS),
        ("bundle", BUNDLE_CASES, corpus.BUNDLE, ".zip", BUNDLE_READERS),
        ("csv", CSV_CASES, corpus.CSV, ".csv", CSV_READERS),
    ]
    cases = []
    for group, sizes, makers, suffix, readers in groups:
        smallest: dict[str, int] = {}
        for attack, size in sizes:
            smallest[attack] = min(smallest.get(attack, size), size)
        chosen = list(smallest.items()) if quick else sizes
        for attack, size in chosen:
            cases.append((f"{group} {attack} {size:,}", makers[attack](size), suffix, readers))
    for size in ([100_000] if quick else [100_000, 1_000_000]):
        cases.append((f"ctf deep {size:,}", corpus.ctf_deep(size), ".xml", ("ctf",)))
    for size in ([1_000_000] if quick else [1_000_000, 4_000_000]):
        cases.append((f"ctf wide {size:,}", corpus.ctf_wide(size), ".xml", ("ctf",)))
    return cases


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    print(f"{'input':34} {'bytes':>10} {'reader':14} {'outcome':8} {'CPU s':>6} {'wall s':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for label, data, suffix, readers in _cases(quick):
            path = Path(folder) / f"hostile{suffix}"
            path.write_bytes(data)
            lines, done = read_in_child(path, readers, cpu_bound(len(data)))
            for o in lines:
                if len(data) < 1024 * 1024:
                    worst = max(worst, float(str(o["cpu_s"])))
                print(
                    f"{label:34} {len(data):>10,} {o['reader']:14} {o['outcome']:8} "
                    f"{o['cpu_s']:>6.2f} {o['wall_s']:>7.2f}",
                    flush=True,
                )
            if len(lines) < len(readers):
                print(f"{label:34} {readers[len(lines)]}: killed (exit {done.returncode})")
    print(f"worst CPU time of a reader on an input under 1 MiB: {worst:.2f} s (bound 5 s)")


if __name__ == "__main__":
    main(sys.argv[1:])
