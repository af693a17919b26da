"""The roster engine the OneRoster and SDS readers share: bundles (a zip or a folder), file
dialects, and :class:`RosterSource`, which streams one school's records out of them.
"""

from __future__ import annotations

import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, TypedDict

import attrs

from schoolsync.errors import FileFormatError
from schoolsync.identifiers import Upn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot
from schoolsync.sources._csv import (
    ARCHIVE_ERRORS,
    CsvFile,
    FileSpec,
    Opener,
    Row,
    SourceWarning,
    Warnings,
    parse_date,
    parse_datetime,
    parse_upn,
    split_list,
)
from schoolsync.sources._years import GradeMapping, make_year_groups, nc_year_for_grade

__all__ = [
    "Deletion",
    "Enrolment",
    "FileMode",
    "RosterOptions",
    "RosterSource",
    "snapshot_of",
]


class FileMode(StrEnum):
    """How a manifest says a file is sent: all records (bulk), changes only (delta), or not."""

    BULK = "bulk"
    DELTA = "delta"
    ABSENT = "absent"


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


# ---------------------------------------------------------------------------------------------
# Files of a bundle: a folder or a zip.


#: What opening a zip or one of its members raises on a damaged or unsupported archive
#: (encrypted members: RuntimeError), or on a path the system refuses.
_ZIP_ERRORS = (OSError, ValueError, *ARCHIVE_ERRORS)


