"""Year group and class matching."""

from __future__ import annotations

import pytest

from schoolsync.errors import ValidationError
from schoolsync.matching import MatchRule, MatchStatus, match_classes, match_year_groups
from schoolsync.people import SchoolClass, YearGroup


def yg(yid: str, name: str, code: str) -> YearGroup:
    return YearGroup(id=yid, school_id="s", name=name, nc_year=code)


def cls(cid: str, name: str, *years: str, mis_id: str | None = None) -> SchoolClass:
    return SchoolClass(id=cid, school_id="s", name=name, year_group_ids=years, mis_id=mis_id)


MIS_YEARS = [
    yg("m-n", "Nursery", "N2"),
    yg("m-r", "Reception", "R"),
    yg("m-1", "Year 1", "1"),
    yg("m-2", "Year 2", "2"),
    yg("m-3", "Year 3", "3"),
]
APP_YEARS = [
    yg("a-r", "Rec", "R"),
    yg("a-1", "Year One", "1"),
    yg("a-2", "Year 2", "2"),
    yg("a-6", "Year 6", "6"),
]


def test_year_groups_match_by_nc_year_and_nursery_is_excluded() -> None:
    """Year groups pair by NC year; every Nursery (by code or by name) is left out of the
    review; the app-only year group is kept."""
    nurseries = [yg("m-pre", "Pre-school", "N1"), yg("m-x", "Nursery class", "")]
    review = match_year_groups([*MIS_YEARS, *nurseries], APP_YEARS)
    assert {(r.mis_key, r.app_key, r.status) for r in review} == {
        ("m-r", "a-r", MatchStatus.MATCHED),
        ("m-1", "a-1", MatchStatus.MATCHED),
        ("m-2", "a-2", MatchStatus.MATCHED),
        ("m-3", None, MatchStatus.NEW),
        (None, "a-6", MatchStatus.NOT_MATCHED),
    }
    assert [y.id for y in review.excluded] == ["m-n", "m-pre", "m-x"]
    assert all(r.rule is MatchRule.NC_YEAR for r in review.pairs())
    assert review.result_for(app="a-6").explanation == (
        "kept: year groups in the app are never removed"
    )


def test_mis_year_group_names_supersede_app_names() -> None:
    """A matched year group whose names differ says the MIS name replaces the app name."""
    review = match_year_groups(MIS_YEARS, APP_YEARS)
    r = review.result_for(mis="m-1")
    assert r.explanation == "nc year equal, name differs: the MIS name replaces the app name"
    assert review.result_for(mis="m-2").explanation == "nc year equal, name equal"


def test_year_groups_in_the_app_cannot_be_unticked() -> None:
    """Deselecting a year group the app already has is refused; a new one can be deselected."""
    review = match_year_groups(MIS_YEARS, APP_YEARS)
    assert review.locked == {"m-r", "m-1", "m-2"}
    assert review.selected == {"m-r", "m-1", "m-2", "m-3"}
    with pytest.raises(ValidationError) as info:
        review.deselect("m-1")
    assert info.value.field == "selected"
    assert not review.deselect("m-3").is_selected("m-3")
    assert review.deselect_all_new().selected == {"m-r", "m-1", "m-2"}


def test_same_name_classes_match_within_year_groups() -> None:
    """Classes with the same normalised name and year groups are Matched."""
    review = match_classes(
        [cls("m1", "3 Oak", "m-3"), cls("m2", "Ash", "m-1")],
        [cls("a1", "3-OAK", "a-3"), cls("a2", "ash", "a-1")],
        mis_year_groups=MIS_YEARS,
        app_year_groups=[*APP_YEARS, yg("a-3", "Year 3", "3")],
    )
    assert {(r.mis_key, r.app_key, r.status) for r in review} == {
        ("m1", "a1", MatchStatus.MATCHED),
        ("m2", "a2", MatchStatus.MATCHED),
    }


def test_same_name_in_other_year_group_is_only_may_match() -> None:
    """A class of the same name in a different year group needs a person to confirm it."""
    review = match_classes(
        [cls("m1", "Oak", "m-2")],
        [cls("a1", "Oak", "a-1")],
        mis_year_groups=MIS_YEARS,
        app_year_groups=APP_YEARS,
    )
    r = review.result_for(mis="m1")
    assert (r.status, r.app_key) == (MatchStatus.MAY_MATCH, "a1")
    assert "year groups differ" in r.explanation


def test_mixed_year_class_is_reported() -> None:
    """MIS "Swans" (Years 1 and 2) against app "1Swans" and "2Swans" is reported as mixed-year."""
    review = match_classes(
        [cls("m1", "Swans", "m-1", "m-2")],
        [cls("a1", "1Swans", "a-1"), cls("a2", "2 Swans", "a-2")],
        mis_year_groups=MIS_YEARS,
        app_year_groups=APP_YEARS,
    )
    (mixed,) = review.mixed_year_classes
    assert mixed.mis_class.id == "m1"
    assert mixed.nc_years == ("1", "2")
    assert sorted(c.id for c in mixed.app_classes) == ["a1", "a2"]
    new = review.result_for(mis="m1")
    assert new.status is MatchStatus.NEW
    assert new.explanation == "mixed-year class: the app has one class per year"
    for app_id in ("a1", "a2"):
        r = review.result_for(app=app_id)
        assert r.status is MatchStatus.NOT_MATCHED
        assert r.explanation == "one year of the mixed-year MIS class Swans"


def test_similar_class_names_are_may_match_and_mis_id_wins() -> None:
    """Similar names in one year group are May match; a shared MIS id is Matched outright."""
    review = match_classes(
        [cls("m1", "Kestrels", "m-1"), cls("m2", "Falcon", "m-2", mis_id="77")],
        [cls("a1", "Kestrel", "a-1"), cls("a2", "Class F", "a-2", mis_id="77")],
        mis_year_groups=MIS_YEARS,
        app_year_groups=APP_YEARS,
    )
    assert review.result_for(mis="m1").status is MatchStatus.MAY_MATCH
    r = review.result_for(mis="m2")
    assert (r.status, r.rule) == (MatchStatus.MATCHED, MatchRule.MIS_ID)


def test_new_classes_are_selected_by_default() -> None:
    """New MIS classes are ticked for import until a person unticks them."""
    review = match_classes([cls("m1", "Robins", "m-1")], [], mis_year_groups=MIS_YEARS)
    assert [c.id for c in review.to_import()] == ["m1"]
    assert review.deselect("m1").to_import() == ()


def test_class_and_year_group_reviews_save_and_resume() -> None:
    """Class reviews (with mixed-year reports) and year group reviews survive to_dict/from_dict."""
    from schoolsync.matching import MatchReview

    classes = match_classes(
        [cls("m1", "Swans", "m-1", "m-2")],
        [cls("a1", "1Swans", "a-1"), cls("a2", "2Swans", "a-2")],
        mis_year_groups=MIS_YEARS,
        app_year_groups=APP_YEARS,
    )
    years = match_year_groups(MIS_YEARS, APP_YEARS)
    assert MatchReview.from_dict(classes.to_dict()) == classes
    assert MatchReview.from_dict(years.to_dict()) == years
