"""The versioned SQL schema shared by the SQLite and PostgreSQL adapters.

:data:`MIGRATIONS` lists forward migrations, oldest first; each has the statements for both
dialects. Opening a store applies every migration newer than the database's version, in one
transaction, and records it in the ``schoolsync_schema_version`` table. A database whose
version is newer than :data:`SCHEMA_VERSION` is refused with
:class:`~schoolsync.errors.SchemaVersionError`.

Adding an optional field to a record needs no migration (records are stored as JSON). A new
record kind (an entry of :data:`schoolsync.records.tables.TABLES`) or a new indexed key column
does: append a :class:`Migration` (:meth:`Migration.create_tables` for a new table) and never
change an old one. The tests check that the schema the migrations build holds every registry
table with its key columns.
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

    @classmethod
    def create_tables(
        cls,
        *,
        version: int,
        description: str,
        tables: Mapping[str, tuple[str, ...]],
        sqlite: tuple[str, ...] = (),
        postgres: tuple[str, ...] = (),
    ) -> Migration:
        """A migration creating record *tables* (table name -> indexed key columns besides
        ``id``, as in the table registry), then running the extra statements given.

        Spell the columns out here rather than reading them from the registry entry: a
        migration never changes once released, while the entry may gain columns later (with a
        migration of their own).
        """
        return cls(
            version=version,
            description=description,
            sqlite=tuple(s for name, cols in tables.items() for s in _sqlite_table(name, cols))
            + sqlite,
            postgres=tuple(s for name, cols in tables.items() for s in _postgres_table(name, cols))
            + postgres,
        )


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


def _sqlite_table(table: str, columns: tuple[str, ...]) -> list[str]:
    cols = "".join(f", {c} TEXT" for c in columns)
    create = (
        f"CREATE TABLE {table} (id TEXT PRIMARY KEY NOT NULL{cols}, data TEXT NOT NULL) "
        "WITHOUT ROWID"
    )
    return [create, *_indexes(table, columns)]


def _postgres_table(table: str, columns: tuple[str, ...]) -> list[str]:
    cols = "".join(f", {c} text" for c in columns)
    create = f'CREATE TABLE {table} (id text COLLATE "C" PRIMARY KEY{cols}, data jsonb NOT NULL)'
    return [create, *_indexes(table, columns)]


_V1_AUDIT_SQLITE = (
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
)
_V1_AUDIT_POSTGRES = (
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
)


#: Every migration, oldest first. Versions are 1, 2, 3... without gaps.
MIGRATIONS: tuple[Migration, ...] = (
    Migration.create_tables(
        version=1,
        description="record tables with indexed key columns; append-only audit log",
        tables=_V1_TABLES,
        sqlite=_V1_AUDIT_SQLITE,
        postgres=_V1_AUDIT_POSTGRES,
    ),
    Migration.create_tables(
        version=2,
        description="the outbox: messages queued with the change that asked for them",
        tables={"outbox": ("state",)},
    ),
    Migration.create_tables(
        version=3,
        description="broker sync watermarks and the assessment results outbox",
        tables={"sync_watermarks": ("school_id",), "result_outbox": ("school_id",)},
    ),
    Migration.create_tables(
        version=4,
        description="the nightly sync's job records (one per school and night)",
        tables={"nightly_jobs": ("school_id", "run_id")},
    ),
    Migration.create_tables(
        version=5,
        description="match decisions made by a person (match, not this one, import, leave out)",
        tables={"match_decisions": ("school_id", "mis_id", "app_id")},
    ),
    Migration.create_tables(
        version=6,
        description="stored MIS connections, activation challenges (attempts per account) "
        "and the access change log (the live index's version)",
        tables={
            "mis_connections": ("school_id",),
            "activation_challenges": ("account_id",),
            "access_changes": (),
        },
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
