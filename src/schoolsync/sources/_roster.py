"""The dialect-driven roster engine the OneRoster and SDS readers share:
:class:`RosterSource`, which streams one school's records out of a bundle.

Its seams: bundle I/O (a zip or a folder, members, file modes) is :mod:`._bundle`; what a
format is made of (its files and the role and status vocabulary) is :mod:`._dialect`; the
formats themselves are declared in :mod:`schoolsync.sources.oneroster` (with the manifest) and
:mod:`schoolsync.sources.sds`. This module reads rows into indexes and records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Set
from datetime import date, datetime
from pathlib import Path
from typing import TypedDict

import attrs

from schoolsync.errors import FileFormatError
from schoolsync.identifiers import Upn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot
from schoolsync.sources._bundle import Bundle, FileMode
from schoolsync.sources._csv import (
    CsvFile,
    Row,
    SourceWarning,
    Warnings,
    parse_date,
    parse_datetime,
    parse_upn,
    split_list,
)
from schoolsync.sources._dialect import (
    OTHER_ROLES,
    Dialect,
    MemberKind,
    Part,
    RecordStatus,
    member_kind,
)
from schoolsync.sources._years import GradeMapping, make_year_groups, nc_year_for_grade

__all__ = [
    "Deletion",
    "Enrolment",
    "RosterOptions",
    "RosterSource",
    "snapshot_of",
]


@attrs.frozen(kw_only=True)
class Enrolment:
    """A user's membership of a class, as the source lists it (``role`` is the source's word)."""

    id: str
    school_id: str
    class_id: str
    user_id: str
    role: str


@attrs.frozen(kw_only=True)
class Deletion:
    """A record the source marks for deletion (OneRoster ``status=tobedeleted``).

    ``kind`` is ``"user"``, ``"class"``, ``"enrolment"`` or ``"org"``.
    """

    kind: str
    id: str


@attrs.frozen
class _ClassInfo:
    title: str
    grades: tuple[str, ...]
    subject: str | None
    code: str | None


_ENROLMENT_COLUMNS = ("classSourcedId", "userSourcedId", "sourcedId", "status", "dateLastModified")
_STATUSES = frozenset({"", "active", "tobedeleted", "inactive", "deleted"})
_TRUE = frozenset({"true", "1", "yes", "y"})
_ACTIVE = RecordStatus.ACTIVE
_DELETED = RecordStatus.TO_BE_DELETED


class _Rows:
    """The checks every row of a roster file gets (status, required values, unique ids, dates),
    and the latest ``dateLastModified`` seen, which dates the snapshot."""

    def __init__(self, warnings: Warnings, day_first: bool) -> None:
        self._w = warnings
        self._day_first = day_first
        self.latest: datetime | None = None
        self._last_stamp = ""

    def status(self, f: CsvFile, row: Row) -> RecordStatus:
        """The row's status; OneRoster 1.0's ``inactive``/``deleted`` are read (warned) as
        ``tobedeleted``, a blank one as ``active``."""
        s = row.get("status").lower()
        if s not in _STATUSES:
            raise FileFormatError(
                f.name,
                "status must be active or tobedeleted",
                row=row.number,
                field=row.header("status"),
                value=row.get("status"),
            )
        if s in {"inactive", "deleted"}:
            self._w.add(
                f.name,
                f"status {s!r} read as tobedeleted (left; OneRoster 1.0 wording)",
                row=row.number,
                field=row.header("status"),
                kind="status inactive",
            )
            return _DELETED
        return RecordStatus(s or "active")

    def need(self, f: CsvFile, row: Row, column: str) -> str:
        """The row's value in *column*, which must not be blank."""
        v = row.get(column)
        if not v:
            raise FileFormatError(
                f.name, "a value is required", row=row.number, field=row.header(column)
            )
        return v

    def unique(self, f: CsvFile, row: Row, seen: set[str]) -> str:
        """The row's ``sourcedId`` (required), added to *seen*; a repeat is an error."""
        uid = self.need(f, row, "sourcedId")
        if uid in seen:
            raise FileFormatError(
                f.name, "duplicate id", row=row.number, field=row.header("sourcedId"), value=uid
            )
        seen.add(uid)
        return uid

    def date(self, f: CsvFile, row: Row, column: str) -> date | None:
        """The row's date in *column* (``None`` when blank); d/m/yyyy is warned."""
        text = row.get(column)
        if not text:
            return None
        return parse_date(
            text,
            file=f.name,
            field=row.header(column),
            warnings=self._w,
            row=row.number,
            day_first=self._day_first,
        )

    def modified(self, f: CsvFile, row: Row) -> None:
        """Check the row's ``dateLastModified`` and keep the latest."""
        v = row.get("dateLastModified")
        if v and v != self._last_stamp:
            if len(v) > 10:  # an ISO date-time: never warned, so repeats need no re-parse
                self._last_stamp = v
            t = parse_datetime(
                v,
                file=f.name,
                field=row.header("dateLastModified"),
                warnings=self._w,
                row=row.number,
                day_first=self._day_first,
            )
            if self.latest is None or t > self.latest:
                self.latest = t

    def is_new_stamp(self, stamp: str) -> bool:
        """Whether *stamp* differs from the last ISO date-time checked (a cheap pre-test)."""
        return stamp != self._last_stamp


