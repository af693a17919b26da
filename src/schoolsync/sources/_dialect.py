"""What the roster engine is configured by: a :class:`Dialect` (which files a format has, and
their column specs) and the vocabulary OneRoster-shaped files share (roles, record statuses).

The formats themselves are declared beside their readers: OneRoster 1.1/1.2 in
:mod:`schoolsync.sources.oneroster`, SDS v2/v2.1 and SDS classic in :mod:`schoolsync.sources.sds`.
"""

from __future__ import annotations

from enum import Enum, StrEnum

import attrs

from schoolsync.sources._csv import FileSpec

__all__ = [
    "OTHER_ROLES",
    "PUPIL_ROLES",
    "STAFF_ROLES",
    "Dialect",
    "MemberKind",
    "Part",
    "RecordStatus",
    "member_kind",
]


class MemberKind(Enum):
    """What a user of the school is read as: a pupil or a member of staff."""

    PUPIL = "pupil"
    STAFF = "staff"

    @property
    def enrolment_role(self) -> str:
        """The OneRoster enrolment role written for this kind of member."""
        return "student" if self is MemberKind.PUPIL else "teacher"


class RecordStatus(StrEnum):
    """A record's ``status``: active, or marked for deletion (OneRoster ``tobedeleted``)."""

    ACTIVE = "active"
    TO_BE_DELETED = "tobedeleted"


#: Role words (lower case, spaces removed) read as pupils.
PUPIL_ROLES = frozenset({"student", "learner"})
#: Role words read as staff.
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
#: Role words of people who are not read (with a warning, not an error).
OTHER_ROLES = frozenset({"parent", "guardian", "relative", "contact"})


def member_kind(role: str) -> MemberKind | None:
    """The kind of member a role word names (any case, spaces ignored), or ``None``."""
    r = role.strip().lower().replace(" ", "")
    if r in PUPIL_ROLES:
        return MemberKind.PUPIL
    if r in STAFF_ROLES:
        return MemberKind.STAFF
    return None


@attrs.frozen(kw_only=True)
class Part:
    """One file of a dialect: its spec and the role every row has (for per-role files)."""

    spec: FileSpec
    role: str | None = None
    required: bool = True


@attrs.frozen(kw_only=True)
class Dialect:
    """The files of one roster format, as the engine reads them.

    ``users`` and ``enrolments`` may be several files (SDS classic has one per role, each
    :class:`Part` carrying that role); ``day_first`` is the format's default for slash dates;
    ``org_option`` and ``org_key`` are how its errors name the school option and key.
    """

    label: str
    orgs: Part | None
    users: tuple[Part, ...]
    classes: Part | None
    enrolments: tuple[Part, ...]
    roles: Part | None = None
    demographics: Part | None = None
    day_first: bool = True
    #: How errors name the reader's option that picks the school (``school=`` for classic SDS).
    org_option: str = "school_org"
    #: How errors name the column that keys a school (``DfE Number`` for classic SDS).
    org_key: str = "sourcedId"
