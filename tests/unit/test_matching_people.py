"""Person matching: the identifier ladder, the name pitfalls of UK school data, and safety rules."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import pytest

from schoolsync.errors import DuplicateRecordError
from schoolsync.identifiers import Upn, upn_check_letter
from schoolsync.matching import MatchRule, MatchSettings, MatchStatus, match_pupils, match_staff
from schoolsync.people import Gender, Pupil, StaffMember


def upn(n: int) -> Upn:
    body = f"{820:03d}{n:08d}0"
    return Upn.parse(upn_check_letter(body) + body)


def pupil(
    pid: str, forename: str, surname: str, dob: date | None = date(2016, 3, 14), **kw: object
) -> Pupil:
    return Pupil(
        id=pid,
        school_id=kw.pop("school_id", "s1"),  # type: ignore[arg-type]
        forename=forename,
        surname=surname,
        date_of_birth=dob,
        gender=kw.pop("gender", Gender.UNKNOWN),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def words(text: str) -> str:
    """An explanation without its weights (signed bits), to compare its words."""
    return re.sub(r" [+-]\d+\.\d", "", text)


def status_of(review: object, mis_id: str) -> tuple[MatchStatus, str | None]:
    r = review.result_for(mis=mis_id)  # type: ignore[attr-defined]
    return r.status, r.app_key


def test_mis_id_links_first() -> None:
    """Records sharing the school's MIS id are Matched by rule MIS_ID even when names differ a lot."""
    review = match_pupils(
        [pupil("m", "Jo", "Bloggs", mis_id="123")],
        [pupil("a", "Joanne", "Bloggs", mis_id="123")],
    )
    r = review.result_for(mis="m")
    assert (r.status, r.app_key, r.rule) == (MatchStatus.MATCHED, "a", MatchRule.MIS_ID)


def test_rematch_after_mis_change_uses_upn() -> None:
    """A school that changed MIS (all new MIS ids, here reusing the old numbers for other
    pupils; same UPNs) re-matches every pupil by UPN, never by the reused MIS id."""
    mis = [
        pupil(f"m{k}", f"Name{k}", "Same", mis_id=f"old{(k + 1) % 5}", upn=upn(k)) for k in range(5)
    ]
    app = [pupil(f"a{k}", f"Name{k}", "Same", mis_id=f"old{k}", upn=upn(k)) for k in range(5)]
    review = match_pupils(mis, app)
    assert {(r.status, r.mis_key, r.app_key, r.rule) for r in review} == {
        (MatchStatus.MATCHED, f"m{k}", f"a{k}", MatchRule.UPN) for k in range(5)
    }
    assert words(review.result_for(mis="m3").explanation) == (
        "UPN equal, surname equal, forename equal, date of birth equal, UPN equal, base rate"
    )


def test_former_upn_links() -> None:
    """A pupil whose UPN was corrected matches through the former UPN the app still holds."""
    review = match_pupils(
        [pupil("m", "Amy", "Khan", upn=upn(2), former_upns=[upn(1)])],
        [pupil("a", "Amy", "Khan", upn=upn(1))],
    )
    r = review.result_for(mis="m")
    assert (r.status, r.app_key, r.rule) == (MatchStatus.MATCHED, "a", MatchRule.FORMER_UPN)
    assert words(r.explanation) == (
        "former UPN equal, surname equal, forename equal, date of birth equal, "
        "UPN equal, base rate"
    )
    # and the other way: the app already holds the new UPN and lists the old one as former
    other_way = match_pupils(
        [pupil("m", "Amy", "Khan", upn=upn(1))],
        [pupil("a", "Amy", "Khan", upn=upn(2), former_upns=[upn(1)])],
    ).result_for(mis="m")
    assert (other_way.status, other_way.app_key, other_way.rule) == (
        MatchStatus.MATCHED,
        "a",
        MatchRule.FORMER_UPN,
    )


