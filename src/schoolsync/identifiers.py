"""UK school identifiers as value types: UPN, ULN, URN, LAESTAB and postcode.

Each type refuses bad input with an :class:`~schoolsync.errors.InvalidIdentifierError` that names
the field and the value, and (for UPNs) carries the DfE census error code as ``code`` (a
:class:`UpnProblem` value). Build values from outside text with the ``parse`` class methods,
which trim and normalise first; the constructors validate too, but accept only the normalised
form (``Upn("B801200005001")``, ``Postcode("SW1A 1AA")``), so an invalid value cannot exist.

UPN rules (see ``docs/identifiers.md``): the check letter is computed, never copied from vendor
examples; letters take their value from the 23-letter alphabet without I, O and S; an unknown
LA code is only a warning unless ``strict=True``; ``UN1``-``UN5`` and blanks mean "no UPN".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol

import attrs

from schoolsync.errors import InvalidIdentifierError
from schoolsync.la_codes import DEFAULT_VERSION, is_known_la_code

__all__ = [
    "ULN_FORMAT_CODE",
    "ULN_PLACEHOLDER",
    "UPN_CHECK_ALPHABET",
    "UPN_PLACEHOLDERS",
    "Laestab",
    "Postcode",
    "Uln",
    "Upn",
    "UpnDuplicate",
    "UpnHolder",
    "UpnProblem",
    "Urn",
    "check_la_code",
    "duplicate_upns",
    "find_duplicate_upns",
    "upn_check_letter",
    "upn_problem",
]

#: The 23 letters a UPN may use, in check-value order (I, O and S are never used).
UPN_CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_LETTER_VALUE = {c: i for i, c in enumerate(UPN_CHECK_ALPHABET)}
#: Values an MIS or a return uses for "no UPN" (compared after trimming and upper-casing).
UPN_PLACEHOLDERS = frozenset(
    {"UN1", "UN2", "UN3", "UN4", "UN5", "UNKNOWN", "N/A", "NA", "NONE", "NULL", "-"}
)
_UPN_PLACEHOLDERS = UPN_PLACEHOLDERS
#: The ULN a learner record carries while the real one is "not yet known" (the Learning
#: Records Service and the ILR use it); it fails the check digit by design.
ULN_PLACEHOLDER = "9999999999"


class UpnProblem(StrEnum):
    """Why a UPN was refused: the DfE school census error codes (1500-1550).

    The value is the census code (``"1510"``); :attr:`description` is the census meaning.
    """

    MISSING = "1500"
    CHECK_LETTER = "1510"
    DUPLICATE = "1520"
    LA_CODE = "1530"
    NOT_NUMERIC = "1540"
    CHARACTER_13 = "1550"

    @property
    def description(self) -> str:
        """The census meaning of the code."""
        return _PROBLEM_TEXT[self]


_PROBLEM_TEXT = {
    UpnProblem.MISSING: "UPN missing",
    UpnProblem.CHECK_LETTER: "wrong check letter at character 1",
    UpnProblem.DUPLICATE: "more than one pupil record with the same UPN",
    UpnProblem.LA_CODE: "characters 2-4 are not a recognised LA code",
    UpnProblem.NOT_NUMERIC: "characters 5-12 are not all numeric",
    UpnProblem.CHARACTER_13: "character 13 is not numeric or A-Z without I, O, S",
}


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


_DIGIT_VALUE = {d: int(d) for d in "0123456789"}
_LAST_VALUE = {**_DIGIT_VALUE, **_LETTER_VALUE}


def _is_valid_upn(value: str) -> bool:
    """True for a normalised UPN whose check letter is right (the fast path; LA codes unchecked)."""
    if len(value) != 13:
        return False
    d = _DIGIT_VALUE
    try:
        total = (
            2 * d[value[1]] + 3 * d[value[2]] + 4 * d[value[3]] + 5 * d[value[4]]
            + 6 * d[value[5]] + 7 * d[value[6]] + 8 * d[value[7]] + 9 * d[value[8]]
            + 10 * d[value[9]] + 11 * d[value[10]] + 12 * d[value[11]]
            + 13 * _LAST_VALUE[value[12]]
        )  # fmt: skip
    except KeyError:
        return False
    return value[0] == UPN_CHECK_ALPHABET[total % 23]


def _not_normalised(field: str, value: object, parser: str) -> InvalidIdentifierError:
    """The error a constructor raises for a valid value that is not in normalised form."""
    return InvalidIdentifierError(
        field, value, f"not in normalised form; build it from text with {parser}.parse"
    )


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after the check letter (characters 2-13).

    Each character is weighted by its position (2..13); a letter in position 13 (temporary UPN)
    takes its value from :data:`UPN_CHECK_ALPHABET`, never ``ord(c) - ord('A')``. The sum mod 23
    indexes :data:`UPN_CHECK_ALPHABET`.

    Raises:
        InvalidIdentifierError: if *body* is not 11 digits plus a digit or an allowed letter.
    """
    if len(body) != 12 or not _is_ascii_digits(body[:11]):
        raise InvalidIdentifierError(
            "upn",
            body,
            "UPN body must be 11 digits and one more character",
            code=UpnProblem.NOT_NUMERIC.value,
        )
    last = body[11]
    if _is_ascii_digits(last):
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


