"""Hypothesis strategies for schoolsync's domain: identifiers, schools, pupils and staff.

Public API for other projects' test suites (needs ``hypothesis`` installed)::

    from hypothesis import given
    from schoolsync.testing.strategies import pupils, valid_upns

    @given(valid_upns())
    def test_my_app_accepts_upns(upn): ...

Every identifier a strategy here produces passes the matching ``parse`` (UPNs are computed with
the DfE check letter, never copied from examples); :func:`invalid_upns` pairs each bad value with
the census problem :meth:`schoolsync.identifiers.Upn.parse` reports. Names are realistic for UK
schools: double-barrelled and hyphenated surnames, diacritics, apostrophes (O'Brien), Welsh,
Irish, Scottish and South Asian names, preferred names that differ from legal ones, and
:func:`twins` sharing a surname and a birth date. Nothing here reads the clock: dates are
relative to ``on`` (default 1 September 2025).
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

from schoolsync.calendar import AcademicYear, Jurisdiction, YearCode, intake_cohort, year_group_for
from schoolsync.identifiers import (
    UPN_CHECK_ALPHABET,
    UPN_PLACEHOLDERS,
    Laestab,
    Postcode,
    Uln,
    Upn,
    UpnProblem,
    Urn,
    upn_check_letter,
)
from schoolsync.la_codes import DEFAULT_VERSION, la_codes
from schoolsync.people import Gender, Pupil, StaffMember
from schoolsync.trusts import Country, School

__all__ = [
    "DEFAULT_ON",
    "dates_of_birth",
    "forenames",
    "invalid_upns",
    "laestabs",
    "postcodes",
    "pupils",
    "schools",
    "staff_members",
    "surnames",
    "temporary_upns",
    "twins",
    "ulns",
    "upn_texts",
    "urns",
    "valid_upns",
]

#: The reference date strategies use when none is given (no clock reads).
DEFAULT_ON = date(2025, 9, 1)

_FORENAMES = (
    "Oliver", "George", "Harry", "Noah", "Jack", "Muhammad", "Mohammed", "Leo", "Arthur",
    "Oscar", "Alexander", "William", "Thomas", "James", "Samuel", "Joseph", "Daniel",
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
    "Grace", "Elizabeth", "Katherine", "Rebecca", "Abigail", "Margaret", "Jennifer",
    "Zoë", "Chloé", "Renée", "Noémie", "Siân", "Seren", "Rhiannon", "Dafydd", "Llŷr",
    "Gruffydd", "Aoife", "Niamh", "Siobhán", "Seán", "Dáithí", "Caoimhe", "Eóin", "Ruairí",
    "Mhairi", "Eilidh", "Iain", "Ailsa", "Priya", "Aarav", "Harpreet", "Gurpreet", "Aisha",
    "Fatima", "Zainab", "Yusuf", "Oluwaseun", "Chidi", "Adaeze", "Kwame", "Łukasz",
    "Wiktoria", "Zsófia", "José", "Inês", "François", "Björn", "Anne-Marie", "Mary-Jane",
    "Jean-Luc", "D'Arcy", "Nuala", "Ffion", "Ellie-May", "Lacey-Rose",
)  # fmt: skip
_PREFERRED = {
    "Alexander": ("Alex", "Xander"), "William": ("Will", "Bill", "Billy"),
    "Thomas": ("Tom", "Tommy"), "James": ("Jim", "Jamie"), "Samuel": ("Sam",),
    "Joseph": ("Joe",), "Daniel": ("Dan", "Danny"), "Elizabeth": ("Lizzie", "Beth", "Eliza"),
    "Katherine": ("Kate", "Katie"), "Rebecca": ("Becky",), "Abigail": ("Abi",),
    "Margaret": ("Maggie", "Peggy"), "Jennifer": ("Jen",), "Muhammad": ("Mo",),
    "Mohammed": ("Mo",), "Oluwaseun": ("Seun",), "Isabella": ("Bella", "Izzy"),
    "Wiktoria": ("Vicky",), "Łukasz": ("Luke",), "Dafydd": ("Dai",), "Siobhán": ("Shiv",),
}  # fmt: skip
_SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Khan", "Ahmed",
    "Begum", "Singh", "Kaur", "Hussain", "Ali", "Shah", "Nguyen", "Okafor", "Adeyemi",
    "Mensah", "Kowalski", "Kowalczyk", "Nowak", "Wiśniewski", "Novák", "Nuñez", "Muñoz",
    "García", "Ó Súilleabháin", "Ní Bhriain", "O'Brien", "O'Connor", "O'Neill", "D'Souza",
    "D'Arcy", "McDonald", "MacLeod", "Mackenzie", "McAllister", "ap Rhys", "ab Owen",
    "Ffrench", "ffoulkes", "van der Berg", "de la Cruz", "De Souza", "Le Breton", "St John",
    "Fitzgerald", "Øvergaard", "Müller", "Schröder", "Lefèvre", "Brontë", "Hernández",
    "Ó Briain", "Bowes-Lyon", "Smith-Jones", "Rees-Mogg", "Lloyd Webber",
)  # fmt: skip
_AREAS = (
    "B", "E", "G", "L", "M", "N", "S", "W", "AB", "BA", "BN", "BS", "BT", "CB", "CF", "CV",
    "DE", "EH", "EX", "GL", "HU", "KY", "LA", "LE", "LL", "LS", "ME", "NE", "NG", "NP",
    "NR", "OX", "PL", "PO", "SA", "SE", "SK", "SO", "ST", "SW", "TN", "WC", "YO",
)  # fmt: skip
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_PLACES = (
    "Ashford", "Bramley", "Caerphilly", "Dunfermline", "Enniskillen", "Frome", "Grantham",
    "Hexham", "Ilkley", "Keswick", "Ludlow", "Malvern", "Newtown", "Oakham", "Penrith",
    "Ripon", "St Ives", "Tenby", "Ullapool", "Wells", "Ystrad Mynach",
)  # fmt: skip
_SCHOOL_KINDS = (
    "Primary School", "Primary Academy", "Infant School", "Junior School",
    "C of E Primary School", "Academy", "High School", "Community College",
    "St Mary's Catholic Primary School", "Free School",
)  # fmt: skip
_TITLES = ("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr")


def _la_codes(version: str = DEFAULT_VERSION) -> tuple[str, ...]:
    return tuple(sorted(la_codes(version)))


def _upn_body(draw: st.DrawFn, *, temporary: bool, known_la: bool) -> str:
    if known_la:
        la = draw(st.sampled_from(_la_codes()))
    else:
        la = draw(
            st.integers(0, 999).map(lambda n: f"{n:03d}").filter(lambda c: c not in la_codes())
        )
    establishment = draw(st.integers(0, 9999))
    year = draw(st.integers(0, 99))
    if temporary:
        tail = f"{draw(st.integers(0, 99)):02d}" + draw(st.sampled_from(UPN_CHECK_ALPHABET))
    else:
        tail = f"{draw(st.integers(0, 999)):03d}"
    return f"{la}{establishment:04d}{year:02d}{tail}"


@st.composite
def valid_upns(draw: st.DrawFn, *, temporary: bool | None = False) -> Upn:
    """Valid UPNs with a known LA code and a computed check letter.

    ``temporary``: ``False`` (default) permanent only, ``True`` temporary only, ``None`` both.
    """
    temp = draw(st.booleans()) if temporary is None else temporary
    body = _upn_body(draw, temporary=temp, known_la=True)
    return Upn.parse(upn_check_letter(body) + body, strict=True)


def temporary_upns() -> st.SearchStrategy[Upn]:
    """Valid temporary UPNs (a letter at character 13, any of the 23 allowed letters)."""
    return valid_upns(temporary=True)


@st.composite
def upn_texts(draw: st.DrawFn) -> str:
    """A valid UPN as an MIS might write it: any case, surrounding spaces."""
    upn = draw(valid_upns(temporary=None))
    text = upn.value.lower() if draw(st.booleans()) else upn.value
    return draw(st.sampled_from(("", " ", "  "))) + text + draw(st.sampled_from(("", " ", "\t")))


def _wrong_letter(draw: st.DrawFn, right: str) -> str:
    return draw(st.sampled_from(UPN_CHECK_ALPHABET + "IOS0123456789").filter(lambda c: c != right))


@st.composite
def invalid_upns(draw: st.DrawFn, *, strict: bool = False) -> tuple[str, UpnProblem]:
    """Invalid UPN text paired with the census problem ``Upn.parse(text, strict=strict)`` reports.

    Covers 1500 (blank, placeholders), 1510 (wrong check letter), 1540 (a non-digit in
    characters 2-12, internal space, wrong length), 1550 (bad character 13) and, when
    ``strict``, 1530 (an LA code not on the list, with a correct check letter).
    """
    problems = [
        UpnProblem.MISSING,
        UpnProblem.CHECK_LETTER,
        UpnProblem.NOT_NUMERIC,
        UpnProblem.CHARACTER_13,
    ]
    if strict:
        problems.append(UpnProblem.LA_CODE)
    problem = draw(st.sampled_from(problems))
    body = _upn_body(draw, temporary=draw(st.booleans()), known_la=True)
    right = upn_check_letter(body)
    if problem is UpnProblem.MISSING:
        return draw(st.sampled_from(("", " ", "\t", *sorted(UPN_PLACEHOLDERS), "un1"))), problem
    if problem is UpnProblem.CHECK_LETTER:
        return _wrong_letter(draw, right) + body, problem
    if problem is UpnProblem.LA_CODE:
        body = _upn_body(draw, temporary=draw(st.booleans()), known_la=False)
        return upn_check_letter(body) + body, problem
    if problem is UpnProblem.CHARACTER_13:
        bad = draw(st.sampled_from("IOSiosé*-#/_"))
        return right + body[:11] + bad, problem
    valid = right + body
    how = draw(st.sampled_from(("replace", "short", "long")))
    if how == "short":
        cut = draw(st.integers(1, 12))
        return valid[:cut], problem
    if how == "long":
        return valid + draw(st.sampled_from("0123456789A")), problem
    where = draw(st.integers(1, 11))
    bad = draw(st.sampled_from("ABZx -/.٣"))
    return valid[:where] + bad + valid[where + 1 :], problem


@st.composite
def ulns(draw: st.DrawFn) -> Uln:
    """Valid Unique Learner Numbers (10 digits, computed check digit)."""
    first = draw(st.integers(1, 9))
    rest = draw(st.lists(st.integers(0, 9), min_size=8, max_size=8))
    digits = [first, *rest]
    remainder = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
    if remainder == 0:  # no check digit exists for this prefix: nudge the last digit
        digits[-1] = (digits[-1] + 1) % 10
        remainder = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
    return Uln.parse("".join(map(str, digits)) + str(10 - remainder))


def urns() -> st.SearchStrategy[Urn]:
    """Valid six-digit school URNs (100000-999999)."""
    return st.integers(100000, 999999).map(lambda n: Urn.parse(str(n)))


def laestabs() -> st.SearchStrategy[Laestab]:
    """LAESTABs with a known LA code (including 001-005, whose leading zeros matter)."""
    return st.builds(
        lambda la, estab: Laestab.parse(f"{la}{estab:04d}"),
        st.sampled_from(_la_codes()),
        st.integers(1000, 7999),
    )


@st.composite
def postcodes(draw: st.DrawFn) -> Postcode:
    """Valid, normalised UK postcodes (``"SW1A 1AA"`` shapes: A9, A99, AA9, AA99, A9A, AA9A)."""
    area = draw(st.sampled_from(_AREAS))
    district = str(draw(st.integers(1, 9 if len(area) == 1 else 29)))
    if len(district) == 1 and draw(st.integers(0, 4)) == 0:
        district += draw(st.sampled_from("ABCDEFGHJKMNPRSTUVWXY"))
    inward = str(draw(st.integers(0, 9))) + "".join(
        draw(st.lists(st.sampled_from(_INWARD_LETTERS), min_size=2, max_size=2))
    )
    return Postcode.parse(f"{area}{district} {inward}")


def forenames() -> st.SearchStrategy[str]:
    """Realistic UK forenames, including diacritics, hyphens and apostrophes."""
    return st.sampled_from(_FORENAMES)


@st.composite
def surnames(draw: st.DrawFn) -> str:
    """Realistic UK surnames: O'Brien, McDonald, ap Rhys, diacritics, double-barrelled names."""
    first = draw(st.sampled_from(_SURNAMES))
    if draw(st.integers(0, 5)) == 0:
        second = draw(st.sampled_from(_SURNAMES).filter(lambda s: s != first))
        return first + draw(st.sampled_from(("-", " "))) + second
    return first


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.uuids().map(lambda u: f"{prefix}-{u.hex[:12]}")


