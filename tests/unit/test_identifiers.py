"""UPN, ULN, URN, LAESTAB and postcode value types."""

from __future__ import annotations

import attrs
import pytest

from schoolsync.errors import InvalidIdentifierError, SchoolsyncError
from schoolsync.identifiers import (
    ULN_FORMAT_CODE,
    Laestab,
    Postcode,
    Uln,
    Upn,
    UpnProblem,
    Urn,
    check_la_code,
    duplicate_upns,
    find_duplicate_upns,
    upn_check_letter,
    upn_problem,
)
from schoolsync.la_codes import DEFAULT_VERSION, la_code_versions, la_codes
from schoolsync.people import Pupil, change_upn


class TestUpn:
    @pytest.mark.parametrize("text", ["B801200005001", "H801200001001", "P207000016049"])
    def test_valid_permanent_upns_parse(self, text: str) -> None:
        """A UPN whose check letter matches its digits parses and is not temporary."""
        upn = Upn.parse(text)
        assert text == upn.value
        assert not upn.temporary

    def test_vendor_example_with_wrong_check_letter_is_refused(self) -> None:
        """The vendor-documented Q207000016049 is invalid (the right letter is P)."""
        with pytest.raises(InvalidIdentifierError) as info:
            Upn.parse("Q207000016049")
        assert UpnProblem.CHECK_LETTER.value == info.value.code

    def test_temporary_upn_uses_the_23_letter_alphabet(self) -> None:
        """A temporary UPN's final letter takes its value from the alphabet without I, O, S."""
        assert Upn.parse("V80120000101J").temporary
        with pytest.raises(InvalidIdentifierError):
            Upn.parse("J80120000101J")

    def test_input_is_trimmed_and_upper_cased(self) -> None:
        """Surrounding spaces and lower case are tolerated; internal spaces are not."""
        assert "G80120000101A" == Upn.parse(" g80120000101a ").value
        with pytest.raises(InvalidIdentifierError) as info:
            Upn.parse("H81311 000121")
        assert UpnProblem.NOT_NUMERIC.value == info.value.code

    @pytest.mark.parametrize("text", ["", None, "UN1", "un5", "  "])
    def test_placeholders_read_as_no_upn(self, text: str | None) -> None:
        """Blank values and UN1-UN5 mean "no UPN"."""
        assert Upn.parse_optional(text) is None


def test_uln_check_digit() -> None:
    """9276308686 is a valid ULN; changing its last digit is refused."""
    assert "9276308686" == Uln.parse("9276308686").value
    with pytest.raises(SchoolsyncError):
        Uln.parse("9276308687")


def test_urn_laestab_postcode() -> None:
    """URNs are six digits; LAESTAB keeps leading zeros; postcodes are normalised."""
    assert "012345" == Urn.parse(" 012345").value
    with pytest.raises(InvalidIdentifierError):
        Urn.parse("12345")
    assert "0011234" == str(Laestab.parse("001/1234"))
    assert "SW1A 1AA" == Postcode.parse("sw1a1aa").value
    with pytest.raises(InvalidIdentifierError):
        Postcode.parse("not a postcode")


