"""UK school identifiers as value types: UPN, ULN, URN, LAESTAB and postcode.

Each type refuses bad input with an :class:`~schoolsync.errors.InvalidIdentifierError` that names
the field and the value, and (for UPNs) carries the DfE census error code as ``code``.
"""

from __future__ import annotations

import re
from enum import StrEnum

import attrs

from schoolsync.errors import InvalidIdentifierError

__all__ = [
    "UPN_CHECK_ALPHABET",
    "Laestab",
    "Postcode",
    "Uln",
    "Upn",
    "UpnProblem",
    "Urn",
    "upn_check_letter",
]

#: The 23 letters a UPN may use, in check-value order (I, O and S are never used).
UPN_CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_LETTER_VALUE = {c: i for i, c in enumerate(UPN_CHECK_ALPHABET)}
_UPN_PLACEHOLDERS = frozenset({"UN1", "UN2", "UN3", "UN4", "UN5", "UNKNOWN", "N/A", "NA", "NONE"})


class UpnProblem(StrEnum):
    """Why a UPN was refused: the DfE school census error codes (1500-1550)."""

    MISSING = "1500"
    CHECK_LETTER = "1510"
    DUPLICATE = "1520"
    LA_CODE = "1530"
    NOT_NUMERIC = "1540"
    CHARACTER_13 = "1550"


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after the check letter (characters 2-13).

    Each character is weighted by its position (2..13); a letter in position 13 (temporary UPN)
    takes its value from :data:`UPN_CHECK_ALPHABET`, never ``ord(c) - ord('A')``.

    Raises:
        InvalidIdentifierError: if *body* is not 11 digits plus a digit or an allowed letter.
    """
    if len(body) != 12 or not body[:11].isdigit() or not body[:11].isascii():
        raise InvalidIdentifierError(
            "upn",
            body,
            "UPN body must be 11 digits and one more character",
            code=UpnProblem.NOT_NUMERIC.value,
        )
    last = body[11]
    if last.isdigit() and last.isascii():
        last_value = int(last)
    elif last in _LETTER_VALUE:
        last_value = _LETTER_VALUE[last]
    else:
        raise InvalidIdentifierError(
            "upn",
            body,
            "character 13 must be a digit or A-Z without I, O, S",
            code=UpnProblem.CHARACTER_13.value,
        )
    total = sum(int(d) * w for d, w in zip(body[:11], range(2, 13), strict=True)) + last_value * 13
    return UPN_CHECK_ALPHABET[total % 23]


@attrs.frozen
class Upn:
    """A Unique Pupil Number: 13 characters, a DfE check letter first.

    Use :meth:`parse` to build one from text. ``temporary`` is true for a temporary UPN (a letter
    in position 13). Equality and hashing are by ``value``.
    """

    value: str

    @property
    def temporary(self) -> bool:
        """True for a temporary UPN (letter at character 13)."""
        return self.value[12].isalpha()

    @property
    def la_code(self) -> str:
        """Characters 2-4: the LA code of the issuing school (not the pupil's current LA)."""
        return self.value[1:4]

    def __str__(self) -> str:
        return self.value

    @staticmethod
    def is_placeholder(text: str | None) -> bool:
        """True when *text* is blank or an MIS placeholder meaning "no UPN" (``UN1``-``UN5``)."""
        if text is None:
            return True
        cleaned = text.strip().upper()
        return cleaned == "" or cleaned in _UPN_PLACEHOLDERS

    @classmethod
    def parse_optional(cls, text: str | None, *, strict: bool = False) -> Upn | None:
        """Parse *text*, returning ``None`` for a blank value or an MIS placeholder."""
        if cls.is_placeholder(text):
            return None
        assert text is not None
        return cls.parse(text, strict=strict)

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> Upn:
        """Parse and validate a UPN.

        Leading and trailing spaces are trimmed and letters upper-cased; internal characters
        are kept (an internal space is an error, as in the census).

        Args:
            text: the UPN as given.
            strict: also reject an LA code missing from the LA code list (census error 1530);
                when false an unknown LA code is accepted (the MIS is the record of truth) and
                can be checked with :func:`schoolsync.identifiers.unknown_la_code`.

        Raises:
            InvalidIdentifierError: with ``code`` set to a :class:`UpnProblem` value.
        """
        if text is None or not str(text).strip():
            raise InvalidIdentifierError(
                "upn", text, "UPN is missing", code=UpnProblem.MISSING.value
            )
        raw = str(text).strip().upper()
        if raw in _UPN_PLACEHOLDERS:
            raise InvalidIdentifierError(
                "upn",
                text,
                "placeholder means no UPN; use Upn.parse_optional",
                code=UpnProblem.MISSING.value,
            )
        if len(raw) != 13:
            raise InvalidIdentifierError(
                "upn", text, "UPN must be 13 characters", code=UpnProblem.NOT_NUMERIC.value
            )
        body = raw[1:]
        if not (body[:11].isascii() and body[:11].isdigit()):
            raise InvalidIdentifierError(
                "upn", text, "characters 2-12 must be digits", code=UpnProblem.NOT_NUMERIC.value
            )
        last = body[11]
        if not ((last.isascii() and last.isdigit()) or last in _LETTER_VALUE):
            raise InvalidIdentifierError(
                "upn",
                text,
                "character 13 must be a digit or A-Z without I, O, S",
                code=UpnProblem.CHARACTER_13.value,
            )
        if strict:
            from schoolsync.la_codes import is_known_la_code

            if not is_known_la_code(body[:3]):
                raise InvalidIdentifierError(
                    "upn",
                    text,
                    f"LA code {body[:3]} is not recognised",
                    code=UpnProblem.LA_CODE.value,
                )
        expected = upn_check_letter(body)
        if raw[0] != expected:
            raise InvalidIdentifierError(
                "upn", text, "check letter is wrong", code=UpnProblem.CHECK_LETTER.value
            )
        return cls(raw)


@attrs.frozen
class Uln:
    """A Unique Learner Number: 10 digits, first non-zero, weighted sum mod 11 equal to 10."""

    value: str

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str) -> Uln:
        """Parse and validate a ULN.

        Raises:
            InvalidIdentifierError: on a wrong length, non-digits, a leading zero or a bad check digit.
        """
        raw = str(text).strip() if text is not None else ""
        if len(raw) != 10 or not (raw.isascii() and raw.isdigit()):
            raise InvalidIdentifierError("uln", text, "ULN must be 10 digits")
        if raw[0] == "0":
            raise InvalidIdentifierError("uln", text, "ULN cannot start with 0")
        total = sum(int(d) * w for d, w in zip(raw, range(10, 0, -1), strict=True))
        if total % 11 != 10:
            raise InvalidIdentifierError("uln", text, "check digit is wrong")
        return cls(raw)


