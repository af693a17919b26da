"""The cattrs converter every adapter uses to turn records into JSON-able values and back.

Identifiers become their string forms, dates and datetimes ISO 8601, frozensets sorted lists.
Use :func:`make_converter` for a fresh converter or the shared :data:`converter`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter as _make_json_converter

from schoolsync.identifiers import Laestab, Postcode, Uln, Upn, Urn

__all__ = ["configure_converter", "converter", "make_converter"]


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
