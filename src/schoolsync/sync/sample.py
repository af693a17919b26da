"""A deterministic sample MIS feed for one school: for docs, examples and benchmarks.

:func:`sample_snapshot` builds a realistic-looking (but invented) school: year groups, one or
more classes per year, pupils with valid UPNs, staff who teach the classes. The same arguments
always give the same feed, so documentation examples can assert on it. :func:`evolve_snapshot`
makes the changes a nightly sync sees (joiners, leavers, name changes) and
:func:`rolled_over` the feed after the MIS's own new-year rollover.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime
from itertools import pairwise

import attrs

from schoolsync.identifiers import Upn, upn_check_letter
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot

__all__ = ["evolve_snapshot", "rolled_over", "sample_snapshot"]

_FORENAMES = [
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Noah",
    "Mia",
    "Jack",
    "Ivy",
    "Leo",
    "Freya",
    "Arthur",
    "Lily",
    "Muhammad",
    "Florence",
    "Oscar",
    "Willow",
    "Charlie",
    "Rosie",
    "Theo",
    "Sophia",
    "Henry",
    "Evie",
    "Alfie",
    "Grace",
    "Zoë",
    "Chloé",
    "Siân",
    "Dáithí",
    "Aoife",
    "Łukasz",
    "Björn",
    "Renée",
    "Joséphine",
    "Amélie",
    "Kwame",
    "Priya",
    "Aisha",
    "Yusuf",
]
_SURNAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "O'Brien",
    "O'Neill",
    "D'Souza",
    "Smith-Jones",
    "Ní_Bhriain",
    "Müller",
    "Nowak",
    "Øberg",
    "Khan",
    "Ahmed",
    "Hughes",
    "Edwards",
    "Lewis",
    "Turner",
    "Hill",
]
_PRIMARY = ("R", "1", "2", "3", "4", "5", "6")


def _upn(la: int, estab: int, year: int, serial: int) -> Upn:
    body = f"{la:03d}{estab:04d}{year % 100:02d}{serial:03d}"
    return Upn.parse(upn_check_letter(body) + body)


def _year_number(code: str) -> int:
    return 0 if code == "R" else int(code)


def sample_snapshot(
    school_id: str,
    *,
    pupils: int = 210,
    staff: int = 20,
    year_codes: Sequence[str] = _PRIMARY,
    classes_per_year: int = 1,
    seed: int = 0,
    academic_year: int = 2025,
    school_number: int = 1,
    taken_at: datetime | None = None,
) -> MisSnapshot:
    """A deterministic MIS feed of one school.

    Args:
        school_id: the school the records belong to.
        pupils: how many pupils (spread evenly over the year groups).
        staff: how many staff; the first ones teach the classes.
        year_codes: the NC years the school has (primary ``R``-``6`` by default).
        classes_per_year: classes in each year group.
        seed: changes the names drawn.
        academic_year: the start year of the academic year the feed describes.
        school_number: distinguishes schools' UPNs within a trust (1..9999).
        taken_at: when the feed was taken.
    """
    rng = random.Random(f"{school_id}:{seed}")
    year_groups = tuple(
        YearGroup(
            id=f"Y{code}",
            school_id=school_id,
            name="Reception" if code == "R" else f"Year {code}",
            nc_year=code,
            mis_id=f"Y{code}",
            intake_year=academic_year - _year_number(code),
        )
        for code in year_codes
    )
    letters = "ABCDEFGH"
    classes = tuple(
        SchoolClass(
            id=f"C{academic_year}-{code}{letters[i]}",
            school_id=school_id,
            name=f"{code}{letters[i]}",
            year_group_ids=(f"Y{code}",),
            mis_id=f"C{academic_year}-{code}{letters[i]}",
        )
        for code in year_codes
        for i in range(classes_per_year)
    )
    by_year = {
        code: [c for c in classes if c.year_group_ids == (f"Y{code}",)] for code in year_codes
    }
    people: list[Pupil] = []
    for n in range(pupils):
        code = year_codes[n % len(year_codes)]
        cls = by_year[code][(n // len(year_codes)) % classes_per_year]
        intake = academic_year - _year_number(code)
        born = date(intake - 5, 9, 1).toordinal() + rng.randrange(365)
        people.append(
            Pupil(
                id=f"P{n:05d}",
                school_id=school_id,
                mis_id=f"P{n:05d}",
                upn=_upn(201, 2000 + school_number, intake, n // len(year_codes) + 1),
                forename=rng.choice(_FORENAMES),
                surname=rng.choice(_SURNAMES).replace("_", " "),
                date_of_birth=date.fromordinal(born),
                gender=rng.choice((Gender.MALE, Gender.FEMALE)),
                year_code=code,
                intake_year=intake,
                class_ids=(cls.id,),
                pupil_premium=rng.random() < 0.2,
            )
        )
    teachers: list[StaffMember] = []
    for n in range(staff):
        taught = (classes[n].id,) if n < len(classes) else ()
        teachers.append(
            StaffMember(
                id=f"S{n:04d}",
                school_id=school_id,
                mis_id=f"S{n:04d}",
                title=rng.choice(("Mr", "Mrs", "Ms", "Miss", "Dr")),
                forename=rng.choice(_FORENAMES),
                surname=rng.choice(_SURNAMES).replace("_", " "),
                staff_code=f"T{n:03d}",
                class_ids=taught,
            )
        )
    return MisSnapshot(
        school_id=school_id,
        taken_at=taken_at,
        pupils=tuple(people),
        staff=tuple(teachers),
        classes=classes,
        year_groups=year_groups,
    )


def evolve_snapshot(
    snapshot: MisSnapshot,
    *,
    changed: int = 0,
    joiners: int = 0,
    leavers: int = 0,
    seed: int = 1,
    taken_at: datetime | None = None,
) -> MisSnapshot:
    """The same school a day later: *changed* pupils with a new preferred name, *joiners* new
    pupils in existing classes, *leavers* pupils gone."""
    rng = random.Random(f"{snapshot.school_id}:evolve:{seed}")
    pupils = list(snapshot.pupils)
    for i in rng.sample(range(len(pupils)), min(changed, len(pupils))):
        pupils[i] = attrs.evolve(pupils[i], preferred_forename=f"{pupils[i].forename}ie")
    gone = set(rng.sample(range(len(pupils)), min(leavers, len(pupils))))
    pupils = [p for i, p in enumerate(pupils) if i not in gone]
    template = snapshot.pupils[0] if snapshot.pupils else None
    for j in range(joiners):
        if template is None or not snapshot.classes:
            break
        cls = snapshot.classes[j % len(snapshot.classes)]
        code = snapshot.year_groups[0].nc_year
        for yg in snapshot.year_groups:
            if yg.id in cls.year_group_ids:
                code = yg.nc_year
        pupils.append(
            attrs.evolve(
                template,
                id=f"J{seed:03d}{j:04d}",
                mis_id=f"J{seed:03d}{j:04d}",
                upn=None,
                forename=rng.choice(_FORENAMES),
                surname=rng.choice(_SURNAMES).replace("_", " "),
                year_code=code,
                class_ids=(cls.id,),
            )
        )
    return attrs.evolve(snapshot, pupils=tuple(pupils), taken_at=taken_at or snapshot.taken_at)


def rolled_over(
    snapshot: MisSnapshot,
    *,
    academic_year: int,
    repeaters: Sequence[str] = (),
    taken_at: datetime | None = None,
) -> MisSnapshot:
    """The feed after the MIS's own rollover into *academic_year*: everyone moves up a year
    (except *repeaters*, MIS pupil ids), the top year leaves, new classes replace the old and
    the bottom year is empty until its intake joins."""
    codes = [yg.nc_year for yg in snapshot.year_groups]
    nxt = dict(pairwise(codes))
    letters = sorted({c.name[len(c.name) - 1] for c in snapshot.classes})
    classes = tuple(
        SchoolClass(
            id=f"C{academic_year}-{code}{letter}",
            school_id=snapshot.school_id,
            name=f"{code}{letter}",
            year_group_ids=(f"Y{code}",),
            mis_id=f"C{academic_year}-{code}{letter}",
        )
        for code in codes
        for letter in letters
    )
    pupils: list[Pupil] = []
    for p in snapshot.pupils:
        code = p.year_code if p.mis_id in repeaters else nxt.get(p.year_code or "")
        if code is None:
            continue  # the top year leaves
        old_letter = next((c.name[-1] for c in snapshot.classes if c.id in p.class_ids), letters[0])
        pupils.append(
            attrs.evolve(p, year_code=code, class_ids=(f"C{academic_year}-{code}{old_letter}",))
        )
    return attrs.evolve(
        snapshot,
        pupils=tuple(pupils),
        classes=classes,
        staff=tuple(
            attrs.evolve(s, class_ids=(classes[i].id,) if i < len(classes) else ())
            for i, s in enumerate(snapshot.staff)
        ),
        taken_at=taken_at,
    )
