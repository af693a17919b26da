"""People and groups in a school: pupils, staff, classes and year groups (records).

These are the records both the MIS (the master record) and the host app hold. Every record has
a stable ``id`` of its own (the app's or the reader's key) and the ``school_id`` of the school it
belongs to; identifiers from the MIS (``mis_id``, UPN) are attributes, not keys, because they
change (a school changes MIS; a UPN is corrected).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import attrs

from schoolsync.identifiers import Uln, Upn

__all__ = ["Gender", "Pupil", "SchoolClass", "StaffMember", "YearGroup"]


class Gender(StrEnum):
    """Gender as recorded by a school census (M, F) plus unknown/other values."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "X"
    UNKNOWN = "U"

    @classmethod
    def parse(cls, text: str | None) -> Gender:
        """Read the usual spellings (``M``, ``male``, ``F``, ``female``, ``X``...); blank is unknown."""
        if text is None:
            return cls.UNKNOWN
        t = str(text).strip().lower()
        if t in {"m", "male", "boy"}:
            return cls.MALE
        if t in {"f", "female", "girl"}:
            return cls.FEMALE
        if t in {"x", "other", "nonbinary", "non-binary"}:
            return cls.OTHER
        return cls.UNKNOWN


def _tuple_of_str(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _tuple_of_upn(value: object) -> tuple[Upn, ...]:
    if value is None:
        return ()
    return tuple(v if isinstance(v, Upn) else Upn.parse(str(v)) for v in value)  # type: ignore[attr-defined]


class _Named:
    """The name fields people share, and the name they go by (a mixin for attrs classes)."""

    __slots__ = ()
    forename: str
    surname: str
    preferred_forename: str | None
    preferred_surname: str | None

    @property
    def display_name(self) -> str:
        """Preferred forename (else legal) and preferred surname (else legal)."""
        return (
            f"{self.preferred_forename or self.forename} {self.preferred_surname or self.surname}"
        )


@attrs.frozen(kw_only=True)
class Pupil(_Named):
    """A pupil on a school's roll.

    ``forename``/``surname`` are the legal names; ``preferred_*`` the names the pupil uses.
    ``former_upns`` keeps every UPN the pupil held before (history, oldest first).
    ``year_code`` is the National Curriculum year the MIS reports (e.g. ``"R"``, ``"7"``).
    ``uln`` is the optional Unique Learner Number.
    """

    id: str
    school_id: str
    forename: str
    surname: str
    mis_id: str | None = None
    upn: Upn | None = None
    former_upns: tuple[Upn, ...] = attrs.field(default=(), converter=_tuple_of_upn)
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    middle_names: str | None = None
    date_of_birth: date | None = None
    gender: Gender = Gender.UNKNOWN
    pupil_premium: bool = False
    intake_year: int | None = None
    home_language: str | None = None
    year_code: str | None = None
    class_ids: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    email: str | None = None
    #: A key to match an existing directory account (Microsoft SDS ``activeDirectoryMatchId``).
    directory_match_id: str | None = None
    #: The Unique Learner Number, issued from age 14 (most primary pupils have none).
    uln: Uln | None = None
    #: Home postcode and address lines (brokers and CTF carry them; matching uses them when
    #: both records hold them).
    postcode: str | None = None
    address: str | None = None

    def all_upns(self) -> tuple[Upn, ...]:
        """Every UPN the pupil holds or held: the current one first, then the former ones."""
        current = () if self.upn is None else (self.upn,)
        return current + tuple(u for u in self.former_upns if u != self.upn)

    def has_held_upn(self, upn: Upn) -> bool:
        """True when *upn* is the pupil's current UPN or one of the former ones (for matching)."""
        return upn == self.upn or upn in self.former_upns


@attrs.frozen(kw_only=True)
class StaffMember(_Named):
    """A member of staff at a school (teachers and support staff alike)."""

    id: str
    school_id: str
    forename: str
    surname: str
    mis_id: str | None = None
    title: str | None = None
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    middle_names: str | None = None
    date_of_birth: date | None = None
    gender: Gender = Gender.UNKNOWN
    email: str | None = None
    staff_code: str | None = None
    class_ids: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    #: A key to match an existing directory account (Microsoft SDS ``activeDirectoryMatchId``).
    directory_match_id: str | None = None
    #: Home postcode and address lines (matching uses them when both records hold them).
    postcode: str | None = None
    address: str | None = None


@attrs.frozen(kw_only=True)
class YearGroup:
    """A year group: the MIS's name for it and its National Curriculum year code.

    ``nc_year`` is the code (``"N1"``, ``"N2"``, ``"R"``, ``"1"`` ... ``"13"``; Scotland ``"P1"``
    ... ``"S6"``; Northern Ireland ``"Y1"`` ... ``"Y14"``). ``intake_year`` is the calendar year
    of the academic year in which the cohort started Reception/P1 (its cohort label).
    """

    id: str
    school_id: str
    name: str
    nc_year: str
    mis_id: str | None = None
    intake_year: int | None = None


@attrs.frozen(kw_only=True)
class SchoolClass:
    """A class (teaching group). Mixed-year classes list more than one year group."""

    id: str
    school_id: str
    name: str
    year_group_ids: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    description: str | None = None
    mis_id: str | None = None
    subject: str | None = None