def _la_known(code: str, version: str | None) -> bool:
    return is_known_la_code(code, version or DEFAULT_VERSION)


def _diagnose(text: object, strict: bool, version: str | None) -> tuple[UpnProblem, str] | str:
    """Either the normalised UPN or the first problem found (census order) and a reason."""
    if text is None or not str(text).strip():
        return UpnProblem.MISSING, "UPN is missing"
    raw = str(text).strip().upper()
    if raw in _UPN_PLACEHOLDERS:
        return UpnProblem.MISSING, "placeholder means no UPN; use Upn.parse_optional"
    if len(raw) != 13:
        return UpnProblem.NOT_NUMERIC, f"UPN must be 13 characters, not {len(raw)}"
    if not _is_ascii_digits(raw[1:12]):
        return UpnProblem.NOT_NUMERIC, "characters 2-12 must be digits"
    last = raw[12]
    if not (_is_ascii_digits(last) or last in _LETTER_VALUE):
        return UpnProblem.CHARACTER_13, "character 13 must be a digit or A-Z without I, O, S"
    if strict and not _la_known(raw[1:4], version):
        return UpnProblem.LA_CODE, f"LA code {raw[1:4]} is not recognised"
    if raw[0] != upn_check_letter(raw[1:]):
        return UpnProblem.CHECK_LETTER, "check letter is wrong"
    return raw


def upn_problem(
    text: str | None, *, strict: bool = False, version: str | None = None
) -> UpnProblem | None:
    """The census problem with *text* as a UPN, or ``None`` when it is a valid UPN.

    The non-raising twin of :meth:`Upn.parse` (same checks, same order), for reports over many
    rows. A blank value or a placeholder gives :attr:`UpnProblem.MISSING`.
    """
    found = _diagnose(text, strict, version)
    return None if isinstance(found, str) else found[0]


