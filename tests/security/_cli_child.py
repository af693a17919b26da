"""Run the schoolsync command line under the readers' memory and CPU limits (``_child.py``).

Usage: ``python _cli_child.py LIMIT_MIB CPU_SECONDS ARG...``. Every subcommand is imported
first (they load lazily), so the limits measure the command's work, not Python's start-up.
"""

from __future__ import annotations

import importlib
import sys

from _child import allow_cpu, limit_resources

import schoolsync.cli as cli


def main() -> None:
    limit_mib, cpu_seconds, *args = sys.argv[1:]
    for target, _ in cli._COMMANDS.values():
        importlib.import_module(target.partition(":")[0])
    import schoolsync.review  # noqa: F401 - the workbook writer `match --out` loads on use

    limit_resources(int(limit_mib))
    allow_cpu(float(cpu_seconds))
    sys.argv = ["schoolsync", *args]
    cli.main()


if __name__ == "__main__":
    main()
