"""The storage contract run against the SQLite store (a new database file per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schoolsync.ports import Store
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.contracts import StoreContract


class TestSqliteStore(StoreContract):
    """SQLite has one writer at a time: lock_school serialises writers to every school."""

    serialises_all_writers = True

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SqliteStore(tmp_path / "contract.db")
        yield store
        store.close()