def dates_of_birth(
    *, on: date = DEFAULT_ON, youngest: int = 4, oldest: int = 18
) -> st.SearchStrategy[date]:
    """Birth dates of children aged *youngest* to *oldest* on *on* (29 February included)."""
    return st.dates(
        min_value=on - timedelta(days=366 * (oldest + 1)),
        max_value=on - timedelta(days=366 * youngest),
    )


@st.composite
def schools(
    draw: st.DrawFn, *, country: Country | None = None, school_id: str | None = None
) -> School:
    """Schools with a name, a postcode, a URN (some with an earlier URN) and a LAESTAB.

    Overseas schools have no URN or LAESTAB (blank is valid for schools outside the UK).
    """
    where = country or draw(st.sampled_from(list(Country)))
    name = f"{draw(st.sampled_from(_PLACES))} {draw(st.sampled_from(_SCHOOL_KINDS))}"
    overseas = where is Country.OVERSEAS
    urn = None if overseas else draw(urns())
    former = () if overseas or not draw(st.booleans()) else (draw(urns()),)
    return School(
        id=school_id or draw(_ids("school")),
        name=name,
        postcode=None if overseas else draw(postcodes()),
        country=where,
        urn=urn,
        former_urns=tuple(u for u in former if u != urn),
        laestab=None if overseas else draw(laestabs()),
    )


