"""Properties of the UPN check letter and of the identifier strategies in schoolsync.testing."""

from __future__ import annotations

import string
from collections.abc import Callable

import attrs
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from schoolsync.calendar import YearCode
from schoolsync.errors import InvalidIdentifierError
from schoolsync.identifiers import (
    UPN_CHECK_ALPHABET,
    Laestab,
    Postcode,
    Uln,
    Upn,
    Urn,
    find_duplicate_upns,
    upn_problem,
)
from schoolsync.people import Pupil, StaffMember, change_upn
from schoolsync.testing.strategies import (
    forenames,
    invalid_upns,
    laestabs,
    postcodes,
    pupils,
    schools,
    staff_members,
    surnames,
    temporary_upns,
    ulns,
    upn_texts,
    urns,
    valid_upns,
)
from schoolsync.trusts import Country, School, TrustPolicy, validate_school

_CHARACTERS = string.digits + string.ascii_uppercase


def _value(char: str) -> int:
    return int(char) if char.isdigit() else UPN_CHECK_ALPHABET.index(char)


@given(valid_upns(temporary=None))
def test_generated_upns_validate_strictly(upn: Upn) -> None:
    """Every UPN the strategies generate parses, strictly, to itself."""
    assert upn == Upn.parse(upn.value, strict=True)
    assert upn_problem(upn.value, strict=True) is None


@given(temporary_upns())
def test_temporary_upns_are_flagged(upn: Upn) -> None:
    """A temporary UPN ends in one of the 23 letters and is flagged as temporary."""
    assert upn.temporary
    assert upn.value[12] in UPN_CHECK_ALPHABET


@given(upn_texts())
def test_mis_spellings_normalise(text: str) -> None:
    """Surrounding spaces and lower case do not stop a valid UPN parsing."""
    assert text.strip().upper() == Upn.parse(text).value


@given(valid_upns(temporary=None), st.data())
def test_every_single_substitution_is_caught(upn: Upn, data: st.DataObject) -> None:
    """Changing any one character of a valid UPN gives text that is rejected, except one case.

    Precisely: the weighted sum mod 23 changes for every substitution in characters 2-12
    (weights 2..12, digit changes of 1..9, 23 is prime), and a changed check letter never
    matches. The only change that still validates is character 13 swapping a digit d for the
    letter of value d (A=0 ... K=9) or back, which keeps the sum but turns a permanent UPN into
    a temporary one (or the reverse), so it never yields another valid UPN of the same kind.
    """
    position = data.draw(st.integers(0, 12), label="position")
    for char in _CHARACTERS:
        if char == upn.value[position]:
            continue
        changed = upn.value[:position] + char + upn.value[position + 1 :]
        try:
            parsed = Upn.parse(changed)
        except InvalidIdentifierError:
            continue
        assert 12 == position
        assert _value(char) == _value(upn.value[12])
        assert parsed.temporary != upn.temporary


@given(valid_upns(temporary=None), st.integers(1, 11))
def test_adjacent_transpositions_are_caught(upn: Upn, position: int) -> None:
    """Swapping two different adjacent characters among characters 2-13 is always rejected."""
    text = upn.value
    a, b = text[position], text[position + 1]
    if a == b:
        return
    swapped = text[:position] + b + a + text[position + 2 :]
    assert upn_problem(swapped) is not None


@given(st.data())
def test_invalid_upns_report_their_problem(data: st.DataObject) -> None:
    """Each invalid UPN from the strategy is refused with the census code it is paired with."""
    strict = data.draw(st.booleans(), label="strict")
    text, problem = data.draw(invalid_upns(strict=strict), label="case")
    assert problem == upn_problem(text, strict=strict)
    with pytest.raises(InvalidIdentifierError) as info:
        Upn.parse(text, strict=strict)
    assert problem.value == info.value.code


@given(ulns(), urns(), laestabs(), postcodes())
def test_other_generated_identifiers_round_trip(
    uln: Uln, urn: Urn, laestab: Laestab, postcode: Postcode
) -> None:
    """Generated ULNs, URNs, LAESTABs and postcodes re-parse from their string forms."""
    assert uln == Uln.parse(str(uln))
    assert urn == Urn.parse(str(urn))
    assert laestab == Laestab.parse(str(laestab))
    assert postcode == Postcode.parse(str(postcode).lower().replace(" ", ""))


@given(ulns(), st.integers(0, 9), st.integers(0, 9))
def test_uln_single_digit_changes_are_caught(uln: Uln, position: int, digit: int) -> None:
    """Any change of one ULN digit breaks the mod-11 check (weights 1..10 are units mod 11)."""
    if str(digit) == uln.value[position]:
        return
    changed = uln.value[:position] + str(digit) + uln.value[position + 1 :]
    try:
        Uln.parse(changed)
    except InvalidIdentifierError:
        return
    raise AssertionError(f"{changed} accepted")


