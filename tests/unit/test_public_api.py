"""The curated public names of ``schoolsync`` resolve, and importing it stays light."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import schoolsync


@pytest.mark.parametrize("name", schoolsync.__all__)
def test_every_public_name_resolves(name: str) -> None:
    """Each name in ``schoolsync.__all__`` can be read from the package."""
    assert getattr(schoolsync, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not have raises AttributeError, as for any module."""
    with pytest.raises(AttributeError):
        _ = schoolsync.NoSuchThing  # type: ignore[attr-defined]


def test_import_loads_only_the_pure_core() -> None:
    """``import schoolsync`` does not import adapters, readers or optional dependencies."""
    code = (
        "import sys, schoolsync; "
        "heavy = [m for m in ('psycopg', 'openpyxl', 'schoolsync.storage', 'schoolsync.sources',"
        " 'sqlite3', 'hypothesis') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_loads_no_other_schoolsync_module() -> None:
    """``import schoolsync`` loads nothing else of the package (but the lazy-name helper); each
    name loads on first use."""
    code = (
        "import sys, schoolsync; "
        "print(sorted(m for m in sys.modules if m.startswith('schoolsync.')"
        " and m != 'schoolsync._lazy'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_list_drives_all_and_the_lazy_imports() -> None:
    """``__all__`` is exactly the names of ``_EXPORTS`` (plus ``__version__``), and each name
    resolves to the object of the module the list gives for it."""
    exports = schoolsync._EXPORTS
    listed = [name for names in exports.values() for name in names]
    assert len(listed) == len(set(listed))
    assert sorted(schoolsync.__all__) == sorted([*listed, "__version__"])
    for module, names in exports.items():
        for name in names:
            assert getattr(schoolsync, name) is getattr(importlib.import_module(module), name)


def test_the_type_checking_imports_are_the_same_list() -> None:
    """The imports type checkers read (under ``TYPE_CHECKING``) name exactly ``_EXPORTS``."""
    tree = ast.parse(Path(schoolsync.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n))
    static: dict[str, list[str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module is not None
        for alias in node.names:
            assert alias.asname == alias.name  # the explicit re-export form
            static.setdefault(node.module, []).append(alias.name)
    assert {m: sorted(n) for m, n in static.items()} == {
        m: sorted(n) for m, n in schoolsync._EXPORTS.items()
    }


def test_test_doubles_stay_in_schoolsync_testing() -> None:
    """The in-memory store is a test double: ``schoolsync.testing`` has it, the top level not."""
    from schoolsync.testing import MemoryStore

    assert MemoryStore.__module__ == "schoolsync.testing.memory"
    assert "MemoryStore" not in schoolsync.__all__
    with pytest.raises(AttributeError):
        _ = schoolsync.MemoryStore


@pytest.mark.parametrize(
    "name",
    ["SchoolsyncError", "Upn", "Trust", "AccessIndex", "match_pupils", "plan", "SqliteStore"],
)
def test_a_host_s_entry_points_are_at_the_top(name: str) -> None:
    """The names a host app starts from are one import away."""
    assert name in schoolsync.__all__