@st.composite
def pupils(
    draw: st.DrawFn,
    *,
    school_id: str | None = None,
    on: date = DEFAULT_ON,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    with_upn: bool | None = None,
) -> Pupil:
    """Pupils in Reception (P1, Year 1) to Year 13 (S6) on *on*, with the MIS year code their
    birth date gives (so no pupil is out of year group) and a birth date anywhere in the cohort.

    About one in four has a preferred forename differing from the legal one and one in ten a
    preferred surname; ``with_upn`` ``None`` (default) sometimes omits the UPN; some hold a
    former (temporary) UPN in their history; about half the pupils in Year 10 (S3, Y10) or
    above hold a ULN.
    """
    legal = draw(forenames())
    surname = draw(surnames())
    first_number = 0 if jurisdiction is Jurisdiction.ENGLAND_WALES else 1
    code = YearCode(jurisdiction, draw(st.integers(first_number, 13)))
    now = AcademicYear.containing(on, start=jurisdiction.default_start)
    born_from, born_to = intake_cohort(code, now).birth_dates
    dob = draw(st.dates(min_value=born_from, max_value=born_to))
    year = year_group_for(dob, on, jurisdiction=jurisdiction)
    has_upn = draw(st.integers(0, 9)) > 0 if with_upn is None else with_upn
    upn = draw(valid_upns()) if has_upn else None
    former = (draw(temporary_upns()),) if upn is not None and draw(st.integers(0, 9)) == 0 else ()
    preferred = None
    if legal in _PREFERRED and draw(st.booleans()):
        preferred = draw(st.sampled_from(_PREFERRED[legal]))
    # ULNs are issued from age 14 (Year 10, S3, Y10 on): only older pupils may hold one.
    uln = draw(ulns()) if year.number >= 10 and draw(st.booleans()) else None
    return Pupil(
        id=draw(_ids("pupil")),
        school_id=school_id or draw(_ids("school")),
        forename=legal,
        surname=surname,
        mis_id=str(draw(st.integers(1, 999_999))),
        upn=upn,
        former_upns=tuple(f for f in former if f != upn),
        preferred_forename=preferred,
        preferred_surname=draw(surnames()) if draw(st.integers(0, 9)) == 0 else None,
        middle_names=draw(st.one_of(st.none(), forenames())),
        date_of_birth=dob,
        gender=draw(st.sampled_from([Gender.MALE, Gender.FEMALE, Gender.OTHER, Gender.UNKNOWN])),
        pupil_premium=draw(st.booleans()),
        home_language=draw(st.sampled_from(("ENG", "ENG", "ENG", "WEL", "POL", "URD", "PNJ"))),
        year_code=year.code,
        uln=uln,
    )


