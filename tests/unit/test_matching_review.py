"""MatchReview: review order, filtering, manual edits, import selection, saving and resuming."""

from __future__ import annotations

import json
from datetime import date

import pytest

from schoolsync.errors import NotFoundError, ValidationError
from schoolsync.matching import (
    MatchReview,
    MatchRule,
    MatchStatus,
    match_pupils,
    match_staff,
    score_pair,
)
from schoolsync.people import Pupil, StaffMember


def pupil(pid: str, forename: str, surname: str, dob: date | None = date(2016, 3, 14)) -> Pupil:
    return Pupil(id=pid, school_id="s1", forename=forename, surname=surname, date_of_birth=dob)


@pytest.fixture
def review() -> MatchReview[Pupil]:
    mis = [
        pupil("m1", "Amara", "Okoye"),
        pupil("m2", "Jack", "Smith", None),
        pupil("m3", "Noah", "Williams", date(2015, 2, 2)),
        pupil("m4", "Freya", "Campbell", date(2014, 6, 30)),
    ]
    app = [
        pupil("a1", "Amara", "Okoye"),
        pupil("a2", "Jack", "Smith", None),
        pupil("a2b", "Jack", "Smith", None),
        pupil("a5", "Lily", "Evans", date(2013, 8, 8)),
    ]
    return match_pupils(mis, app)


def test_results_are_in_review_order(review: MatchReview[Pupil]) -> None:
    """Results list Not matched, then New, then May match, then Matched; by surname within."""
    assert [(r.status, r.mis_key, r.app_key) for r in review] == [
        (MatchStatus.NOT_MATCHED, None, "a5"),  # Evans
        (MatchStatus.NOT_MATCHED, None, "a2b"),  # Smith
        (MatchStatus.NEW, "m4", None),  # Campbell
        (MatchStatus.NEW, "m3", None),  # Williams
        (MatchStatus.MAY_MATCH, "m2", "a2"),
        (MatchStatus.MATCHED, "m1", "a1"),
    ]


def test_every_record_appears_once(review: MatchReview[Pupil]) -> None:
    """Each MIS and each app record is in exactly one result."""
    mis = [r.mis_key for r in review if r.mis_key]
    app = [r.app_key for r in review if r.app_key]
    assert sorted(mis) == ["m1", "m2", "m3", "m4"]
    assert sorted(app) == ["a1", "a2", "a2b", "a5"]


def test_filter_by_partial_name(review: MatchReview[Pupil]) -> None:
    """filter() finds results by a partial, case- and accent-insensitive name on either side."""
    assert [r.mis_key for r in review.filter("OKO")] == ["m1"]
    assert [r.app_key for r in review.filter("evan")] == ["a5"]
    jacks = [(None, "a2b"), ("m2", "a2")]
    assert [(r.mis_key, r.app_key) for r in review.filter("smith ja")] == jacks  # surname first
    assert [(r.mis_key, r.app_key) for r in review.filter("ja smi")] == jacks  # forename first
    assert review.filter("zz") == ()
    accented = match_pupils([pupil("m", "Zoë", "O'Neill")], [])
    assert [r.mis_key for r in accented.filter("zoe onei")] == ["m"]


def test_match_by_hand_breaks_up_old_pairs(review: MatchReview[Pupil]) -> None:
    """match(a, b) pairs two records; their former partners become New / Not matched."""
    edited = review.match("m1", "a5", scorer=score_pair)
    r = edited.result_for(mis="m1")
    assert (r.status, r.app_key, r.rule, r.confirmed) == (
        MatchStatus.MATCHED,
        "a5",
        MatchRule.MANUAL,
        True,
    )
    assert edited.result_for(app="a1").status is MatchStatus.NOT_MATCHED
    assert len(edited) == len(review)
    assert r.breakdown


def test_unmatch_splits_a_pair(review: MatchReview[Pupil]) -> None:
    """unmatch() turns a pair into a New MIS record (selected) and a Not matched app record."""
    edited = review.unmatch(app="a1")
    assert edited.result_for(mis="m1").status is MatchStatus.NEW
    assert edited.result_for(app="a1").status is MatchStatus.NOT_MATCHED
    assert edited.is_selected("m1")
    with pytest.raises(ValidationError):
        edited.unmatch(mis="m1")


def test_accept_all_may_match(review: MatchReview[Pupil]) -> None:
    """accept_all_may_match() confirms every May match as Matched."""
    assert review.counts()[MatchStatus.MAY_MATCH] == 1
    accepted = review.accept_all_may_match()
    assert accepted.counts()[MatchStatus.MAY_MATCH] == 0
    assert accepted.result_for(mis="m2").confirmed


def test_selection_of_new_records(review: MatchReview[Pupil]) -> None:
    """New pupils start selected; they can be deselected and selected again."""
    assert review.is_selected("m3")
    off = review.deselect_all_new()
    assert off.to_import() == ()
    on = off.select("m4")
    assert [p.id for p in on.to_import()] == ["m4"]
    with pytest.raises(NotFoundError):
        on.select("m1")


