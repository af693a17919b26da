"""Plain-row and HTML views of schoolsync values, for notebooks and spreadsheets.

A value that can be shown as a table (a match review, a sync plan, a change set, a decision
table) subclasses :class:`Tabular` and implements :meth:`Tabular.to_rows`; it then renders as an
HTML table in Jupyter (``_repr_html_``) and converts with one call: ``value.to_pandas()`` or
``value.to_polars()`` (``pip install 'schoolsync[pandas]'`` or ``[polars]``). Neither library
is a dependency. ``pandas.DataFrame(value)`` is refused with a message naming ``to_pandas()``
rather than silently building one column of objects.
"""

from __future__ import annotations

import html
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Tabular", "rows_to_html"]


def rows_to_html(
    rows: Sequence[Mapping[str, Any]], *, caption: str | None = None, limit: int = 200
) -> str:
    """Render *rows* (dicts sharing keys) as an escaped HTML table, at most *limit* rows shown."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    parts = ['<table class="schoolsync">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(
        "<thead><tr>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in columns)
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

    def _repr_html_(self) -> str:
        return rows_to_html(self.to_rows(), caption=self.table_caption())

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
        try:
            pd = importlib.import_module("pandas")
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                "to_pandas() needs pandas: pip install 'schoolsync[pandas]'"
            ) from exc
        rows = self.to_rows()
        return pd.DataFrame(rows, columns=self._columns(rows))

    def to_polars(self) -> Any:
        """The rows as a :class:`polars.DataFrame` (one column per field, in order).

        Raises:
            ModuleNotFoundError: polars is not installed (``pip install 'schoolsync[polars]'``).
        """
        try:
            pl = importlib.import_module("polars")
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                "to_polars() needs polars: pip install 'schoolsync[polars]'"
            ) from exc
        rows = self.to_rows()
        columns = self._columns(rows)
        return pl.DataFrame({c: [row.get(c) for row in rows] for c in columns}, strict=False)
