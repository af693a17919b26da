"""SqliteStore behaviour beyond the storage contract: files, schema versions, corrupt rows."""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schoolsync.audit import AuditEvent
from schoolsync.errors import (
    ConcurrentWriteError,
    CorruptRecordError,
    SchemaVersionError,
    StorageError,
)
from schoolsync.people import Pupil
from schoolsync.storage import migrations
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.contracts import HandEditedRow, hand_edited_rows, sample_records


def _pupil(id: str = "p1") -> Pupil:
    return Pupil(id=id, school_id="s1", forename="Zoë", surname="Secret-Surname")


def _raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def test_committed_records_survive_reopening(tmp_path: Path) -> None:
    """Records committed through one store are there when the file is opened again."""
    path = tmp_path / "school.db"
    samples = sample_records()
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        for name, records in samples.items():
            getattr(uow, name).put_many(records)
        uow.audit.append(
            AuditEvent(
                id="e1",
                at=datetime(2024, 1, 1, tzinfo=UTC),
                actor_id=None,
                action="a",
                subject_kind="pupil",
                subject_id="p1",
            )
        )
        uow.commit()
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        for name, records in samples.items():
            assert getattr(uow, name).list() == sorted(records, key=lambda r: r.id)
        assert [e.id for e in uow.audit.events()] == ["e1"]


def test_new_database_uses_wal_and_records_its_schema_version(tmp_path: Path) -> None:
    """A new file is in WAL mode, has foreign keys on and is at the library's schema version."""
    path = tmp_path / "new.db"
    store = SqliteStore(path)
    assert store.schema_version() == migrations.SCHEMA_VERSION
    with store.unit_of_work() as uow:
        conn = uow._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    """Opening a database written by a newer schoolsync raises SchemaVersionError."""
    path = tmp_path / "newer.db"
    SqliteStore(path).close()
    with _raw(path) as conn:
        conn.execute(
            f"INSERT INTO {migrations.VERSION_TABLE} VALUES (?, 'from the future', '2030-01-01')",
            (migrations.SCHEMA_VERSION + 1,),
        )
    with pytest.raises(SchemaVersionError) as info:
        SqliteStore(path)
    assert info.value.found == migrations.SCHEMA_VERSION + 1
    assert info.value.supported == migrations.SCHEMA_VERSION
    assert "upgrade schoolsync" in str(info.value)


def test_pending_migrations_are_applied_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older database is migrated forward when opened; its records are kept."""
    path = tmp_path / "old.db"
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        uow.pupils.put(_pupil())
        uow.commit()
    step = migrations.Migration(
        version=migrations.SCHEMA_VERSION + 1,
        description="index pupils by surname",
        sqlite=("CREATE INDEX pupils_extra ON pupils (upn, mis_id)",),
        postgres=("CREATE INDEX pupils_extra ON pupils (upn, mis_id)",),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, step))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", step.version)
    with SqliteStore(path) as store:
        assert store.schema_version() == step.version
        with store.unit_of_work() as uow:
            assert uow.pupils.require("p1") == _pupil()
    with _raw(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "pupils_extra" in names


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails leaves the database at its old version, fully usable."""
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    broken = migrations.Migration(
        version=migrations.SCHEMA_VERSION + 1,
        description="broken",
        sqlite=("CREATE TABLE extra (id TEXT)", "CREATE INDEX bad ON no_such_table (x)"),
        postgres=(),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", broken.version)
    with pytest.raises(StorageError):
        SqliteStore(path)
    monkeypatch.undo()
    with SqliteStore(path) as store:
        assert store.schema_version() == migrations.SCHEMA_VERSION
    with _raw(path) as conn:
        assert (
            conn.execute("SELECT count(*) FROM sqlite_master WHERE name='extra'").fetchone()[0] == 0
        )


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    """Opening a file that is not SQLite raises StorageError, not a sqlite3 exception."""
    path = tmp_path / "notes.db"
    path.write_text("these are not the records you are looking for\n" * 100)
    with pytest.raises(StorageError):
        SqliteStore(path)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "p1", "school_id": "s1", "forename": "Zoë"}', "surname"),
        (
            '{"id": "p1", "school_id": "s1", "forename": "Zoë", "surname": "S", '
            '"upn": "A12345678901X"}',
            "upn",
        ),
        ('{"id": "p2", "school_id": "s1", "forename": "Zoë", "surname": "S"}', "does not match"),
    ],
    ids=["invalid-json", "not-an-object", "missing-field", "bad-upn", "wrong-id"],
)
def test_a_row_edited_into_an_invalid_state_names_table_and_key(
    tmp_path: Path, data: str, reason: str
) -> None:
    """A corrupt row raises CorruptRecordError naming the table and key, for get and list,
    without echoing the record's personal data."""
    path = tmp_path / "corrupt.db"
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        uow.pupils.put_many([_pupil("p1"), _pupil("p0")])
        uow.commit()
    with _raw(path) as conn:
        conn.execute("UPDATE pupils SET data = ? WHERE id = 'p1'", (data,))
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        with pytest.raises(CorruptRecordError) as info:
            uow.pupils.get("p1")
        assert (info.value.table, info.value.key) == ("pupils", "p1")
        assert reason in info.value.reason
        assert "Zoë" not in str(info.value)
        with pytest.raises(CorruptRecordError):
            uow.pupils.list(school_id="s1")
        assert uow.pupils.require("p0") == _pupil("p0")


