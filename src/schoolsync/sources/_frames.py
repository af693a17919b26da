"""DataFrames read like files: a header and rows of cells, for a data officer in a notebook.

The tabular MIS reader and the bulk import accept a pandas or polars ``DataFrame`` wherever
they accept a file. The frame's column names are its header (matched like a file's: aliases,
case, near misses), each row goes through the same checks, and a problem names the row by the
frame's index label (pandas, when the index holds integers) or its position from 0 (polars, or
an index of other labels). Neither library is imported here: a frame is recognised by its type's
module, so pandas and polars stay optional extras.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from schoolsync.errors import FileFormatError

__all__ = ["DataFrameLike", "frame_header", "frame_rows", "is_frame"]


@runtime_checkable
class DataFrameLike(Protocol):
    """A pandas or polars ``DataFrame`` (what the readers accept in place of a file)."""

    @property
    def columns(self) -> Any:
        """The column names."""

    @property
    def shape(self) -> Any:
        """(rows, columns)."""


def is_frame(value: object) -> bool:
    """Whether *value* is a pandas or polars DataFrame (without importing either)."""
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.split(".")[0] in {"pandas", "polars"}


def _is_pandas(frame: object) -> bool:
    return type(frame).__module__.split(".")[0] == "pandas"


def frame_header(frame: Any, name: str) -> list[str]:
    """The frame's column names as header text.

    Raises:
        FileFormatError: a column name is not text (a pandas MultiIndex, say).
    """
    header: list[str] = []
    for column in list(frame.columns):
        if isinstance(column, tuple):
            raise FileFormatError(
                name,
                "the frame has multi-level column names; flatten them first "
                "(frame.columns = [' '.join(c) for c in frame.columns])",
                row=None,
            )
        header.append(str(column))
    return header


def _missing(value: object) -> bool:
    """None, NaN, pandas' NA and NaT: an empty cell."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    kind = type(value).__name__
    return kind in {"NAType", "NaTType"}


def frame_rows(frame: Any) -> Iterator[tuple[int, list[object]]]:
    """(row number, cell values) for each row of *frame*; an empty cell is ``None``.

    The row number is the pandas index label when the index holds integers (the default
    ``RangeIndex`` counts from 0), else the row's position from 0 (always, for polars).
    """
    if _is_pandas(frame):
        labels = list(frame.index)
        integers = all(
            isinstance(label, numbers.Integral) and not isinstance(label, bool) for label in labels
        )
        rows: Iterator[tuple[Any, ...]] = frame.itertuples(index=False, name=None)
        for position, values in enumerate(rows):
            number = int(labels[position]) if integers else position
            yield number, [None if _missing(v) else v for v in values]
        return
    for position, values in enumerate(frame.iter_rows()):
        yield position, [None if _missing(v) else v for v in values]