class _Bundle:
    """The files of a folder or a zip, found by name ignoring case."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.label = self.path.name or str(self.path)
        self._members: dict[str, str] = {}
        self._zip = False
        try:
            is_dir, is_file = self.path.is_dir(), self.path.is_file()
            files = [p.name for p in self.path.iterdir() if p.is_file()] if is_dir else []
        except (OSError, ValueError) as e:  # a name too long, a NUL in the path, no permission
            raise FileFormatError(str(self.path), f"cannot be read ({e})") from None
        if is_dir:
            for name in files:
                self._members.setdefault(name.lower(), name)
        elif is_file:
            self._zip = True
            try:
                with zipfile.ZipFile(self.path) as z:
                    names = [n for n in z.namelist() if not n.endswith("/")]
            except _ZIP_ERRORS as e:
                raise FileFormatError(str(self.path), f"not a zip file or a folder ({e})") from None
            for n in names:
                base = n.rsplit("/", 1)[-1]
                if base and not n.startswith("__MACOSX/"):
                    self._members.setdefault(base.lower(), n)
        else:
            raise FileFormatError(str(self.path), "no such file or folder")

    def names(self) -> list[str]:
        return sorted(n.rsplit("/", 1)[-1] for n in self._members.values())

    def find(self, name: str) -> str | None:
        return self._members.get(name.lower())

    def display(self, member: str) -> str:
        return f"{self.label}/{member.rsplit('/', 1)[-1]}"

    def opener(self, member: str) -> Opener:
        if not self._zip:
            target = self.path / member

            def open_file() -> AbstractContextManager[IO[bytes]]:
                return target.open("rb")

            return open_file
        path = self.path

        class _ZipMember:
            def __enter__(self) -> IO[bytes]:
                try:
                    self._zip = zipfile.ZipFile(path)
                except _ZIP_ERRORS as e:
                    raise FileFormatError(
                        f"{path.name}/{member}", f"cannot be unzipped ({e})"
                    ) from None
                try:
                    self._file: IO[bytes] = self._zip.open(member)
                except _ZIP_ERRORS as e:
                    self._zip.close()
                    raise FileFormatError(
                        f"{path.name}/{member}", f"cannot be unzipped ({e})"
                    ) from None
                return self._file

            def __exit__(self, *exc: object) -> None:
                self._file.close()
                self._zip.close()

        return _ZipMember


# ---------------------------------------------------------------------------------------------
# The roster engine, configured by a dialect (OneRoster 1.1/1.2, SDS v2/v2.1, SDS classic).

PUPIL_ROLES = frozenset({"student", "learner"})
STAFF_ROLES = frozenset(
    {
        "teacher",
        "aide",
        "administrator",
        "proctor",
        "siteadministrator",
        "systemadministrator",
        "districtadministrator",
        "principal",
        "professor",
        "staff",
        "faculty",
        "teacheraide",
        "instructor",
    }
)
OTHER_ROLES = frozenset({"parent", "guardian", "relative", "contact"})
_ENROLMENT_COLUMNS = ("classSourcedId", "userSourcedId", "sourcedId", "status", "dateLastModified")
_STATUSES = frozenset({"", "active", "tobedeleted", "inactive", "deleted"})
_TRUE = frozenset({"true", "1", "yes", "y"})


@attrs.frozen(kw_only=True)
class _Part:
    """One file of a dialect: its spec and the role every row has (for per-role files)."""

    spec: FileSpec
    role: str | None = None
    required: bool = True


@attrs.frozen(kw_only=True)
class _Dialect:
    label: str
    orgs: _Part | None
    users: tuple[_Part, ...]
    classes: _Part | None
    enrolments: tuple[_Part, ...]
    roles: _Part | None = None
    demographics: _Part | None = None
    day_first: bool = True


@attrs.frozen
class _ClassInfo:
    title: str
    grades: tuple[str, ...]
    subject: str | None
    code: str | None


def _kind_of(role: str) -> str | None:
    r = role.strip().lower().replace(" ", "")
    if r in PUPIL_ROLES:
        return "p"
    if r in STAFF_ROLES:
        return "s"
    return None


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
        self._bundle = bundle = _Bundle(path)
        self._dialect, modes = self._open(bundle)
        self._school_org = school_org
        self._school_id_arg = school_id
        self._grade_mapping = grade_mapping
        self._taken_at = taken_at
        self._modes: dict[str, FileMode] = dict(modes)
        self._day_first = self._dialect.day_first if day_first is None else day_first
        self._prepared = False
        # Filled by _prepare():
        self._org: str = ""
        self._org_set: set[str] = set()
        self._classes: dict[str, _ClassInfo] = {}
        self._roles: dict[str, tuple[str, str]] = {}
        self._members: dict[str, str] = {}
        self._memberships: dict[str, list[str]] = {}
        self._demographics: dict[str, tuple[date | None, Gender]] = {}
        self._deletions: list[Deletion] = []
        self._latest: datetime | None = None
        self._grades: set[str] = set()
        self._all_class_ids: set[str] | None = None
        self._delta_enrolments: list[tuple[str, str, str]] = []
        self._last_stamp = ""

    @abstractmethod
    def _open(self, bundle: _Bundle) -> tuple[_Dialect, Mapping[str, FileMode]]:
        """The format's dialect for *bundle*, and each file's mode (bulk/delta/absent) where the
        format says; raises FileFormatError when the bundle is not of this format."""

    # -- files ---------------------------------------------------------------------------------

    def _file(self, part: _Part) -> CsvFile | None:
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

    def _is_delta(self, part: _Part | None) -> bool:
        return part is not None and self._modes.get(part.spec.name.lower()) is FileMode.DELTA

    @property
    def is_delta(self) -> bool:
        """True when the manifest sends users, classes or enrolments as a delta (changes only)."""
        parts = (*self._dialect.users, self._dialect.classes, *self._dialect.enrolments)
        return any(self._is_delta(p) for p in parts)

    # -- row helpers ---------------------------------------------------------------------------

    def _status(self, f: CsvFile, row: Row) -> str:
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
            return "tobedeleted"
        return s or "active"

    def _need(self, f: CsvFile, row: Row, column: str) -> str:
        v = row.get(column)
        if not v:
            raise FileFormatError(
                f.name, "a value is required", row=row.number, field=row.header(column)
            )
        return v

    def _unique(self, f: CsvFile, row: Row, seen: set[str]) -> str:
        """The row's ``sourcedId`` (required), added to *seen*; a repeat is an error."""
        uid = self._need(f, row, "sourcedId")
        if uid in seen:
            raise FileFormatError(
                f.name, "duplicate id", row=row.number, field=row.header("sourcedId"), value=uid
            )
        seen.add(uid)
        return uid

    def _date(self, f: CsvFile, row: Row, column: str) -> date | None:
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

    def _modified(self, f: CsvFile, row: Row) -> None:
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
            if self._latest is None or t > self._latest:
                self._latest = t

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
        part = self._dialect.orgs
        f = None if part is None else self._file(part)
        parents: dict[str, str] = {}
        orgs: dict[str, tuple[str, str]] = {}
        seen: set[str] = set()
        if f is not None:
            for row in f.rows():
                oid = self._unique(f, row, seen)
                status = self._status(f, row)
                self._modified(f, row)
                if status == "tobedeleted":
                    self._deletions.append(Deletion(kind="org", id=oid))
                    continue
                orgs[oid] = (row.get("type").lower(), row.get("name"))
                parent = row.get("parentSourcedId")
                if parent:
                    parents[oid] = parent
        where = f.name if f is not None else self._bundle.label
        if self._school_org is not None:
            if f is not None and self._school_org not in orgs:
                raise FileFormatError(
                    where,
                    "the school org is not in the orgs file",
                    field="sourcedId",
                    value=self._school_org,
                )
            self._org = self._school_org
        else:
            schools = [o for o, (t, _) in orgs.items() if t in {"school", ""}]
            if len(schools) == 1:
                self._org = schools[0]
            elif not schools and len(orgs) == 1:
                self._org = next(iter(orgs))
                self._w.add(
                    where,
                    f"the only org, {self._org!r}, is a {orgs[self._org][0]!r}, not a school; "
                    "it was used as the school",
                )
            elif not orgs:
                raise FileFormatError(where, "no org to read; pass school_org=")
            else:
                shown = ", ".join(sorted(schools or orgs)[:10])
                raise FileFormatError(
                    where,
                    f"the bundle holds {len(schools or orgs)} schools ({shown}); "
                    "pass school_org= to choose one",
                )
        children: dict[str, list[str]] = {}
        for child, parent in parents.items():
            children.setdefault(parent, []).append(child)
        todo = [self._org]
        while todo:
            o = todo.pop()
            if o not in self._org_set:
                self._org_set.add(o)
                todo.extend(children.get(o, ()))

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
            cid = self._unique(f, row, seen)
            status = self._status(f, row)
            self._modified(f, row)
            if status == "tobedeleted":
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
            user = self._need(f, row, "userSourcedId")
            if user not in rows:
                rows[user] = (row.number, row.header("userSourcedId"))
            role = self._need(f, row, "role")
            self._modified(f, row)
            if self._status(f, row) == "tobedeleted":
                continue
            if row.get("orgSourcedId") not in self._org_set:
                continue
            kind = _kind_of(role)
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

    def _user_files(self) -> Iterator[tuple[_Part, CsvFile]]:
        for part in self._dialect.users:
            f = self._file(part)
            if f is not None:
                yield part, f

    def _membership(self, part: _Part, f: CsvFile, row: Row, uid: str) -> str | None:
        """'p' or 's' when the user belongs to the school, else None."""
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
        kind = _kind_of(role)
        if kind is None:
            self._check_role(f, row, role)
        return kind

    def _scan_users(self) -> set[str]:
        all_users: set[str] = set()
        for part, f in self._user_files():
            for row in f.rows():
                uid = self._unique(f, row, all_users)
                status = self._status(f, row)
                self._modified(f, row)
                if status == "tobedeleted":
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
        all_classes = self._all_class_ids
        deleted_classes = {d.id for d in self._deletions if d.kind == "class"}
        for part in self._dialect.enrolments:
            f = self._file(part)
            if f is None:
                continue
            delta = self._is_delta(part)
            seen: set[str] = set()
            has_id: bool | None = None
            for row in f.rows():
                cid, uid, eid, status_text, stamp = row.values(_ENROLMENT_COLUMNS)
                if not cid:
                    self._need(f, row, "classSourcedId")
                if not uid:
                    self._need(f, row, "userSourcedId")
                if has_id is None:
                    has_id = row.has("sourcedId")
                if has_id and not eid:
                    self._need(f, row, "sourcedId")
                key = eid or f"{cid}\x00{uid}"
                if key in seen:
                    if eid:
                        raise FileFormatError(
                            f.name,
                            "duplicate id",
                            row=row.number,
                            field=row.header("sourcedId"),
                            value=eid,
                        )
                    self._w.add(
                        f.name,
                        "the same enrolment is listed twice",
                        row=row.number,
                        kind="dup enrolment",
                    )
                    continue
                seen.add(key)
                status = "active" if status_text in {"active", ""} else self._status(f, row)
                if stamp and stamp != self._last_stamp:
                    self._modified(f, row)
                if status == "tobedeleted":
                    self._deletions.append(Deletion(kind="enrolment", id=eid or f"{cid}:{uid}"))
                    continue
                if not delta:
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
                if cid not in self._classes:
                    if cid in deleted_classes:
                        self._w.add(
                            f.name,
                            "enrolment in a class marked tobedeleted skipped",
                            row=row.number,
                            field=row.header("classSourcedId"),
                            kind="enrolment deleted class",
                        )
                        continue
                    earlier = all_classes is None or cid not in all_classes
                    if not (delta and earlier and row.get("schoolSourcedId") in self._org_set):
                        continue
                if uid not in self._members:
                    if delta and uid not in all_users:
                        # A delta enrolment of a user sent earlier: a change to report.
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
                    continue
                lst = self._memberships.setdefault(uid, [])
                if cid not in lst:
                    lst.append(cid)

    def _read_demographics(self, all_users: set[str]) -> None:
        part = self._dialect.demographics
        f = None if part is None else self._file(part)
        if f is None:
            return
        check = not (self._is_delta(part) or self._users_delta())
        seen: set[str] = set()
        for row in f.rows():
            uid = self._unique(f, row, seen)
            self._modified(f, row)
            if self._status(f, row) == "tobedeleted":
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
                self._date(f, row, "birthDate"),
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
        return self._date(f, row, "birthDate"), Gender.parse(row.get("sex"))

    def _people(self, want: str) -> Iterator[tuple[CsvFile, Row, str]]:
        self._prepare()
        for _part, f in self._user_files():
            for row in f.rows():
                uid = row.get("sourcedId")
                if self._members.get(uid) == want:
                    yield f, row, uid

    def pupils(self) -> Iterator[Pupil]:
        """The school's pupils (role ``student``), streamed, with their class ids."""
        school = self.school_id
        for f, row, uid in self._people("p"):
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
        for f, row, uid in self._people("s"):
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
            role = "student" if self._members[uid] == "p" else "teacher"
            for cid in class_ids:
                yield Enrolment(
                    id=f"{cid}:{uid}", school_id=school, class_id=cid, user_id=uid, role=role
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
        return self._latest

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
