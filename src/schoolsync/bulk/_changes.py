"""The change set a person previews before a bulk edit happens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs

from schoolsync.errors import BulkImportError, BulkRowError
from schoolsync.tables import Tabular

__all__ = [
    "ApplyResult",
    "BulkImportError",
    "BulkProblem",
    "BulkRowError",
    "Change",
    "ChangeKind",
    "ChangeSet",
    "ProblemCode",
    "ProblemList",
]


class ChangeKind(StrEnum):
    """What one change does. Changes are applied in this order."""

    DEACTIVATE = "make inactive"
    REMOVE_ROLE = "remove role"
    CREATE_USER = "create user"
    RENAME = "rename"
    REACTIVATE = "make active"
    #: An "exactly one" role moving from one account to another (a removal and an addition of
    #: the same role at the same school, paired up).
    TRANSFER = "transfer role"
    ADD_ROLE = "add role"


_ORDER = {kind: i for i, kind in enumerate(ChangeKind)}


class ProblemCode(StrEnum):
    """Why a row, cell or selected account cannot be changed."""

    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    UNKNOWN_SCHOOL_COLUMN = "unknown_school_column"
    UNKNOWN_ROLE = "unknown_role"
    WRONG_SCOPE = "wrong_scope"
    MALFORMED_EMAIL = "malformed_email"
    DUPLICATE_EMAIL = "duplicate_email"
    MISSING_NAME = "missing_name"
    BAD_VALUE = "bad_value"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_SCHOOL = "unknown_school"
    CAP_EXCEEDED = "cap_exceeded"
    NOT_ALLOWED = "not_allowed"
    REFUSED = "refused"


@attrs.frozen(kw_only=True)
class Change:
    """One change to one account.

    ``account_id`` is ``None`` only for a user still to be created (``CREATE_USER`` and the roles
    given to that user), who is then known by ``email``. ``school_id`` ``None`` means trust-wide.
    ``row``/``column`` say where in the file the change comes from (``None`` for a selection edit).

    A ``TRANSFER`` moves ``role`` at ``school_id`` to the account of ``email``/``account_id``
    (whose row and column are ``row``/``column``) from the account of ``from_email``/
    ``from_account_id`` (at ``from_row``/``from_column``).
    """

    kind: ChangeKind
    email: str
    account_id: str | None = None
    role: str | None = None
    school_id: str | None = None
    name: str | None = None
    row: int | None = None
    column: str | None = None
    from_email: str | None = None
    from_account_id: str | None = None
    from_row: int | None = None
    from_column: str | None = None

    def sort_key(self) -> tuple[int, int, str, str, str]:
        """Application order: by kind (removals before additions), then by row and names."""
        return (
            _ORDER[self.kind],
            self.row or 0,
            self.email,
            self.school_id or "",
            self.role or "",
        )


@attrs.frozen(kw_only=True)
class BulkProblem:
    """A reason part of a bulk edit cannot go ahead, with where it is.

    ``row`` is the spreadsheet row (header = 1), ``column`` the column heading; both ``None``
    when they do not apply (a selection edit, a whole-file problem).
    """

    code: ProblemCode
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return (", ".join(where) + ": " if where else "") + self.message


class ProblemList(list[BulkProblem]):
    """Problems collected while reading or applying a change set (a plain list, plus ``add``)."""

    def add(
        self, code: ProblemCode, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        """Append a :class:`BulkProblem`."""
        self.append(BulkProblem(code=code, message=message, row=row, column=column))


def _change_tuple(value: Iterable[Change]) -> tuple[Change, ...]:
    return tuple(value)


def _problem_tuple(value: Iterable[BulkProblem]) -> tuple[BulkProblem, ...]:
    return tuple(value)


def _frozen_map(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True, eq=False)
class ChangeSet(Tabular):
    """Everything a bulk import or selection edit would do, for a person to preview.

    Nothing has happened yet: pass the change set to :func:`schoolsync.bulk.apply_change_set`
    to make the changes in one unit of work. ``problems`` lists every reason it cannot be
    applied as it is; a change set with problems is refused whole.

    It renders as a table in Jupyter (``_repr_html_``) and :meth:`to_rows` gives plain rows.
    """

    trust_id: str
    actor_id: str | None
    changes: tuple[Change, ...] = attrs.field(converter=_change_tuple)
    problems: tuple[BulkProblem, ...] = attrs.field(default=(), converter=_problem_tuple)
    source: str | None = None
    school_names: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChangeSet):
            return NotImplemented
        return (
            self.trust_id == other.trust_id
            and self.actor_id == other.actor_id
            and self.changes == other.changes
            and self.problems == other.problems
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def is_empty(self) -> bool:
        """True if there is nothing to change and nothing wrong."""
        return not self.changes and not self.problems

    @property
    def ok(self) -> bool:
        """True if the change set has no problems (it may still be empty)."""
        return not self.problems

    def of_kind(self, kind: ChangeKind) -> tuple[Change, ...]:
        """The changes of one kind, in application order."""
        return tuple(c for c in self.changes if c.kind is kind)

    @property
    def users_to_create(self) -> tuple[Change, ...]:
        """New accounts (``CREATE_USER`` changes)."""
        return self.of_kind(ChangeKind.CREATE_USER)

    @property
    def roles_to_add(self) -> tuple[Change, ...]:
        """Roles to give, at a school or trust-wide (``school_id is None``)."""
        return self.of_kind(ChangeKind.ADD_ROLE)

    @property
    def roles_to_remove(self) -> tuple[Change, ...]:
        """Roles to take away."""
        return self.of_kind(ChangeKind.REMOVE_ROLE)

    @property
    def transfers(self) -> tuple[Change, ...]:
        """ "Exactly one" roles changing hands (``TRANSFER`` changes)."""
        return self.of_kind(ChangeKind.TRANSFER)

    @property
    def to_make_inactive(self) -> tuple[Change, ...]:
        """Accounts to make inactive."""
        return self.of_kind(ChangeKind.DEACTIVATE)

    def summary(self) -> dict[str, int]:
        """How many changes of each kind and how many problems (zero counts included)."""
        counts = Counter(c.kind for c in self.changes)
        result = {kind.value: counts.get(kind, 0) for kind in ChangeKind}
        result["problems"] = len(self.problems)
        return result

    def describe(self) -> str:
        """A one-line human summary, e.g. ``"2 create user, 5 add role; 1 problem"``."""
        counts = Counter(c.kind for c in self.changes)
        parts = [f"{counts[k]} {k.value}" for k in ChangeKind if counts.get(k)]
        text = ", ".join(parts) or "no changes"
        if self.problems:
            n = len(self.problems)
            text += f"; {n} problem{'s' if n != 1 else ''}"
        return text

    def _place(self, school_id: str | None) -> str:
        if school_id is None:
            return "trust"
        return self.school_names.get(school_id, school_id)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per change (``change``, ``email``, ``name``, ``role``, ``where``, ``row``,
        ``from``), then one per problem (``change`` = ``"problem"``, with the message).

        A transfer's ``email`` and ``row`` are the account receiving the role; ``from`` is the
        email of the account giving it up (``None`` for every other change).
        """
        role_kinds = (ChangeKind.ADD_ROLE, ChangeKind.REMOVE_ROLE, ChangeKind.TRANSFER)
        rows: list[dict[str, Any]] = []
        for c in self.changes:
            rows.append(
                {
                    "change": c.kind.value,
                    "email": c.email,
                    "name": c.name,
                    "role": c.role,
                    "where": self._place(c.school_id) if c.kind in role_kinds else None,
                    "row": c.row,
                    "from": c.from_email,
                    "problem": None,
                }
            )
        for p in self.problems:
            rows.append(
                {
                    "change": "problem",
                    "email": None,
                    "name": None,
                    "role": None,
                    "where": p.column,
                    "row": p.row,
                    "from": None,
                    "problem": p.message,
                }
            )
        return rows

    def table_caption(self) -> str:
        """The caption: the source and :meth:`describe`."""
        return f"{self.source or 'Change set'}: {self.describe()}"

    def problem_rows(self) -> list[dict[str, Any]]:
        """The problems alone as rows (``row``, ``column``, ``code``, ``message``)."""
        return [
            {"row": p.row, "column": p.column, "code": p.code.value, "message": p.message}
            for p in self.problems
        ]


@attrs.frozen(kw_only=True)
class ApplyResult:
    """What :func:`schoolsync.bulk.apply_change_set` did."""

    created_account_ids: tuple[str, ...]
    changes_applied: int
    audit_event_ids: tuple[str, ...]
