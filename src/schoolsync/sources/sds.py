"""Microsoft School Data Sync (SDS) CSV files.

Two families:

* :class:`SdsSource`: SDS v2.1 (``orgs``, ``users``, ``roles``, ``classes``, ``enrollments``,
  ``demographics``...; OneRoster-shaped without a manifest or status columns) and the older
  SDS v2 (``users.csv`` with ``orgSourcedIds``, ``role``, ``grade``; no ``roles.csv``).
* :class:`SdsClassicSource`: the classic six-file format (``School``, ``Section``, ``Student``,
  ``Teacher``, ``StudentEnrollment``, ``TeacherRoster``), keyed on ``SIS ID``/``School SIS ID``
  or, in the UK format, ``DfE Number``/``School DfE Number``.

``users.activeDirectoryMatchId`` (v2.1) is kept on each record as ``directory_match_id``, for
matching to existing accounts. Every record's ``id`` and ``mis_id`` is the SDS ``sourcedId``
(``SIS ID``/``ID`` in the classic format).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Unpack

import attrs

from schoolsync.errors import FileFormatError
from schoolsync.ports import MisSnapshot
from schoolsync.sources._bundle import Bundle, FileMode
from schoolsync.sources._csv import FileSpec
from schoolsync.sources._dialect import Dialect, Part
from schoolsync.sources._roster import RosterOptions, RosterSource
from schoolsync.sources._years import GradeMapping

__all__ = ["SdsClassicSource", "SdsSource", "read_sds", "read_sds_classic"]

_V21_ORGS = FileSpec(
    name="orgs.csv",
    required=("sourcedId", "name", "type"),
    optional=("parentSourcedId",),
    known=("identifier",),
)
_V21_USERS = FileSpec(
    name="users.csv",
    required=("sourcedId", "username", "givenName", "familyName"),
    optional=(
        "activeDirectoryMatchId",
        "email",
        "middleName",
        "preferredGivenName",
        "preferredFamilyName",
        "orgSourcedIds",
        "role",
        "grades",
    ),
    known=("password", "phone", "sms", "userNumber", "preferredMiddleName", "pronouns"),
    aliases={"grade": "grades"},
)
_V21_ROLES = FileSpec(
    name="roles.csv",
    required=("userSourcedId", "orgSourcedId", "role"),
    optional=("isPrimary", "grades"),
    known=("sessionSourcedId", "roleStartDate", "roleEndDate"),
    aliases={"grade": "grades"},
)
_V21_CLASSES = FileSpec(
    name="classes.csv",
    required=("sourcedId", "schoolSourcedId", "title"),
    optional=("grades", "classCode", "subjects"),
    known=("sessionSourcedIds", "courseSourcedId", "periods", "location"),
    aliases={
        "orgSourcedId": "schoolSourcedId",
        "code": "classCode",
        "subject": "subjects",
        "grade": "grades",
    },
)
_V21_ENROLMENTS = FileSpec(
    name="enrollments.csv",
    required=("classSourcedId", "userSourcedId", "role"),
)
_V21_DEMOGRAPHICS = FileSpec(
    name="demographics.csv",
    required=("sourcedId",),
    optional=("birthDate", "sex"),
    known=("birthCity", "birthState", "birthCountry", "ethnicityCodes", "raceCodes"),
    aliases={"userSourcedId": "sourcedId"},
)
_V2_USERS = FileSpec(
    name="users.csv",
    required=("sourcedId", "orgSourcedIds", "givenName", "familyName", "username", "role"),
    optional=("grades", "email", "activeDirectoryMatchId", "middleName"),
    known=("password",),
    aliases={"grade": "grades"},
)


class SdsSource(RosterSource):
    """An SDS v2.1 or v2 CSV folder or zip, read as one school's records (``MisSource``).

    The version is told by the files: ``roles.csv`` means v2.1, else v2. Every file is a full
    ("bulk") set: SDS has no delta files and no status column.

    Args:
        path: the folder or zip file.
        school_org: the ``sourcedId`` of the school in ``orgs.csv`` (optional when the files
            hold one org of type ``school``). Users and classes of its child orgs count.
        school_id: the ``school_id`` on every record (default: *school_org*).
        grade_mapping: how grades become NC years (SDS grades are US grades; pass
            :attr:`GradeMapping.US_AGE` for age-equivalent years).
        taken_at: the export time, if known.
        day_first: read slash dates as d/m/yyyy (default) or m/d/yyyy.
    """

    version: str
    """The SDS format version the files are in (``"2.1"`` or ``"2"``)."""

    def _open(self, bundle: Bundle) -> tuple[Dialect, dict[str, FileMode]]:
        v21 = bundle.find("roles.csv") is not None
        if bundle.find("users.csv") is None:
            raise FileFormatError(
                bundle.display("users.csv"), "an SDS v2/v2.1 folder needs users.csv"
            )
        self.version = "2.1" if v21 else "2"
        dialect = Dialect(
            label="SDS v2.1" if v21 else "SDS v2",
            orgs=Part(spec=_V21_ORGS),
            users=(Part(spec=_V21_USERS if v21 else _V2_USERS),),
            roles=Part(spec=_V21_ROLES) if v21 else None,
            classes=Part(spec=_V21_CLASSES, required=False),
            enrolments=(Part(spec=_V21_ENROLMENTS, required=False),),
            demographics=Part(spec=_V21_DEMOGRAPHICS, required=False),
        )
        return dialect, {}


def _labelled(spec: FileSpec) -> FileSpec:
    """*spec* with errors naming the classic format's own headers (its aliases)."""
    labels: dict[str, str] = {}
    for alias, canonical in spec.aliases.items():
        labels.setdefault(canonical, alias)
    return attrs.evolve(spec, labels=labels)


