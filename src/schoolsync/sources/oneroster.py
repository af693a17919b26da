"""OneRoster 1.1 and 1.2 CSV bundles.

A bundle is a zip file or a folder of CSV files with a ``manifest.csv``. :class:`OneRosterSource`
reads one school's staff, pupils, classes, year groups and enrolments from it, streaming the
large files (``users.csv``, ``enrollments.csv``) so memory stays bounded. This module declares
the format (its files, their columns, the manifest); the engine is shared with the SDS readers
(:mod:`schoolsync.sources._roster`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

import attrs

from schoolsync.errors import FileFormatError
from schoolsync.ports import MisSnapshot
from schoolsync.sources._bundle import Bundle, FileMode
from schoolsync.sources._csv import CsvFile, FileSpec, Warnings
from schoolsync.sources._dialect import Dialect, Part
from schoolsync.sources._roster import Deletion, Enrolment, RosterOptions, RosterSource
from schoolsync.sources._years import GradeMapping, nc_year_for_grade, year_group_name

__all__ = [
    "Deletion",
    "Enrolment",
    "FileMode",
    "GradeMapping",
    "OneRosterSource",
    "RosterSource",
    "nc_year_for_grade",
    "read_oneroster",
    "year_group_name",
]


# ---------------------------------------------------------------------------------------------
# OneRoster


#: Every OneRoster file has these columns (values may be blank in a bulk file).
_COMMON = ("status", "dateLastModified")
_ORGS = FileSpec(
    name="orgs.csv",
    required=("sourcedId", *_COMMON, "name", "type"),
    optional=("parentSourcedId",),
    known=("identifier", "metadata.classification", "metadata.gender", "metadata.boarding"),
    aliases={"parentSourceId": "parentSourcedId"},
)
_USER_KNOWN = (
    "username",
    "userIds",
    "identifier",
    "sms",
    "phone",
    "agentSourcedIds",
    "password",
    "userMasterIdentifier",
    "preferredMiddleName",
    "pronouns",
    "enabledUser",
)
_USERS_11 = FileSpec(
    name="users.csv",
    required=(
        "sourcedId",
        *_COMMON,
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "givenName",
        "familyName",
    ),
    optional=(
        "middleName",
        "email",
        "grades",
        "userIds",
        "preferredGivenName",
        "preferredFamilyName",
        "primaryOrgSourcedId",
    ),
    known=_USER_KNOWN,
    aliases={"userId": "userIds", "grade": "grades", "agents": "agentSourcedIds"},
)
_USERS_12 = FileSpec(
    name="users.csv",
    required=("sourcedId", *_COMMON, "enabledUser", "username", "givenName", "familyName"),
    optional=(
        "middleName",
        "email",
        "grades",
        "userIds",
        "preferredGivenName",
        "preferredFamilyName",
        "primaryOrgSourcedId",
        "orgSourcedIds",
        "role",
    ),
    known=_USER_KNOWN,
    aliases={"userId": "userIds", "grade": "grades"},
)
_ROLES_12 = FileSpec(
    name="roles.csv",
    required=("sourcedId", *_COMMON, "userSourcedId", "roleType", "role", "orgSourcedId"),
    known=("beginDate", "endDate", "userProfileSourcedId"),
)
_CLASSES = FileSpec(
    name="classes.csv",
    required=(
        "sourcedId",
        *_COMMON,
        "title",
        "courseSourcedId",
        "classType",
        "schoolSourcedId",
        "termSourcedIds",
    ),
    optional=("grades", "classCode", "subjects"),
    known=(
        "location",
        "subjectCodes",
        "periods",
        "resources",
    ),
    aliases={"grade": "grades"},
)
_ENROLMENTS = FileSpec(
    name="enrollments.csv",
    required=(
        "sourcedId",
        *_COMMON,
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
    ),
    known=("primary", "beginDate", "endDate"),
)
_DEMOGRAPHICS = FileSpec(
    name="demographics.csv",
    required=("sourcedId", *_COMMON),
    optional=("birthDate", "sex"),
    known=(
        "americanIndianOrAlaskaNative",
        "asian",
        "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander",
        "white",
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    ),
    aliases={"userSourcedId": "sourcedId"},
)


#: OneRoster 1.0's users.csv: ``enabledUser`` came in 1.1 (read as enabled when absent).
_USERS_10 = attrs.evolve(
    _USERS_11, required=tuple(c for c in _USERS_11.required if c != "enabledUser")
)
#: The manifest keys OneRoster 1.0-1.2 define (``file.*`` keys are checked on their own).
_MANIFEST_KEYS = frozenset(
    {"manifest.version", "oneroster.version", "source.systemName", "source.systemCode"}
)


def _oneroster_dialect(version: str) -> Dialect:
    v12 = version == "1.2"
    users = _USERS_12 if v12 else _USERS_10 if version == "1.0" else _USERS_11
    return Dialect(
        label=f"OneRoster {version}",
        orgs=Part(spec=_ORGS),
        users=(Part(spec=users),),
        roles=Part(spec=_ROLES_12, required=False) if v12 else None,
        classes=Part(spec=_CLASSES, required=False),
        enrolments=(Part(spec=_ENROLMENTS, required=False),),
        demographics=Part(spec=_DEMOGRAPHICS, required=False),
    )


_FILE_KEYS = ("orgs", "users", "roles", "classes", "enrollments", "demographics")


class OneRosterSource(RosterSource):
    """A OneRoster 1.1 or 1.2 CSV bundle (a zip or a folder), read as one school's records.

    Args:
        path: the zip file or the folder.
        school_org: the ``sourcedId`` of the school's org. When omitted, the bundle's only org
            of type ``school`` is used (or its only org, with a warning); a bundle with several
            schools needs it. Classes and users of the org's descendants (departments) count.
        school_id: the ``school_id`` written on every record (default: *school_org*).
        grade_mapping: how grade codes become NC years (see :class:`GradeMapping`).
        taken_at: the export time, if known (else the latest ``dateLastModified``).
        day_first: read slash dates as d/m/yyyy (default) or m/d/yyyy; either is warned.

    Raises:
        FileFormatError: when built, for a path that is neither a folder nor a zip, a missing
            or bad manifest or an unsupported version; on the first use of a stream, for a
            missing required file and every problem of the files (see ``docs/sources.md``).
    """

    version: str
    """The OneRoster version the manifest declares (``"1.0"``, ``"1.1"`` or ``"1.2"``)."""

    def _open(self, bundle: Bundle) -> tuple[Dialect, dict[str, FileMode]]:
        self.version, modes = _read_manifest(bundle, self._w)
        return _oneroster_dialect(self.version), modes

    @property
    def modes(self) -> dict[str, FileMode]:
        """Each file's mode from the manifest (``users.csv`` -> bulk/delta/absent)."""
        return dict(self._modes)


