"""Invariants of person matching over generated populations (hypothesis)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

import attrs
from hypothesis import assume, given
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


def _outcome(review: object) -> list[tuple[str | None, str | None, MatchStatus, float, str]]:
    """Every result as (MIS id, app id, status, score, explanation), in review order."""
    return [
        (r.mis_key, r.app_key, r.status, r.score, r.explanation)
        for r in review  # type: ignore[attr-defined]
    ]


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
    """Shuffling both inputs gives the same results: pairs, statuses, scores, explanations and
    review order."""
    mis, app = _pupils("m", mis_rows), _pupils("a", app_rows)
    first = _outcome(match_pupils(mis, app))
    rnd.shuffle(mis)
    rnd.shuffle(app)
    assert _outcome(match_pupils(mis, app)) == first


Row = tuple[tuple[str, str], date | None, Gender]


def _indistinguishable(a: Row, b: Row) -> bool:
    """Equal on every field both hold: normalised names, birth date and gender (a missing
    birth date or an unknown gender is no evidence either way)."""
    (fa, sa), da, ga = a
    (fb, sb), db, gb = b
    return (
        (normalise_name(fa), normalise_name(sa)) == (normalise_name(fb), normalise_name(sb))
        and (da is None or db is None or da == db)
        and (Gender.UNKNOWN in (ga, gb) or ga == gb)
    )


@given(people, people, st.tuples(names, dobs, genders))
def test_identical_pair_is_matched(mis_rows: list[Row], app_rows: list[Row], person: Row) -> None:
    """An MIS record and an identical app record with a birth date are Matched to each other,
    whatever else either side holds (near-identical names, the same people without a birth
    date, twins...), unless another record on either side is indistinguishable from them:
    then no data can tell which is which and the pair is held at May match (see the next
    test). Without a birth date the names are the only evidence: paired, but May match."""
    assume(not any(_indistinguishable(r, person) for r in (*mis_rows, *app_rows)))
    mis = [*_pupils("m", mis_rows), *_pupils("x-m", [person])]
    app = [*_pupils("a", app_rows), *_pupils("x-a", [person])]
    r = match_pupils(mis, app).result_for(mis="x-m0")
    expected = MatchStatus.MATCHED if person[1] is not None else MatchStatus.MAY_MATCH
    assert (r.status, r.app_key) == (expected, "x-a0")


@given(st.tuples(names, dobs, genders))
def test_indistinguishable_people_are_may_match(person: Row) -> None:
    """Two app records indistinguishable from an MIS record: May match, flagged ambiguous."""
    review = match_pupils(_pupils("m", [person]), _pupils("a", [person, person]))
    r = review.result_for(mis="m0")
    assert r.status is MatchStatus.MAY_MATCH
    assert "ambiguous" in r.explanation


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


_OPTIONAL = (
    "date_of_birth",
    "gender",
    "middle_names",
    "preferred_forename",
    "postcode",
    "address",
    "email",
)


@st.composite
def _full_person(draw: st.DrawFn, pid: str) -> Pupil:
    (forename, surname), dob, gender = draw(st.tuples(names, dobs, genders))
    return Pupil(
        id=pid,
        school_id="s",
        forename=forename,
        surname=surname,
        date_of_birth=dob,
        gender=gender,
        middle_names=draw(st.one_of(st.none(), st.sampled_from(_FORENAMES))),
        preferred_forename=draw(st.one_of(st.none(), st.sampled_from(_FORENAMES))),
        postcode=draw(st.one_of(st.none(), st.sampled_from(["SW1A 1AA", "SW1A 1AB", "M1 1AE"]))),
        address=draw(
            st.one_of(st.none(), st.sampled_from(["1 High St", "1 High Street", "9 Low Rd"]))
        ),
        email=draw(st.one_of(st.none(), st.sampled_from(["a@x.uk", "b@x.uk"]))),
    )


def _status(mis: list[Pupil], app: list[Pupil]) -> tuple[MatchStatus, str | None]:
    r = match_pupils(mis, app).result_for(mis="x-m")
    return r.status, r.app_key


@given(
    _full_person("x-m"),
    _full_person("x-a"),
    people,
    people,
    st.sampled_from(_OPTIONAL),
    st.booleans(),
)
def test_removing_a_value_never_turns_may_match_into_matched(
    mis_person: Pupil,
    app_person: Pupil,
    mis_rows: list[Row],
    app_rows: list[Row],
    field: str,
    from_mis: bool,
) -> None:
    """Less evidence never gives more certainty: taking one value (birth date, gender,
    middle or preferred name, postcode, address, email) away from either record of a pair
    never makes a pair Matched that was not Matched with it."""
    crowd_m, crowd_a = _pupils("m", mis_rows), _pupils("a", app_rows)
    before = _status([*crowd_m, mis_person], [*crowd_a, app_person])
    changed = {field: Gender.UNKNOWN if field == "gender" else None}
    if from_mis:
        mis_person = attrs.evolve(mis_person, **changed)  # type: ignore[arg-type]
    else:
        app_person = attrs.evolve(app_person, **changed)  # type: ignore[arg-type]
    after = _status([*crowd_m, mis_person], [*crowd_a, app_person])
    if after == (MatchStatus.MATCHED, "x-a"):
        assert before == (MatchStatus.MATCHED, "x-a")
