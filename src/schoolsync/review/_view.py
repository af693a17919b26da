"""A review as people read it: one :class:`ReviewLine` per result, in review order.

The workbook and the page both show these lines, so that what a person sees (labels, the two
records side by side, the values the MIS will overwrite, the evidence) is written once. Pure.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from datetime import date
from typing import Any

import attrs

from schoolsync.matching import MatchResult, MatchReview, MatchRule, MatchStatus, record_name
from schoolsync.people import Gender
from schoolsync.sync.records import RecordKind

__all__ = [
    "RULE_LABELS",
    "STATUS_HELP",
    "Column",
    "ReviewLine",
    "columns_for",
    "review_fingerprint",
    "review_lines",
]

#: How a pair was made, in words (the rule's internal value is never shown).
RULE_LABELS: dict[MatchRule, str] = {
    MatchRule.MIS_ID: "Same MIS id",
    MatchRule.UPN: "Same UPN",
    MatchRule.FORMER_UPN: "Same former UPN",
    MatchRule.EMAIL: "Same email",
    MatchRule.NAME_DOB: "Name and date of birth",
    MatchRule.NAME: "Name only",
    MatchRule.NC_YEAR: "Same NC year",
    MatchRule.MANUAL: "Matched by a person",
    MatchRule.NONE: "",
}

#: What each status means and what to do (the seed's panel texts, shortened).
STATUS_HELP: dict[MatchStatus, str] = {
    MatchStatus.NOT_MATCHED: (
        "In the app, with no clear match in the MIS (often a leaver). "
        "Match it to an MIS record by its id, or leave it."
    ),
    MatchStatus.NEW: (
        "In the MIS, with no clear match in the app: imported as new unless you match it to "
        "an app record. Check there is no duplicate first."
    ),
    MatchStatus.MAY_MATCH: (
        "A very close match the system was not sure of: accept it, or reject it (unmatch). "
        "Left as it is, it will be matched."
    ),
    MatchStatus.MATCHED: (
        "Matched with reasonable certainty. Still worth a look: reject any mistake."
    ),
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Gender):
        return "" if value is Gender.UNKNOWN else value.value
    if isinstance(value, date):
        return value.strftime("%d %b %Y")
    if isinstance(value, tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


@attrs.frozen
class Column:
    """One field shown for both records: its heading, attribute and whether the MIS owns it."""

    label: str
    attr: str
    mis_owned: bool = True


_COLUMNS: dict[RecordKind, tuple[Column, ...]] = {
    RecordKind.PUPIL: (
        Column("Forename", "forename"),
        Column("Surname", "surname"),
        Column("Date of birth", "date_of_birth"),
        Column("UPN", "upn"),
        Column("Year", "year_code"),
    ),
    RecordKind.STAFF: (
        Column("Title", "title"),
        Column("Forename", "forename"),
        Column("Surname", "surname"),
        Column("Staff code", "staff_code"),
        Column("Email", "email", mis_owned=False),
    ),
    RecordKind.CLASS: (
        Column("Name", "name"),
        Column("Subject", "subject"),
        Column("Description", "description", mis_owned=False),
    ),
    RecordKind.YEAR_GROUP: (
        Column("Name", "name"),
        Column("NC year", "nc_year"),
    ),
}


def columns_for(kind: RecordKind) -> tuple[Column, ...]:
    """The fields shown side by side for records of *kind*."""
    return _COLUMNS[kind]


@attrs.frozen(kw_only=True)
class ReviewLine:
    """One result as a person reads it.

    ``mis_values``/``app_values`` follow :func:`columns_for`; ``overwritten`` holds the
    positions of app values the MIS will replace (the seed shows them struck out).
    ``evidence`` lists the per-field evidence of a pair (one phrase per field), ``explanation``
    says in one sentence why the line has its status.
    """

    index: int
    result: MatchResult[Any]
    status: MatchStatus
    mis_id: str
    app_id: str
    mis_values: tuple[str, ...]
    app_values: tuple[str, ...]
    overwritten: frozenset[int]
    score: float | None
    how: str
    explanation: str
    evidence: tuple[str, ...]
    selected: bool | None
    locked: bool
    mis_name: str
    app_name: str

    @property
    def row(self) -> int:
        """The line's row in the workbook (the header is row 1) and its number on the page."""
        return self.index + 2

    @property
    def search_text(self) -> str:
        """Both records' values and ids, lower-cased without accents (what the filter looks in)."""
        text = " ".join([self.mis_id, self.app_id, *self.mis_values, *self.app_values])
        plain = unicodedata.normalize("NFD", text.casefold())
        return "".join(c for c in plain if not unicodedata.combining(c))


def _explanation(result: MatchResult[Any], review: MatchReview[Any]) -> str:
    if result.is_pair:
        return result.explanation
    if result.status is MatchStatus.NEW:
        if review.select_new_by_default:
            return "No app record is a close match: imported as new unless you match it."
        return "No app record is a close match: not imported unless you tick it or match it."
    return "No MIS record is a close match: it stays in the app, not synced, unless you match it."


def review_lines(review: MatchReview[Any]) -> list[ReviewLine]:
    """The lines of *review*, in review order (Not matched, New, May match, Matched)."""
    columns = columns_for(review.kind)
    attrs_ = [c.attr for c in columns]

    def values(rec: Any) -> tuple[str, ...]:
        if rec is None:
            return ("",) * len(attrs_)
        return tuple(_text(getattr(rec, a, None)) for a in attrs_)

    out: list[ReviewLine] = []
    for index, r in enumerate(review.results):
        mis_values = values(r.mis)
        app_values = values(r.app)
        overwritten: frozenset[int] = frozenset()
        if r.is_pair:
            overwritten = frozenset(
                i
                for i, c in enumerate(columns)
                if c.mis_owned and mis_values[i] and mis_values[i] != app_values[i]
            )
        is_new = r.status is MatchStatus.NEW
        mis_id = r.mis_key or ""
        out.append(
            ReviewLine(
                index=index,
                result=r,
                status=r.status,
                mis_id=mis_id,
                app_id=r.app_key or "",
                mis_values=mis_values,
                app_values=app_values,
                overwritten=overwritten,
                score=round(r.score, 3) if r.is_pair else None,
                how=RULE_LABELS.get(r.rule, "") if r.is_pair else "",
                explanation=_explanation(r, review),
                evidence=tuple(f.describe() for f in r.breakdown) + tuple(r.flags),
                selected=(mis_id in review.selected) if is_new else None,
                locked=is_new and mis_id in review.locked,
                mis_name="" if r.mis is None else record_name(r.mis),
                app_name="" if r.app is None else record_name(r.app),
            )
        )
    return out


def review_fingerprint(review: MatchReview[Any]) -> str:
    """A short digest of what the review proposes (kind, each line's status, ids, choices).

    Decisions carry it, so that they are never applied to a different review.
    """
    digest = hashlib.sha256(review.kind.value.encode())
    for r in review.results:
        digest.update(
            f"\x1e{r.status.value}\x1f{r.mis_key or ''}\x1f{r.app_key or ''}\x1f"
            f"{int(r.confirmed)}".encode()
        )
    for key in sorted(review.selected):
        digest.update(f"\x1d{key}".encode())
    return digest.hexdigest()[:32]


def line_keys(lines: Sequence[ReviewLine]) -> dict[tuple[str, str], ReviewLine]:
    """Lines by (MIS id, app id)."""
    return {(ln.mis_id, ln.app_id): ln for ln in lines}