def _read_manifest(bundle: Bundle, warnings: Warnings) -> tuple[str, dict[str, FileMode]]:
    member = bundle.find("manifest.csv")
    if member is None:
        raise FileFormatError(
            bundle.display("manifest.csv"), "a OneRoster bundle needs a manifest.csv"
        )
    spec = FileSpec(name="manifest.csv", required=("propertyName", "value"))
    f = CsvFile(bundle.opener(member), bundle.display(member), spec, warnings)
    props: dict[str, tuple[str, int]] = {}
    for row in f.rows():
        name = row.get("propertyName")
        if name:
            props[name] = (row.get("value"), row.number)
    version, vrow = props.get("oneroster.version", ("", None))
    if version == "1.0":
        warnings.add(
            f.name,
            "OneRoster 1.0 read with the 1.1 columns (enabledUser, added in 1.1, is optional)",
            field="oneroster.version",
        )
    for key, (_value, number) in props.items():
        if key not in _MANIFEST_KEYS and not key.startswith("file."):
            warnings.add(f.name, f"unknown manifest key {key!r} ignored", row=number, field=key)
    if version not in {"1.0", "1.1", "1.2"}:
        raise FileFormatError(
            f.name,
            "oneroster.version must be 1.0, 1.1 or 1.2",
            row=vrow,
            field="oneroster.version",
            value=version or None,
        )
    modes: dict[str, FileMode] = {}
    for key, (value, number) in props.items():
        if not key.startswith("file."):
            continue
        fname = key[5:].lower() + ".csv"
        v = value.lower()
        if v in {"bulk", "delta", "absent"}:
            modes[fname] = FileMode(v)
        elif not v:
            warnings.add(
                f.name, "blank file mode read as absent", row=number, field=key, kind="blank mode"
            )
            modes[fname] = FileMode.ABSENT
        else:
            raise FileFormatError(
                f.name,
                "a file mode must be bulk, delta or absent",
                row=number,
                field=key,
                value=value,
            )
    if modes.get("users.csv", FileMode.ABSENT) is FileMode.ABSENT:
        raise FileFormatError(
            f.name, "the manifest must send users.csv (bulk or delta)", field="file.users"
        )
    return version, modes


def read_oneroster(path: str | Path, **options: Unpack[RosterOptions]) -> MisSnapshot:
    """Read a whole OneRoster bundle into a snapshot; *options* as for :class:`OneRosterSource`
    (``school_org``, ``school_id``, ``grade_mapping``, ``taken_at``, ``day_first``).

    Raises:
        FileFormatError: on any problem; nothing is returned half-read.
    """
    return OneRosterSource(path, **options).read()
