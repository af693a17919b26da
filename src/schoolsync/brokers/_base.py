"""What every broker connector shares: the fetched result (a :class:`~schoolsync.ports.MisSource`),
the watermark, the page checks that make a snapshot complete or an error, and the record
builder that maps broker rows onto the records the file readers give."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import attrs

from schoolsync.calendar import AcademicYear
from schoolsync.errors import BrokerError, InvalidIdentifierError
from schoolsync.identifiers import Upn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot
from schoolsync.sources._roster import Deletion
from schoolsync.sources._years import in_nc_order, nc_year_for_grade, year_group_name
from schoolsync.sync.incremental import SnapshotSource

__all__ = ["BrokerFetch", "Watermark", "options_fingerprint"]


def options_fingerprint(options: Mapping[str, object]) -> str:
    """A stable hash of the fetch options a delta depends on (a change resets the delta)."""
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@attrs.frozen(kw_only=True)
class Watermark:
    """Where the last committed sync of one school from one provider got to.

    ``value`` is the provider's own delta token (an ``updatedSince`` time, a changeset token, an
    ``If-Modified-Since`` date...); ``options`` the fingerprint of the fetch options that made it.
    A watermark made with other options is not used: the next fetch is a full one
    (changing options breaks a delta: o365-moodle #1180, Xporter changesets).
    """

    provider: str
    school: str
    value: str
    options: str
    taken_at: datetime

    def usable_for(self, provider: str, school: str, options: str) -> bool:
        """True if a fetch of *school* from *provider* with *options* may continue from here."""
        return (self.provider, self.school, self.options) == (provider, school, options)


@attrs.frozen(kw_only=True)
class BrokerFetch(SnapshotSource):
    """One complete fetch of one school from a broker: a full snapshot or the changes since a
    watermark. It is a :class:`~schoolsync.ports.MisSource` (pass it to ``incremental_sync``,
    the matchers or ``read_snapshot``) and, when ``is_delta``, a delta feed whose
    :meth:`deletions` the nightly sync turns into Out of sync (then soft deletes).

    ``watermark`` is where the next fetch continues from, once this one's sync has committed.
    ``deletions_complete`` is false for a delta that cannot see every deletion (Xporter's
    ``updatedSince`` mode sees none; Assembly sees leavers but not deleted classes; OneRoster
    1.2 providers may drop records without a ``tobedeleted`` row): absence from such a delta
    proves nothing, and only a full fetch finds those deletions.
    ``academic_year`` is the year the MIS is in, when the broker says; ``requests`` how many
    HTTP requests the fetch took.
    """

    provider: str
    school: str
    watermark: Watermark
    is_delta: bool = False
    deleted: tuple[Deletion, ...] = ()
    restored: tuple[str, ...] = ()
    deletions_complete: bool = True
    academic_year: AcademicYear | None = None
    requests: int = 0

    def deletions(self) -> list[Deletion]:
        """MIS ids the broker says were deleted since the watermark (``user`` or ``class``)."""
        return list(self.deleted)

    def read(self) -> MisSnapshot:
        """The fetched records as a snapshot."""
        return self.snapshot


class PageCheck:
    """Checks one collection's pages as they arrive: no item twice, no short page before the
    last, and as many items as the broker said there were. A failure is a
    :class:`~schoolsync.errors.BrokerError`: items moved between pages while we read."""

    def __init__(self, provider: str, school: str, endpoint: str) -> None:
        self.provider = provider
        self.school = school
        self.endpoint = endpoint
        self.seen: set[str] = set()
        self.pages = 0
        self.reported: int | None = None

    def fail(self, reason: str) -> BrokerError:
        """An error about this collection."""
        return BrokerError(self.provider, self.school, self.endpoint, reason)

    def page(
        self,
        rows: Sequence[Mapping[str, Any]],
        key: str,
        *,
        expected: int | None = None,
        last: bool,
        total: int | None = None,
    ) -> None:
        """Record one page's rows (their ids are ``row[key]``). *expected* is the size of a
        full page; *total* the item count the broker reported with this page."""
        self.pages += 1
        if total is not None:
            if self.reported is None:
                self.reported = total
            elif total != self.reported:
                raise self.fail(
                    f"the broker reported {self.reported} items, then {total} at page "
                    f"{self.pages}: the data changed while it was read; fetch again"
                )
        count = 0
        for row in rows:
            item = text(row, key)
            if item is None:
                raise self.fail(f"an item without {key!r} (page {self.pages})")
            count += 1
            if item in self.seen:
                raise self.fail(
                    f"item {item!r} came twice (page {self.pages}): the data changed while it "
                    "was read; fetch again"
                )
            self.seen.add(item)
        if expected is not None and not last and count < expected:
            raise self.fail(
                f"page {self.pages} held {count} items, not {expected}, and was not the last: "
                "items vanished while the data was read; fetch again"
            )
        if last and self.reported is not None and self.reported != len(self.seen):
            raise self.fail(
                f"{len(self.seen)} items read but the broker reported {self.reported}: "
                "the snapshot would be incomplete"
            )


def text(row: Mapping[str, Any], *keys: str) -> str | None:
    """The first of *keys* holding a non-blank string (numbers become strings)."""
    for key in keys:
        value = row.get(key)
        if value is None:
            continue
        if value.__class__ is str:  # nearly always: checked first (every row, every field)
            value = value.strip()
            if value:
                return value
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def nested(row: Mapping[str, Any], *path: str) -> Any:
    """``row[a][b]...`` through dicts (Wonde's ``{"data": ...}`` wrappers); None if absent."""
    value: Any = row
    for key in path:
        # a JSON object is a dict: skip the slower ABC check for it
        if value.__class__ is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def home_address(row: Any, postcode: str, *parts: str | tuple[str, ...]) -> dict[str, str | None]:
    """A person's ``postcode`` and ``address`` (one line: the non-blank *parts* of *row*, in
    order, joined by ", "; a tuple of keys is one part joined by spaces, e.g. house number and
    street), for ``Mapper.add_pupil``/``add_staff``; None where the row holds none."""
    if not isinstance(row, Mapping):
        return {"postcode": None, "address": None}
    found: list[str] = []
    for part in parts:
        keys = part if isinstance(part, tuple) else (part,)
        value = " ".join(v for v in (text(row, k) for k in keys) if v)
        if value and value not in found:
            found.append(value)
    return {"postcode": text(row, postcode), "address": ", ".join(found) or None}


def rows_of(value: Any) -> list[Mapping[str, Any]]:
    """The dict items of a JSON list (anything else is no rows)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


class Mapper:
    """Builds the records of one school from broker rows, collecting warnings.

    Memberships may arrive on either side (a pupil lists classes, or a class lists pupils);
    :meth:`finish` joins them and gives each class the year groups of its pupils.
    """

    def __init__(self, provider: str, school: str, school_id: str) -> None:
        self.provider = provider
        self.school = school
        self.school_id = school_id
        self.pupils: dict[str, Pupil] = {}
        self.staff: dict[str, StaffMember] = {}
        self.classes: dict[str, SchoolClass] = {}
        self.years: dict[str, str] = {}  # NC code -> the broker's own id for the year
        self.members: dict[str, list[str]] = {}  # person MIS id -> class ids
        self._warnings: dict[str, int] = {}

    def warn(self, message: str) -> None:
        """Note something tolerated (counted, never personal data)."""
        self._warnings[message] = self._warnings.get(message, 0) + 1

    def fail(self, endpoint: str, reason: str) -> BrokerError:
        """An error about a row of *endpoint*."""
        return BrokerError(self.provider, self.school, endpoint, reason)

    def upn(self, value: str | None, endpoint: str) -> Upn | None:
        """A UPN, or None with a warning when the broker's value is not a valid UPN."""
        if not value:
            return None
        try:
            return Upn.parse(value)
        except InvalidIdentifierError:
            self.warn(f"{endpoint}: a UPN that is not valid was left out")
            return None

    def day(self, value: Any, endpoint: str, field: str) -> date | None:
        """A date from ``"2009-01-12"``, ``"2009-01-12T00:00:00"`` or Wonde's
        ``{"date": "2009-01-12 00:00:00.000000", ...}``."""
        if isinstance(value, Mapping):
            value = value.get("date")
        if not isinstance(value, str) or not value.strip():
            return None
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            self.warn(f"{endpoint}: a {field} that is not a date was left out")
            return None

    def year(self, label: str | None, broker_id: str | None = None) -> str | None:
        """The NC year of a broker's year label (``"Year  4"``, ``"7"``, ``"R"``) and note it."""
        if not label:
            return None
        nc = nc_year_for_grade(" ".join(label.split()))
        if nc is None:
            self.warn(f"year group {label!r} has no National Curriculum year")
            return None
        self.years.setdefault(nc, broker_id or nc)
        return nc

    def year_group_id(self, nc: str) -> str:
        """The year group's id, as the file readers make it."""
        return f"{self.school_id}:year:{nc}"

    def join(self, person: str, class_id: str) -> None:
        """*person* is a member of *class_id*. Where pupils and staff may share ids, name the
        person ``"p:<id>"`` (a pupil) or ``"s:<id>"`` (staff)."""
        found = self.members.setdefault(person, [])
        if class_id not in found:
            found.append(class_id)

    def _person(
        self,
        endpoint: str,
        what: str,
        mis_id: str | None,
        legal: tuple[str | None, str | None],
        preferred: tuple[str | None, str | None],
    ) -> dict[str, Any]:
        if mis_id is None:
            raise self.fail(endpoint, f"a {what} without an id")
        forename = legal[0] or preferred[0]
        surname = legal[1] or preferred[1]
        if not forename or not surname:
            raise self.fail(endpoint, f"{what} {mis_id!r} has no name")
        return {
            "id": mis_id,
            "school_id": self.school_id,
            "mis_id": mis_id,
            "forename": forename,
            "surname": surname,
            "preferred_forename": preferred[0] if preferred[0] not in (None, forename) else None,
            "preferred_surname": preferred[1] if preferred[1] not in (None, surname) else None,
        }

    def add_pupil(
        self,
        endpoint: str,
        *,
        mis_id: str | None,
        legal: tuple[str | None, str | None],
        preferred: tuple[str | None, str | None],
        **fields: Any,
    ) -> None:
        """Add a pupil from its broker fields (legal names fall back to the preferred ones)."""
        names = self._person(endpoint, "pupil", mis_id, legal, preferred)
        self.pupils[names["id"]] = Pupil(**names, **fields)

    def add_staff(
        self,
        endpoint: str,
        *,
        mis_id: str | None,
        legal: tuple[str | None, str | None],
        preferred: tuple[str | None, str | None],
        **fields: Any,
    ) -> None:
        """Add a member of staff from its broker fields."""
        names = self._person(endpoint, "member of staff", mis_id, legal, preferred)
        self.staff[names["id"]] = StaffMember(**names, **fields)

    def add_class(
        self,
        endpoint: str,
        *,
        mis_id: str | None,
        name: str | None,
        subject: str | None = None,
        description: str | None = None,
    ) -> None:
        """Add a class (a teaching or registration group)."""
        if mis_id is None:
            raise self.fail(endpoint, "a class without an id")
        self.classes[mis_id] = SchoolClass(
            id=mis_id,
            school_id=self.school_id,
            mis_id=mis_id,
            name=name or mis_id,
            subject=subject,
            description=description,
        )

    def finish(self, taken_at: datetime | None, *, delta: bool = False) -> MisSnapshot:
        """The snapshot: memberships joined (a membership naming an unknown class is dropped,
        with a warning, unless this is a delta) and each class given its pupils' year groups."""
        class_years: dict[str, set[str]] = {}
        pupils: list[Pupil] = []
        for mis_id, pupil in self.pupils.items():
            joined = self._classes_of(mis_id, "p:", delta)
            for c in joined:
                if pupil.year_code:
                    class_years.setdefault(c, set()).add(pupil.year_code)
            if pupil.year_code:
                self.years.setdefault(pupil.year_code, pupil.year_code)
            pupils.append(attrs.evolve(pupil, class_ids=joined))
        staff = [
            attrs.evolve(s, class_ids=self._classes_of(mis_id, "s:", delta))
            for mis_id, s in self.staff.items()
        ]
        classes = [
            attrs.evolve(
                c,
                year_group_ids=tuple(
                    self.year_group_id(y) for y in in_nc_order(class_years.get(cid, ()))
                ),
            )
            for cid, c in self.classes.items()
        ]
        year_groups = [
            YearGroup(
                id=self.year_group_id(nc),
                school_id=self.school_id,
                name=year_group_name(nc),
                nc_year=nc,
                mis_id=self.years[nc],
            )
            for nc in in_nc_order(self.years)
        ]
        warnings = tuple(
            message if n == 1 else f"{message} ({n} times)" for message, n in self._warnings.items()
        )
        return MisSnapshot(
            school_id=self.school_id,
            taken_at=taken_at,
            pupils=tuple(pupils),
            staff=tuple(staff),
            classes=tuple(classes),
            year_groups=tuple(year_groups),
            warnings=warnings,
        )

    def _classes_of(self, person: str, tag: str, delta: bool) -> tuple[str, ...]:
        out: list[str] = []
        for c in [*self.members.get(person, ()), *self.members.get(tag + person, ())]:
            if c in out:
                continue
            if c in self.classes or delta:
                out.append(c)
            else:
                self.warn("a membership of a class not in the fetch was left out")
        return tuple(out)


def gender(value: str | None) -> Gender:
    """The broker's gender text as a :class:`~schoolsync.people.Gender`."""
    return Gender.parse(value)


def deletions(kind: str, ids: Sequence[str]) -> list[Deletion]:
    """Deletion entries of one kind (``user`` or ``class``)."""
    return [Deletion(kind=kind, id=i) for i in ids]