def test_reused_mis_id_with_conflicting_upn_is_not_linked() -> None:
    """An MIS id shared by two different pupils (different UPNs) does not link them."""
    review = match_pupils(
        [pupil("m", "Amy", "Khan", mis_id="7", upn=upn(1), dob=date(2015, 1, 1))],
        [pupil("a", "Tom", "Reed", mis_id="7", upn=upn(2), dob=date(2012, 6, 9))],
    )
    assert status_of(review, "m") == (MatchStatus.NEW, None)


def test_identifier_link_with_contradicting_names_is_may_match() -> None:
    """A UPN link whose names and birth date disagree is held at May match for a person."""
    review = match_pupils(
        [pupil("m", "Amy", "Khan", upn=upn(1), dob=date(2015, 1, 1))],
        [pupil("a", "Tom", "Reed", upn=upn(1), dob=date(2012, 6, 9))],
    )
    assert status_of(review, "m") == (MatchStatus.MAY_MATCH, "a")


_SWAP = "transposed with the other name"
_PART = "surname one part of a multi-part name"
_SAME = "surname equal, forename equal"


@pytest.mark.parametrize(
    ("mis_names", "app_names", "names_text"),
    [
        (("Jonathon", "Smith"), ("Jonathan", "Smith"), "surname equal, forename close"),
        (("Wei", "Zhang"), ("Zhang", "Wei"), f"surname {_SWAP}, forename {_SWAP}"),
        (("Amelia", "Smith-Jones"), ("Amelia", "Jones"), f"{_PART}, forename equal"),
        (("Amelia", "Jones"), ("Amelia", "Smith-Jones"), f"{_PART}, forename equal"),
        (("Amelia", "Smith-Jones"), ("Amelia", "Smith"), f"{_PART}, forename equal"),
        (("Amelia", "Smith Jones"), ("Amelia", "Smith-Jones"), _SAME),
        (
            ("Alexander", "Brown"),
            ("Alex", "Brown"),
            "surname equal, forename preferred-name form",
        ),
        (("Zoë", "O'Neill"), ("Zoe", "ONeill"), _SAME),
        (("Siobhán", "Ó Briain"), ("Siobhan", "O’Briain"), _SAME),
    ],
)
def test_name_pitfalls_still_match(
    mis_names: tuple[str, str], app_names: tuple[str, str], names_text: str
) -> None:
    """Typos, swapped names, double-barrelled surnames in part or in full, preferred names,
    diacritics and apostrophes are Matched, and the breakdown says which pitfall it was."""
    review = match_pupils([pupil("m", *mis_names)], [pupil("a", *app_names)])
    r = review.result_for(mis="m")
    assert (r.status, r.app_key) == (MatchStatus.MATCHED, "a")
    assert words(r.explanation) == f"{names_text}, date of birth equal, base rate"


def test_preferred_name_on_record_matches() -> None:
    """An app record holding the MIS pupil's preferred forename matches the legal one."""
    review = match_pupils(
        [pupil("m", "Margaret", "Ellis", preferred_forename="Daisy")],
        [pupil("a", "Daisy", "Ellis")],
    )
    r = review.result_for(mis="m")
    assert (r.status, r.app_key) == (MatchStatus.MATCHED, "a")
    assert words(r.explanation) == (
        "surname equal, forename preferred-name form, date of birth equal, base rate"
    )


def test_day_month_transposed_birth_date() -> None:
    """A birth date with day and month swapped still matches and says so in the breakdown."""
    review = match_pupils(
        [pupil("m", "Ava", "Patel", dob=date(2015, 4, 7))],
        [pupil("a", "Ava", "Patel", dob=date(2015, 7, 4))],
    )
    r = review.result_for(mis="m")
    assert (r.status, r.app_key) == (MatchStatus.MATCHED, "a")
    assert words(r.explanation) == (
        "surname equal, forename equal, date of birth day/month swapped, base rate"
    )