@given(
    st.lists(valid_upns(temporary=None), min_size=1, max_size=3, unique=True),
    st.lists(st.tuples(st.sampled_from(["s1", "s2"]), st.integers(0, 3)), max_size=10),
    pupils(),
)
def test_duplicates_across_schools_agree_with_a_count(
    pool: list[Upn], slots: list[tuple[str, int]], template: Pupil
) -> None:
    """find_duplicate_upns reports exactly the UPNs held by more than one distinct record."""
    everyone = [
        attrs.evolve(template, id=f"p{n}", school_id=school, upn=pool[i] if i < len(pool) else None)
        for n, (school, i) in enumerate(slots)
    ]
    counts: dict[Upn, set[tuple[str, str]]] = {}
    for pupil in everyone:
        if pupil.upn is not None:
            counts.setdefault(pupil.upn, set()).add((pupil.school_id, pupil.id))
    found = {d.upn: d for d in find_duplicate_upns(everyone)}
    assert {u for u, keys in counts.items() if len(keys) > 1} == set(found)
    for upn, duplicate in found.items():
        schools = {school for school, _ in counts[upn]}
        assert (len(schools) > 1) == duplicate.across_schools


@given(pupils(with_upn=True), valid_upns(temporary=None))
def test_change_upn_never_loses_a_upn(pupil: Pupil, new: Upn) -> None:
    """After a UPN change the pupil still holds every UPN it held before, plus the new one."""
    changed = change_upn(pupil, new)
    assert set(pupil.all_upns()) | {new} == set(changed.all_upns())
    assert new == changed.upn
    assert new not in changed.former_upns


_UPNISH = st.text(alphabet="B8012345AZIOSb ", min_size=0, max_size=14)


@given(st.one_of(_UPNISH, valid_upns(temporary=None).map(lambda u: u.value), st.text()))
def test_constructor_accepts_exactly_the_normalised_valid_upns(text: str) -> None:
    """Upn(text) succeeds exactly when Upn.parse(text) succeeds and returns text unchanged."""
    try:
        expected: str | None = Upn.parse(text).value
    except InvalidIdentifierError:
        expected = None
    if expected == text:
        assert text == Upn(text).value
    else:
        with pytest.raises(InvalidIdentifierError):
            Upn(text)


@given(ulns(), urns(), laestabs(), postcodes())
def test_constructors_rebuild_generated_identifiers(
    uln: Uln, urn: Urn, laestab: Laestab, postcode: Postcode
) -> None:
    """Each generated identifier can be rebuilt from its own fields by its constructor."""
    assert uln == Uln(uln.value)
    assert urn == Urn(urn.value)
    assert laestab == Laestab(laestab.la, laestab.establishment)
    assert postcode == Postcode(postcode.value)


@pytest.mark.parametrize(
    ("feature", "has_it"),
    [
        ("hyphenated", lambda s: "-" in s),
        ("double-barrelled with a space", lambda s: " " in s),
        ("apostrophe", lambda s: "'" in s),
        ("diacritic", lambda s: not s.isascii()),
        ("lower-case particle", lambda s: s[:1].islower()),
    ],
)
def test_surnames_include_realistic_uk_shapes(feature: str, has_it: Callable[[str], bool]) -> None:
    """The surname strategy reaches every awkward shape real UK rolls have."""
    assert has_it(find(surnames(), has_it)), feature


def test_forenames_include_diacritics_hyphens_and_apostrophes() -> None:
    """Forenames such as Siân, Anne-Marie and D'Arcy are generated."""
    for has_it in (lambda s: not s.isascii(), lambda s: "-" in s, lambda s: "'" in s):
        assert has_it(find(forenames(), has_it))


@given(schools())
def test_generated_schools_follow_the_urn_rule(school: School) -> None:
    """Overseas schools have no URN or LAESTAB; UK ones have both, and pass the strict URN rule."""
    overseas = school.country is Country.OVERSEAS
    assert (school.urn is None) == overseas == (school.laestab is None)
    assert school.urn not in school.former_urns
    validate_school(school, TrustPolicy(require_urn_for_english_state_schools=True))


@given(pupils(), staff_members())
def test_generated_people_are_consistent(pupil: Pupil, staff: StaffMember) -> None:
    """Preferred names differ from legal ones; ULNs only from Year 10; staff emails are ASCII."""
    assert pupil.preferred_forename != pupil.forename
    year = YearCode.parse(pupil.year_code or "")
    assert pupil.uln is None or year.number >= 10
    assert pupil.upn not in pupil.former_upns
    assert staff.email is not None
    assert staff.email.isascii()
    assert staff.email.endswith("@example.sch.uk")
    assert staff.preferred_forename != staff.forename


def test_older_generated_pupils_sometimes_hold_a_uln() -> None:
    """The pupil strategy produces ULNs (for pupils in Year 10 or above)."""
    found = find(pupils(), lambda p: p.uln is not None)
    assert found.uln == Uln.parse(str(found.uln))
