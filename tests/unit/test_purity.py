"""The pure core stays pure: importing a core module in a fresh interpreter loads no adapter.

``ARCHITECTURE.md`` promises that the domain core imports nothing that does I/O; this test is
that promise, checked. Each module is imported alone in a new interpreter (so nothing an
earlier import loaded can hide a dependency), and the test fails if storage, the file readers,
the bulk files, or a database or workbook driver came with it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: The pure core, as ARCHITECTURE.md lists it.
PURE_MODULES = (
    "schoolsync",
    "schoolsync.errors",
    "schoolsync.identifiers",
    "schoolsync.la_codes",
    "schoolsync.records",
    "schoolsync.records.tables",
    "schoolsync.calendar",
    "schoolsync.people",
    "schoolsync.trusts",
    "schoolsync.audit",
    "schoolsync.serialisation",
    "schoolsync.clock",
    "schoolsync.tables",
    "schoolsync.ports",
    "schoolsync.access",
    "schoolsync.access.catalogue",
    "schoolsync.access.caps",
    "schoolsync.access.rules",
    "schoolsync.access.explain",
    "schoolsync.access.index",
    "schoolsync.access.decision",
    "schoolsync.access.presets",
    "schoolsync.access.admin",
    "schoolsync.access.lifecycle",
    "schoolsync.access.operation",
    "schoolsync.access.activation",
    "schoolsync.matching",
    "schoolsync.sync.plans",
    "schoolsync.sync.planning",
    "schoolsync.sync.state",
    "schoolsync.views",
)

#: What the pure core must never load: adapters, readers, bulk file I/O and their drivers.
FORBIDDEN = (
    "schoolsync.storage",
    "schoolsync.sources",
    "schoolsync.bulk",
    "schoolsync.cli",
    "sqlite3",
    "psycopg",
    "psycopg_pool",
    "openpyxl",
)

_PROBE = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    "bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') "
    "for f in json.loads(sys.argv[2]))); print(json.dumps(bad))"
)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_a_pure_module_loads_no_adapter(module: str) -> None:
    """Importing *module* alone loads none of :data:`FORBIDDEN`."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module, json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == [], f"{module} loads {out.stdout.strip()}"


def test_the_probe_sees_an_adapter_when_one_is_loaded() -> None:
    """The check can fail: importing the SQLite store is reported."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "schoolsync.storage.sqlite", json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"schoolsync.storage", "sqlite3"} <= set(json.loads(out.stdout))