_EDITED = hand_edited_rows()


@pytest.mark.parametrize("edit", _EDITED, ids=[f"{e.table}-{e.label}" for e in _EDITED])
def test_a_hand_edited_row_in_any_table_names_table_and_key(
    tmp_path: Path, edit: HandEditedRow
) -> None:
    """Bad JSON, a non-object, a missing field, a wrong type or a bad UPN edited into any
    table (audit log included) gives CorruptRecordError naming table and key; other rows of
    the table still read."""
    path = tmp_path / "edited.db"
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        for name, records in sample_records().items():
            getattr(uow, name).put_many(records)
        uow.audit.append(_audit_event("e0"))
        uow.audit.append(_audit_event("e1"))
        uow.commit()
    with _raw(path) as conn:
        if edit.table == "audit_events":
            conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute(f"UPDATE {edit.table} SET data = ? WHERE id = ?", (edit.data, edit.key))
        (key,) = conn.execute(
            f"SELECT {'seq' if edit.table == 'audit_events' else 'id'} FROM {edit.table} "
            "WHERE id = ?",
            (edit.key,),
        ).fetchone()
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        if edit.table == "audit_events":
            read: Callable[[], object] = uow.audit.events
        else:
            repo = getattr(uow, edit.table)
            read = functools.partial(repo.get, edit.key)
            with pytest.raises(CorruptRecordError):
                repo.list()
        with pytest.raises(CorruptRecordError) as info:
            read()
        assert (info.value.table, info.value.key) == (edit.table, key)
        assert edit.reason in info.value.reason
        if edit.table == "audit_events":
            assert [e.id for e in uow.audit.events(until=datetime(2024, 1, 2, tzinfo=UTC))] == [
                "e0"
            ]


def _audit_event(id: str) -> AuditEvent:
    day = 1 if id == "e0" else 3
    return AuditEvent(
        id=id,
        at=datetime(2024, 1, day, tzinfo=UTC),
        actor_id="a",
        action="x",
        subject_kind="pupil",
        subject_id="p1",
    )


def test_a_corrupt_audit_row_names_its_table(tmp_path: Path) -> None:
    """An audit row edited into invalid JSON raises CorruptRecordError for audit_events."""
    path = tmp_path / "audit.db"
    SqliteStore(path).close()
    with _raw(path) as conn:
        conn.execute(
            "INSERT INTO audit_events (id, at, data) VALUES ('e1', '2024-01-01', '{\"id\": 1}')"
        )
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        with pytest.raises(CorruptRecordError) as info:
            uow.audit.events()
        assert info.value.table == "audit_events"


def test_the_audit_log_is_append_only_in_the_database(tmp_path: Path) -> None:
    """UPDATE and DELETE on the audit table are refused by the database itself."""
    path = tmp_path / "audit.db"
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        uow.audit.append(
            AuditEvent(
                id="e1",
                at=datetime(2024, 1, 1, tzinfo=UTC),
                actor_id="a",
                action="x",
                subject_kind="pupil",
                subject_id="p1",
            )
        )
        uow.commit()
    with _raw(path) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_events SET account_id = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_events")
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 1


def test_a_writer_that_waits_too_long_gets_concurrent_write_error(tmp_path: Path) -> None:
    """With another store holding the write lock, lock_school gives up after the timeout."""
    path = tmp_path / "busy.db"
    holder = SqliteStore(path)
    waiter = SqliteStore(path, timeout=0.1)
    with holder.unit_of_work() as first:
        first.lock_school("s1")
        first.pupils.put(_pupil())
        with waiter.unit_of_work() as second:
            with pytest.raises(ConcurrentWriteError):
                second.lock_school("s2")
            with pytest.raises(ConcurrentWriteError):
                second.pupils.put(_pupil("p2"))
            assert second.pupils.get("p1") is None  # reads still work
        first.commit()
    with waiter.unit_of_work() as uow:
        assert uow.pupils.count() == 1
    holder.close()
    waiter.close()


