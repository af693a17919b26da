"""The record codec every SQL adapter shares: which table holds which record, which of its
fields are indexed key columns, and how a record becomes a row and back.

Each record kind lives in its own table: an ``id`` primary key, a few indexed key columns
(``school_id``, ``trust_id``, ``account_id``, ``mis_id``, ``upn`` where the record has them)
and the record itself as JSON produced by :data:`schoolsync.serialisation.converter`. Optional
fields can therefore be added to records without a schema migration; unknown keys in stored
JSON are ignored when reading.

Which tables exist is the registry :data:`schoolsync.records.tables.TABLES` (re-exported here).
A host implementing its own adapter may reuse :data:`TABLES`, :func:`encode` and
:func:`decode` so its rows are readable by the bundled adapters and vice versa.
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import attrs
import cattrs

from schoolsync.errors import CorruptRecordError
from schoolsync.records.audit import AuditEvent
from schoolsync.records.tables import TABLES, TABLES_BY_NAME, Table
from schoolsync.serialisation import converter

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


#: The table registry's entry type, under the name the codec used first.
TableSpec = Table

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


# --- JSON type checks ----------------------------------------------------------------------------
# The shared converter is lenient (str(5) is a fine surname to it); a stored row is not: a value
# of the wrong JSON type means the row was edited by hand, and is reported as corrupt.

_Check = Callable[[object], str | None]  # None if the value fits, else what is wrong with it

_JSON_NAMES: Mapping[type, str] = {
    str: "text",
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def _json_name(value: object) -> str:
    return "null" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)


def _scalar_check(kinds: tuple[type, ...], expected: str) -> _Check:
    exact = frozenset(kinds)  # JSON values are exactly str, bool, int, float, list or dict
    if int in exact and bool not in exact:
        exact -= {bool}

    def check(value: object) -> str | None:
        if type(value) in exact:
            return None
        return f"expected {expected}, found {_json_name(value)}"

    return check


def _no_check(value: object) -> str | None:
    return None


@functools.cache
def _check_for(tp: Any) -> _Check:
    """The JSON type check for a value of type *tp* (lenient for types it does not know)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_check_for(a) for a in args if a is not type(None)]
        optional = type(None) in args

        def check_union(value: object) -> str | None:
            if value is None and optional:
                return None
            problems = [check(value) for check in options]
            return None if None in problems else problems[0]

        return check_union
    if origin in (tuple, list, frozenset, set, collections.abc.Sequence):
        item = _check_for(args[0]) if args else _no_check

        def check_items(value: object) -> str | None:
            if not isinstance(value, list):
                return f"expected a list, found {_json_name(value)}"
            for i, v in enumerate(value):
                problem = item(v)
                if problem is not None:
                    return f"item {i}: {problem}"
            return None

        return check_items
    if origin in (dict, collections.abc.Mapping):
        return _scalar_check((dict,), "an object")
    if not isinstance(tp, type) or issubclass(tp, enum.Enum):
        return _no_check  # Any; enums are checked by the converter (it refuses unknown values)
    if tp in (bool, int, str):
        return _scalar_check((tp,), _JSON_NAMES[tp])
    if tp is float:
        return _scalar_check((int, float), _JSON_NAMES[float])
    if tp in (date, datetime) or tp.__module__ == "schoolsync.identifiers":
        return _scalar_check((str,), "text")
    if attrs.has(tp):
        return _record_check(tp)
    return _no_check


@functools.cache
def _record_check(record_type: type) -> _Check:
    hints = typing.get_type_hints(record_type)
    fields = [(f.alias or f.name, _check_for(hints[f.name])) for f in attrs.fields(record_type)]

    def check(value: object) -> str | None:
        if not isinstance(value, Mapping):
            return f"expected an object, found {_json_name(value)}"
        for name, check_field in fields:
            if name in value:
                problem = check_field(value[name])
                if problem is not None:
                    return f"field {name!r}: {problem}"
        return None

    return check


def _structure(record_type: type[R], value: object) -> R:
    problem = _record_check(typing.cast(type, record_type))(value)
    if problem is not None:
        raise CorruptRecordError("", "", problem)  # the caller names table and key
    return converter.structure(value, record_type)


def decode(spec: TableSpec[R], key: str, data: str | bytes | Mapping[str, Any]) -> R:
    """The record stored under *key*; raises :class:`~schoolsync.errors.CorruptRecordError`
    naming the table and key if the stored JSON is invalid, holds a value of the wrong type,
    or the converter refuses it (a missing field, a bad identifier)."""
    try:
        value = json.loads(data) if isinstance(data, str | bytes) else data
        if not isinstance(value, Mapping):
            raise CorruptRecordError(spec.name, key, "the stored value is not a JSON object")
        record = _structure(spec.record_type, value)
    except CorruptRecordError as exc:
        raise CorruptRecordError(spec.name, key, exc.reason) from None
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
        if not isinstance(value, Mapping):
            raise CorruptRecordError(AUDIT_TABLE, seq, "the stored value is not a JSON object")
        return _structure(AuditEvent, value)
    except CorruptRecordError as exc:
        raise CorruptRecordError(AUDIT_TABLE, seq, exc.reason) from None
    except Exception as exc:
        raise CorruptRecordError(AUDIT_TABLE, seq, _reason(exc)) from exc
