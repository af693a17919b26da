"""Shared test configuration: hypothesis profiles chosen by HYPOTHESIS_PROFILE, and the
fixtures that open each store (``store``: memory, SQLite and PostgreSQL; ``postgres_dsn``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from schoolsync.ports import Store

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fast", max_examples=15, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# -- stores -----------------------------------------------------------------------------------
# Here rather than in schoolsync.testing: they choose among schoolsync's own three stores and
# this suite's PostgreSQL settings; a host's suite runs its own store through
# schoolsync.testing.contracts.StoreContract, and postgres_admin_dsn and
# throwaway_postgres_database (what these are made of) are public there.


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    """One throwaway PostgreSQL database for the test module (skipped without a server; see
    :func:`schoolsync.testing.contracts.postgres_admin_dsn`)."""
    from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database

    with throwaway_postgres_database(postgres_admin_dsn()) as dsn:
        yield dsn


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind, closed after the test: in memory, SQLite in a temporary
    file, PostgreSQL in a throwaway database of its own (skipped without a server)."""
    # Imported here: this file is loaded by every test, some of which check what an import loads.
    if request.param == "memory":
        from schoolsync.testing.memory import MemoryStore

        yield MemoryStore()
    elif request.param == "sqlite":
        from schoolsync.storage.sqlite import SqliteStore

        with SqliteStore(tmp_path / "store.sqlite3") as sqlite:
            yield sqlite
    else:
        from schoolsync.storage.postgres import PostgresStore
        from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database

        with throwaway_postgres_database(postgres_admin_dsn()) as dsn, PostgresStore(dsn) as pg:
            yield pg
