"""The cattrs converter every adapter uses to turn records into JSON-able values and back.

Identifiers become their string forms, dates and datetimes ISO 8601, durations (``timedelta``)
ISO 8601 durations in days and seconds (``"P14DT0S"``), frozensets sorted lists.
Use :func:`make_converter` for a fresh converter or the shared :data:`converter`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter as _make_json_converter

from schoolsync.identifiers import Laestab, Postcode, Uln, Upn, Urn

__all__ = [
    "configure_converter",
    "converter",
    "format_duration",
    "make_converter",
    "parse_duration",
]

_DURATION_RE = re.compile(r"P(-?[0-9]+)DT([0-9]+)(?:\.([0-9]{6}))?S")


def format_duration(value: timedelta) -> str:
    """*value* as an ISO 8601 duration in days and seconds: ``P14DT0S``, ``P0DT90.000001S``.

    Exact (no float rounding); a negative duration has negative days (``P-1DT86399S``).
    """
    micro = f".{value.microseconds:06d}" if value.microseconds else ""
    return f"P{value.days}DT{value.seconds}{micro}S"


def parse_duration(text: object) -> timedelta:
    """The inverse of :func:`format_duration`; a number is taken as seconds.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(seconds=text)
    m = _DURATION_RE.fullmatch(str(text))
    if not m:
        raise ValueError(f"not a duration like P14DT0S: {text!r}")
    days, seconds, micro = m.groups()
    return timedelta(days=int(days), seconds=int(seconds), microseconds=int(micro or 0))


def configure_converter(c: cattrs.Converter) -> None:
    """Register schoolsync's hooks on *c* (identifiers as strings, dates as ISO 8601)."""
    c.register_unstructure_hook(Upn, str)
    c.register_structure_hook(Upn, lambda v, _: v if isinstance(v, Upn) else Upn.parse(v))
    c.register_unstructure_hook(Uln, str)
    c.register_structure_hook(Uln, lambda v, _: v if isinstance(v, Uln) else Uln.parse(v))
    c.register_unstructure_hook(Urn, str)
    c.register_structure_hook(Urn, lambda v, _: v if isinstance(v, Urn) else Urn.parse(v))
    c.register_unstructure_hook(Postcode, str)
    c.register_structure_hook(
        Postcode, lambda v, _: v if isinstance(v, Postcode) else Postcode.parse(v)
    )
    c.register_unstructure_hook(Laestab, str)
    c.register_structure_hook(
        Laestab, lambda v, _: v if isinstance(v, Laestab) else Laestab.parse(v)
    )
    c.register_unstructure_hook(datetime, datetime.isoformat)
    c.register_structure_hook(
        datetime, lambda v, _: v if isinstance(v, datetime) else datetime.fromisoformat(v)
    )
    c.register_unstructure_hook(timedelta, format_duration)
    c.register_structure_hook(timedelta, lambda v, _: parse_duration(v))
    c.register_unstructure_hook(date, date.isoformat)
    c.register_structure_hook(
        date, lambda v, _: v if isinstance(v, date) else date.fromisoformat(v)
    )

    def _unstructure_frozenset(value: frozenset[Any]) -> list[Any]:
        return sorted((c.unstructure(v) for v in value), key=repr)

    c.register_unstructure_hook(frozenset, _unstructure_frozenset)


def make_converter() -> cattrs.Converter:
    """A new JSON-ready converter with schoolsync's hooks registered."""
    c = _make_json_converter()
    configure_converter(c)
    return c


#: The shared converter. Treat it as read-only; build your own with :func:`make_converter`.
converter: cattrs.Converter = make_converter()