def test_a_birth_date_one_digit_wrong_is_still_birth_date_evidence() -> None:
    """A typed-in birth date with one digit wrong (or day and month swapped) is birth-date
    evidence at a lower weight: with agreeing names, two kinds agree and the pair is Matched.
    A wholly different birth date is no evidence: the names alone give May match."""
    for app_dob in (date(2015, 4, 8), date(2015, 7, 4)):
        review = match_pupils(
            [pupil("m", "Ava", "Patel", dob=date(2015, 4, 7))],
            [pupil("a", "Ava", "Patel", dob=app_dob)],
        )
        r = review.result_for(mis="m")
        assert (r.status, r.app_key) == (MatchStatus.MATCHED, "a"), r.explanation
    review = match_pupils(
        [pupil("m", "Ava", "Patel", dob=date(2015, 4, 7))],
        [pupil("a", "Ava", "Patel", dob=date(2012, 11, 23))],
    )
    r = review.result_for(mis="m")
    assert (r.status, r.app_key) == (MatchStatus.MAY_MATCH, "a")
    assert "only the names agree" in r.explanation


def test_an_unknown_or_different_gender_weighs_nothing() -> None:
    """Gender only ever supports a pair: lists that hold no gender (or a recorded gender that
    changed) cost a pair nothing, so its weight is that of its names and birth date."""

    def bits(g_mis: Gender, g_app: Gender) -> float:
        review = match_pupils(
            [pupil("m", "Ava", "Patel", gender=g_mis)], [pupil("a", "Ava", "Patel", gender=g_app)]
        )
        gender = [f.weight for f in review.result_for(mis="m").breakdown if f.field == "gender"]
        assert gender in ([], [0.0]) or g_mis is g_app  # shown only when it counts
        return sum(f.weight for f in review.result_for(mis="m").breakdown)

    base = bits(Gender.UNKNOWN, Gender.UNKNOWN)
    assert bits(Gender.FEMALE, Gender.MALE) == base
    assert bits(Gender.FEMALE, Gender.UNKNOWN) == base
    assert bits(Gender.FEMALE, Gender.FEMALE) > base


def test_twins_are_not_cross_matched() -> None:
    """Twins with the same surname and birth date pair by forename and gender, never crosswise."""
    dob = date(2015, 9, 1)
    mis = [
        pupil("m1", "Harry", "Lee", dob, gender=Gender.MALE),
        pupil("m2", "Harvey", "Lee", dob, gender=Gender.MALE),
        pupil("m3", "Oliver", "Ng", dob, gender=Gender.MALE),
        pupil("m4", "Olivia", "Ng", dob, gender=Gender.FEMALE),
    ]
    app = [
        pupil("a2", "Harvey", "Lee", dob, gender=Gender.MALE),
        pupil("a1", "Harry", "Lee", dob, gender=Gender.MALE),
        pupil("a4", "Olivia", "Ng", dob, gender=Gender.FEMALE),
        pupil("a3", "Oliver", "Ng", dob, gender=Gender.MALE),
    ]
    review = match_pupils(mis, app)
    for r in review.pairs():
        assert r.mis_key is not None
        assert r.app_key is not None
        assert r.mis_key[1:] == r.app_key[1:]
    assert {status_of(review, f"m{k}")[0] for k in range(1, 5)} == {MatchStatus.MATCHED}
    assert words(review.result_for(mis="m1").explanation) == (
        "surname equal, forename equal, date of birth equal, gender equal, base rate"
    )


def test_twin_with_a_typo_is_held_at_may_match() -> None:
    """A twin whose forename differs only by a typo ("Hary") is May match, flagged, not Matched:
    with same-surname, same-birth-date siblings only an exact forename is enough."""
    dob = date(2015, 9, 1)
    mis = [
        pupil("m1", "Harry", "Lee", dob, gender=Gender.MALE),
        pupil("m2", "Harvey", "Lee", dob, gender=Gender.MALE),
    ]
    app = [
        pupil("a1", "Hary", "Lee", dob, gender=Gender.MALE),
        pupil("a2", "Harvey", "Lee", dob, gender=Gender.MALE),
    ]
    review = match_pupils(mis, app)
    r1 = review.result_for(mis="m1")
    assert (r1.status, r1.app_key) == (MatchStatus.MAY_MATCH, "a1")
    assert words(r1.explanation) == (
        "surname equal, forename close, date of birth equal, gender equal, base rate, "
        "possible twin: forenames differ"
    )
    assert status_of(review, "m2") == (MatchStatus.MATCHED, "a2")