class TestUpnCensusCodes:
    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("", UpnProblem.MISSING),
            ("UN3", UpnProblem.MISSING),
            ("A801200005001", UpnProblem.CHECK_LETTER),
            ("Z801200001001", UpnProblem.CHECK_LETTER),
            ("B80120000500", UpnProblem.NOT_NUMERIC),
            ("B8012000050011", UpnProblem.NOT_NUMERIC),
            ("B8012X0005001", UpnProblem.NOT_NUMERIC),
            ("G80120000101I", UpnProblem.CHARACTER_13),
            ("G80120000101*", UpnProblem.CHARACTER_13),
        ],
    )
    def test_parse_reports_the_census_code(self, text: str, problem: UpnProblem) -> None:
        """Each refusal carries the census error code and names the field and the value."""
        with pytest.raises(InvalidIdentifierError) as info:
            Upn.parse(text)
        assert problem.value == info.value.code
        assert "upn" == info.value.field
        assert problem == upn_problem(text)
        assert repr(text) in str(info.value)

    def test_check_letters_are_computed_not_copied(self) -> None:
        """R1.8/R1.10: J and T take the values 8 and 16, and the vendor sum 266 gives P."""
        assert "P" == upn_check_letter("207000016049")
        assert "V" == upn_check_letter("80120000101J")
        assert "G" == upn_check_letter("80120000101A")
        assert upn_problem("P207000016049") is None

    def test_unknown_la_code_is_a_warning_unless_strict(self) -> None:
        """An LA code off the list parses (with a warning) and is refused only when strict."""
        body = "999123456789"
        text = upn_check_letter(body) + body
        upn = Upn.parse(text)
        warning = upn.la_code_warning()
        assert warning is not None
        assert "999" in warning
        assert "1530" in warning
        assert warning == check_la_code(upn)
        with pytest.raises(InvalidIdentifierError) as info:
            Upn.parse(text, strict=True)
        assert UpnProblem.LA_CODE.value == info.value.code
        assert Upn.parse("B801200005001").la_code_warning() is None

    def test_la_code_list_versions_differ(self) -> None:
        """940-943 are only on the reorganisations version of the list."""
        body = "940123456789"
        upn = Upn.parse(upn_check_letter(body) + body)
        assert upn.la_code_warning("2024-dfe-census") is not None
        assert upn.la_code_warning("2024-dfe-census+reorganisations") is None
        assert {"2024-dfe-census", "2024-dfe-census+reorganisations", DEFAULT_VERSION} <= set(
            la_code_versions()
        )

    def test_placeholder_is_missing_for_parse_and_none_for_parse_optional(self) -> None:
        """UN1-UN5 are "no UPN": parse reports 1500, parse_optional gives None."""
        for n in range(1, 6):
            assert Upn.parse_optional(f"UN{n}") is None
            assert UpnProblem.MISSING == upn_problem(f"un{n}")

    def test_masked_hides_the_last_four_characters(self) -> None:
        """A UPN is personal data: logs use the masked form."""
        assert "B80120000****" == Upn.parse("B801200005001").masked

    def test_problem_descriptions(self) -> None:
        """Every census code has a human description."""
        assert all(p.description for p in UpnProblem)
        assert "1520" == UpnProblem.DUPLICATE.value


class TestDuplicates:
    def test_duplicate_upns_in_a_plain_collection(self) -> None:
        """Only the repeated UPNs are reported; blanks are ignored."""
        a, b = Upn.parse("B801200005001"), Upn.parse("H801200001001")
        assert frozenset({a}) == duplicate_upns([a, b, None, a, None])

    def test_duplicates_are_found_trust_wide_across_schools(self) -> None:
        """Census 1520 across a trust: the same UPN at two schools is reported, not merged."""
        upn = Upn.parse("B801200005001")
        other = Upn.parse("H801200001001")
        pupils = [
            Pupil(id="p1", school_id="s1", forename="Ann", surname="Lee", upn=upn),
            Pupil(id="p2", school_id="s2", forename="Ann", surname="Lee", upn=upn),
            Pupil(id="p3", school_id="s2", forename="Bo", surname="Ng", upn=other),
        ]
        (found,) = find_duplicate_upns(pupils)
        assert upn == found.upn
        assert (("s1", "p1"), ("s2", "p2")) == found.holders
        assert found.across_schools
        assert UpnProblem.DUPLICATE == found.problem

    def test_former_upns_count_only_when_asked(self) -> None:
        """A UPN one pupil gave up and another now holds is a duplicate with include_former."""
        upn = Upn.parse("B801200005001")
        pupils = [
            Pupil(id="p1", school_id="s1", forename="A", surname="B", former_upns=(upn,)),
            Pupil(id="p2", school_id="s1", forename="C", surname="D", upn=upn),
        ]
        assert () == find_duplicate_upns(pupils)
        (found,) = find_duplicate_upns(pupils, include_former=True)
        assert not found.across_schools

    def test_one_record_is_never_its_own_duplicate(self) -> None:
        """The same record listed twice (or holding a UPN as current and former) is not 1520."""
        upn = Upn.parse("B801200005001")
        pupil = Pupil(id="p1", school_id="s1", forename="A", surname="B", upn=upn)
        assert () == find_duplicate_upns([pupil, pupil])