def test_new_staff_are_deselected_by_default() -> None:
    """New staff are not selected for import until a person selects them, also when a pair
    is unmatched; a saved staff review resumes with the same rule and selection."""
    review = match_staff([StaffMember(id="m", school_id="s", forename="A", surname="B")], [])
    assert review.to_import() == ()
    assert [s.id for s in review.select_all_new().to_import()] == ["m"]
    pair = match_staff(
        [StaffMember(id="m", school_id="s", forename="Ann", surname="Bell")],
        [StaffMember(id="a", school_id="s", forename="Ann", surname="Bell")],
    )
    split = pair.unmatch(mis="m")
    assert split.result_for(mis="m").status is MatchStatus.NEW
    assert not split.is_selected("m")
    resumed = MatchReview.from_dict(json.loads(json.dumps(split.to_dict())))
    assert resumed == split
    assert not resumed.select_new_by_default
    assert isinstance(resumed.result_for(mis="m").mis, StaffMember)


def test_save_and_resume(review: MatchReview[Pupil]) -> None:
    """A review saved with to_dict (JSON-able) and loaded with from_dict is the same review."""
    edited = review.unmatch(mis="m1").deselect("m3")
    data = json.loads(json.dumps(edited.to_dict()))
    assert MatchReview.from_dict(data) == edited


def test_rows_and_html(review: MatchReview[Pupil]) -> None:
    """to_rows() gives one row per result; the HTML view has a caption with the counts."""
    rows = review.to_rows()
    assert len(rows) == len(review)
    assert rows[0] == {
        "status": "Not matched",
        "mis_id": None,
        "mis_name": None,
        "app_id": "a5",
        "app_name": "Lily Evans",
        "score": None,
        "rule": None,
        "explanation": "",
        "selected": None,
    }
    assert rows[2]["selected"] is True
    assert rows[-1]["explanation"].startswith("surname equal +")
    assert "date of birth equal +" in rows[-1]["explanation"]
    html = review._repr_html_()
    assert "pupil matching: 2 Not matched, 2 New, 1 May match, 1 Matched" in html
    hostile = match_pupils([pupil("m", "<b>Bo</b>", "Smith")], [])._repr_html_()
    assert "<b>Bo" not in hostile
    assert "&lt;b&gt;Bo" in hostile


def test_matching_a_may_match_pair_by_hand_confirms_it(review: MatchReview[Pupil]) -> None:
    """match(a, b) on a May match pair makes it a confirmed Matched pair, nothing else moves."""
    edited = review.match("m2", review.result_for(mis="m2").app_key or "")
    r = edited.result_for(mis="m2")
    assert (r.status, r.confirmed) == (MatchStatus.MATCHED, True)
    assert edited.counts()[MatchStatus.NOT_MATCHED] == review.counts()[MatchStatus.NOT_MATCHED]
    assert len(edited) == len(review)


def test_unknown_records_are_refused(review: MatchReview[Pupil]) -> None:
    """Editing with an id the review does not hold raises NotFoundError."""
    with pytest.raises(NotFoundError):
        review.match("nope", "a1")
    with pytest.raises(NotFoundError):
        review.unmatch(app="nope")


def test_a_damaged_saved_review_is_refused_naming_the_field(review: MatchReview[Pupil]) -> None:
    """from_dict on a damaged save raises ValidationError naming where, not the record."""
    data = json.loads(json.dumps(review.to_dict()))
    data["results"][0]["status"] = "bogus"
    with pytest.raises(ValidationError) as info:
        MatchReview.from_dict(data)
    assert info.value.field == "review.results[0].status"
    assert "MatchStatus" in info.value.reason
    with pytest.raises(ValidationError) as unknown:
        MatchReview.from_dict({"kind": "teacher"})
    assert unknown.value.field == "kind"


def test_the_matchers_fast_results_equal_the_constructors() -> None:
    """The matcher builds its results without the constructor's check (``made_result``): each
    must equal, hash and serialise like ``MatchResult(...)``, every field set, for every
    status; a field added to MatchResult must be added there too."""
    import attrs

    from schoolsync.matching import FieldScore, MatchResult
    from schoolsync.matching._results import made_result

    m, a = pupil("m1", "Amara", "Okoye"), pupil("a1", "Amara", "Okoye")
    breakdown = (FieldScore(field="surname", similarity=1.0, weight=9.0, note="equal +9.0"),)
    cases = [
        (MatchStatus.NEW, m, None, {}),
        (MatchStatus.NOT_MATCHED, None, a, {}),
        (MatchStatus.MAY_MATCH, m, a, {"score": 0.7, "runner_up": 0.6, "flags": ("ambiguous",)}),
        (
            MatchStatus.MATCHED,
            m,
            a,
            {"score": 0.99, "rule": MatchRule.NAME_DOB, "breakdown": breakdown},
        ),
    ]
    assert [f.name for f in attrs.fields(MatchResult)] == [
        "status",
        "mis",
        "app",
        "score",
        "rule",
        "breakdown",
        "runner_up",
        "flags",
        "confirmed",
    ]
    for status, mis, app, extra in cases:
        made = made_result(status, mis, app, **extra)
        built = MatchResult(status=status, mis=mis, app=app, **extra)
        assert made == built
        assert hash(made) == hash(built)
        assert attrs.asdict(made, recurse=False) == attrs.asdict(built, recurse=False)
        assert made.explanation == built.explanation
