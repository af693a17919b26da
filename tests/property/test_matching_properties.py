"""Invariants of person matching over generated populations (hypothesis)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.matching import MatchStatus, match_pupils, match_staff, normalise_name
from schoolsync.people import Gender, Pupil, StaffMember
from schoolsync.testing.populations import ErrorModel, pupil_population, staff_population

_FORENAMES = ["Amy", "Amie", "Ben", "Alex", "Alexander", "Zoë", "Zoe", "Jack", "Jake", "Ava", "Eva"]
_SURNAMES = ["Smith", "Smyth", "Smith-Jones", "Jones", "O'Neill", "ONeill", "Khan", "Lee"]

names = st.tuples(st.sampled_from(_FORENAMES), st.sampled_from(_SURNAMES))
dobs = st.one_of(st.none(), st.dates(min_value=date(2014, 1, 1), max_value=date(2014, 3, 31)))
genders = st.sampled_from([Gender.MALE, Gender.FEMALE, Gender.UNKNOWN])
people = st.lists(st.tuples(names, dobs, genders), max_size=12)


def _pupils(prefix: str, rows: list[tuple[tuple[str, str], date | None, Gender]]) -> list[Pupil]:
    return [
        Pupil(
            id=f"{prefix}{k}",
            school_id="s",
            forename=f,
            surname=s,
            date_of_birth=d,
            gender=g,
        )
        for k, ((f, s), d, g) in enumerate(rows)
    ]


def _outcome(review: object) -> set[tuple[str | None, str | None, MatchStatus, float]]:
    return {(r.mis_key, r.app_key, r.status, r.score) for r in review}  # type: ignore[attr-defined]


@given(people, people)
def test_every_record_in_exactly_one_result_and_one_to_one(mis_rows: list, app_rows: list) -> None:  # type: ignore[type-arg]
    """Each MIS and app record appears in exactly one result, so no record is paired twice."""
    mis, app = _pupils("m", mis_rows), _pupils("a", app_rows)
    review = match_pupils(mis, app)
    mis_seen = Counter(r.mis_key for r in review if r.mis_key is not None)
    app_seen = Counter(r.app_key for r in review if r.app_key is not None)
    assert mis_seen == Counter(p.id for p in mis)
    assert app_seen == Counter(p.id for p in app)


@given(people, people, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order(
    mis_rows: list,  # type: ignore[type-arg]
    app_rows: list,  # type: ignore[type-arg]
    rnd: random.Random,
) -> None:
    """Shuffling either input gives the same pairs, statuses and scores."""
    mis, app = _pupils("m", mis_rows), _pupils("a", app_rows)
    first = _outcome(match_pupils(mis, app))
    rnd.shuffle(mis)
    rnd.shuffle(app)
    assert _outcome(match_pupils(mis, app)) == first


def _compare_key(row: tuple[tuple[str, str], date | None, Gender]) -> tuple[str, str, object]:
    (forename, surname), dob, _ = row
    return (normalise_name(forename), normalise_name(surname), dob)


@given(st.lists(st.tuples(names, dobs, genders), max_size=12, unique_by=_compare_key))
def test_identical_records_are_matched(rows: list) -> None:  # type: ignore[type-arg]
    """An app holding an identical copy of every MIS record is all Matched, provided no two
    people are indistinguishable (same normalised names and birth date: those are May match)."""
    review = match_pupils(_pupils("m", rows), _pupils("a", rows))
    assert all(r.status is MatchStatus.MATCHED for r in review)
    assert all(r.mis_key is not None and r.app_key == "a" + r.mis_key[1:] for r in review)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0.0, max_value=4.0))
def test_generated_populations_one_to_one_and_complete(seed: int, factor: float) -> None:
    """On generated school populations every record is in exactly one result."""
    pop = pupil_population(120, seed=seed, model=ErrorModel().scaled(factor), school_size=60)
    review = match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]
    assert sorted(r.mis_key for r in review if r.mis_key) == sorted(p.id for p in pop.mis)
    assert sorted(r.app_key for r in review if r.app_key) == sorted(p.id for p in pop.app)


@given(st.integers(min_value=0, max_value=10_000))
def test_staff_one_to_one(seed: int) -> None:
    """Staff matching (no birth dates) is one-to-one and complete too."""
    pop = staff_population(60, seed=seed, school_size=30)
    review = match_staff(pop.mis, pop.app)  # type: ignore[arg-type]
    assert Counter(r.mis_key for r in review if r.mis_key) == Counter(p.id for p in pop.mis)
    assert Counter(r.app_key for r in review if r.app_key) == Counter(p.id for p in pop.app)
    assert all(isinstance(r.record, StaffMember) for r in review)
