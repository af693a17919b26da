"""Notebook interop: every table-shaped result converts to a pandas or polars DataFrame with
one call, one column per field; `pandas.DataFrame(value)` is refused with a pointer instead of
silently building a column of objects."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from schoolsync.matching import match_pupils
from schoolsync.people import Pupil


def _review():  # type: ignore[no-untyped-def]
    people = [
        Pupil(id="1", school_id="s", forename="Ann", surname="Lee"),
        Pupil(id="2", school_id="s", forename="Ben", surname="Cole"),
    ]
    return match_pupils(people, people)


def test_a_review_converts_to_pandas_and_polars_with_one_call() -> None:
    """Columns are the rows' fields, in order; one row per result."""
    review = _review()
    rows = review.to_rows()
    frame = review.to_pandas()
    assert list(rows[0]) == list(frame.columns)
    assert len(rows) == len(frame)
    assert {"Ann Lee", "Ben Cole"} == set(frame["mis_name"])
    polars_frame = review.to_polars()
    assert list(rows[0]) == polars_frame.columns
    assert len(rows) == polars_frame.height


def test_pandas_dataframe_of_a_review_is_refused_with_a_pointer() -> None:
    """`pd.DataFrame(review)` does not build a frame of objects: it says what to call."""
    with pytest.raises(TypeError, match=r"matchreview\.to_pandas\(\)"):
        pd.DataFrame(_review())
    assert isinstance(pl.DataFrame(_review().to_rows()), pl.DataFrame)