def test_twin_whose_sibling_is_missing_is_not_matched_silently() -> None:
    """When only one twin is in the app, the other MIS twin is never a silent Matched to it."""
    dob = date(2015, 9, 1)
    mis = [
        pupil("m1", "Harry", "Lee", dob, gender=Gender.MALE),
        pupil("m2", "Harvey", "Lee", dob, gender=Gender.MALE),
    ]
    review = match_pupils(mis, [pupil("a2", "Harvey", "Lee", dob, gender=Gender.MALE)])
    assert status_of(review, "m2") == (MatchStatus.MATCHED, "a2")
    assert status_of(review, "m1")[0] is MatchStatus.NEW


def test_ambiguous_candidates_give_may_match() -> None:
    """Two app records equally close to one MIS record: May match, never a silent Matched."""
    mis = [pupil("m", "Jack", "Smith", dob=None)]
    app = [pupil("a1", "Jack", "Smith", dob=None), pupil("a2", "Jack", "Smith", dob=None)]
    review = match_pupils(mis, app)
    r = review.result_for(mis="m")
    assert r.status is MatchStatus.MAY_MATCH
    assert "ambiguous" in r.explanation
    assert review.counts()[MatchStatus.NOT_MATCHED] == 1


def test_leavers_and_joiners() -> None:
    """An app-only pupil is Not matched; an MIS-only pupil is New (and selected for import)."""
    review = match_pupils(
        [pupil("m", "New", "Joiner", dob=date(2017, 1, 1))],
        [pupil("a", "Old", "Leaver", dob=date(2010, 5, 5))],
    )
    assert [r.status for r in review] == [MatchStatus.NOT_MATCHED, MatchStatus.NEW]
    assert review.is_selected("m")


def test_staff_without_birth_dates_match_on_names_and_email() -> None:
    """Staff without birth dates are Matched by email and one agreeing name; by names alone
    they are only May match (one kind of evidence); New staff are not selected."""
    mis = [
        StaffMember(
            id="m1", school_id="s1", forename="Ruth", surname="Okafor", email="R.Okafor@x.sch.uk"
        ),
        StaffMember(id="m2", school_id="s1", forename="Daniel", surname="Hughes"),
        StaffMember(id="m3", school_id="s1", forename="Priya", surname="Shah"),
    ]
    app = [
        StaffMember(
            id="a1", school_id="s1", forename="Ruth", surname="Adeyemi", email="r.okafor@x.sch.uk"
        ),
        StaffMember(id="a2", school_id="s1", forename="Dan", surname="Hughes"),
    ]
    review = match_staff(mis, app)
    r1 = review.result_for(mis="m1")
    assert (r1.status, r1.app_key, r1.rule) == (MatchStatus.MATCHED, "a1", MatchRule.EMAIL)
    assert words(r1.explanation) == (  # a married name: the email decides, and says so
        "email equal, surname different, forename equal, date of birth missing, "
        "email equal, base rate"
    )
    assert status_of(review, "m2") == (MatchStatus.MAY_MATCH, "a2")
    assert words(review.result_for(mis="m2").explanation) == (
        "surname equal, forename preferred-name form, date of birth missing, "
        "base rate, only the names agree: a second kind of evidence is needed"
    )
    assert status_of(review, "m3") == (MatchStatus.NEW, None)
    assert not review.is_selected("m3")


