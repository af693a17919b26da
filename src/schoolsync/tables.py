"""Plain-row and HTML views of schoolsync values, for notebooks and spreadsheets.

A value that can be shown as a table (a match review, a sync plan, a change set, a decision
table) subclasses :class:`Tabular` and implements :meth:`Tabular.to_rows`; it then renders as an
HTML table in Jupyter (``_repr_html_``) and converts with one call: ``value.to_pandas()`` or
``value.to_polars()`` (``pip install 'schoolsync[pandas]'`` or ``[polars]``). Neither library
is a dependency. ``pandas.DataFrame(value)`` is refused with a message naming ``to_pandas()``
rather than silently building one column of objects.

The HTML table is for a person: its headers are words (``Date of birth``, ``MIS id``, not
``date_of_birth``; see :func:`human_header`), a view that knows a school's or an account's name
shows the name rather than the id (:meth:`Tabular.display_rows`), and every value is escaped.
``to_rows``, ``to_pandas`` and ``to_polars`` keep the field keys and ids, for programs.
"""

from __future__ import annotations

import html
import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

__all__ = ["Tabular", "human_header", "rows_to_html"]

#: Words a header spells its own way (abbreviations the DfE and MIS suppliers use).
_WORDS = {
    "upn": "UPN",
    "upns": "UPNs",
    "uln": "ULN",
    "urn": "URN",
    "mis": "MIS",
    "nc": "NC",
    "la": "LA",
    "dfe": "DfE",
    "laestab": "LAESTAB",
    "url": "URL",
    "json": "JSON",
}


def _frame_library(library: str) -> Any:
    """The DataFrame library *library* (``"pandas"`` or ``"polars"``), imported.

    Raises:
        ModuleNotFoundError: it is not installed (the message names the extra to install).
    """
    try:
        return importlib.import_module(library)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"to_{library}() needs {library}: pip install 'schoolsync[{library}]'"
        ) from exc


def human_header(key: str) -> str:
    """A field key as a person reads it: ``date_of_birth`` -> ``Date of birth``, ``mis_id``
    -> ``MIS id``, ``upn`` -> ``UPN``. A key already written for people (with a capital or a
    space, such as a report column ``"Pupils on roll"``) is kept as it is.

    >>> human_header("preferred_forename"), human_header("former_upns"), human_header("Roll")
    ('Preferred forename', 'Former UPNs', 'Roll')
    """
    if key != key.lower() or " " in key or not key:
        return key
    words = [_WORDS.get(w, w) for w in re.split(r"_+", key) if w]
    if not words:
        return key
    first = words[0]
    words[0] = first[:1].upper() + first[1:]
    return " ".join(words)


