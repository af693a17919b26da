"""Round trips of the review workbook: an unchanged workbook gives the same review back, and
decisions typed into the workbook read back as the decisions the same rows make directly."""

from __future__ import annotations

import io
from typing import Any

import attrs
import openpyxl
from hypothesis import given, settings
from hypothesis import strategies as st

from schoolsync.matching import MatchReview, MatchStatus, match_pupils
from schoolsync.people import Pupil
from schoolsync.review import (
    RowEntry,
    decisions_from_rows,
    prefilled,
    read_review_workbook,
    review_lines,
    write_review_workbook,
)
from schoolsync.testing.strategies import pupils

# Names a spreadsheet may mangle: formulas, apostrophes, escapes, control characters, accents.
_ODD = st.sampled_from(["=SUM(A1)", "'Connor", "-x", "@home", "_x0041_", "Zoë", "a\x07b", " lead"])


@st.composite
def reviews(draw: st.DrawFn) -> MatchReview[Pupil]:
    people = draw(
        st.lists(pupils(school_id="s1"), min_size=1, max_size=12, unique_by=lambda p: p.id)
    )
    odd = draw(st.lists(_ODD, max_size=len(people), min_size=len(people)))
    people = [
        attrs.evolve(p, forename=name) if draw(st.booleans()) else p
        for p, name in zip(people, odd, strict=True)
    ]
    mis = [
        attrs.evolve(p, id=f"m{i}") for i, p in enumerate(people) if draw(st.booleans()) or i == 0
    ]
    app: list[Pupil] = []
    for i, p in enumerate(people):
        if draw(st.booleans()):
            surname = p.surname + draw(st.sampled_from(["", "", "e", "s"]))
            app.append(attrs.evolve(p, id=f"a{i}", surname=surname))
    review = match_pupils(mis, app)
    # Some earlier decisions: a few New records left out, a few pairs already accepted.
    news = [r.mis_key for r in review.by_status(MatchStatus.NEW)]
    dropped = draw(st.lists(st.sampled_from(news), unique=True)) if news else []
    review = review.deselect(*[k for k in dropped if k])
    for pair in review.pairs():
        if draw(st.booleans()):
            review = review.confirm(pair.mis_key or "")
    return review


def _workbook(review: MatchReview[Any]) -> bytes:
    buffer = io.BytesIO()
    write_review_workbook(review, buffer)
    return buffer.getvalue()


@settings(max_examples=25)
@given(reviews())
def test_an_unchanged_workbook_gives_the_same_review_back(review: MatchReview[Pupil]) -> None:
    decisions = read_review_workbook(io.BytesIO(_workbook(review)), review, name="r.xlsx")
    assert () == decisions.decisions
    assert review == decisions.apply(review)


@st.composite
def edits(draw: st.DrawFn) -> tuple[MatchReview[Pupil], dict[int, tuple[str, str]]]:
    review = draw(reviews())
    lines = review_lines(review)
    choices = ["", "Accept match", "Reject match", "Import", "Do not import", "Match to id"]
    ids = [ln.mis_id for ln in lines if ln.mis_id] + [ln.app_id for ln in lines if ln.app_id]
    changed = draw(
        st.dictionaries(
            st.integers(0, len(lines) - 1),
            st.tuples(st.sampled_from(choices), st.one_of(st.just(""), st.sampled_from(ids))),
            max_size=4,
        )
    )
    return review, changed


@settings(max_examples=25)
@given(edits())
def test_decisions_typed_into_the_workbook_read_back_as_the_rows_make_them(
    case: tuple[MatchReview[Pupil], dict[int, tuple[str, str]]],
) -> None:
    """Whatever a person types, the workbook reader and the row checker agree: the same
    decisions, or the same problems (rows and columns)."""
    review, changed = case
    lines = review_lines(review)
    workbook = openpyxl.load_workbook(io.BytesIO(_workbook(review)))
    sheet = workbook["Review"]
    entries = []
    for i, line in enumerate(lines):
        decision, target = changed.get(i, (prefilled(line), ""))
        sheet.cell(row=line.row, column=2).value = decision or None
        sheet.cell(row=line.row, column=3).value = target or None
        entries.append(
            RowEntry(
                row=line.row,
                mis_id=line.mis_id,
                app_id=line.app_id,
                decision=decision,
                match_to=target,
            )
        )
    buffer = io.BytesIO()
    workbook.save(buffer)

    def outcome(read: Any) -> object:
        try:
            return read()
        except Exception as exc:  # the problems, as text
            return str(exc)

    direct = outcome(lambda: decisions_from_rows(review, entries, source="r.xlsx"))
    from_file = outcome(
        lambda: read_review_workbook(io.BytesIO(buffer.getvalue()), review, name="r.xlsx")
    )
    assert (
        direct == from_file.replace("the workbook's decisions", "the decisions")
        if isinstance(from_file, str)
        else direct == from_file
    )