def test_a_finished_unit_of_work_or_closed_store_refuses_use(tmp_path: Path) -> None:
    """Using a unit of work after its with block, or a closed store, raises StorageError."""
    store = SqliteStore(tmp_path / "x.db")
    with store.unit_of_work() as uow:
        pass
    with pytest.raises(StorageError):
        uow.pupils.get("p1")
    store.close()
    with pytest.raises(StorageError):
        store.unit_of_work()


def test_a_record_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    """put() of a record into the wrong repository raises TypeError and stores nothing."""
    with SqliteStore(tmp_path / "x.db") as store, store.unit_of_work() as uow:
        school = sample_records()["schools"][0]
        with pytest.raises(TypeError, match="Pupil"):
            uow.pupils.put(school)
        assert uow.pupils.count() == 0


@pytest.mark.parametrize("path", [":memory:", ""])
def test_an_in_memory_database_is_refused_with_advice(path: str) -> None:
    """SqliteStore(":memory:") raises StorageError pointing to MemoryStore."""
    with pytest.raises(StorageError, match="MemoryStore"):
        SqliteStore(path)


_WORKER = """
import json, sys, time
from schoolsync.people import Pupil
from schoolsync.storage.sqlite import SqliteStore

path, school, rounds, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
spans = []
with SqliteStore(path, timeout=60) as store:
    time.sleep(max(0.0, start_at - time.time()))  # start together
    for r in range(rounds):
        with store.unit_of_work() as uow:
            uow.lock_school(school)
            start = time.time()
            counter = uow.pupils.get(school + "-counter")
            n = 0 if counter is None else int(counter.surname)
            # An apply's worth of writes between the read and the write-back.
            uow.pupils.put_many(
                Pupil(id=f"{school}-{i}", school_id=school, forename="F", surname=str(r))
                for i in range(200)
            )
            time.sleep(0.02)
            uow.pupils.put(Pupil(id=school + "-counter", school_id=school,
                                 forename="c", surname=str(n + 1)))
            spans.append((start, time.time()))  # still holding the lock
            uow.commit()
print(json.dumps(spans))
"""


@pytest.mark.parametrize("schools", [("s1", "s1"), ("s1", "s2")], ids=["same", "different"])
def test_two_processes_applying_at_once_never_interleave(
    tmp_path: Path, schools: tuple[str, str]
) -> None:
    """Two processes doing read-modify-write under lock_school on one file, to the same
    school or to different ones, both finish; their locked spans never overlap (SQLite has
    one writer) and no update is lost."""
    path = tmp_path / "shared.db"
    SqliteStore(path).close()
    start_at = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), school, "8", str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for school in schools
    ]
    spans: list[list[float]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        spans.extend(json.loads(out))
    spans.sort()
    assert len(spans) == 16
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        counters = {s: uow.pupils.require(f"{s}-counter").surname for s in set(schools)}
        assert counters == ({"s1": "16"} if schools[0] == schools[1] else {"s1": "8", "s2": "8"})
        assert uow.pupils.count() == 201 * len(set(schools))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("intake_year", True, "field 'intake_year': expected a whole number, found true or false"),
        ("pupil_premium", 1, "field 'pupil_premium': expected true or false, found a whole number"),
        ("class_ids", ["5A", None], "field 'class_ids': item 1: expected text, found null"),
        ("class_ids", "5A", "field 'class_ids': expected a list, found text"),
        ("date_of_birth", 20150314, "field 'date_of_birth': expected text, found a whole number"),
        ("forename", ["Zoë"], "field 'forename': expected text, found a list"),
        ("mis_id", {"v": 1}, "field 'mis_id': expected text, found an object"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_corrupt(
    tmp_path: Path, field: str, value: object, reason: str
) -> None:
    """The converter would coerce these (str(5), bool(1)); a stored row holding them was edited
    by hand and is reported with the field and the JSON types, never the value."""
    path = tmp_path / "types.db"
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        uow.pupils.put(_pupil())
        uow.commit()
    with _raw(path) as conn:
        conn.execute(
            "UPDATE pupils SET data = json_set(data, ?, json(?)) WHERE id = 'p1'",
            (f"$.{field}", json.dumps(value)),
        )
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        with pytest.raises(CorruptRecordError) as info:
            uow.pupils.get("p1")
        assert info.value.reason == reason
        assert "Zoë" not in str(info.value)
