"""The storage contract run against the PostgreSQL store.

Needs a server: SCHOOLSYNC_TEST_POSTGRES_DSN names a role allowed to CREATE DATABASE. The tests
use a throwaway database (dropped at the end) and a fresh schema per test. Without the variable
they are skipped, unless SCHOOLSYNC_REQUIRE_POSTGRES=1 (as in CI), which makes them fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from schoolsync.ports import Store
from schoolsync.testing.contracts import (
    StoreContract,
    postgres_admin_dsn,
    throwaway_postgres_database,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    with throwaway_postgres_database(postgres_admin_dsn()) as dsn:
        yield dsn


class TestPostgresStore(StoreContract):
    """PostgresStore waits for a second writer's school lock; other schools proceed."""

    @pytest.fixture
    def store(self, postgres_dsn: str) -> Iterator[Store]:
        import psycopg

        from schoolsync.storage.postgres import PostgresStore

        schema = f"contract_{secrets.token_hex(4)}"
        store = PostgresStore(postgres_dsn, schema=schema, lock_timeout=20)
        yield store
        store.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
