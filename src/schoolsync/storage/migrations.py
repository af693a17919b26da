"""The versioned SQL schema shared by the SQLite and PostgreSQL adapters.

:data:`MIGRATIONS` lists forward migrations, oldest first; each has the statements for both
dialects. Opening a store applies every migration newer than the database's version, in one
transaction, and records it in the ``schoolsync_schema_version`` table. A database whose
version is newer than :data:`SCHEMA_VERSION` is refused with
:class:`~schoolsync.errors.SchemaVersionError`.

Adding an optional field to a record needs no migration (records are stored as JSON). A new
record kind or a new indexed key column does: append a :class:`Migration` and never change an
old one.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from schoolsync.errors import SchemaVersionError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "VERSION_TABLE", "Migration", "pending"]

#: The table recording which migrations were applied (one row per version).
VERSION_TABLE = "schoolsync_schema_version"


@attrs.frozen(kw_only=True)
class Migration:
    """One forward step of the schema, as SQL statements for each dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


# The record tables as version 1 created them: table -> indexed key columns besides id.
# Frozen on purpose: later versions change the schema by appending migrations.
_V1_TABLES: Mapping[str, tuple[str, ...]] = {
    "trusts": (),
    "schools": ("urn",),
    "memberships": ("trust_id", "school_id"),
    "grants": ("trust_id", "school_id"),
    "accounts": ("trust_id",),
    "assignments": ("account_id", "trust_id", "school_id"),
    "pupils": ("school_id", "mis_id", "upn"),
    "staff": ("school_id", "mis_id"),
    "classes": ("school_id", "mis_id"),
    "year_groups": ("school_id", "mis_id"),
    "sync_links": ("school_id", "app_id", "mis_id"),
    "backups": ("school_id", "record_id"),
    "deleted": ("school_id", "record_id"),
    "tombstones": ("school_id",),
}


def _indexes(table: str, columns: tuple[str, ...]) -> list[str]:
    # school_id indexes carry id too: list(school_id=...) is ordered by id.
    return [
        f"CREATE INDEX {table}_{c} ON {table} ({c}, id)"
        if c == "school_id"
        else f"CREATE INDEX {table}_{c} ON {table} ({c})"
        for c in columns
    ]


def _v1_sqlite() -> tuple[str, ...]:
    out: list[str] = []
    for table, columns in _V1_TABLES.items():
        cols = "".join(f", {c} TEXT" for c in columns)
        out.append(
            f"CREATE TABLE {table} (id TEXT PRIMARY KEY NOT NULL{cols}, data TEXT NOT NULL) "
            "WITHOUT ROWID"
        )
        out.extend(_indexes(table, columns))
    out += [
        "CREATE TABLE audit_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, "
        "at TEXT NOT NULL, account_id TEXT, school_id TEXT, trust_id TEXT, data TEXT NOT NULL)",
        "CREATE INDEX audit_events_at ON audit_events (at, seq)",
        "CREATE INDEX audit_events_account_id ON audit_events (account_id, at)",
        "CREATE INDEX audit_events_school_id ON audit_events (school_id, at)",
        "CREATE INDEX audit_events_trust_id ON audit_events (trust_id, at)",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ]
    return tuple(out)


def _v1_postgres() -> tuple[str, ...]:
    out: list[str] = []
    for table, columns in _V1_TABLES.items():
        cols = "".join(f", {c} text" for c in columns)
        out.append(
            f'CREATE TABLE {table} (id text COLLATE "C" PRIMARY KEY{cols}, data jsonb NOT NULL)'
        )
        out.extend(_indexes(table, columns))
    out += [
        "CREATE TABLE audit_events (seq bigserial PRIMARY KEY, id text NOT NULL, "
        "at timestamptz NOT NULL, account_id text, school_id text, trust_id text, "
        "data jsonb NOT NULL)",
        "CREATE INDEX audit_events_at ON audit_events (at, seq)",
        "CREATE INDEX audit_events_account_id ON audit_events (account_id, at)",
        "CREATE INDEX audit_events_school_id ON audit_events (school_id, at)",
        "CREATE INDEX audit_events_trust_id ON audit_events (trust_id, at)",
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ]
    return tuple(out)


#: Every migration, oldest first. Versions are 1, 2, 3... without gaps.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        description="record tables with indexed key columns; append-only audit log",
        sqlite=_v1_sqlite(),
        postgres=_v1_postgres(),
    ),
)

#: The newest schema version this library understands.
SCHEMA_VERSION: int = MIGRATIONS[-1].version


def pending(current: int) -> list[Migration]:
    """The migrations a database at version *current* still needs, oldest first.

    Raises:
        SchemaVersionError: *current* is newer than :data:`SCHEMA_VERSION`.
    """
    if current > SCHEMA_VERSION:
        raise SchemaVersionError(current, SCHEMA_VERSION)
    return [m for m in MIGRATIONS if m.version > current]
