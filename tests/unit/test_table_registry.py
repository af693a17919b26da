"""One table registry: every layer that lists the stored record kinds derives from it."""

from __future__ import annotations

import sqlite3
import typing
from pathlib import Path

import attrs
import pytest

from schoolsync.access.records import RECORD_KINDS, AccessRecords
from schoolsync.ports import Repository, UnitOfWork
from schoolsync.records import Pupil, RecordKind
from schoolsync.records.tables import (
    ACCESS_TABLES,
    PUPILS,
    SCHOOL_RECORD_TABLES,
    TABLES,
    TABLES_BY_NAME,
    table_for,
)
from schoolsync.storage import SqliteStore, codec
from schoolsync.sync.state import record_type, repository
from schoolsync.testing.contracts import sample_records
from schoolsync.testing.memory import MemoryStore


def test_table_names_are_unique_and_indexed() -> None:
    """Each table has its own name; ``TABLES_BY_NAME`` finds each."""
    assert len({t.name for t in TABLES}) == len(TABLES)
    assert all(TABLES_BY_NAME[t.name] is t for t in TABLES)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_key_columns_are_record_attributes(table: codec.TableSpec[object]) -> None:
    """Every key column (and ``id``) is an attribute of the table's record type."""
    names = {f.name for f in attrs.fields(table.record_type)}
    assert {"id", *table.columns} <= names
    assert table.school_scoped == ("school_id" in names and "school_id" in table.columns)


def test_the_codec_and_the_registry_are_one() -> None:
    """``storage.codec.TABLES`` is the registry itself, not a copy."""
    assert codec.TABLES is TABLES
    assert codec.TableSpec is type(PUPILS)


def test_the_typed_unit_of_work_attributes_are_registry_tables() -> None:
    """Each repository attribute the port declares names a registry table of that record type."""
    hints = typing.get_type_hints(UnitOfWork)
    repos = {name: hint for name, hint in hints.items() if typing.get_origin(hint) is Repository}
    assert repos
    for name, hint in repos.items():
        assert typing.get_args(hint) == (TABLES_BY_NAME[name].record_type,), name


def test_access_records_derive_from_the_access_tables() -> None:
    """The access working set has one dict per access table; audit subject kinds come along."""
    fields = {f.name for f in attrs.fields(AccessRecords)}
    assert fields == {t.name for t in ACCESS_TABLES}
    assert RECORD_KINDS == {t.subject: t.record_type for t in ACCESS_TABLES}


def test_sync_state_derives_from_the_school_record_tables() -> None:
    """Each sync record kind has its table; ``repository(uow, kind)`` is that table's."""
    assert set(SCHOOL_RECORD_TABLES) == set(RecordKind)
    with MemoryStore().unit_of_work() as uow:
        for kind, table in SCHOOL_RECORD_TABLES.items():
            assert record_type(kind) is table.record_type
            assert repository(uow, kind) is uow.repository(table) is getattr(uow, table.name)


def test_table_for_finds_a_record_s_table() -> None:
    """``table_for`` maps a record to its table; anything else is a TypeError."""
    assert table_for(Pupil(id="p", school_id="s", forename="A", surname="B")) is PUPILS
    with pytest.raises(TypeError):
        table_for("not a record")


def test_the_contract_suite_has_samples_for_every_table() -> None:
    """A new registry table without contract samples is caught here, not in a host's CI."""
    assert sorted(sample_records()) == sorted(t.name for t in TABLES)


def test_the_migrated_schema_holds_every_registry_table(tmp_path: Path) -> None:
    """After every migration, SQLite has each table with ``id``, its key columns and ``data``."""
    path = tmp_path / "schema.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        for table in TABLES:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table.name})")]
            assert columns == ["id", *table.columns, "data"], table.name
    finally:
        conn.close()