@attrs.frozen
class Urn:
    """A Unique Reference Number for an establishment: six digits, kept as a string."""

    value: str

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str | int) -> Urn:
        """Parse a URN (surrounding spaces trimmed).

        Raises:
            InvalidIdentifierError: unless the value is exactly six digits.
        """
        raw = str(text).strip() if text is not None else ""
        if not re.fullmatch(r"[0-9]{6}", raw):
            raise InvalidIdentifierError("urn", text, "URN must be six digits")
        return cls(raw)


@attrs.frozen
class Laestab:
    """A DfE number: 3-digit LA code plus 4-digit establishment number, zero-padded strings."""

    la: str
    establishment: str

    def __str__(self) -> str:
        return self.la + self.establishment

    @classmethod
    def parse(cls, text: str | int) -> Laestab:
        """Parse ``"1234567"``, ``"123/4567"`` or ``"123-4567"``.

        Raises:
            InvalidIdentifierError: unless the value is 3 + 4 digits.
        """
        raw = str(text).strip() if text is not None else ""
        m = re.fullmatch(r"([0-9]{3})[/\- ]?([0-9]{4})", raw)
        if not m:
            raise InvalidIdentifierError("laestab", text, "LAESTAB must be 3 + 4 digits")
        return cls(m.group(1), m.group(2))


_POSTCODE_RE = re.compile(
    r"^(?:(?:[A-Z][0-9]{1,2}|[A-Z][A-HJ-Y][0-9]{1,2}|[A-Z][0-9][A-Z]|[A-Z][A-HJ-Y][0-9][A-Z]?)"
    r" [0-9][ABD-HJLNP-UW-Z]{2}|GIR 0AA|BFPO [0-9]{1,4})$"
)


@attrs.frozen
class Postcode:
    """A UK postcode, normalised to upper case with one space before the inward code."""

    value: str

    def __str__(self) -> str:
        return self.value

    @property
    def outward(self) -> str:
        """The outward code (the part before the space)."""
        return self.value.split(" ", 1)[0]

    @classmethod
    def parse(cls, text: str) -> Postcode:
        """Normalise and validate a UK postcode (``"sw1a1aa"`` becomes ``"SW1A 1AA"``).

        Raises:
            InvalidIdentifierError: if the text is not a UK postcode.
        """
        raw = re.sub(r"\s+", "", str(text) if text is not None else "").upper()
        if raw.startswith("BFPO"):
            normalised = "BFPO " + raw[4:]
        elif len(raw) >= 5:
            normalised = raw[:-3] + " " + raw[-3:]
        else:
            normalised = raw
        if not _POSTCODE_RE.match(normalised):
            raise InvalidIdentifierError("postcode", text, "not a valid UK postcode")
        return cls(normalised)