class TestUpnHistory:
    def test_change_keeps_the_former_upn(self) -> None:
        """A temporary UPN replaced by the permanent one stays in the history."""
        temporary = Upn.parse("G80120000101A")
        permanent = Upn.parse("B801200005001")
        pupil = Pupil(id="p", school_id="s", forename="A", surname="B", upn=temporary)
        changed = change_upn(pupil, permanent)
        assert permanent == changed.upn
        assert (temporary,) == changed.former_upns
        assert (permanent, temporary) == changed.all_upns()
        assert changed.has_held_upn(temporary)
        assert pupil.upn == temporary  # the original record is unchanged

    def test_reverting_to_a_former_upn_removes_it_from_history(self) -> None:
        """R1.13: keep the first UPN; going back to it moves the other one into history."""
        first = Upn.parse("B801200005001")
        second = Upn.parse("H801200001001")
        pupil = Pupil(id="p", school_id="s", forename="A", surname="B", upn=first)
        back = change_upn(change_upn(pupil, second), first)
        assert first == back.upn
        assert (second,) == back.former_upns

    def test_same_upn_is_no_change_and_none_keeps_history(self) -> None:
        """Setting the current UPN again changes nothing; losing it keeps it as former."""
        upn = Upn.parse("B801200005001")
        pupil = Pupil(id="p", school_id="s", forename="A", surname="B", upn=upn)
        assert pupil is change_upn(pupil, upn)
        lost = change_upn(pupil, None)
        assert lost.upn is None
        assert (upn,) == lost.all_upns()


class TestOtherIdentifiers:
    @pytest.mark.parametrize("text", ["2000000001", "9276308686"])
    def test_valid_ulns(self, text: str) -> None:
        """Weighted sum mod 11 equal to 10 (the HESA example and a computed one)."""
        assert text == str(Uln.parse(text))

    @pytest.mark.parametrize("text", ["0276308686", "927630868", "92763086861", "92763O8686"])
    def test_bad_ulns_carry_census_1575(self, text: str) -> None:
        """Wrong length, leading zero or non-digits are refused with code 1575."""
        with pytest.raises(InvalidIdentifierError) as info:
            Uln.parse(text)
        assert ULN_FORMAT_CODE == info.value.code
        assert "uln" == info.value.field

    def test_uln_is_optional(self) -> None:
        """Most primary pupils have no ULN: blank reads as None."""
        assert Uln.parse_optional("  ") is None
        assert Uln.parse_optional(None) is None

    def test_laestab_from_an_integer_keeps_the_leading_zeros(self) -> None:
        """A spreadsheet number 11234 is LAESTAB 001/1234."""
        parsed = Laestab.parse(11234)
        assert ("001", "1234") == (parsed.la, parsed.establishment)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ec1a1bb", "EC1A 1BB"),
            ("  M1 1AE ", "M1 1AE"),
            ("cr2 6xh", "CR2 6XH"),
            ("bt7 1nn", "BT7 1NN"),
        ],
    )
    def test_postcodes_are_normalised(self, text: str, expected: str) -> None:
        """Case and spacing are normalised to one space before the inward code."""
        assert expected == Postcode.parse(text).value

    @pytest.mark.parametrize("text", ["", "SW1A", "SW1A 1CA", "12345"])
    def test_bad_postcodes_are_refused(self, text: str) -> None:
        """Text that is not a UK postcode is refused naming the field."""
        with pytest.raises(InvalidIdentifierError) as info:
            Postcode.parse(text)
        assert "postcode" == info.value.field