def _classic_dialect(dfe: bool) -> Dialect:
    sis = "DfE Number" if dfe else "SIS ID"
    person_id = "ID" if dfe else "SIS ID"
    school = FileSpec(
        name="School.csv",
        required=("sourcedId", "name"),
        known=(
            "School Number",
            "School NCES_ID",
            "State ID",
            "Grade Low",
            "Grade High",
            "Principal SIS ID",
            "Principal Name",
            "Principal Secondary Email",
            "Address",
            "City",
            "State",
            "Country",
            "Postal Code",
            "Zip",
            "Phone",
            "Zone",
        ),
        aliases={sis: "sourcedId", "Name": "name"},
    )
    people = {
        "First Name": "givenName",
        "Last Name": "familyName",
        "Middle Name": "middleName",
        "Secondary Email": "email",
        "Status": "status",
    }
    student = FileSpec(
        name="Student.csv",
        required=("sourcedId", "orgSourcedIds", "username"),
        optional=(
            "givenName",
            "familyName",
            "middleName",
            "email",
            "status",
            "grades",
            "birthDate",
            "sex",
        ),
        known=(
            "Password",
            "State ID",
            "Student Number",
            "Graduation Year",
            "Mailing Address",
            "Mailing City",
            "Mailing State",
            "Mailing Zip",
            "Mailing Latitude",
            "Mailing Longitude",
            "Mailing Country",
            "Residence Address",
            "Residence City",
            "Residence State",
            "Residence Zip",
            "Residence Latitude",
            "Residence Longitude",
            "Residence Country",
            "ELL Status",
            "FLL Status",
        ),
        aliases={
            person_id: "sourcedId",
            ("School DfE Number" if dfe else "School SIS ID"): "orgSourcedIds",
            "Username": "username",
            "Grade": "grades",
            "Birthdate": "birthDate",
            "Gender": "sex",
            **people,
        },
    )
    teacher = FileSpec(
        name="Teacher.csv",
        required=("sourcedId", "orgSourcedIds", "username"),
        optional=("givenName", "familyName", "middleName", "email", "status", "title"),
        known=("Password", "State ID", "Teacher Number", "Qualification"),
        aliases={
            person_id: "sourcedId",
            ("School DfE Number" if dfe else "School SIS ID"): "orgSourcedIds",
            "Username": "username",
            "Title": "title",
            **people,
        },
    )
    section = FileSpec(
        name="Section.csv",
        required=("sourcedId", "schoolSourcedId", "title"),
        optional=("status", "subjects", "classCode"),
        known=(
            "Term SIS ID",
            "Term Name",
            "Term StartDate",
            "Term EndDate",
            "Course SIS ID",
            "Course Name",
            "Course Number",
            "Course Description",
            "Periods",
        ),
        aliases={
            person_id: "sourcedId",
            ("School DfE Number" if dfe else "School SIS ID"): "schoolSourcedId",
            "Section Name": "title",
            "Section Number": "classCode",
            "Course Subject": "subjects",
            "Status": "status",
        },
    )
    section_col = "Section ID" if dfe else "Section SIS ID"
    student_enrol = FileSpec(
        name="StudentEnrollment.csv",
        required=("classSourcedId", "userSourcedId"),
        aliases={section_col: "classSourcedId", person_id: "userSourcedId"},
    )
    teacher_roster = FileSpec(
        name="TeacherRoster.csv",
        required=("classSourcedId", "userSourcedId"),
        aliases={section_col: "classSourcedId", person_id: "userSourcedId"},
    )
    school, student, teacher, section, student_enrol, teacher_roster = (
        _labelled(spec)
        for spec in (school, student, teacher, section, student_enrol, teacher_roster)
    )
    return Dialect(
        label="SDS classic (UK format)" if dfe else "SDS classic",
        orgs=Part(spec=school),
        users=(Part(spec=student, role="student"), Part(spec=teacher, role="teacher")),
        classes=Part(spec=section),
        enrolments=(
            Part(spec=student_enrol, role="student"),
            Part(spec=teacher_roster, role="teacher"),
        ),
        day_first=False,
        org_option="school",
        org_key=sis,
    )


