"""Save a plan or a report as JSON-able data and read it back (cattrs).

A person often reads a plan in one request and approves it in another: the host stores
``plan_to_dict(plan)`` and applies ``plan_from_dict(data)`` later. :func:`apply` still checks
that every record is as the plan saw it, so an old plan is refused rather than applied over
newer data.

Records inside a plan (``before``/``after``) are tagged with their kind (``"type": "pupil"``).
``FieldChange.old``/``new`` are display values: they come back as their JSON forms (a date as
its ISO text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cattrs

from schoolsync.errors import ValidationError
from schoolsync.serialisation import make_converter
from schoolsync.sync.plans import SyncPlan
from schoolsync.sync.records import RecordKind
from schoolsync.sync.report import SyncReport
from schoolsync.sync.state import Record, kind_of, record_type

__all__ = ["plan_from_dict", "plan_to_dict", "report_from_dict", "report_to_dict"]

#: The version of the saved form; bumped on incompatible changes.
FORMAT_VERSION = 1


def _is_record_union(t: Any) -> bool:
    return bool(t == Record or t == (Record | None))


def _make() -> cattrs.Converter:
    c = make_converter()

    def unstructure_record(value: Record | None) -> Any:
        if value is None:
            return None
        data = c.unstructure(value, type(value))
        data["type"] = kind_of(value).value
        return data

    def structure_record(value: Any, _: Any) -> Record | None:
        if value is None:
            return None
        data = dict(value)
        kind = RecordKind(data.pop("type"))
        record: Record = c.structure(data, record_type(kind))
        return record

    c.register_unstructure_hook_func(_is_record_union, unstructure_record)
    c.register_structure_hook_func(_is_record_union, structure_record)
    return c


_CONVERTER = _make()


def plan_to_dict(plan: SyncPlan) -> dict[str, Any]:
    """*plan* as JSON-able data (with a ``format_version``)."""
    data: dict[str, Any] = _CONVERTER.unstructure(plan)
    data["format_version"] = FORMAT_VERSION
    return data


def plan_from_dict(data: dict[str, Any]) -> SyncPlan:
    """A plan saved by :func:`plan_to_dict`.

    Raises:
        ValidationError: the data is not a saved plan of a version this library reads.
    """
    plan: SyncPlan = _load(data, SyncPlan)
    return plan


def report_to_dict(report: SyncReport) -> dict[str, Any]:
    """*report* as JSON-able data (with a ``format_version``)."""
    data: dict[str, Any] = _CONVERTER.unstructure(report)
    data["format_version"] = FORMAT_VERSION
    return data


def report_from_dict(data: dict[str, Any]) -> SyncReport:
    """A report saved by :func:`report_to_dict`.

    Raises:
        ValidationError: the data is not a saved report of a version this library reads.
    """
    report: SyncReport = _load(data, SyncReport)
    return report


def _load(data: dict[str, Any], cls: type[Any]) -> Any:
    if not isinstance(data, Mapping):
        raise ValidationError(
            cls.__name__,
            type(data).__name__,
            f"not a saved {cls.__name__} (expected a JSON object)",
        )
    body = dict(data)
    version = body.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ValidationError("format_version", version, f"expected {FORMAT_VERSION}")
    try:
        return _CONVERTER.structure(body, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        raise ValidationError(cls.__name__, "<data>", f"not a saved {cls.__name__}") from exc
