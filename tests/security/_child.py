"""Run schoolsync readers on one hostile file under memory and CPU limits; print JSON outcomes.

Usage: ``python _child.py LIMIT_MIB CPU_SECONDS PATH READER [READER...]``. After importing
everything, the process caps its own address space at what it already uses plus LIMIT_MIB
(``RLIMIT_AS``), then runs each reader with ``RLIMIT_CPU`` set to the CPU time used so far plus
CPU_SECONDS, and prints one JSON line per reader: ``ok`` (with a row count and the CPU seconds
it took), ``typed`` (a SchoolsyncError), or ``escaped`` (any other exception, MemoryError
included). A reader that uses more CPU time than its bound is killed by the kernel (SIGXCPU):
the parent sees that signal, and the readers whose lines are missing. The bound is lifted as
each reader returns, so printing and the interpreter's teardown are never counted.
"""

from __future__ import annotations

import json
import math
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hostile_readers import READERS

from schoolsync.errors import SchoolsyncError


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def limit_resources(limit_mib: int) -> None:
    """Cap the address space at what this process uses now plus *limit_mib*; no core files;
    SIGXCPU kills (whatever the parent left it as)."""
    cap = _vm_size() + limit_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)


def cpu_used() -> float:
    """CPU seconds this process has used (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def allow_cpu(seconds: float) -> None:
    """Let this process use *seconds* more CPU time, then be killed by SIGXCPU (the kernel
    counts whole seconds: the bound is met to within one second)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(cpu_used() + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def lift_cpu_limit() -> None:
    """No CPU bound beyond this point: a reader's bound covers that reader, not the printing
    of its outcome or the interpreter's teardown (freeing what the last reader built)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def main() -> None:
    limit_mib, cpu_seconds, path, *names = sys.argv[1:]
    readers: list[tuple[str, Callable[[Path], int]]] = [(n, READERS[n]) for n in names]
    limit_resources(int(limit_mib))
    for name, reader in readers:
        allow_cpu(float(cpu_seconds))
        began, wall = cpu_used(), time.monotonic()
        try:
            rows = reader(Path(path))
            outcome: dict[str, object] = {"reader": name, "outcome": "ok", "rows": rows}
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
        lift_cpu_limit()
        # Measured, not asserted: the CPU bound above is what the test relies on.
        outcome["cpu_s"] = round(cpu_used() - began, 3)
        outcome["wall_s"] = round(time.monotonic() - wall, 3)
        print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
