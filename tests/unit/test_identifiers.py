"""UPN, ULN, URN, LAESTAB and postcode value types."""

from __future__ import annotations

import pytest

from schoolsync.errors import InvalidIdentifierError, SchoolsyncError
from schoolsync.identifiers import Laestab, Postcode, Uln, Upn, UpnProblem, Urn


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
