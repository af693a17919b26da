"""Realistic MIS/app population pairs with ground truth, for testing and measuring matching.

A :class:`Population` holds what a school's (or a trust's) MIS reports, what the app already
holds, and which MIS record is which app record (``truth``). The app side is derived from the
same people through a stated :class:`ErrorModel`: the errors real school data shows between an
MIS and a copy of it typed in or imported earlier. Everything is deterministic for a seed.

The default error model (``ErrorModel()``) describes a first MIS sync into an app whose records
were created by hand or by CSV some time ago:

========================  =======  ==================================================================
error                     rate     what happens to the app copy of a person
========================  =======  ==================================================================
``typo_rate``             3 %      per name field: one character substituted, dropped, added or two
                                   neighbours transposed
``case_rate``             5 %      names in capitals
``name_swap_rate``        0.5 %    forename and surname swapped
``preferred_name_rate``   3 %      the familiar form as forename ("Alex" for "Alexander"); besides,
                                   half of the people with a preferred forename in the MIS (30 % of
                                   those whose name has a usual short form) have it as forename
``surname_part_rate``     20 %     of double-barrelled surnames: only one part kept
``accent_loss_rate``      50 %     of names with accents or apostrophes: typed without them
``dob_swap_rate``         0.5 %    birth date with day and month transposed (where both <= 12)
``dob_error_rate``        0.3 %    birth date with one part (day, month or year) wrong
``dob_missing_rate``      0.5 %    no birth date
``gender_error_rate``     0.2 %    the other gender
``middle_names_kept``     30 %     middle names copied (else blank)
``upn_rate``              50 %     UPN held (the MIS UPN); else none
``mis_id_rate``           0 %      MIS id held (0 on a first sync)
``twin_rate``             2 %      of people are one of a pair of twins (same surname and birth date,
                                   30 % of pairs with similar forenames such as Harry/Harvey)
``leaver_rate``           4 %      app-only people (left, never deleted)
``joiner_rate``           4 %      MIS-only people (joined since)
========================  =======  ==================================================================
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

import attrs

from schoolsync.identifiers import Upn, upn_check_letter
from schoolsync.people import Gender, Pupil, StaffMember

__all__ = [
    "ErrorModel",
    "MatchQuality",
    "Population",
    "evaluate",
    "pupil_population",
    "staff_population",
]

_BOYS = """Oliver George Noah Arthur Harry Leo Muhammad Jack Charlie Oscar Jacob Henry Thomas Freddie
Alfie Theo William Theodore Archie Joshua Alexander James Isaac Edward Lucas Tommy Finley Max Logan
Ethan Mohammed Teddy Benjamin Arlo Joseph Sebastian Harrison Elijah Adam Daniel Samuel Louie Mason
Reuben Albie Rory Jude Hugo Dylan Jaxon Ezra Toby Harvey Zachary Frederick Elliot Jenson Grayson
Roman Hunter Ronnie Caleb Jesse Reggie Michael Louis Jasper Gabriel Albert Riley Liam Stanley Ollie
Jackson Nathan Finn Ryan Bobby David Aaron Alex Felix Ibrahim Ralph Rowan Ali Jamie Kai Zayn Otis
Frankie Luca Elliott Jayden Matthew Ahmed Tyler Nicholas Christopher Andrew Robert Anthony Patrick
Dominic Connor Callum Kieran Declan Ciaran Oisin Cian Rhys Dafydd Owain Gethin Iwan Tomasz Jakub
Mateusz Kacper Filip Bartosz Adrian Aryan Arjun Rohan Vihaan Krish Yusuf Hamza Omar Bilal Tariq
Kwame Kofi Chidi Emeka Tunde Femi Jonathan Stephen Peter Richard Timothy Kenneth Lawrence Vincent"""
_GIRLS = """Olivia Amelia Isla Ava Ivy Freya Lily Florence Mia Willow Rosie Sophia Isabella Grace
Daisy Sienna Poppy Elsie Emily Ella Evelyn Phoebe Sofia Evie Charlotte Harper Millie Matilda Maya
Sophie Alice Emilia Isabelle Ruby Luna Maisie Aria Penelope Mila Bonnie Eva Hallie Eliza Ada Violet
Esme Arabella Imogen Jessica Delilah Thea Layla Eleanor Aurora Hannah Darcie Harriet Nancy Margot
Orla Mabel Georgia Molly Lottie Robyn Scarlett Lucy Erin Zara Heidi Maryam Elizabeth Emma Abigail
Annabelle Beatrice Chloe Clara Edith Elodie Iris Lyla Martha Nora Ophelia Pippa Rose Summer Victoria
Amber Megan Jasmine Katie Holly Ellie Niamh Aoife Saoirse Ciara Siobhan Caoimhe Cerys Ffion Seren
Megan Carys Zofia Zuzanna Julia Maja Hanna Amelie Aisha Fatima Zainab Khadija Amara Ananya Priya
Diya Saanvi Chioma Adaeze Abena Ama Nneka Samantha Rebecca Catherine Katherine Natalie Stephanie
Alexandra Josephine Francesca Gabriella Madeleine Rosemary Penny Frances Jennifer Caroline Zoe"""
_ACCENTED = """Zoë Chloë Renée Noémie Siobhán Aoibhín Seán Eóin Róisín Méabh José Andrés Inés Björn
Søren Åsa Zoé Léa Chloé Anaïs Raphaël Loïc François Hélène Agnès Jürgen Müller Łukasz"""
_SURNAMES = """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner
Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips
Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum
Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer
Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey
Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders
Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton
Obrien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman
Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland
Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane
Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman
Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins Obi Okafor Adeyemi
Mensah Nowak Kowalski Wisniewski Kaminski Rahman Islam Uddin Miah Chowdhury Akhtar Malik Iqbal Mahmood
Nguyen Tran Chen Wang Zhang Liu Li Huang Kim Park Silva Santos Costa Pereira Ferreira Rossi Russo"""
_APOSTROPHE = "O'Brien O'Connor O'Neill O'Sullivan D'Souza O'Reilly O'Donnell D'Arcy M'Bala"
_PREFIX = """Ash Black Brad Brook Clay Cold Craw Dal Ed Fair Glad Green Hal Hart Hol Kings Lang Long
Mar Mid New North Old Pen Red Rad South Stan Stock Thorn Wat West Whit Win Wood Bur Cal Dun Fen Hay"""
_SUFFIX = """ley ford well worth ton by field ham wick more land shaw stead cliffe dale hurst bury
wood gate croft combe thwaite ridge stone bridge ington hill win son ing man"""
_SIMILAR_TWINS = [
    ("Harry", "Harvey", "M", "M"),
    ("Oliver", "Olivia", "M", "F"),
    ("Ella", "Ellie", "F", "F"),
    ("Jack", "Jake", "M", "M"),
    ("Amelia", "Amelie", "F", "F"),
    ("Louis", "Louie", "M", "M"),
    ("Mia", "Maya", "F", "F"),
    ("Leo", "Theo", "M", "M"),
    ("Daniel", "Danielle", "M", "F"),
    ("Isla", "Isabel", "F", "F"),
    ("Ryan", "Rhys", "M", "M"),
    ("Sam", "Samuel", "M", "M"),
]
_SHORT = {
    "Alexander": "Alex",
    "Alexandra": "Lexi",
    "Benjamin": "Ben",
    "Charlotte": "Lottie",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Edward": "Ed",
    "Elizabeth": "Lizzie",
    "Frederick": "Freddie",
    "Isabella": "Izzy",
    "Isabelle": "Izzy",
    "Jacob": "Jake",
    "James": "Jamie",
    "Jessica": "Jess",
    "Jonathan": "Jon",
    "Joseph": "Joe",
    "Joshua": "Josh",
    "Katherine": "Kate",
    "Catherine": "Cathy",
    "Matthew": "Matt",
    "Michael": "Mike",
    "Nicholas": "Nick",
    "Oliver": "Ollie",
    "Rebecca": "Becky",
    "Samuel": "Sam",
    "Samantha": "Sam",
    "Sebastian": "Seb",
    "Sophia": "Sophie",
    "Theodore": "Theo",
    "Thomas": "Tom",
    "William": "Will",
    "Zachary": "Zach",
    "Abigail": "Abi",
    "Eleanor": "Ellie",
    "Florence": "Flo",
    "Harriet": "Hattie",
    "Matilda": "Tilly",
    "Penelope": "Penny",
    "Josephine": "Josie",
    "Francesca": "Fran",
    "Gabriella": "Gabby",
    "Madeleine": "Maddie",
    "Victoria": "Tori",
    "Stephanie": "Steph",
    "Natalie": "Nat",
    "Jennifer": "Jen",
    "Caroline": "Carrie",
    "Timothy": "Tim",
    "Richard": "Rich",
    "Robert": "Rob",
    "Anthony": "Tony",
    "Andrew": "Andy",
    "Stephen": "Steve",
    "Kenneth": "Ken",
    "Lawrence": "Laurie",
    "Peter": "Pete",
    "Vincent": "Vince",
}


@attrs.frozen(kw_only=True)
class ErrorModel:
    """Rates of the differences between an MIS record and the app's copy of the same person.

    See the module documentation for what each rate does. ``scaled(f)`` multiplies every
    error rate (not the structure rates: twins, leavers, joiners, identifiers) by *f*.
    """

    typo_rate: float = 0.03
    case_rate: float = 0.05
    name_swap_rate: float = 0.005
    preferred_name_rate: float = 0.03
    surname_part_rate: float = 0.2
    accent_loss_rate: float = 0.5
    dob_swap_rate: float = 0.005
    dob_error_rate: float = 0.003
    dob_missing_rate: float = 0.005
    gender_error_rate: float = 0.002
    middle_names_kept: float = 0.3
    upn_rate: float = 0.5
    mis_id_rate: float = 0.0
    twin_rate: float = 0.02
    similar_twin_share: float = 0.3
    leaver_rate: float = 0.04
    joiner_rate: float = 0.04

    def scaled(self, factor: float) -> ErrorModel:
        """The same model with every error rate multiplied by *factor* (capped at 1)."""
        names = (
            "typo_rate",
            "case_rate",
            "name_swap_rate",
            "preferred_name_rate",
            "surname_part_rate",
            "dob_swap_rate",
            "dob_error_rate",
            "dob_missing_rate",
            "gender_error_rate",
        )
        return attrs.evolve(self, **{n: min(1.0, getattr(self, n) * factor) for n in names})

    def without_identifiers(self) -> ErrorModel:
        """The same model with no UPNs or MIS ids in the app (names, birth date, gender only)."""
        return attrs.evolve(self, upn_rate=0.0, mis_id_rate=0.0)


@attrs.frozen(kw_only=True)
class Population:
    """An MIS population, an app population and the truth (MIS ``id`` -> app ``id``)."""

    mis: tuple[Pupil, ...] | tuple[StaffMember, ...]
    app: tuple[Pupil, ...] | tuple[StaffMember, ...]
    truth: Mapping[str, str]
    model: ErrorModel
    seed: int

    def quality(self, review: Iterable[Any]) -> MatchQuality:
        """Score a review of this population: its Matched and May match results (anything
        with ``status``, ``mis_key`` and ``app_key``, such as a ``MatchReview``) against the truth."""
        pairs: dict[str, list[tuple[str, str]]] = {"matched": [], "may_match": []}
        for r in review:
            found = pairs.get(str(r.status))
            if found is not None:
                found.append((r.mis_key, r.app_key))
        return evaluate(self.truth, pairs["matched"], pairs["may_match"], len(self.mis))


@attrs.frozen(kw_only=True)
class MatchQuality:
    """Accuracy of a matching against the truth.

    ``precision``: share of Matched pairs that are right. ``recall``: share of true pairs found
    as Matched or May match. ``queue``: May match pairs as a share of MIS records. ``f1`` of the
    confident (Matched) links alone, as splink's figure is quoted.
    """

    matched: int
    matched_right: int
    may_match: int
    may_match_right: int
    true_pairs: int
    mis_records: int

    @property
    def precision(self) -> float:
        """Matched precision."""
        return self.matched_right / self.matched if self.matched else 1.0

    @property
    def recall(self) -> float:
        """Recall of Matched plus May match."""
        found = self.matched_right + self.may_match_right
        return found / self.true_pairs if self.true_pairs else 1.0

    @property
    def matched_recall(self) -> float:
        """Recall of Matched alone."""
        return self.matched_right / self.true_pairs if self.true_pairs else 1.0

    @property
    def queue(self) -> float:
        """May match pairs per MIS record."""
        return self.may_match / self.mis_records if self.mis_records else 0.0

    @property
    def f1(self) -> float:
        """F1 of the Matched links."""
        p, r = self.precision, self.matched_recall
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(
    truth: Mapping[str, str],
    matched: Iterable[tuple[str, str]],
    may_match: Iterable[tuple[str, str]],
    mis_records: int,
) -> MatchQuality:
    """Score (MIS id, app id) pairs against *truth*; works for any matcher's output."""
    m = list(matched)
    mm = list(may_match)
    return MatchQuality(
        matched=len(m),
        matched_right=sum(1 for a, b in m if truth.get(a) == b),
        may_match=len(mm),
        may_match_right=sum(1 for a, b in mm if truth.get(a) == b),
        true_pairs=len(truth),
        mis_records=mis_records,
    )