def test_breakdown_explains_the_score() -> None:
    """Each pair carries a per-field breakdown of weights in bits (and the base rate) that add
    up to its score, a match probability: score = 1 / (1 + 2 ** -(sum of weights))."""
    review = match_pupils(
        [pupil("m", "Jonathon", "Smith", None, gender=Gender.MALE)],
        [pupil("a", "Jonathan", "Smith", None, gender=Gender.MALE)],
    )
    r = review.result_for(mis="m")
    fields = {f.field: f for f in r.breakdown}
    assert fields["surname"].note.startswith("equal +")
    assert fields["forename"].note.startswith("close +")
    assert fields["date_of_birth"].note.startswith("missing -")
    assert fields["forename"].similarity == pytest.approx(0.95, abs=0.01)
    bits = sum(f.weight for f in r.breakdown)
    assert 0.5 < r.score < 1.0
    assert math.log2(r.score / (1 - r.score)) == pytest.approx(bits, abs=0.5)


def test_thresholds_are_configurable() -> None:
    """Raising match_threshold turns a borderline Matched pair into May match."""
    mis, app = [pupil("m", "Jonathon", "Smyth")], [pupil("a", "Jonathan", "Smith")]
    assert match_pupils(mis, app).result_for(mis="m").status is MatchStatus.MATCHED
    strict = MatchSettings(match_threshold=1.0)
    assert match_pupils(mis, app, strict).result_for(mis="m").status is MatchStatus.MAY_MATCH


def test_duplicate_ids_on_one_side_are_refused() -> None:
    """Two MIS records with the same id are refused with DuplicateRecordError."""
    with pytest.raises(DuplicateRecordError):
        match_pupils([pupil("m", "A", "B"), pupil("m", "C", "D")], [])


def test_settings_are_validated() -> None:
    """Out-of-range thresholds are refused with a ValidationError naming the setting."""
    from schoolsync.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        MatchSettings(match_threshold=1.5)
    assert info.value.field == "match_threshold"
    with pytest.raises(ValidationError):
        MatchSettings(match_threshold=0.6, may_match_threshold=0.8)


def test_mis_reader_with_its_own_school_ids_still_matches() -> None:
    """An MIS reader keying the school its own way (other school_id values) still matches."""
    zoe, bea = ("Zoe", "Smith", date(2019, 5, 1)), ("Bea", "Okafor", date(2018, 2, 2))
    mis = [
        pupil("m1", *zoe, school_id="mis-urn", mis_id="9"),
        pupil("m2", *bea, school_id="mis-urn"),
    ]
    app = [pupil("a1", *zoe, mis_id="9"), pupil("a2", *bea)]
    review = match_pupils(mis, app)
    assert review.result_for(mis="m1").rule is MatchRule.MIS_ID
    assert status_of(review, "m2") == (MatchStatus.MATCHED, "a2")


def test_a_crowd_of_namesakes_in_one_school_gives_linear_candidate_pairs() -> None:
    """400 "Oliver Smith"s on each side of one school: blocking compares each with a few
    neighbours (by birth date), not with all 400, and still finds every true pair."""
    from schoolsync.matching._people import blocking_pairs

    def people(prefix: str) -> list[Pupil]:
        return [
            pupil(f"{prefix}{k}", "Oliver", "Smith", date(2010, 1, 1) + timedelta(days=k))
            for k in range(400)
        ]

    ms, as_ = blocking_pairs(people("m"), people("a"))
    found = set(zip(ms, as_, strict=True))
    assert len(found) <= 400 * 10
    assert {(f"m{k}", f"a{k}") for k in range(400)} <= found
    # a name everyone shares weighs nothing (term frequency): the birth date alone pairs
    # them, one kind of evidence, so each is May match with its true partner
    review = match_pupils(people("m"), people("a"))
    assert {(r.mis_key, r.app_key) for r in review.by_status(MatchStatus.MAY_MATCH)} == {
        (f"m{k}", f"a{k}") for k in range(400)
    }
    assert "only the birth date agrees" in review.result_for(mis="m7").explanation


