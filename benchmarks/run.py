"""Run every benchmark in this folder: ``python benchmarks/run.py [--quick] [NAME ...]``.

Each ``bench_<area>.py`` has a ``main(argv)`` that prints its figures. ``--quick`` runs small
sizes in seconds (a smoke run); without it the sizes the issues set targets for are used.
Figures go to stdout; docs/performance.md records them with the machine they ran on.
"""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{cpu}; Python {platform.python_version()}; {platform.system()} {platform.release()}"


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all when none are named)."""
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")]
    print(f"machine: {machine()}")
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        spec = importlib.util.spec_from_file_location(script.stem, script)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main(["--quick"] if quick else [])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