class SdsClassicSource(RosterSource):
    """The classic SDS six-file CSV format (``School``, ``Section``, ``Student``, ``Teacher``,
    ``StudentEnrollment``, ``TeacherRoster``), as one school's records (``MisSource``).

    The UK format (keyed on ``DfE Number`` / ``School DfE Number``, with ``ID`` and
    ``Section ID`` columns) is told from the ``SIS ID`` format by ``School.csv``'s header.
    Microsoft's samples write dates as m/d/yyyy, so *day_first* defaults to false here.

    Args:
        path: the folder or zip file.
        school: the school's ``DfE Number`` (or ``SIS ID``); optional when ``School.csv`` has
            one school.
        school_id: the ``school_id`` on every record (default: *school*).
        grade_mapping: how grades become NC years.
        taken_at: the export time, if known.
        day_first: read slash dates as d/m/yyyy instead of m/d/yyyy.
    """

    uk_format: bool
    """True for the UK format (``DfE Number`` keys)."""

    def __init__(
        self,
        path: str | Path,
        *,
        school: str | None = None,
        school_id: str | None = None,
        grade_mapping: GradeMapping = GradeMapping.UK,
        taken_at: datetime | None = None,
        day_first: bool = False,
    ) -> None:
        super().__init__(
            path,
            school_org=school,
            school_id=school_id,
            grade_mapping=grade_mapping,
            taken_at=taken_at,
            day_first=day_first,
        )

    def _open(self, bundle: Bundle) -> tuple[Dialect, dict[str, FileMode]]:
        member = bundle.find("School.csv")
        if member is None:
            raise FileFormatError(
                bundle.display("School.csv"), "an SDS classic folder needs School.csv"
            )
        self.uk_format = bundle.header_has(member, "DfE Number")
        return _classic_dialect(self.uk_format), {}


def read_sds(path: str | Path, **options: Unpack[RosterOptions]) -> MisSnapshot:
    """Read a whole SDS v2/v2.1 folder or zip into a snapshot; *options* as for
    :class:`SdsSource` (``school_org``, ``school_id``, ``grade_mapping``, ``taken_at``,
    ``day_first``)."""
    return SdsSource(path, **options).read()


def read_sds_classic(
    path: str | Path,
    *,
    school: str | None = None,
    school_id: str | None = None,
    grade_mapping: GradeMapping = GradeMapping.UK,
    taken_at: datetime | None = None,
    day_first: bool = False,
) -> MisSnapshot:
    """Read a whole classic SDS folder or zip into a snapshot (see :class:`SdsClassicSource`;
    *day_first* reads slash dates as d/m/yyyy instead of Microsoft's m/d/yyyy)."""
    return SdsClassicSource(
        path,
        school=school,
        school_id=school_id,
        grade_mapping=grade_mapping,
        taken_at=taken_at,
        day_first=day_first,
    ).read()