def test_blocking_keeps_nearly_every_true_pair() -> None:
    """On a generated school of 2,000 pupils (typos, swapped names, wrong birth dates...)
    blocking keeps more than 99.5 % of the true pairs (pairs completeness)."""
    from schoolsync.matching._people import blocking_pairs
    from schoolsync.testing.populations import ErrorModel, pupil_population

    pop = pupil_population(2_000, seed=5, model=ErrorModel().without_identifiers())
    ms, as_ = blocking_pairs(pop.mis, pop.app)  # type: ignore[arg-type]
    found = set(zip(ms, as_, strict=True))
    kept = sum((m, a) in found for m, a in pop.truth.items()) / len(pop.truth)
    assert kept > 0.995
    assert len(found) < 3 * len(pop.mis)


def test_a_pair_missing_a_birth_date_is_not_identical() -> None:
    """An app copy without the birth date is names-only evidence: a candidate with a surname
    typo but the same birth date (two kinds of evidence) wins and is Matched; the copy
    without a birth date is left Not matched for a person to look at."""
    mis = [pupil("m", "Oscar", "Smith", date(2021, 3, 1), gender=Gender.MALE)]
    app = [
        pupil("a1", "Oscar", "Smith", None, gender=Gender.MALE),
        pupil("a2", "Oscar", "Smih", date(2021, 3, 1), gender=Gender.MALE),
    ]
    review = match_pupils(mis, app)
    r = review.result_for(mis="m")
    assert (r.status, r.app_key) == (MatchStatus.MATCHED, "a2")
    assert words(r.explanation) == (
        "surname close, forename equal, date of birth equal, gender equal, base rate"
    )
    assert review.result_for(app="a1").status is MatchStatus.NOT_MATCHED


def test_an_identical_pair_beats_a_near_miss() -> None:
    """An identical pair wins over someone one name part away; with names alone (no birth
    date) it is May match, never Matched, and says why."""
    mis = [pupil("m", "Amy", "Smith-Jones", None, gender=Gender.FEMALE)]
    app = [
        pupil("a1", "Amy", "Smith-Jones", None, gender=Gender.FEMALE),
        pupil("a2", "Amy", "Smith", None, gender=Gender.FEMALE),
    ]
    review = match_pupils(mis, app)
    r = review.result_for(mis="m")
    assert (r.status, r.app_key) == (MatchStatus.MAY_MATCH, "a1")
    assert words(r.explanation) == (
        "surname equal, forename equal, date of birth missing, gender equal, base rate, "
        "only the names agree: a second kind of evidence is needed"
    )
    assert review.result_for(app="a2").status is MatchStatus.NOT_MATCHED


@pytest.mark.parametrize(
    ("mis_dob", "app_dob", "level"),
    [
        (date(2015, 4, 7), date(2015, 4, 7), "equal"),
        (date(2015, 4, 7), date(2015, 7, 4), "day/month swapped"),
        (date(2015, 4, 17), date(2015, 4, 18), "one digit different"),
        (date(2015, 4, 7), date(2008, 4, 7), "another year"),
        (date(2015, 4, 7), date(2015, 11, 7), "one part different"),
        (date(2015, 4, 7), date(2011, 12, 25), "different"),
        (date(2015, 4, 7), None, "missing"),
    ],
)
def test_birth_date_comparison_levels(mis_dob: date, app_dob: date | None, level: str) -> None:
    """Each birth-date comparison level is recognised, named in the breakdown, and weighs
    less than an equal birth date; a missing one never weighs more than a different one."""
    from schoolsync.matching import score_pair

    _, breakdown = score_pair(
        pupil("m", "Ava", "Patel", mis_dob), pupil("a", "Ava", "Patel", app_dob)
    )
    (dob,) = [f for f in breakdown if f.field == "date_of_birth"]
    assert dob.note.rsplit(" ", 1)[0] == level
    _, same = score_pair(pupil("m", "Ava", "Patel", mis_dob), pupil("a", "Ava", "Patel", mis_dob))
    (equal,) = [f for f in same if f.field == "date_of_birth"]
    assert dob.weight <= equal.weight
    if level == "different":
        _, none = score_pair(pupil("m", "Ava", "Patel", mis_dob), pupil("a", "Ava", "Patel", None))
        (missing,) = [f for f in none if f.field == "date_of_birth"]
        assert missing.weight <= dob.weight
