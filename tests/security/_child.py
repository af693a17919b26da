"""Run schoolsync readers on one hostile file under an address-space limit; print JSON outcomes.

Usage: ``python _child.py LIMIT_MIB PATH READER [READER...]``. After importing everything, the
process caps its own address space at what it already uses plus LIMIT_MIB, then runs each reader
and prints one JSON line per reader: ``ok`` (with a row count), ``typed`` (a SchoolsyncError),
or ``escaped`` (any other exception, MemoryError included).
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable
from pathlib import Path

from hostile_readers import READERS

from schoolsync.errors import SchoolsyncError


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def main() -> None:
    limit_mib, path, *names = sys.argv[1:]
    readers: list[tuple[str, Callable[[Path], int]]] = [(n, READERS[n]) for n in names]
    cap = _vm_size() + int(limit_mib) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    for name, reader in readers:
        try:
            rows = reader(Path(path))
            outcome = {"reader": name, "outcome": "ok", "rows": rows}
        except SchoolsyncError as exc:
            outcome = {
                "reader": name,
                "outcome": "typed",
                "error": type(exc).__name__,
                "message": str(exc)[:300],
            }
        except BaseException as exc:
            outcome = {
                "reader": name,
                "outcome": "escaped",
                "error": type(exc).__name__,
                "message": str(exc)[:300],
            }
        print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