# --------------------------------------------------------------------------- generation


def _weighted(names: Sequence[str], skew: float) -> tuple[list[str], list[float]]:
    return list(names), [1.0 / (k + 1) ** skew for k in range(len(names))]


class _Names:
    def __init__(self) -> None:
        self.boys = _weighted(_BOYS.split(), 0.8)
        self.girls = _weighted(_GIRLS.split(), 0.8)
        real = _SURNAMES.split()
        synthetic = [p + s for p in _PREFIX.split() for s in _SUFFIX.split()]
        self.surnames = (
            real + synthetic,
            [1.0 / (k + 1) ** 0.7 for k in range(len(real))] + [0.004] * len(synthetic),
        )
        self.accented = _ACCENTED.split()
        self.apostrophe = _APOSTROPHE.split()

    def forename(self, rng: random.Random, gender: str) -> str:
        if rng.random() < 0.015:
            return rng.choice(self.accented)
        names, weights = self.boys if gender == "M" else self.girls
        return rng.choices(names, weights)[0]

    def surname(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.015:
            return rng.choice(self.apostrophe)
        base = rng.choices(*self.surnames)[0]
        if roll < 0.06:
            other = rng.choices(*self.surnames)[0]
            if other != base:
                return f"{base}-{other}" if roll < 0.045 else f"{base} {other}"
        return base


_KEYS = "qwertyuiopasdfghjklzxcvbnm"


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    pos = rng.randrange(1, len(text))
    kind = rng.randrange(4)
    letter = rng.choice(_KEYS)
    if kind == 0:
        return text[:pos] + letter + text[pos + 1 :]
    if kind == 1:
        return text[:pos] + text[pos + 1 :]
    if kind == 2:
        return text[:pos] + letter + text[pos:]
    if pos < len(text) - 1:
        return text[:pos] + text[pos + 1] + text[pos] + text[pos + 2 :]
    return text[:pos] + letter + text[pos:]


_PLAIN = str.maketrans(
    "ëéèêïíóòôöøåäüúàáñçłÉÓÅØÁÚÍ'",
    "eeeeiiooooaaauuaanclEOAOAUI ",
)


def _plain(text: str) -> str:
    return text.translate(_PLAIN).replace(" ", "")


def _upn(serial: int) -> Upn:
    serial %= 10**8
    body = f"{820 + serial % 80:03d}{serial:08d}0"
    return Upn(value=upn_check_letter(body) + body)


@attrs.frozen
class _Person:
    key: int
    school: int
    forename: str
    surname: str
    middle: str | None
    preferred: str | None
    dob: date | None
    gender: str


def _people(
    rng: random.Random, n: int, names: _Names, model: ErrorModel, staff: bool, school_size: int
) -> list[_Person]:
    people: list[_Person] = []
    year0 = 2008
    while len(people) < n:
        key = len(people)
        school = key // school_size
        gender = "M" if rng.random() < 0.5 else "F"
        dob = None if staff else date(year0, 9, 1) + timedelta(days=rng.randrange(13 * 365))
        surname = names.surname(rng)
        forename = names.forename(rng, gender)
        middle = names.forename(rng, gender) if rng.random() < 0.6 else None
        preferred = _SHORT.get(forename) if rng.random() < 0.3 else None
        people.append(_Person(key, school, forename, surname, middle, preferred, dob, gender))
        if not staff and rng.random() < model.twin_rate / 2 and len(people) < n:
            if rng.random() < model.similar_twin_share:
                a, b, ga, gb = rng.choice(_SIMILAR_TWINS)
                people[-1] = attrs.evolve(people[-1], forename=a, gender=ga, preferred=None)
            else:
                b, gb = names.forename(rng, "F"), "F"
                if rng.random() < 0.5:
                    b, gb = names.forename(rng, "M"), "M"
                if b == people[-1].forename:
                    continue
            people.append(_Person(len(people), school, b, surname, None, None, dob, gb))
    return people[:n]


def _app_copy(
    rng: random.Random, p: _Person, model: ErrorModel
) -> tuple[str, str, date | None, str, str | None]:
    forename, surname, dob, gender = p.forename, p.surname, p.dob, p.gender
    if p.preferred and rng.random() < 0.5:
        forename = p.preferred
    elif rng.random() < model.preferred_name_rate and forename in _SHORT:
        forename = _SHORT[forename]
    if ("-" in surname or " " in surname) and rng.random() < model.surname_part_rate:
        parts = surname.replace("-", " ").split()
        surname = rng.choice(parts)
    if rng.random() < model.accent_loss_rate:
        forename, surname = _plain(forename), _plain(surname)
    if rng.random() < model.typo_rate:
        forename = _typo(rng, forename)
    if rng.random() < model.typo_rate:
        surname = _typo(rng, surname)
    if rng.random() < model.case_rate:
        forename, surname = forename.upper(), surname.upper()
    if rng.random() < model.name_swap_rate:
        forename, surname = surname, forename
    if dob is not None:
        roll = rng.random()
        if roll < model.dob_missing_rate:
            dob = None
        elif roll < model.dob_missing_rate + model.dob_swap_rate and dob.day <= 12:
            dob = date(dob.year, dob.day, dob.month)
        elif roll < model.dob_missing_rate + model.dob_swap_rate + model.dob_error_rate:
            part = rng.randrange(3)
            if part == 0:
                dob = date(dob.year + rng.choice((-1, 1)), dob.month, min(dob.day, 28))
            elif part == 1:
                dob = date(dob.year, rng.randrange(1, 13), min(dob.day, 28))
            else:
                dob = date(dob.year, dob.month, rng.randrange(1, 29))
    if rng.random() < model.gender_error_rate:
        gender = "F" if gender == "M" else "M"
    middle = p.middle if rng.random() < model.middle_names_kept else None
    return forename, surname, dob, gender, middle


def _split(
    rng: random.Random, n: int, model: ErrorModel
) -> tuple[int, list[int], list[int], list[int]]:
    """People count and the MIS-only (joiners), app-only (leavers) and shared keys."""
    joiners = round(n * model.joiner_rate)
    shared = n - joiners
    leavers = round(shared * model.leaver_rate)
    total = n + leavers
    keys = list(range(total))
    rng.shuffle(keys)
    return total, keys[:joiners], keys[joiners : joiners + leavers], keys[joiners + leavers :]


_Record = TypeVar("_Record", Pupil, StaffMember)


def _assemble(
    seed: int,
    n: int,
    model: ErrorModel,
    school_size: int,
    staff: bool,
    make_mis: Callable[[_Person, str], _Record],
    make_app: Callable[[random.Random, _Person, str], _Record],
) -> Population:
    """People split into joiners, leavers and shared; each person's MIS record and (after the
    error model) app record, with the ground truth; the app side shuffled."""
    rng = random.Random(seed)
    names = _Names()
    total, joiners, leavers, shared = _split(rng, n, model)
    people = _people(rng, total, names, model, staff=staff, school_size=school_size)
    mis: list[_Record] = []
    app: list[_Record] = []
    truth: dict[str, str] = {}
    in_mis = set(joiners) | set(shared)
    in_app = set(leavers) | set(shared)
    for p in people:
        school = f"school-{p.school:03d}"
        if p.key in in_mis:
            mis.append(make_mis(p, school))
        if p.key in in_app:
            app.append(make_app(rng, p, school))
        if p.key in in_mis and p.key in in_app:
            truth[f"mis-{p.key}"] = f"app-{p.key}"
    rng.shuffle(app)
    return Population(mis=tuple(mis), app=tuple(app), truth=truth, model=model, seed=seed)


def pupil_population(
    n: int, *, seed: int = 0, model: ErrorModel | None = None, school_size: int = 1500
) -> Population:
    """About *n* MIS pupils (and about as many app pupils) in schools of *school_size*."""
    model = model or ErrorModel()

    def make_mis(p: _Person, school: str) -> Pupil:
        return Pupil(
            id=f"mis-{p.key}",
            school_id=school,
            mis_id=f"M{p.key}",
            upn=_upn(seed * 1_000_003 + p.key),
            forename=p.forename,
            surname=p.surname,
            middle_names=p.middle,
            preferred_forename=p.preferred,
            date_of_birth=p.dob,
            gender=Gender(p.gender),
        )

    def make_app(rng: random.Random, p: _Person, school: str) -> Pupil:
        forename, surname, dob, gender, middle = _app_copy(rng, p, model)
        return Pupil(
            id=f"app-{p.key}",
            school_id=school,
            mis_id=f"M{p.key}" if rng.random() < model.mis_id_rate else None,
            upn=_upn(seed * 1_000_003 + p.key) if rng.random() < model.upn_rate else None,
            forename=forename,
            surname=surname,
            middle_names=middle,
            date_of_birth=dob,
            gender=Gender(gender),
        )

    return _assemble(seed, n, model, school_size, False, make_mis, make_app)


def _staff_email(p: _Person) -> str:
    return f"{_plain(p.forename)[:1]}{_plain(p.surname)}@s{p.school}.sch.uk".lower()


def staff_population(
    n: int, *, seed: int = 0, model: ErrorModel | None = None, school_size: int = 150
) -> Population:
    """About *n* MIS staff (no birth dates; school email on 70 % of app records)."""
    model = model or ErrorModel()

    def make_mis(p: _Person, school: str) -> StaffMember:
        return StaffMember(
            id=f"mis-{p.key}",
            school_id=school,
            mis_id=f"S{p.key}",
            forename=p.forename,
            surname=p.surname,
            middle_names=p.middle,
            preferred_forename=p.preferred,
            gender=Gender(p.gender),
            email=_staff_email(p),
        )

    def make_app(rng: random.Random, p: _Person, school: str) -> StaffMember:
        forename, surname, _, gender, middle = _app_copy(rng, p, model)
        return StaffMember(
            id=f"app-{p.key}",
            school_id=school,
            forename=forename,
            surname=surname,
            middle_names=middle,
            gender=Gender(gender),
            email=_staff_email(p) if rng.random() < 0.7 else None,
        )

    return _assemble(seed, n, model, school_size, True, make_mis, make_app)
