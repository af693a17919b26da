"""Match statuses, per-field evidence and one result per record (or pair of records)."""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, TypeVar

import attrs

from schoolsync.errors import ValidationError
from schoolsync.records.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.records.review import MatchStatus

__all__ = [
    "FieldScore",
    "MatchResult",
    "MatchRule",
    "MatchStatus",
    "R",
]

R = TypeVar("R", Pupil, StaffMember, SchoolClass, YearGroup)


_QUIET_WHEN_MISSING = frozenset({"gender", "middle_names"})


class MatchRule(StrEnum):
    """Which rung of the identifier ladder (or which person) made a pair."""

    MIS_ID = "mis_id"
    UPN = "upn"
    FORMER_UPN = "former_upn"
    EMAIL = "email"
    NAME_DOB = "name_dob"
    NAME = "name"
    NC_YEAR = "nc_year"
    MANUAL = "manual"
    NONE = "none"


_RULE_TEXT = {
    MatchRule.MIS_ID: "MIS id equal",
    MatchRule.UPN: "UPN equal",
    MatchRule.FORMER_UPN: "former UPN equal",
    MatchRule.EMAIL: "email equal",
}


@attrs.frozen(kw_only=True)
class FieldScore:
    """The evidence one field gave: its similarity (0-1), its weight and a short note.

    ``weight`` is 0 when the field was missing on either side (it then does not count).
    """

    field: str
    similarity: float
    weight: float
    note: str

    def describe(self) -> str:
        """E.g. ``"forename 0.91 Jaro-Winkler"`` or ``"date of birth day/month swapped"``."""
        return f"{self.field.replace('_', ' ')} {self.note}"


def _shown(value: object) -> str:
    """A field's value as a person reads it in a table ("" for nothing)."""
    if value is None or value == () or value == "":
        return ""
    if isinstance(value, tuple | list | frozenset | set):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


@attrs.frozen(kw_only=True)
class MatchResult(Generic[R]):
    """One line of a review: an MIS record, an app record, or a pair, with its status.

    ``mis`` is set for New, May match and Matched; ``app`` for Not matched, May match and
    Matched. ``score`` (0-1) and ``breakdown`` explain a pair; ``runner_up`` is the best score
    of a competing candidate (``None`` when there was none); ``flags`` name the safety rules
    that held a pair back at May match (``"ambiguous"``, ``"possible twin"``...);
    ``confirmed`` is true once a person matched or accepted the pair.
    """

    status: MatchStatus
    mis: R | None = None
    app: R | None = None
    score: float = 0.0
    rule: MatchRule = MatchRule.NONE
    breakdown: tuple[FieldScore, ...] = ()
    runner_up: float | None = None
    flags: tuple[str, ...] = ()
    confirmed: bool = False

    def __attrs_post_init__(self) -> None:
        status = self.status
        if (self.mis is None) is (status is not MatchStatus.NOT_MATCHED) or (self.app is None) is (
            status is not MatchStatus.NEW
        ):
            needs_mis = status is not MatchStatus.NOT_MATCHED
            needs_app = status is not MatchStatus.NEW
            raise ValidationError(
                "status",
                self.status.value,
                f"a {self.status.label} result needs mis={needs_mis} and app={needs_app}",
            )

    @property
    def is_pair(self) -> bool:
        """True for May match and Matched (both records present)."""
        return self.mis is not None and self.app is not None

    @property
    def explanation(self) -> str:
        """The breakdown as one sentence: ``"surname equal, forename 0.91 Jaro-Winkler"``.

        A pair made by an identifier says which first (``"UPN equal, surname equal, ..."``).
        """
        rung = _RULE_TEXT.get(self.rule)
        parts = [] if rung is None or not self.is_pair else [rung]
        parts += [
            f.describe()
            for f in self.breakdown
            if not (f.weight == 0.0 and f.field in _QUIET_WHEN_MISSING)
        ]
        parts.extend(self.flags)
        return ", ".join(parts)

    def field_rows(self) -> list[dict[str, str]]:
        """The result as a person compares it: one row per field either record holds, the MIS
        value beside the app value (``"mis"``/``"app"``; blank where a record is absent)."""
        rows: list[dict[str, str]] = []
        kind = type(self.record)
        for name in (f.name for f in attrs.fields(kind)):
            values = [
                "" if rec is None else _shown(getattr(rec, name)) for rec in (self.mis, self.app)
            ]
            if any(values):
                rows.append({"field": name, "mis": values[0], "app": values[1]})
        return rows

    def _repr_html_(self) -> str:
        """A notebook's view: the status, score and explanation above the two records side by
        side, with human headers, every value escaped."""
        from schoolsync.tables import human_header, rows_to_html

        caption = self.status.label
        if self.is_pair:
            caption += f" ({self.score:.2f})"
        if self.explanation:
            caption += f": {self.explanation}"
        rows = [{**row, "field": human_header(row["field"])} for row in self.field_rows()]
        return rows_to_html(rows, caption=caption, labels={"mis": "MIS", "app": "App"})

    @property
    def record(self) -> R:
        """The MIS record if there is one, else the app record."""
        rec = self.mis if self.mis is not None else self.app
        assert rec is not None
        return rec

    @property
    def mis_key(self) -> str | None:
        """The MIS record's ``id`` (``None`` for Not matched)."""
        return None if self.mis is None else self.mis.id

    @property
    def app_key(self) -> str | None:
        """The app record's ``id`` (``None`` for New)."""
        return None if self.app is None else self.app.id


(
    _set_status,
    _set_mis,
    _set_app,
    _set_score,
    _set_rule,
    _set_breakdown,
    _set_runner_up,
    _set_flags,
    _set_confirmed,
) = (MatchResult.__dict__[f.name].__set__ for f in attrs.fields(MatchResult))
_new_result = object.__new__


def made_result(
    status: MatchStatus,
    mis: R | None,
    app: R | None,
    score: float = 0.0,
    rule: MatchRule = MatchRule.NONE,
    breakdown: tuple[FieldScore, ...] = (),
    runner_up: float | None = None,
    flags: tuple[str, ...] = (),
) -> MatchResult[R]:
    """A :class:`MatchResult` equal to the constructor's, built without the constructor's
    check of status against records: for the matcher's own results, whose statuses and
    records agree by construction (twice as fast as the attrs ``__init__``, which counts at
    100,000s of results). Not confirmed."""
    result: MatchResult[R] = _new_result(MatchResult)
    _set_status(result, status)
    _set_mis(result, mis)
    _set_app(result, app)
    _set_score(result, score)
    _set_rule(result, rule)
    _set_breakdown(result, breakdown)
    _set_runner_up(result, runner_up)
    _set_flags(result, flags)
    _set_confirmed(result, False)
    return result
