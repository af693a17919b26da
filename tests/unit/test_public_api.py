"""The curated public names of ``schoolsync`` resolve, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

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