class TestConstructorsValidate:
    """An identifier value cannot exist unless it is valid and normalised."""

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("garbage", UpnProblem.NOT_NUMERIC.value),
            ("A801200005001", UpnProblem.CHECK_LETTER.value),
            ("G80120000101I", UpnProblem.CHARACTER_13.value),
            ("", UpnProblem.MISSING.value),
            ("UN1", UpnProblem.MISSING.value),
        ],
    )
    def test_upn_constructor_refuses_invalid_values(self, text: str, code: str) -> None:
        """Upn(...) checks like Upn.parse and reports the same census code."""
        with pytest.raises(InvalidIdentifierError) as info:
            Upn(text)
        assert ("upn", code) == (info.value.field, info.value.code)

    @pytest.mark.parametrize("text", ["b801200005001", " B801200005001", "B801200005001\n"])
    def test_upn_constructor_refuses_text_parse_would_normalise(self, text: str) -> None:
        """The constructor does not trim or upper-case: it points at Upn.parse instead."""
        with pytest.raises(InvalidIdentifierError, match=r"Upn\.parse"):
            Upn(text)
        assert "B801200005001" == Upn.parse(text).value

    def test_upn_constructor_accepts_unknown_la_codes_like_parse(self) -> None:
        """An LA code off the list is valid (the MIS is the record of truth); strict is parse's."""
        body = "999123456789"
        assert Upn.parse(upn_check_letter(body) + body) == Upn(upn_check_letter(body) + body)

    def test_evolve_cannot_make_an_invalid_identifier(self) -> None:
        """attrs.evolve runs the validators too."""
        upn = Upn("B801200005001")
        with pytest.raises(InvalidIdentifierError):
            attrs.evolve(upn, value="B801200005002")

    def test_other_constructors_validate(self) -> None:
        """ULN, URN, LAESTAB and postcode constructors refuse invalid or unnormalised values."""
        assert "9276308686" == Uln("9276308686").value
        assert "100001" == Urn("100001").value
        assert "0011234" == str(Laestab("001", "1234"))
        assert "SW1A 1AA" == Postcode("SW1A 1AA").value
        bad = [
            (lambda: Uln("9276308687"), "uln"),
            (lambda: Uln(" 9276308686"), "uln"),
            (lambda: Urn("12345"), "urn"),
            (lambda: Urn(" 100001"), "urn"),
            (lambda: Laestab("1", "1234"), "laestab"),
            (lambda: Laestab("001", "123"), "laestab"),
            (lambda: Postcode("sw1a 1aa"), "postcode"),
            (lambda: Postcode("SW1A1AA"), "postcode"),
            (lambda: Postcode("not a postcode"), "postcode"),
        ]
        for build, field in bad:
            with pytest.raises(InvalidIdentifierError) as info:
                build()
            assert field == info.value.field


def test_census_la_code_list_matches_the_published_list() -> None:
    """The shipped 2024 list is exactly the DfE census list (rules.md R1.18), 940-943 added later."""
    published = (
        "001-005 201-213 301-320 330-336 340-344 350-359 370-373 380-384 390-394 420 660-681 "
        "701-708 800-803 805-808 810-813 815 816 820-823 825 826 830 831 835-837 840 841 845 "
        "846 850-852 855-857 860 861 865-896 908 909 916 919 921 925 926 928 929 931 933 935-938"
    )
    expected = set()
    for part in published.split():
        first, _, last = part.partition("-")
        expected |= {f"{n:03d}" for n in range(int(first), int(last or first) + 1)}
    assert expected == la_codes("2024-dfe-census")
    assert {"940", "941", "942", "943"} == la_codes("2024-dfe-census+reorganisations") - expected
    assert {"838", "839", "940", "941", "942", "943"} == la_codes(DEFAULT_VERSION) - expected