@st.composite
def twins(
    draw: st.DrawFn,
    *,
    school_id: str | None = None,
    on: date = DEFAULT_ON,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
) -> tuple[Pupil, Pupil]:
    """Two pupils at one school sharing a surname and a birth date (so a year group), with
    different ids, MIS ids, forenames and UPNs: a normal case, not a duplicate."""
    first = draw(pupils(school_id=school_id, on=on, jurisdiction=jurisdiction, with_upn=True))
    forename = draw(forenames().filter(lambda f: f != first.forename))
    upn = draw(valid_upns().filter(lambda u: u != first.upn))
    mis_id = draw(st.integers(1, 999_999).map(str).filter(lambda m: m != first.mis_id))
    second = Pupil(
        id=draw(_ids("pupil").filter(lambda i: i != first.id)),
        school_id=first.school_id,
        forename=forename,
        surname=first.surname,
        mis_id=mis_id,
        upn=upn,
        date_of_birth=first.date_of_birth,
        gender=draw(st.sampled_from(list(Gender))),
        home_language=first.home_language,
        year_code=first.year_code,
    )
    return first, second


@st.composite
def staff_members(draw: st.DrawFn, *, school_id: str | None = None) -> StaffMember:
    """Staff with a title, realistic names, a staff code from their initials and a work email."""
    forename = draw(forenames())
    surname = draw(surnames())
    initials = "".join(ch for ch in (forename[:1] + surname[:1]) if ch.isalpha()).upper()
    code = initials + str(draw(st.integers(0, 9))) if draw(st.booleans()) else initials
    local = "".join(
        ch for ch in f"{forename}.{surname}".lower() if (ch.isascii() and ch.isalnum()) or ch == "."
    )
    preferred = None
    if forename in _PREFERRED and draw(st.booleans()):
        preferred = draw(st.sampled_from(_PREFERRED[forename]))
    return StaffMember(
        id=draw(_ids("staff")),
        school_id=school_id or draw(_ids("school")),
        forename=forename,
        surname=surname,
        mis_id=str(draw(st.integers(1, 999_999))),
        title=draw(st.sampled_from(_TITLES)),
        preferred_forename=preferred,
        gender=draw(st.sampled_from(list(Gender))),
        email=f"{local.strip('.') or 'staff'}@example.sch.uk",
        staff_code=code or None,
    )
