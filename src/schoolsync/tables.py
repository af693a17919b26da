"""Plain-row and HTML views of schoolsync values, for notebooks and spreadsheets.

A value that can be shown as a table (a match review, a sync plan, a change set, a decision
table) subclasses :class:`Tabular` and implements :meth:`Tabular.to_rows`; it then renders as an
HTML table in Jupyter (``_repr_html_``) and its rows go straight into a DataFrame
(``pandas.DataFrame(value.to_rows())``) without pandas being a dependency.
"""

from __future__ import annotations

import html
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
