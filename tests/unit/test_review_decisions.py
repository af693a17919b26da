"""Review decisions: one plain value, checked decision by decision, applied in one step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from schoolsync.errors import DecisionsError, FileFormatError
from schoolsync.matching import MatchReview, MatchRule, MatchStatus, match_pupils
from schoolsync.people import Pupil
from schoolsync.review import (
    Choice,
    Decision,
    ReviewDecisions,
    RowEntry,
    decisions_from_rows,
    prefilled,
    review_fingerprint,
    review_lines,
)


def pupil(pid: str, forename: str, surname: str, dob: date = date(2016, 3, 14)) -> Pupil:
    return Pupil(id=pid, school_id="s1", forename=forename, surname=surname, date_of_birth=dob)


@pytest.fixture
def review() -> MatchReview[Pupil]:
    mis = [
        pupil("m1", "Amara", "Okoye"),
        pupil("m2", "Jack", "Smith", date(2015, 1, 9)),
        pupil("m3", "Noah", "Williams", date(2015, 2, 2)),
    ]
    app = [
        pupil("a1", "Amara", "Okoye"),
        pupil("a2", "Jack", "Smith", date(2015, 1, 9)),
        pupil("a5", "Lily", "Evans", date(2013, 8, 8)),
    ]
    found = match_pupils(mis, app)
    assert {"m1", "m2"} == {r.mis_key for r in found.pairs()}
    return found


@contextmanager
def raises_problem(text: str) -> Iterator[None]:
    """The block raises DecisionsError with a problem containing *text*."""
    with pytest.raises(DecisionsError) as caught:
        yield
    assert text in str(caught.value), str(caught.value)


def decide(review: MatchReview[Pupil], *decisions: Decision) -> ReviewDecisions:
    return ReviewDecisions(kind=review.kind, review=review_fingerprint(review), decisions=decisions)


def rows(review: MatchReview[Pupil], **edits: tuple[str, str]) -> list[RowEntry]:
    """One entry per line as written; *edits* maps an id (MIS or app) to (decision, match to)."""
    out = []
    for line in review_lines(review):
        decision, target = edits.get(line.mis_id or line.app_id, (prefilled(line), ""))
        out.append(
            RowEntry(
                row=line.row,
                mis_id=line.mis_id,
                app_id=line.app_id,
                decision=decision,
                match_to=target,
            )
        )
    return out


def test_reject_match_import_and_accept_apply_together(review: MatchReview[Pupil]) -> None:
    """Unmatch m2/a2, match the New m3 with the Not matched a5 by hand, accept m1/a1."""
    after = decide(
        review,
        Decision(choice=Choice.REJECT, mis_id="m2", app_id="a2"),
        Decision(choice=Choice.DO_NOT_IMPORT, mis_id="m2"),
        Decision(choice=Choice.MATCH, mis_id="m3", app_id="a5"),
        Decision(choice=Choice.ACCEPT, mis_id="m1", app_id="a1"),
    ).apply(review)
    assert MatchStatus.NEW is after.result_for(mis="m2").status
    assert MatchStatus.NOT_MATCHED is after.result_for(app="a2").status
    assert not after.is_selected("m2")
    manual = after.result_for(mis="m3")
    assert ("a5", MatchRule.MANUAL, True) == (manual.app_key, manual.rule, manual.confirmed)
    assert manual.breakdown  # a hand match of people is scored, so the person sees the evidence
    assert after.result_for(mis="m1").confirmed
    assert len(review) == len(after)  # one pair split in two, two singles joined in one


def test_a_record_matched_twice_is_refused_and_nothing_applies(review: MatchReview[Pupil]) -> None:
    with pytest.raises(DecisionsError) as caught:
        decide(
            review,
            Decision(choice=Choice.MATCH, mis_id="m3", app_id="a5"),
            Decision(choice=Choice.MATCH, mis_id="m3", app_id="a5"),
            Decision(choice=Choice.MATCH, mis_id="m3", app_id="a1"),
        ).apply(review)
    problems = caught.value.problems()
    assert 2 == len(problems)
    assert "decisions[1]" in problems[0]
    assert "matched twice (also on decision 1)" in problems[0]


def test_matching_a_record_that_is_still_paired_needs_a_reject_first(
    review: MatchReview[Pupil],
) -> None:
    with raises_problem("app record 'a2' is already matched; reject"):
        decide(review, Decision(choice=Choice.MATCH, mis_id="m3", app_id="a2")).apply(review)
    after = decide(
        review,
        Decision(choice=Choice.MATCH, mis_id="m3", app_id="a2"),
        Decision(choice=Choice.REJECT, mis_id="m2", app_id="a2"),
    ).apply(review)  # rejections apply first, whatever the order given
    assert "a2" == after.result_for(mis="m3").app_key


def test_decisions_about_another_review_are_refused(review: MatchReview[Pupil]) -> None:
    other = review.unmatch(mis="m1")
    with raises_problem("made about a different review"):
        decide(review).apply(other)


def test_unchanged_rows_decide_nothing(review: MatchReview[Pupil]) -> None:
    made = decisions_from_rows(review, rows(review), source="review.xlsx")
    assert () == made.decisions
    assert review == made.apply(review)


def test_row_problems_name_the_row_and_the_column(review: MatchReview[Pupil]) -> None:
    lines = {ln.mis_id or ln.app_id: ln for ln in review_lines(review)}
    entries = rows(
        review,
        m1=("Maybe", ""),  # not a decision
        a5=("", "nobody"),  # no MIS record has this id
        m3=("Do not import", "a5"),  # an id with another decision
        m2=("Do not import", ""),  # a New-only choice on a pair
    )
    with pytest.raises(DecisionsError) as caught:
        decisions_from_rows(review, entries, source="review.xlsx")
    found = {(e.row, e.field) for e in caught.value.exceptions if isinstance(e, FileFormatError)}
    assert {
        (lines["m1"].row, "Decision"),
        (lines["a5"].row, "Match to id"),
        (lines["m3"].row, "Match to id"),
        (lines["m2"].row, "Decision"),
    } == found
    text = str(caught.value)
    assert f"review.xlsx, row {lines['m1'].row}, field 'Decision': not a decision" in text
    assert "Amara" not in text  # names never reach an error


def test_an_app_id_given_where_an_mis_id_belongs_says_so(review: MatchReview[Pupil]) -> None:
    with raises_problem("no MIS record has this id; that is an app record's"):
        decisions_from_rows(review, rows(review, a5=("", "a1")), source="r.xlsx")


def test_two_rows_matching_one_record_point_at_each_other(review: MatchReview[Pupil]) -> None:
    lines = {ln.mis_id or ln.app_id: ln for ln in review_lines(review)}
    entries = rows(review, m3=("Match to id", "a2"))
    with pytest.raises(DecisionsError) as caught:
        decisions_from_rows(review, entries, source="r.xlsx")
    assert f"already matched on row {lines['m2'].row}; reject that match first" in str(caught.value)
    # Rejecting the pair on its own row makes the hand match valid.
    entries = rows(review, m3=("Match to id", "a2"), m2=("Reject match", ""))
    made = decisions_from_rows(review, entries, source="r.xlsx")
    after = made.apply(review)
    assert "a2" == after.result_for(mis="m3").app_key
    # The same hand match asked from both records' rows is one decision, not a clash.
    entries = rows(review, m3=("", "a5"), a5=("Match to id", "m3"))
    assert 1 == len(decisions_from_rows(review, entries, source="r.xlsx"))


def test_deleted_copied_and_foreign_rows_are_reported(review: MatchReview[Pupil]) -> None:
    entries = rows(review)
    deleted = entries[1:]
    with raises_problem("has no row"):
        decisions_from_rows(review, deleted, source="r.xlsx")
    copied = [*entries, RowEntry(row=99, mis_id=entries[0].mis_id, app_id=entries[0].app_id)]
    with raises_problem("row 99, field 'MIS id': the same line as row 2"):
        decisions_from_rows(review, copied, source="r.xlsx")
    foreign = [*entries, RowEntry(row=50, mis_id="m9", app_id="")]
    with raises_problem("row 50, field 'MIS id': no line of the review"):
        decisions_from_rows(review, foreign, source="r.xlsx")


def test_import_choices_fit_new_records_only(review: MatchReview[Pupil]) -> None:
    with raises_problem("only a New record can be imported or left out"):
        decide(review, Decision(choice=Choice.DO_NOT_IMPORT, mis_id="m1")).apply(review)
    with raises_problem("is not matched with app record 'a5'"):
        decide(review, Decision(choice=Choice.ACCEPT, mis_id="m1", app_id="a5")).apply(review)


def test_decisions_save_and_load_as_json(review: MatchReview[Pupil], tmp_path: Path) -> None:
    made = decide(review, Decision(choice=Choice.REJECT, mis_id="m2", app_id="a2"))
    path = made.save(tmp_path / "decisions.json")
    assert made == ReviewDecisions.load(path)
    assert '"choice": "reject"' in path.read_text(encoding="utf-8")
    path.write_text(
        '{"format": "schoolsync.review-decisions/1", "kind": "pupil"}', encoding="utf-8"
    )
    with pytest.raises(FileFormatError, match=r"decisions\.json"):
        ReviewDecisions.load(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(FileFormatError, match="not a schoolsync review decisions file"):
        ReviewDecisions.load(path)
