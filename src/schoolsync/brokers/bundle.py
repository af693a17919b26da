"""Writing a snapshot as a OneRoster 1.1 CSV bundle (a zip), the file a data officer can open
and that :func:`schoolsync.sources.read_oneroster` reads back to the same records."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from schoolsync.ports import MisSnapshot

__all__ = ["write_oneroster_bundle"]

_GRADES = {"R": "KG", "N1": "PR", "N2": "PK"}


def _grade(code: str | None) -> str:
    if code is None:
        return ""
    if code.isdigit():
        return code.zfill(2)
    return _GRADES.get(code, "")


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return out.getvalue().encode("utf-8")


def write_oneroster_bundle(
    snapshot: MisSnapshot, path: str | Path, *, org: str | None = None, school_name: str = ""
) -> Path:
    """Write *snapshot* as a OneRoster 1.1 bulk bundle (zip) at *path*; returns the path.

    Pupils become ``student`` users (UPN in ``userIds`` as ``{UPN:...}``, year as a grade),
    staff ``teacher`` users, classes ``scheduled`` classes with their enrolments, and birth
    dates and genders go to ``demographics.csv``.
    """
    target = Path(path)
    school = org or snapshot.school_id
    stamp = (snapshot.taken_at or datetime(2000, 1, 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    years = {y.id: y.nc_year for y in snapshot.year_groups}
    files: dict[str, bytes] = {}
    files["manifest.csv"] = _csv(
        ("propertyName", "value"),
        [
            ("manifest.version", "1.0"),
            ("oneroster.version", "1.1"),
            *[
                (f"file.{name}", "bulk")
                for name in ("orgs", "users", "classes", "enrollments", "demographics")
            ],
            *[
                (f"file.{name}", "absent")
                for name in ("academicSessions", "categories", "courses", "lineItems", "results")
            ],
        ],
    )
    files["orgs.csv"] = _csv(
        ("sourcedId", "status", "dateLastModified", "name", "type", "identifier"),
        [(school, "active", stamp, school_name or school, "school", "")],
    )
    user_header = (
        "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
        "username", "userIds", "givenName", "familyName", "middleName", "identifier", "email",
        "sms", "phone", "agentSourcedIds", "grades", "password",
        "preferredGivenName", "preferredFamilyName",
    )  # fmt: skip
    users: list[Sequence[object]] = []
    for p in snapshot.pupils:
        ids = f"{{UPN:{p.upn}}}" if p.upn else ""
        users.append(
            (p.id, "active", stamp, "true", school, "student", p.id, ids, p.forename, p.surname,
             p.middle_names, p.mis_id, p.email, "", "", "", _grade(p.year_code), "",
             p.preferred_forename, p.preferred_surname)
        )  # fmt: skip
    for s in snapshot.staff:
        users.append(
            (s.id, "active", stamp, "true", school, "teacher", s.id, "", s.forename, s.surname,
             s.middle_names, s.mis_id, s.email, "", "", "", "", "",
             s.preferred_forename, s.preferred_surname)
        )  # fmt: skip
    files["users.csv"] = _csv(user_header, users)
    files["classes.csv"] = _csv(
        ("sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
         "classCode", "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects"),
        [
            (c.id, "active", stamp, c.name,
             ",".join(g for g in (_grade(years.get(y)) for y in c.year_group_ids) if g),
             "", c.description or "", "scheduled", "", school, "", c.subject or "")
            for c in snapshot.classes
        ],
    )  # fmt: skip
    enrolments: list[Sequence[object]] = []
    for role, people in (("student", snapshot.pupils), ("teacher", snapshot.staff)):
        for person in people:
            for c in person.class_ids:
                enrolments.append(
                    (f"{c}:{person.id}", "active", stamp, c, school, person.id, role, "", "", "")
                )
    files["enrollments.csv"] = _csv(
        ("sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
         "userSourcedId", "role", "primary", "beginDate", "endDate"),
        enrolments,
    )  # fmt: skip
    files["demographics.csv"] = _csv(
        ("sourcedId", "status", "dateLastModified", "birthDate", "sex"),
        [
            (p.id, "active", stamp, p.date_of_birth.isoformat() if p.date_of_birth else "",
             {"M": "male", "F": "female"}.get(p.gender.value, ""))
            for p in snapshot.pupils
        ],
    )  # fmt: skip
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    partial.replace(target)
    return target
