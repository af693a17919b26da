"""The record codec every SQL adapter shares: which table holds which record, which of its
fields are indexed key columns, and how a record becomes a row and back.

Each record kind lives in its own table: an ``id`` primary key, a few indexed key columns
(``school_id``, ``trust_id``, ``account_id``, ``mis_id``, ``upn`` where the record has them)
and the record itself as JSON produced by :data:`schoolsync.serialisation.converter`. Optional
fields can therefore be added to records without a schema migration; unknown keys in stored
JSON are ignored when reading.

A host implementing its own adapter may reuse :data:`TABLES`, :func:`encode` and
:func:`decode` so its rows are readable by the bundled adapters and vice versa.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs
import cattrs

from schoolsync.access.accounts import Account, RoleAssignment
from schoolsync.access.grants import Grant
from schoolsync.audit import AuditEvent
from schoolsync.errors import CorruptRecordError
from schoolsync.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.serialisation import converter
from schoolsync.sync.records import Backup, DeletedRecord, SyncLink, Tombstone
from schoolsync.trusts import Membership, School, Trust

__all__ = [
    "AUDIT_TABLE",
    "TABLES",
    "TABLES_BY_NAME",
    "TableSpec",
    "decode",
    "decode_event",
    "encode",
    "encode_event",
    "utc_key",
]

R = TypeVar("R")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@attrs.frozen(kw_only=True)
class TableSpec(Generic[R]):
    """One record kind's table.

    Attributes:
        name: the table name, also the unit-of-work attribute (``"pupils"``).
        kind: the human name used in errors (``"pupil"``).
        record_type: the attrs class stored in the table.
        columns: indexed key columns besides ``id``, each named after a record attribute.
    """

    name: str
    kind: str
    record_type: type[R]
    columns: tuple[str, ...] = ()

    @property
    def has_school_id(self) -> bool:
        """True if rows can be filtered by ``school_id``."""
        return "school_id" in self.columns


TABLES: tuple[TableSpec[Any], ...] = (
    TableSpec(name="trusts", kind="trust", record_type=Trust),
    TableSpec(name="schools", kind="school", record_type=School, columns=("urn",)),
    TableSpec(
        name="memberships",
        kind="membership",
        record_type=Membership,
        columns=("trust_id", "school_id"),
    ),
    TableSpec(name="grants", kind="grant", record_type=Grant, columns=("trust_id", "school_id")),
    TableSpec(name="accounts", kind="account", record_type=Account, columns=("trust_id",)),
    TableSpec(
        name="assignments",
        kind="role assignment",
        record_type=RoleAssignment,
        columns=("account_id", "trust_id", "school_id"),
    ),
    TableSpec(
        name="pupils", kind="pupil", record_type=Pupil, columns=("school_id", "mis_id", "upn")
    ),
    TableSpec(
        name="staff", kind="staff member", record_type=StaffMember, columns=("school_id", "mis_id")
    ),
    TableSpec(
        name="classes", kind="class", record_type=SchoolClass, columns=("school_id", "mis_id")
    ),
    TableSpec(
        name="year_groups",
        kind="year group",
        record_type=YearGroup,
        columns=("school_id", "mis_id"),
    ),
    TableSpec(
        name="sync_links",
        kind="sync link",
        record_type=SyncLink,
        columns=("school_id", "app_id", "mis_id"),
    ),
    TableSpec(
        name="backups", kind="backup", record_type=Backup, columns=("school_id", "record_id")
    ),
    TableSpec(
        name="deleted",
        kind="deleted record",
        record_type=DeletedRecord,
        columns=("school_id", "record_id"),
    ),
    TableSpec(name="tombstones", kind="tombstone", record_type=Tombstone, columns=("school_id",)),
)

#: The tables by name (``TABLES_BY_NAME["pupils"]``).
TABLES_BY_NAME: Mapping[str, TableSpec[Any]] = {spec.name: spec for spec in TABLES}

#: The audit log's table; its key columns are ``account_id``, ``school_id``, ``trust_id``, ``at``.
AUDIT_TABLE = "audit_events"


def _column_value(value: object) -> str | None:
    return None if value is None else str(value)


def encode(spec: TableSpec[R], record: R) -> tuple[str | None, ...]:
    """The row for *record*: ``(id, *key columns, json)``, all strings (key columns may be None)."""
    if not isinstance(record, spec.record_type):
        raise TypeError(
            f"table {spec.name!r} holds {spec.record_type.__name__} records, "
            f"not {type(record).__name__}"
        )
    data = converter.unstructure(record, spec.record_type)
    return (
        str(data["id"]),
        *(_column_value(getattr(record, c)) for c in spec.columns),
        _dumps(data),
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at character {exc.pos})"
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def decode(spec: TableSpec[R], key: str, data: str | bytes | Mapping[str, Any]) -> R:
    """The record stored under *key*; raises :class:`~schoolsync.errors.CorruptRecordError`
    naming the table and key if the stored JSON is invalid or the converter refuses it."""
    try:
        value = json.loads(data) if isinstance(data, str | bytes) else data
        if not isinstance(value, Mapping):
            raise CorruptRecordError(spec.name, key, "the stored value is not a JSON object")
        record = converter.structure(value, spec.record_type)
    except CorruptRecordError:
        raise
    except Exception as exc:  # the converter raises many kinds; all mean the same here
        raise CorruptRecordError(spec.name, key, _reason(exc)) from exc
    if getattr(record, "id", None) != key:
        raise CorruptRecordError(spec.name, key, "the stored record's id does not match its key")
    return record


def utc_key(at: datetime) -> datetime:
    """*at* in UTC (naive datetimes are taken to be UTC): the audit log's sortable time."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def encode_event(event: AuditEvent) -> tuple[str | None, ...]:
    """The audit row: ``(id, account_id, school_id, trust_id, json)``."""
    data = converter.unstructure(event, AuditEvent)
    return (event.id, event.account_id, event.school_id, event.trust_id, _dumps(data))


def decode_event(seq: object, data: str | bytes | Mapping[str, Any]) -> AuditEvent:
    """The audit event stored in row *seq*; raises :class:`~schoolsync.errors.CorruptRecordError`."""
    try:
        value = json.loads(data) if isinstance(data, str | bytes) else data
        return converter.structure(value, AuditEvent)
    except Exception as exc:
        raise CorruptRecordError(AUDIT_TABLE, seq, _reason(exc)) from exc