def _validate_upn(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if isinstance(value, str) and _is_valid_upn(value):
        return
    found = _diagnose(value, False, None)
    if isinstance(found, str):
        raise _not_normalised("upn", value, "Upn")
    problem, reason = found
    raise InvalidIdentifierError("upn", value, reason, code=problem.value)


@attrs.frozen
class Upn:
    """A Unique Pupil Number: 13 characters, a DfE check letter first.

    Use :meth:`parse` to build one from text; the constructor accepts only a valid, normalised
    UPN (upper case, no spaces) and raises :class:`InvalidIdentifierError` otherwise (an
    unknown LA code is accepted, as in non-strict :meth:`parse`). ``temporary`` is true for a
    temporary UPN (a letter in position 13). Equality and hashing are by ``value``. The digits
    identify the *issuing* school: never infer a pupil's current school, LA or year group from
    them.
    """

    value: str = attrs.field(validator=_validate_upn)

    @property
    def temporary(self) -> bool:
        """True for a temporary UPN (letter at character 13): replace it within a few weeks."""
        return self.value[12].isalpha()

    @property
    def la_code(self) -> str:
        """Characters 2-4: the LA code of the issuing school (not the pupil's current LA)."""
        return self.value[1:4]

    @property
    def masked(self) -> str:
        """The UPN with its last four characters hidden (``B80120000****``), for logs."""
        return self.value[:9] + "****"

    def __str__(self) -> str:
        return self.value

    def la_code_warning(self, version: str | None = None) -> str | None:
        """A warning when the LA code is not on the LA code list, else ``None``.

        In non-strict mode an unknown LA code is accepted (the MIS is the record of truth);
        use this to report it. The message names the field and the LA code only.
        """
        return check_la_code(self, version)

    @staticmethod
    def is_placeholder(text: str | None) -> bool:
        """True when *text* is blank or an MIS placeholder meaning "no UPN" (``UN1``-``UN5``)."""
        if text is None:
            return True
        cleaned = str(text).strip().upper()
        return cleaned == "" or cleaned in _UPN_PLACEHOLDERS

    @classmethod
    def parse_optional(
        cls, text: str | None, *, strict: bool = False, version: str | None = None
    ) -> Upn | None:
        """Parse *text*, returning ``None`` for a blank value or an MIS placeholder.

        Raises:
            InvalidIdentifierError: for any other invalid value (see :meth:`parse`).
        """
        if text is None or cls.is_placeholder(text):
            return None
        return cls.parse(text, strict=strict, version=version)

    @classmethod
    def parse(cls, text: str, *, strict: bool = False, version: str | None = None) -> Upn:
        """Parse and validate a UPN.

        Leading and trailing spaces are trimmed and letters upper-cased; internal characters
        are kept (an internal space is an error, census 1540).

        Args:
            text: the UPN as given.
            strict: also reject an LA code missing from the LA code list (census error 1530);
                when false an unknown LA code is accepted (the MIS is the record of truth) and
                can be reported with :meth:`la_code_warning`.
            version: the LA code list version (default :data:`schoolsync.la_codes.DEFAULT_VERSION`).

        Raises:
            InvalidIdentifierError: with ``code`` set to a :class:`UpnProblem` value; a blank
                value or a placeholder is :attr:`UpnProblem.MISSING`.
        """
        if isinstance(text, str):
            raw = text.strip().upper()
            if _is_valid_upn(raw) and (not strict or _la_known(raw[1:4], version)):
                return cls(raw)
        found = _diagnose(text, strict, version)
        if isinstance(found, str):
            return cls(found)
        problem, reason = found
        raise InvalidIdentifierError("upn", text, reason, code=problem.value)


def check_la_code(upn: Upn, version: str | None = None) -> str | None:
    """Census 1530 as a warning: a message when *upn*'s LA code is unknown, else ``None``.

    Raises:
        NotFoundError: for an unknown list *version*.
    """
    used = version or DEFAULT_VERSION
    if is_known_la_code(upn.la_code, used):
        return None
    return (
        f"upn: LA code {upn.la_code} is not on LA code list {used} "
        f"(census {UpnProblem.LA_CODE.value}); accepted because the MIS is the record of truth"
    )


def duplicate_upns(upns: Iterable[Upn | None]) -> frozenset[Upn]:
    """The UPNs that occur more than once in *upns* (census 1520); ``None`` is ignored."""
    seen: set[Upn] = set()
    repeated: set[Upn] = set()
    for upn in upns:
        if upn is None:
            continue
        if upn in seen:
            repeated.add(upn)
        seen.add(upn)
    return frozenset(repeated)


class UpnHolder(Protocol):
    """Anything with a school, an id, a current UPN and former UPNs (e.g. a ``Pupil``)."""

    @property
    def id(self) -> str: ...

    @property
    def school_id(self) -> str: ...

    @property
    def upn(self) -> Upn | None: ...

    @property
    def former_upns(self) -> tuple[Upn, ...]: ...


@attrs.frozen(kw_only=True)
class UpnDuplicate:
    """One UPN held by more than one pupil record (census 1520).

    ``holders`` are ``(school_id, pupil_id)`` pairs, sorted. A UPN at two schools is a transfer
    or a dual registration: report it for a person to decide, never merge automatically.
    """

    upn: Upn
    holders: tuple[tuple[str, str], ...]

    @property
    def problem(self) -> UpnProblem:
        """Always :attr:`UpnProblem.DUPLICATE`."""
        return UpnProblem.DUPLICATE

    @property
    def school_ids(self) -> tuple[str, ...]:
        """The distinct schools holding the UPN, sorted."""
        return tuple(sorted({school for school, _ in self.holders}))

    @property
    def across_schools(self) -> bool:
        """True when the holders are at more than one school (transfer or dual registration)."""
        return len(self.school_ids) > 1


def find_duplicate_upns(
    pupils: Iterable[UpnHolder], *, include_former: bool = False
) -> tuple[UpnDuplicate, ...]:
    """Census 1520, trust-wide: every UPN held by more than one pupil record.

    Pass every pupil of every school in the trust, on roll and no longer on roll: uniqueness is
    trust-wide, not per school. With ``include_former`` a pupil's former UPNs count too (a UPN
    one pupil gave up and another now holds). A record is ``(school_id, id)``; one record
    holding the same UPN twice is not a duplicate. Results are sorted by UPN.
    """
    holders: dict[Upn, set[tuple[str, str]]] = {}
    for pupil in pupils:
        key = (pupil.school_id, pupil.id)
        upns: list[Upn] = [] if pupil.upn is None else [pupil.upn]
        if include_former:
            upns.extend(pupil.former_upns)
        for upn in upns:
            holders.setdefault(upn, set()).add(key)
    return tuple(
        UpnDuplicate(upn=upn, holders=tuple(sorted(keys)))
        for upn, keys in sorted(holders.items(), key=lambda item: item[0].value)
        if len(keys) > 1
    )


#: Census code for a ULN of the wrong format or with a wrong check digit.
ULN_FORMAT_CODE = "1575"


def _uln_problem(raw: str) -> str | None:
    """Why *raw* (already trimmed) is not a ULN, or ``None`` when it is one."""
    if len(raw) != 10 or not _is_ascii_digits(raw):
        return "ULN must be 10 digits"
    if raw[0] == "0":
        return "ULN cannot start with 0"
    if sum(int(d) * w for d, w in zip(raw, range(10, 0, -1), strict=True)) % 11 != 10:
        return "check digit is wrong"
    return None


def _validate_uln(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise InvalidIdentifierError("uln", value, "ULN must be a string", code=ULN_FORMAT_CODE)
    problem = _uln_problem(value)
    if problem is not None:
        raise InvalidIdentifierError("uln", value, problem, code=ULN_FORMAT_CODE)


@attrs.frozen
class Uln:
    """A Unique Learner Number: 10 digits, first non-zero, weighted sum mod 11 equal to 10.

    Issued to learners aged 14 or over, so most primary pupils have none: use
    :meth:`parse_optional` for an optional field. The constructor validates too (no trimming).
    """

    value: str = attrs.field(validator=_validate_uln)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str) -> Uln:
        """Parse and validate a ULN (surrounding spaces trimmed).

        Weights 10, 9, ..., 1 over the ten digits; the sum mod 11 must be 10 (equivalently the
        check digit is 10 minus the first nine digits' weighted sum mod 11, never 0 remainder).

        Raises:
            InvalidIdentifierError: on a wrong length, non-digits, a leading zero or a bad check
                digit (``code`` ``"1575"``); the placeholder ``9999999999`` is refused saying
                it means "not yet known" (:meth:`parse_optional` reads it as ``None``).
        """
        raw = str(text).strip() if text is not None else ""
        if raw == ULN_PLACEHOLDER:
            raise InvalidIdentifierError(
                "uln",
                text,
                "9999999999 is the placeholder for a ULN not yet known, not a ULN "
                "(Uln.parse_optional reads it as no ULN)",
                code=ULN_FORMAT_CODE,
            )
        problem = _uln_problem(raw)
        if problem is not None:
            raise InvalidIdentifierError("uln", text, problem, code=ULN_FORMAT_CODE)
        return cls(raw)

    @staticmethod
    def is_placeholder(text: str | None) -> bool:
        """True when *text* is blank or :data:`ULN_PLACEHOLDER` (``9999999999``, "not yet
        known")."""
        cleaned = "" if text is None else str(text).strip()
        return cleaned in {"", ULN_PLACEHOLDER}

    @classmethod
    def parse_optional(cls, text: str | None) -> Uln | None:
        """Parse *text*, returning ``None`` for a blank value or the placeholder
        ``9999999999`` ("not yet known").

        Raises:
            InvalidIdentifierError: for any other invalid value.
        """
        if cls.is_placeholder(text):
            return None
        assert text is not None
        return cls.parse(text)


_URN_RE = re.compile(r"[0-9]{6}")


def _validate_urn(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not (isinstance(value, str) and _URN_RE.fullmatch(value)):
        raise InvalidIdentifierError("urn", value, "URN must be six digits")


@attrs.frozen
class Urn:
    """A Unique Reference Number for an establishment: six digits, kept as a string.

    The constructor validates too (``Urn("100001")``); :meth:`parse` also trims.
    """

    value: str = attrs.field(validator=_validate_urn)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: str | int) -> Urn:
        """Parse a URN (surrounding spaces trimmed).

        Raises:
            InvalidIdentifierError: unless the value is exactly six digits.
        """
        raw = str(text).strip() if text is not None else ""
        if not _URN_RE.fullmatch(raw):
            raise InvalidIdentifierError("urn", text, "URN must be six digits")
        return cls(raw)


def _validate_la(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not (isinstance(value, str) and re.fullmatch(r"[0-9]{3}", value)):
        raise InvalidIdentifierError("laestab", value, "the LA part must be 3 digits")


def _validate_establishment(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not (isinstance(value, str) and re.fullmatch(r"[0-9]{4}", value)):
        raise InvalidIdentifierError("laestab", value, "the establishment part must be 4 digits")


@attrs.frozen
class Laestab:
    """A DfE number: 3-digit LA code plus 4-digit establishment number, zero-padded strings.

    The constructor validates too (``Laestab("001", "1234")``); :meth:`parse` reads one string.
    """

    la: str = attrs.field(validator=_validate_la)
    establishment: str = attrs.field(validator=_validate_establishment)

    def __str__(self) -> str:
        return self.la + self.establishment

    @classmethod
    def parse(cls, text: str | int) -> Laestab:
        """Parse ``"1234567"``, ``"123/4567"`` or ``"123-4567"``; an ``int`` is zero-padded to 7.

        Raises:
            InvalidIdentifierError: unless the value is 3 + 4 digits.
        """
        if isinstance(text, int) and not isinstance(text, bool) and 0 <= text < 10_000_000:
            raw = f"{text:07d}"  # a spreadsheet dropped the leading zeros of LA 001-005
        else:
            raw = str(text).strip() if text is not None else ""
        m = re.fullmatch(r"([0-9]{3})[/\- ]?([0-9]{4})", raw)
        if not m:
            raise InvalidIdentifierError("laestab", text, "LAESTAB must be 3 + 4 digits")
        return cls(m.group(1), m.group(2))


_POSTCODE_RE = re.compile(
    r"^(?:(?:[A-Z][0-9]{1,2}|[A-Z][A-HJ-Y][0-9]{1,2}|[A-Z][0-9][A-Z]|[A-Z][A-HJ-Y][0-9][A-Z]?)"
    r" [0-9][ABD-HJLNP-UW-Z]{2}|GIR 0AA|BFPO [0-9]{1,4})$"
)


def _validate_postcode(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if isinstance(value, str) and _POSTCODE_RE.fullmatch(value):
        return
    try:
        Postcode.parse(value)
    except InvalidIdentifierError:
        raise InvalidIdentifierError("postcode", value, "not a valid UK postcode") from None
    raise _not_normalised("postcode", value, "Postcode")


@attrs.frozen
class Postcode:
    """A UK postcode, normalised to upper case with one space before the inward code.

    The constructor accepts only the normalised form (``Postcode("SW1A 1AA")``); use
    :meth:`parse` for text as people write it.
    """

    value: str = attrs.field(validator=_validate_postcode)

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
