"""National Curriculum years: grade codes read as NC years, their names, order and year groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from schoolsync.people import Pupil, YearGroup

__all__ = [
    "NC_ORDER",
    "GradeMapping",
    "in_nc_order",
    "make_year_groups",
    "nc_year_for_grade",
    "pupils_year_groups",
    "year_group_name",
]


class GradeMapping(StrEnum):
    """How OneRoster/CEDS grade codes become National Curriculum years.

    ``UK`` (the default) reads the code as UK exporters write it: ``"07"`` is Year 7, ``"KG"``
    and ``"TK"`` are Reception, ``"PK"`` is Nursery 2 (N2), ``"PR"`` Nursery 1 (N1). ``US_AGE``
    maps a US grade to the English year of the same age: ``"KG"`` is Year 1, ``"07"`` Year 8,
    ``"PK"`` Reception, ``"PR"`` N2, ``"IT"`` N1. Both accept the NC codes themselves (``"R"``,
    ``"N1"``, ``"Y7"``, ``"Year 7"``).
    """

    UK = "uk"
    US_AGE = "us_age"


_NC_CODES = {"E1", "E2", "N1", "N2", "R", "X", *(str(n) for n in range(1, 15))}
_UK_CEDS = {"PR": "N1", "PK": "N2", "TK": "R", "KG": "R"}
_US_CEDS = {"IT": "N1", "PR": "N2", "PK": "R", "TK": "R", "KG": "1"}


def nc_year_for_grade(grade: str, mapping: GradeMapping = GradeMapping.UK) -> str | None:
    """The NC year code (``"R"``, ``"7"``, ``"N2"``...) for a grade code, or ``None`` when the
    code has no NC year (``"UG"`` ungraded, ``"PS"`` post-secondary, ``"Other"``, unknown).

    >>> nc_year_for_grade("07"), nc_year_for_grade("KG"), nc_year_for_grade("07", GradeMapping.US_AGE)
    ('7', 'R', '8')
    """
    g = grade.strip().upper()
    if g.startswith("YEAR"):
        g = g[4:].strip()
    elif g.startswith("Y") and g[1:].isdigit():
        g = g[1:]
    if g.isascii() and g.isdigit() and len(g) <= 3:
        n = int(g)
        if mapping is GradeMapping.US_AGE:
            n += 1
        return str(n) if 1 <= n <= 14 else None
    table = _UK_CEDS if mapping is GradeMapping.UK else _US_CEDS
    if g in table:
        return table[g]
    return g if g in _NC_CODES else None


def year_group_name(nc_year: str) -> str:
    """A display name for an NC year code: ``"Reception"``, ``"Nursery 2"``, ``"Year 7"``."""
    names = {
        "R": "Reception",
        "N1": "Nursery 1",
        "N2": "Nursery 2",
        "E1": "Early years 1",
        "E2": "Early years 2",
        "X": "National Curriculum not followed",
    }
    return names.get(nc_year, f"Year {nc_year}")


#: Each NC year code's place in school order (Nursery first, then Reception, Year 1...).
NC_ORDER = {c: i for i, c in enumerate(("E1", "E2", "N1", "N2", "R", *map(str, range(1, 15)), "X"))}


def in_nc_order(codes: Iterable[str]) -> list[str]:
    """NC year codes sorted in school order (unknown codes last)."""
    return sorted(codes, key=lambda y: NC_ORDER.get(y, 99))


def make_year_groups(school_id: str, mis_ids: Mapping[str, str]) -> list[YearGroup]:
    """One year group per NC year code in *mis_ids* (code -> the source's own code), in school
    order, with ids ``"<school_id>:year:<code>"``."""
    return [
        YearGroup(
            id=f"{school_id}:year:{nc}",
            school_id=school_id,
            name=year_group_name(nc),
            nc_year=nc,
            mis_id=mis_ids[nc],
        )
        for nc in in_nc_order(mis_ids)
    ]


def pupils_year_groups(school_id: str, pupils: Iterable[Pupil]) -> list[YearGroup]:
    """One year group per NC year the pupils are in (``mis_id`` is the NC code itself)."""
    return make_year_groups(
        school_id, {p.year_code: p.year_code for p in pupils if p.year_code is not None}
    )