def _descendants(org: str, parents: Mapping[str, str], *, stop: Set[str] = frozenset()) -> set[str]:
    """*org* and every org below it (departments of a school), from each org's parent; the
    orgs in *stop* (other schools) and what is below them are left out."""
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found: set[str] = set()
    todo = [org]
    while todo:
        o = todo.pop()
        if o not in found and (o == org or o not in stop):
            found.add(o)
            todo.extend(children.get(o, ()))
    return found


class RosterOptions(TypedDict, total=False):
    """The options every roster reader takes (see :class:`RosterSource`'s subclasses)."""

    school_org: str | None
    school_id: str | None
    grade_mapping: GradeMapping
    taken_at: datetime | None
    day_first: bool | None


class RosterSource(ABC):
    """The shared engine of the roster readers (OneRoster, SDS). Implements ``MisSource``.

    Use :class:`OneRosterSource`, :class:`~schoolsync.sources.sds.SdsSource` or
    :class:`~schoolsync.sources.sds.SdsClassicSource` rather than this class.

    The first call of any stream method reads the small files (orgs, classes, roles) and makes
    one pass over the users and enrolments files to check them and build two indexes: which
    users belong to the school, and each member's class ids. The stream methods then read the
    users file once more, one row at a time.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        school_org: str | None = None,
        school_id: str | None = None,
        grade_mapping: GradeMapping = GradeMapping.UK,
        taken_at: datetime | None = None,
        day_first: bool | None = None,
    ) -> None:
        self._w = Warnings()
        self._bundle = bundle = Bundle(path)
        self._dialect, modes = self._open(bundle)
        self._school_org = school_org
        self._school_id_arg = school_id
        self._grade_mapping = grade_mapping
        self._taken_at = taken_at
        self._modes: dict[str, FileMode] = dict(modes)
        self._rows = _Rows(self._w, self._dialect.day_first if day_first is None else day_first)
        self._prepared = False
        # Filled by _prepare():
        self._org: str = ""
        self._org_set: set[str] = set()
        self._classes: dict[str, _ClassInfo] = {}
        self._roles: dict[str, tuple[MemberKind, str]] = {}
        self._members: dict[str, MemberKind] = {}
        self._memberships: dict[str, list[str]] = {}
        self._demographics: dict[str, tuple[date | None, Gender]] = {}
        self._deletions: list[Deletion] = []
        self._grades: set[str] = set()
        self._all_class_ids: set[str] | None = None
        self._delta_enrolments: list[tuple[str, str, str]] = []
        self._class_roles: dict[tuple[str, str], str] = {}

    @abstractmethod
    def _open(self, bundle: Bundle) -> tuple[Dialect, Mapping[str, FileMode]]:
        """The format's dialect for *bundle*, and each file's mode (bulk/delta/absent) where the
        format says; raises FileFormatError when the bundle is not of this format."""

    # -- files ---------------------------------------------------------------------------------

    def _file(self, part: Part) -> CsvFile | None:
        member = self._bundle.find(part.spec.name)
        mode = self._modes.get(part.spec.name.lower())
        if mode is FileMode.ABSENT:
            if member is not None:
                self._w.add(
                    self._bundle.display(member),
                    "the manifest says this file is absent; it was not read",
                )
            return None
        if member is None:
            if mode is not None or part.required:
                raise FileFormatError(
                    self._bundle.display(part.spec.name),
                    "the file is missing from the bundle"
                    + (f" (the manifest lists it as {mode.value})" if mode is not None else ""),
                )
            return None
        return CsvFile(
            self._bundle.opener(member), self._bundle.display(member), part.spec, self._w
        )

    def _is_delta(self, part: Part | None) -> bool:
        return part is not None and self._modes.get(part.spec.name.lower()) is FileMode.DELTA

    @property
    def is_delta(self) -> bool:
        """True when the manifest sends users, classes or enrolments as a delta (changes only)."""
        parts = (*self._dialect.users, self._dialect.classes, *self._dialect.enrolments)
        return any(self._is_delta(p) for p in parts)

    # -- preparation ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._prepared:
            return
        self._read_orgs()
        self._read_classes()
        roles = self._read_roles()
        all_users = self._scan_users()
        if roles is not None:
            self._check_users_known(*roles, all_users)
        self._read_enrolments(all_users)
        self._read_demographics(all_users)
        self._prepared = True

    def _users_delta(self) -> bool:
        return any(self._is_delta(p) for p in self._dialect.users)

    def _check_users_known(
        self, f: CsvFile, delta: bool, rows: dict[str, tuple[int, str]], all_users: set[str]
    ) -> None:
        """In a full (bulk) export, every user the roles file names must be in the users file."""
        if delta or self._users_delta():
            return
        for user, (number, field) in rows.items():
            if user not in all_users:
                raise FileFormatError(
                    f.name,
                    "the role names a user who is not in the users file",
                    row=number,
                    field=field,
                    value=user,
                )

    def _read_orgs(self) -> None:
        """Read the orgs file, choose the school org and take in its descendants."""
        part = self._dialect.orgs
        f = None if part is None else self._file(part)
        orgs, parents = self._org_rows(f) if f is not None else ({}, {})
        where = f.name if f is not None else self._bundle.label
        if self._school_org is not None:
            if f is not None and self._school_org not in orgs:
                raise FileFormatError(
                    where,
                    "the school org is not in the orgs file",
                    field=self._dialect.org_key,
                    value=self._school_org,
                )
            self._org = self._school_org
        else:
            self._org = self._only_school(orgs, where)
        schools = {o for o, (t, _) in orgs.items() if t == "school"}
        self._org_set = _descendants(self._org, parents, stop=schools)
        for child in sorted(_descendants(self._org, parents) - self._org_set):
            if child in schools:
                self._w.add(
                    where,
                    f"org {child!r} is a school under {self._org!r}: it is a school of its own, "
                    f"so its records were not read as {self._org!r}'s (choose it with "
                    f"{self._dialect.org_option}=)",
                    field=self._dialect.org_key,
                    kind=f"child school {child}",
                )

    def _org_rows(self, f: CsvFile) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
        """Each live org's (type, name), and each org's parent; deletions are noted."""
        orgs: dict[str, tuple[str, str]] = {}
        parents: dict[str, str] = {}
        seen: set[str] = set()
        for row in f.rows():
            oid = self._rows.unique(f, row, seen)
            status = self._rows.status(f, row)
            self._rows.modified(f, row)
            if status is _DELETED:
                self._deletions.append(Deletion(kind="org", id=oid))
                continue
            orgs[oid] = (row.get("type").lower(), row.get("name"))
            parent = row.get("parentSourcedId")
            if parent:
                parents[oid] = parent
        return orgs, parents

    def _only_school(self, orgs: Mapping[str, tuple[str, str]], where: str) -> str:
        """The school org when none was named: the only school, else the only org (warned)."""
        schools = [o for o, (t, _) in orgs.items() if t in {"school", ""}]
        if len(schools) == 1:
            return schools[0]
        if not schools and len(orgs) == 1:
            org = next(iter(orgs))
            self._w.add(
                where,
                f"the only org, {org!r}, is a {orgs[org][0]!r}, not a school; "
                "it was used as the school",
            )
            return org
        option = self._dialect.org_option
        if not orgs:
            raise FileFormatError(where, f"no org to read; pass {option}=", code="no_school")
        shown = ", ".join(sorted(schools or orgs)[:10])
        raise FileFormatError(
            where,
            f"the bundle holds {len(schools or orgs)} schools ({shown}); "
            f"pass {option}= to choose one",
            field=self._dialect.org_key,
            code="several_schools",
        )

    @property
    def school_id(self) -> str:
        """The ``school_id`` given to every record: the caller's, else the school org's id."""
        self._prepare()
        return self._school_id_arg or self._org

    def _read_classes(self) -> None:
        part = self._dialect.classes
        f = None if part is None else self._file(part)
        if f is None:
            return
        seen: set[str] = set()
        for row in f.rows():
            cid = self._rows.unique(f, row, seen)
            status = self._rows.status(f, row)
            self._rows.modified(f, row)
            if status is _DELETED:
                self._deletions.append(Deletion(kind="class", id=cid))
                continue
            school = row.get("schoolSourcedId")
            if school not in self._org_set:
                continue
            grades = tuple(split_list(row.get("grades")))
            subjects = split_list(row.get("subjects"))
            self._classes[cid] = _ClassInfo(
                title=row.get("title") or cid,
                grades=grades,
                subject=subjects[0] if subjects else None,
                code=row.get("classCode") or None,
            )
            self._grades.update(grades)
        self._all_class_ids = seen

    def _read_roles(self) -> tuple[CsvFile, bool, dict[str, tuple[int, str]]] | None:
        """Read the roles file, if any; return it, whether it is a delta, and the first row
        naming each user (checked against the users file once that is read)."""
        part = self._dialect.roles
        f = None if part is None else self._file(part)
        if f is None:
            return None
        rows: dict[str, tuple[int, str]] = {}
        for row in f.rows():
            user = self._rows.need(f, row, "userSourcedId")
            if user not in rows:
                rows[user] = (row.number, row.header("userSourcedId"))
            role = self._rows.need(f, row, "role")
            self._rows.modified(f, row)
            if self._rows.status(f, row) is _DELETED:
                continue
            if row.get("orgSourcedId") not in self._org_set:
                continue
            kind = member_kind(role)
            if kind is None:
                self._check_role(f, row, role)
                continue
            primary = (
                row.get("roleType").lower() == "primary" or row.get("isPrimary").lower() in _TRUE
            )
            if user not in self._roles or primary:
                self._roles[user] = (kind, row.get("grades"))
        return f, self._is_delta(part), rows

    def _check_role(self, f: CsvFile, row: Row, role: str) -> None:
        r = role.strip().lower()
        if r in OTHER_ROLES or r.startswith("ext:"):
            self._w.add(
                f.name,
                f"users with role {r!r} are not read",
                field=row.header("role"),
                kind=f"role {r}",
            )
            return
        raise FileFormatError(
            f.name, "unknown role", row=row.number, field=row.header("role"), value=role
        )

    def _user_files(self) -> Iterator[tuple[Part, CsvFile]]:
        for part in self._dialect.users:
            f = self._file(part)
            if f is not None:
                yield part, f

    def _membership(self, part: Part, f: CsvFile, row: Row, uid: str) -> MemberKind | None:
        """What the user is read as when they belong to the school, else None."""
        if uid in self._roles:
            return self._roles[uid][0]
        if self._dialect.roles is not None and not row.has("role") and part.role is None:
            return None
        role = part.role or row.get("role")
        if not role:
            if not row.has("role"):
                return None
            raise FileFormatError(
                f.name, "a value is required", row=row.number, field=row.header("role")
            )
        orgs = split_list(row.get("orgSourcedIds")) or split_list(row.get("primaryOrgSourcedId"))
        if not orgs and self._dialect.orgs is None:
            orgs = [self._org]
        if not any(o in self._org_set for o in orgs):
            return None
        kind = member_kind(role)
        if kind is None:
            self._check_role(f, row, role)
        return kind

    def _scan_users(self) -> set[str]:
        all_users: set[str] = set()
        for part, f in self._user_files():
            for row in f.rows():
                uid = self._rows.unique(f, row, all_users)
                status = self._rows.status(f, row)
                self._rows.modified(f, row)
                if status is _DELETED:
                    self._deletions.append(Deletion(kind="user", id=uid))
                    continue
                kind = self._membership(part, f, row, uid)
                if kind is not None:
                    self._members[uid] = kind
                    g = self._user_grade(row, uid)
                    if g:
                        self._grades.add(g)
        return all_users

    def _user_grade(self, row: Row, uid: str) -> str:
        grades = split_list(row.get("grades"))
        if grades:
            return grades[0]
        role = self._roles.get(uid)
        return role[1] if role else ""

    def _read_enrolments(self, all_users: set[str]) -> None:
        deleted_classes = {d.id for d in self._deletions if d.kind == "class"}
        for part in self._dialect.enrolments:
            f = self._file(part)
            if f is not None:
                self._read_enrolment_file(
                    f, self._is_delta(part), all_users, deleted_classes, part.role
                )

    def _read_enrolment_file(
        self,
        f: CsvFile,
        delta: bool,
        all_users: set[str],
        deleted_classes: set[str],
        part_role: str | None = None,
    ) -> None:
        """Check every enrolment row and index the school members' class ids.

        In a bulk file every class and user named must be in their files; in a delta, an
        enrolment of a class or user sent earlier is kept as a change to report.
        """
        seen: set[str] = set()
        has_id: bool | None = None
        for row in f.rows():
            cid, uid, eid, status_text, stamp = row.values(_ENROLMENT_COLUMNS)
            if not cid:
                self._rows.need(f, row, "classSourcedId")
            if not uid:
                self._rows.need(f, row, "userSourcedId")
            if has_id is None:
                has_id = row.has("sourcedId")
            if has_id and not eid:
                self._rows.need(f, row, "sourcedId")
            key = eid or f"{cid}\x00{uid}"
            if key in seen:
                self._repeated_enrolment(f, row, eid)
                continue
            seen.add(key)
            status = _ACTIVE if status_text in {"active", ""} else self._rows.status(f, row)
            if stamp and self._rows.is_new_stamp(stamp):
                self._rows.modified(f, row)
            if status is _DELETED:
                self._deletions.append(Deletion(kind="enrolment", id=eid or f"{cid}:{uid}"))
                continue
            if not delta:
                self._check_enrolment_known(f, row, cid, uid, all_users)
            if cid not in self._classes and not self._earlier_class(
                f, row, cid, delta, deleted_classes
            ):
                continue
            if uid not in self._members:
                self._non_member_enrolment(f, row, cid, uid, delta, all_users)
                continue
            lst = self._memberships.setdefault(uid, [])
            if cid not in lst:
                lst.append(cid)
            self._enrolment_role(f, row, part_role, uid, cid)

    def _enrolment_role(
        self, f: CsvFile, row: Row, part_role: str | None, uid: str, cid: str
    ) -> None:
        """Keep the role the enrolment row gives (a teacher of a class is its teacher, whatever
        else they are); warn when it names another kind of member than the users file."""
        role = (part_role or row.get("role")).strip()
        if not role:
            return
        self._class_roles[(uid, cid)] = role.lower()
        kind = member_kind(role)
        member = self._members[uid]
        if kind is not None and kind is not member:
            self._w.add(
                f.name,
                f"the enrolment's role {role.lower()!r} is not the user's role in the users "
                f"file ({member.enrolment_role!r}); the enrolment is reported with its own role",
                row=row.number,
                field=row.header("role"),
                kind="enrolment role differs",
            )

    def _repeated_enrolment(self, f: CsvFile, row: Row, eid: str) -> None:
        """A repeated enrolment id is an error; a repeated class and user pair, a warning."""
        if eid:
            raise FileFormatError(
                f.name, "duplicate id", row=row.number, field=row.header("sourcedId"), value=eid
            )
        self._w.add(
            f.name, "the same enrolment is listed twice", row=row.number, kind="dup enrolment"
        )

    def _check_enrolment_known(
        self, f: CsvFile, row: Row, cid: str, uid: str, all_users: set[str]
    ) -> None:
        """In a bulk file, the enrolment's class and user must be in their files."""
        all_classes = self._all_class_ids
        if all_classes is not None and cid not in all_classes:
            raise FileFormatError(
                f.name,
                "the enrolment names a class that is not in the classes file",
                row=row.number,
                field=row.header("classSourcedId"),
                value=cid,
            )
        if uid not in all_users:
            raise FileFormatError(
                f.name,
                "the enrolment names a user who is not in the users file",
                row=row.number,
                field=row.header("userSourcedId"),
                value=uid,
            )

    def _earlier_class(
        self, f: CsvFile, row: Row, cid: str, delta: bool, deleted_classes: set[str]
    ) -> bool:
        """For a class not read as the school's: whether the enrolment is still kept (a delta
        enrolment of the school in a class sent earlier); one in a deleted class is warned."""
        if cid in deleted_classes:
            self._w.add(
                f.name,
                "enrolment in a class marked tobedeleted skipped",
                row=row.number,
                field=row.header("classSourcedId"),
                kind="enrolment deleted class",
            )
            return False
        all_classes = self._all_class_ids
        earlier = all_classes is None or cid not in all_classes
        return delta and earlier and row.get("schoolSourcedId") in self._org_set

    def _non_member_enrolment(
        self, f: CsvFile, row: Row, cid: str, uid: str, delta: bool, all_users: set[str]
    ) -> None:
        """An enrolment of a user not read as a member: a delta change of a user sent earlier
        is kept to report; one of a user in the file who is not a member is warned."""
        if delta and uid not in all_users:
            self._delta_enrolments.append((cid, uid, row.get("role").lower()))
        elif uid in all_users:
            self._w.add(
                f.name,
                "enrolment skipped: the user is not read as a pupil or staff member"
                " of this school (tobedeleted, another school or another role)",
                row=row.number,
                field=row.header("userSourcedId"),
                kind="enrolment non-member",
            )

    def _read_demographics(self, all_users: set[str]) -> None:
        part = self._dialect.demographics
        f = None if part is None else self._file(part)
        if f is None:
            return
        check = not (self._is_delta(part) or self._users_delta())
        seen: set[str] = set()
        for row in f.rows():
            uid = self._rows.unique(f, row, seen)
            self._rows.modified(f, row)
            if self._rows.status(f, row) is _DELETED:
                continue
            if check and uid not in all_users:
                raise FileFormatError(
                    f.name,
                    "the demographics row names a user who is not in the users file",
                    row=row.number,
                    field=row.header("sourcedId"),
                    value=uid,
                )
            if uid not in self._members:
                continue
            self._demographics[uid] = (
                self._rows.date(f, row, "birthDate"),
                Gender.parse(row.get("sex")),
            )

    # -- records -------------------------------------------------------------------------------

    def _names(self, f: CsvFile, row: Row) -> tuple[str, str]:
        given, family = row.get("givenName"), row.get("familyName")
        if not given or not family:
            self._w.add(
                f.name,
                "a name is blank",
                row=row.number,
                kind="blank name",
                field=row.header("givenName" if not given else "familyName"),
            )
        return given, family

    def _upn(self, f: CsvFile, row: Row) -> Upn | None:
        for item in split_list(row.get("userIds")):
            body = item.strip("{}")
            kind, _, value = body.partition(":")
            if kind.strip().upper() == "UPN":
                return parse_upn(
                    value.strip(), file=f.name, field=row.header("userIds"), row=row.number
                )
        return None

    def _dob_gender(self, f: CsvFile, row: Row, uid: str) -> tuple[date | None, Gender]:
        if uid in self._demographics:
            return self._demographics[uid]
        return self._rows.date(f, row, "birthDate"), Gender.parse(row.get("sex"))

    def _people(self, want: MemberKind) -> Iterator[tuple[CsvFile, Row, str]]:
        self._prepare()
        for _part, f in self._user_files():
            for row in f.rows():
                uid = row.get("sourcedId")
                if self._members.get(uid) == want:
                    yield f, row, uid

    def pupils(self) -> Iterator[Pupil]:
        """The school's pupils (role ``student``), streamed, with their class ids."""
        school = self.school_id
        for f, row, uid in self._people(MemberKind.PUPIL):
            given, family = self._names(f, row)
            dob, gender = self._dob_gender(f, row, uid)
            grade = self._user_grade(row, uid)
            yield Pupil(
                id=uid,
                school_id=school,
                forename=given,
                surname=family,
                mis_id=uid,
                upn=self._upn(f, row),
                preferred_forename=row.get("preferredGivenName") or None,
                preferred_surname=row.get("preferredFamilyName") or None,
                middle_names=row.get("middleName") or None,
                date_of_birth=dob,
                gender=gender,
                year_code=nc_year_for_grade(grade, self._grade_mapping) if grade else None,
                class_ids=tuple(self._memberships.get(uid, ())),
                email=row.get("email") or None,
                directory_match_id=row.get("activeDirectoryMatchId") or None,
            )

    def staff(self) -> Iterator[StaffMember]:
        """The school's staff (teachers, aides, administrators...), streamed, with class ids."""
        school = self.school_id
        for f, row, uid in self._people(MemberKind.STAFF):
            given, family = self._names(f, row)
            dob, gender = self._dob_gender(f, row, uid)
            yield StaffMember(
                id=uid,
                school_id=school,
                forename=given,
                surname=family,
                mis_id=uid,
                title=row.get("title") or None,
                preferred_forename=row.get("preferredGivenName") or None,
                preferred_surname=row.get("preferredFamilyName") or None,
                middle_names=row.get("middleName") or None,
                date_of_birth=dob,
                gender=gender,
                email=row.get("email") or None,
                class_ids=tuple(self._memberships.get(uid, ())),
                directory_match_id=row.get("activeDirectoryMatchId") or None,
            )

    def _year_group_id(self, nc: str) -> str:
        return f"{self.school_id}:year:{nc}"

    def classes(self) -> Iterator[SchoolClass]:
        """The school's classes, with the year groups their grades map to."""
        self._prepare()
        school = self.school_id
        for cid, info in self._classes.items():
            years = [nc_year_for_grade(g, self._grade_mapping) for g in info.grades]
            yield SchoolClass(
                id=cid,
                school_id=school,
                name=info.title,
                year_group_ids=tuple(
                    dict.fromkeys(self._year_group_id(y) for y in years if y is not None)
                ),
                description=info.code,
                mis_id=cid,
                subject=info.subject,
            )

    def year_groups(self) -> Iterator[YearGroup]:
        """One year group per NC year found in the school's pupils' and classes' grades.

        A grade with no NC year (``"UG"``, ``"Other"``...) gives a warning, not a year group.
        """
        self._prepare()
        years: dict[str, str] = {}
        for g in sorted(self._grades):
            nc = nc_year_for_grade(g, self._grade_mapping)
            if nc is None:
                self._w.add(
                    self._bundle.label,
                    f"grade {g!r} has no NC year; no year group made",
                    field="grades",
                    kind=f"grade {g}",
                )
            else:
                years.setdefault(nc, g)
        yield from make_year_groups(self.school_id, years)

    def enrolments(self) -> Iterator[Enrolment]:
        """The school's class memberships (only classes and users of the school), streamed.

        Ids are ``"<class id>:<user id>"``. In a delta this also lists the changed enrolments
        of users and classes sent in an earlier file (their own records are not in the delta).
        """
        self._prepare()
        school = self.school_id
        for uid, class_ids in self._memberships.items():
            role = self._members[uid].enrolment_role
            for cid in class_ids:
                yield Enrolment(
                    id=f"{cid}:{uid}",
                    school_id=school,
                    class_id=cid,
                    user_id=uid,
                    role=self._class_roles.get((uid, cid), role),
                )
        for cid, uid, role in self._delta_enrolments:
            yield Enrolment(
                id=f"{cid}:{uid}", school_id=school, class_id=cid, user_id=uid, role=role
            )

    def deletions(self) -> list[Deletion]:
        """Records marked ``tobedeleted`` (in a delta: the deletions to apply)."""
        self._prepare()
        return list(self._deletions)

    def snapshot_time(self) -> datetime | None:
        """The ``taken_at`` given, else the latest ``dateLastModified`` in the bundle, if any."""
        if self._taken_at is not None:
            return self._taken_at
        self._prepare()
        return self._rows.latest

    def warnings(self) -> list[str]:
        """Everything tolerated so far (complete once every stream has been read)."""
        return self._w.messages()

    def warning_details(self) -> list[SourceWarning]:
        """The warnings as structured records (file, row, field, message, count)."""
        return self._w.details()

    def read(self) -> MisSnapshot:
        """Read everything into a :class:`~schoolsync.ports.MisSnapshot` (raises on any problem,
        so a snapshot is never half-read)."""
        return snapshot_of(self)


def snapshot_of(source: RosterSource) -> MisSnapshot:
    """Read every stream of *source* into a :class:`MisSnapshot`."""
    year_groups = list(source.year_groups())
    classes = list(source.classes())
    staff = list(source.staff())
    pupils = list(source.pupils())
    return MisSnapshot(
        school_id=source.school_id,
        taken_at=source.snapshot_time(),
        pupils=pupils,
        staff=staff,
        classes=classes,
        year_groups=year_groups,
        warnings=tuple(source.warnings()),
    )