def rows_to_html(
    rows: Sequence[Mapping[str, Any]],
    *,
    caption: str | None = None,
    limit: int = 200,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Render *rows* (dicts sharing keys) as an escaped HTML table, at most *limit* rows shown.

    Each header is ``labels[key]`` when given, else :func:`human_header` of the key."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    named = labels or {}
    parts = ['<table class="schoolsync">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(
        "<thead><tr>"
        + "".join(f"<th>{html.escape(named.get(c) or human_header(c))}</th>" for c in columns)
        + "</tr></thead><tbody>"
    )
    for row in rows[:limit]:
        cells = "".join(
            f"<td>{html.escape('' if row.get(c) is None else str(row.get(c)))}</td>"
            for c in columns
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    if len(rows) > limit:
        parts.append(f"<p>{len(rows) - limit} more rows not shown; use to_rows().</p>")
    return "".join(parts)


class Tabular(ABC):
    """Mixin: implement :meth:`to_rows`; get ``_repr_html_`` for Jupyter for free."""

    @abstractmethod
    def to_rows(self) -> list[dict[str, Any]]:
        """The value as plain rows (one dict per row, JSON-able values)."""

    def table_caption(self) -> str | None:
        """A caption for the HTML table (override to add one)."""
        return None

    def display_rows(self) -> list[dict[str, Any]]:
        """The rows a person reads in the HTML table: :meth:`to_rows`, with names in place of
        ids where the value knows them (override to substitute them)."""
        return self.to_rows()

    def column_labels(self) -> Mapping[str, str]:
        """Headers for the HTML table where :func:`human_header` of the key is not right
        (override to name a column; e.g. ``{"school": "School"}``)."""
        return {}

    def _repr_html_(self) -> str:
        return rows_to_html(
            self.display_rows(), caption=self.table_caption(), labels=self.column_labels()
        )

    def _columns(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        columns: list[str] = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        return columns

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        """Refuse a silent conversion: ``pandas.DataFrame(value)`` and ``numpy.asarray(value)``
        would otherwise build one column of objects. Use :meth:`to_pandas`.

        Raises:
            TypeError: always, naming the call to use instead.
        """
        name = type(self).__name__
        raise TypeError(
            f"a {name} is not an array; use {name.lower()}.to_pandas() or .to_polars() "
            "(or pandas.DataFrame(value.to_rows())) for one column per field"
        )

    def to_pandas(self) -> Any:
        """The rows as a :class:`pandas.DataFrame` (one column per field, in order).

        Raises:
            ModuleNotFoundError: pandas is not installed (``pip install 'schoolsync[pandas]'``).
        """
        pd = _frame_library("pandas")
        rows = self.to_rows()
        return pd.DataFrame(rows, columns=self._columns(rows))

    def to_polars(self) -> Any:
        """The rows as a :class:`polars.DataFrame` (one column per field, in order).

        Raises:
            ModuleNotFoundError: polars is not installed (``pip install 'schoolsync[polars]'``).
        """
        pl = _frame_library("polars")
        rows = self.to_rows()
        columns = self._columns(rows)
        return pl.DataFrame({c: [row.get(c) for row in rows] for c in columns}, strict=False)


# -- MIS snapshots -----------------------------------------------------------------------------

#: The tables of a :class:`~schoolsync.ports.MisSnapshot`, in the order they are shown.
SNAPSHOT_TABLES = ("pupils", "staff", "classes", "year_groups")


def _cell(value: Any) -> Any:
    """A record's field as one cell: identifiers as text, enums as their value, several values
    joined with ``"; "`` (the class separator the tabular reader reads back)."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, tuple | list | frozenset | set):
        parts = [str(_cell(v)) for v in value]
        return "; ".join(sorted(parts) if isinstance(value, frozenset | set) else parts) or None
    if hasattr(value, "isoformat"):  # a date or a datetime: kept, a frame types its column
        return value
    return str(value)


def _snapshot_table(snapshot: Any, table: str) -> tuple[list[str], list[dict[str, Any]]]:
    import attrs

    from schoolsync.errors import ValidationError
    from schoolsync.records import Pupil, SchoolClass, StaffMember, YearGroup

    kinds = {
        "pupils": Pupil,
        "staff": StaffMember,
        "classes": SchoolClass,
        "year_groups": YearGroup,
    }
    if table not in kinds:
        raise ValidationError(
            "table", table, f"a snapshot's tables are {', '.join(SNAPSHOT_TABLES)}"
        )
    columns = [f.name for f in attrs.fields(kinds[table])]
    records = getattr(snapshot, table)
    return columns, [{c: _cell(getattr(r, c)) for c in columns} for r in records]


def snapshot_rows(snapshot: Any, table: str) -> list[dict[str, Any]]:
    """One plain row per record of *table* (``"pupils"``, ``"staff"``, ``"classes"``,
    ``"year_groups"``) of a :class:`~schoolsync.ports.MisSnapshot`: one key per field.

    Raises:
        ValidationError: *table* is not one of the snapshot's tables.
    """
    return _snapshot_table(snapshot, table)[1]


def snapshot_frames(snapshot: Any, library: str, table: str | None = None) -> Any:
    """A snapshot's tables as DataFrames of *library* (``"pandas"`` or ``"polars"``): a dict
    of the four named frames, or the one frame of *table*. Columns are the record's fields in
    order, present even when the table is empty.

    Raises:
        ModuleNotFoundError: the library is not installed.
        ValidationError: *table* is not one of the snapshot's tables.
    """
    module = _frame_library(library)

    def frame(name: str) -> Any:
        columns, rows = _snapshot_table(snapshot, name)
        data = {c: [row[c] for row in rows] for c in columns}
        if library == "polars":
            return module.DataFrame(data, strict=False)
        return module.DataFrame(data, columns=columns)

    if table is not None:
        return frame(table)
    return {name: frame(name) for name in SNAPSHOT_TABLES}


def snapshot_html(snapshot: Any, *, limit: int = 20) -> str:
    """A snapshot for a notebook: a caption with its counts and warnings, then each table that
    has records (the first *limit* rows, human headers, escaped)."""
    counts = ", ".join(
        f"{len(getattr(snapshot, t))} {t.replace('_', ' ')}" for t in SNAPSHOT_TABLES
    )
    taken = "" if snapshot.taken_at is None else f" taken {snapshot.taken_at:%Y-%m-%d %H:%M}"
    warned = len(snapshot.warnings)
    parts = [
        '<div class="schoolsync-snapshot"><p><strong>'
        + html.escape(f"MIS snapshot of school {snapshot.school_id}{taken}")
        + "</strong>: "
        + html.escape(counts + (f"; {warned} warning{'s' * (warned != 1)}" if warned else ""))
        + "</p>"
    ]
    for table in SNAPSHOT_TABLES:
        rows = snapshot_rows(snapshot, table)
        if rows:
            parts.append(
                rows_to_html(rows, caption=human_header(table), limit=limit).replace(
                    "use to_rows().", f"use to_pandas({table!r})."
                )
            )
    parts.append("</div>")
    return "".join(parts)
