"""What a person decided about a review, as a plain value the workbook and the page both make.

A :class:`ReviewDecisions` holds the decisions about one :class:`~schoolsync.matching.MatchReview`
(named by its fingerprint, so decisions are never applied to another review): accept a pair,
reject it (unmatch), match two records by hand, import a New record or leave it out. It saves as
JSON through the shared cattrs converter (a store can keep the same value later), and
:meth:`ReviewDecisions.apply` turns the review into the decided review, which
:func:`schoolsync.sync.plan` turns into a sync plan.

:func:`decisions_from_rows` reads decisions the way the workbook and the page express them (one
row per review line: a Decision cell and a Match-to-id cell) and checks every one, naming the
row and the column of each problem. Pure: no I/O except :meth:`ReviewDecisions.save`/``load``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from cattrs import BaseValidationError, transform_error

from schoolsync.errors import DecisionsError, FileFormatError
from schoolsync.matching import MatchResult, MatchReview, MatchStatus, score_pair
from schoolsync.matching._review import ReviewLines, manual_pair
from schoolsync.people import Pupil, StaffMember
from schoolsync.review._view import ReviewLine, review_fingerprint, review_lines
from schoolsync.sync.records import RecordKind

if TYPE_CHECKING:
    from datetime import datetime

    from schoolsync.ports import IdSource, Store, UnitOfWork
    from schoolsync.records.decisions import MatchDecision

__all__ = [
    "DECISION_COLUMN",
    "DECISION_LABELS",
    "MATCH_COLUMN",
    "Choice",
    "Decision",
    "ReviewDecisions",
    "RowEntry",
    "apply_decisions",
    "decisions_from_rows",
    "prefilled",
]

#: The column (workbook) and control (page) holding each line's decision.
DECISION_COLUMN = "Decision"
#: The column (workbook) and control (page) holding the id of a record to match with.
MATCH_COLUMN = "Match to id"
_MAX_PROBLEMS = 100


class Choice(StrEnum):
    """One decision about a review line."""

    ACCEPT = "accept"
    """Keep a May match or Matched pair (it becomes a confirmed Matched pair)."""
    REJECT = "reject"
    """Unmatch a pair: the MIS record becomes New, the app record Not matched."""
    MATCH = "match"
    """Match an MIS record with an app record by hand (both must be unpaired by then)."""
    IMPORT = "import"
    """Import a New MIS record."""
    DO_NOT_IMPORT = "do_not_import"
    """Leave a New MIS record out of the import."""

    @property
    def label(self) -> str:
        """The label in the workbook's drop-down and on the page (``"Reject match"``)."""
        return _LABELS[self]


_LABELS = {
    Choice.ACCEPT: "Accept match",
    Choice.REJECT: "Reject match",
    Choice.MATCH: "Match to id",
    Choice.IMPORT: "Import",
    Choice.DO_NOT_IMPORT: "Do not import",
}
#: The drop-down's labels, in the order offered.
DECISION_LABELS: tuple[str, ...] = tuple(_LABELS[c] for c in Choice)
_PARSE: dict[str, Choice] = {label.casefold(): c for c, label in _LABELS.items()}
_PARSE.update({c.value: c for c in Choice})
_PARSE.update(
    {
        "accept": Choice.ACCEPT,
        "reject": Choice.REJECT,
        "unmatch": Choice.REJECT,
        "match": Choice.MATCH,
        "do not import": Choice.DO_NOT_IMPORT,
        "skip": Choice.DO_NOT_IMPORT,
    }
)
_ORDER = {Choice.REJECT: 0, Choice.MATCH: 1, Choice.ACCEPT: 2, Choice.IMPORT: 3}
_ORDER[Choice.DO_NOT_IMPORT] = 3


@attrs.frozen(kw_only=True)
class Decision:
    """One decision: its :class:`Choice` and the records it is about, by ``id``.

    ``mis_id`` and ``app_id`` are both set for accept, reject and match; import and do not
    import name only ``mis_id``.
    """

    choice: Choice
    mis_id: str | None = None
    app_id: str | None = None


@attrs.frozen(kw_only=True)
class ReviewDecisions:
    """A person's decisions about one review (``review`` is its fingerprint).

    Only decisions that change something are kept: an unchanged workbook or page gives none.
    """

    kind: RecordKind
    review: str
    decisions: tuple[Decision, ...] = ()

    @classmethod
    def empty(cls, review: MatchReview[Any]) -> ReviewDecisions:
        """No decisions yet about *review*."""
        return cls(kind=review.kind, review=review_fingerprint(review))

    def __len__(self) -> int:
        return len(self.decisions)

    def counts(self) -> dict[Choice, int]:
        """How many decisions of each choice (all keys present)."""
        out = dict.fromkeys(Choice, 0)
        for d in self.decisions:
            out[d.choice] += 1
        return out

    def apply(self, review: MatchReview[Any]) -> MatchReview[Any]:
        """The review as decided (see :func:`apply_decisions`)."""
        return apply_decisions(review, self)

    def record(
        self,
        target: Store | UnitOfWork,
        review: MatchReview[Any],
        *,
        school_id: str,
        at: datetime,
        actor_id: str | None = None,
        ids: IdSource | None = None,
    ) -> tuple[MatchDecision, ...]:
        """Remember these decisions in the store (see
        :func:`schoolsync.review.record_review_decisions`)."""
        from schoolsync.review.storing import record_review_decisions

        return record_review_decisions(
            target, review, self, school_id=school_id, at=at, actor_id=actor_id, ids=ids
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (the shared cattrs converter)."""
        from schoolsync.serialisation import converter

        data: dict[str, Any] = converter.unstructure(self)
        return {"format": "schoolsync.review-decisions/1", **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str = "decisions") -> ReviewDecisions:
        """Read :meth:`to_dict`'s form back.

        Raises:
            FileFormatError: *data* is not review decisions; names the first bad field.
        """
        from schoolsync.serialisation import converter

        if not isinstance(data, Mapping) or data.get("format") != "schoolsync.review-decisions/1":
            raise FileFormatError(name, "not a schoolsync review decisions file", field="format")
        body = {k: v for k, v in data.items() if k != "format"}
        try:
            return converter.structure(body, cls)
        except BaseValidationError as exc:
            problems = transform_error(exc, path="decisions")
            reason, _, where = problems[0].partition(" @ ") if problems else ("invalid", "", "")
            raise FileFormatError(name, reason, field=where) from exc

    def save(self, path: str | Path) -> Path:
        """Write the decisions to *path* as JSON (UTF-8), replacing it in one step."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        temporary.replace(target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> ReviewDecisions:
        """Read decisions saved with :meth:`save`.

        Raises:
            FileFormatError: the file is not JSON review decisions.
        """
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FileFormatError(source.name, "not a JSON file of review decisions") from exc
        return cls.from_dict(data, name=source.name)


Locate = Callable[[int], FileFormatError]


def _problems(message: str, problems: list[FileFormatError], more: int) -> DecisionsError:
    shown: list[Exception] = list(problems)
    if more:
        shown.append(FileFormatError(problems[0].file, f"and {more} more problems"))
    return DecisionsError(message, shown)


class _Applier(ReviewLines):
    """Applies decisions one by one to a mutable copy of the review's lines."""

    def __init__(self, review: MatchReview[Any], rows: Mapping[str, int]) -> None:
        super().__init__(review)
        self.rows = rows

    def new(self, record: Any) -> None:
        self.add(MatchResult(status=MatchStatus.NEW, mis=record))
        if self.review.select_new_by_default:
            self.selected.add(record.id)

    def pair_of(self, d: Decision) -> MatchResult[Any] | str:
        r = self.by_mis.get(d.mis_id or "")
        if r is None:
            return f"no MIS record has id {d.mis_id!r}"
        if r.app is None or r.app.id != d.app_id:
            return f"MIS record {d.mis_id!r} is not matched with app record {d.app_id!r}"
        return r

    def step(self, d: Decision, claimed: dict[str, int], index: int) -> str | None:
        """Apply *d*; a reason when it cannot be applied."""
        if d.choice in (Choice.REJECT, Choice.ACCEPT):
            r = self.pair_of(d)
            if isinstance(r, str):
                return r
            self.remove(r)
            if d.choice is Choice.ACCEPT:
                self.add(attrs.evolve(r, status=MatchStatus.MATCHED, confirmed=True))
                return None
            self.new(r.mis)
            self.add(MatchResult(status=MatchStatus.NOT_MATCHED, app=r.app))
            return None
        if d.choice is Choice.MATCH:
            return self.match(d, claimed, index)
        line = self.by_mis.get(d.mis_id or "")
        if line is None:
            return f"no MIS record has id {d.mis_id!r}"
        if line.status is not MatchStatus.NEW:
            return "only a New record can be imported or left out"
        key = line.mis_key or ""
        if d.choice is Choice.IMPORT:
            self.selected.add(key)
        elif key in self.review.locked:
            return "this record is already in the app; it cannot be left out"
        else:
            self.selected.discard(key)
        return None

    def match(self, d: Decision, claimed: dict[str, int], index: int) -> str | None:
        rm = self.by_mis.get(d.mis_id or "")
        ra = self.by_app.get(d.app_id or "")
        if rm is None:
            return f"no MIS record has id {d.mis_id!r}"
        if ra is None:
            return f"no app record has id {d.app_id!r}"
        for side, key in (("MIS", f"m:{d.mis_id}"), ("app", f"a:{d.app_id}")):
            if key in claimed:
                return f"this {side} record is matched twice (also by {_where_ref(claimed[key])})"
        for r, side, rec_id in ((rm, "MIS", d.mis_id), (ra, "app", d.app_id)):
            if r.is_pair:
                row = self.rows.get(f"{side[0].lower()}:{rec_id}")
                on = "" if row is None else f" on row {row}"
                return (
                    f"{side} record {rec_id!r} is already matched{on}; reject that match first "
                    "(a record can be matched only once)"
                )
        claimed[f"m:{d.mis_id}"] = claimed[f"a:{d.app_id}"] = index
        self.remove(rm)
        self.remove(ra)
        people = isinstance(rm.mis, Pupil | StaffMember)
        self.add(manual_pair(rm.mis, ra.app, score_pair if people else None))
        self.selected.discard(d.mis_id or "")
        return None


def _where_ref(index: int) -> str:
    return f"decision {index + 1}"


def apply_decisions(
    review: MatchReview[Any],
    decisions: ReviewDecisions,
    *,
    locate: Locate | None = None,
    source: str = "decisions",
    rows: Mapping[str, int] | None = None,
) -> MatchReview[Any]:
    """*review* with *decisions* applied: rejections first, then hand matches, acceptances,
    and the import choices. Every decision is checked first; one bad decision applies none.

    *locate* turns a decision's position into the error naming where it came from (a row and
    column of a workbook); by default problems name ``decisions[i]`` of *source*. *rows*
    gives the row of each record (``"m:<id>"``, ``"a:<id>"``) for messages that point at one.

    Raises:
        DecisionsError: the decisions were made about another review, or some cannot be
            applied (an id that does not exist, a record matched twice, a New-only choice on a
            pair...); one problem per decision.
    """
    if decisions.kind is not review.kind or decisions.review != review_fingerprint(review):
        raise DecisionsError(
            "the decisions cannot be used",
            [
                FileFormatError(
                    source,
                    "these decisions were made about a different review (the exports changed, "
                    "or another school or kind of record)",
                    field="review",
                )
            ],
        )

    def default_locate(i: int) -> FileFormatError:
        return FileFormatError(source, "", field=f"decisions[{i}]")

    where = locate or default_locate
    applier = _Applier(review, rows or {})
    claimed: dict[str, int] = {}
    problems: list[FileFormatError] = []
    more = 0
    order = sorted(
        range(len(decisions.decisions)), key=lambda i: _ORDER[decisions.decisions[i].choice]
    )
    for i in order:
        reason = applier.step(decisions.decisions[i], claimed, i)
        if reason is None:
            continue
        if len(problems) >= _MAX_PROBLEMS:
            more += 1
            continue
        base = where(i)
        problems.append(
            FileFormatError(
                base.file, _refs(reason, where), row=base.row, field=base.field, value=base.value
            )
        )
    if problems:
        raise _problems("the decisions cannot be used", problems, more)
    return applier.result()


def _refs(reason: str, where: Locate) -> str:
    """Replace ``decision N`` references with the place they came from (``row 7``)."""
    marker = "(also by decision "
    if marker not in reason:
        return reason
    head, _, tail = reason.partition(marker)
    number = int(tail.rstrip(")"))
    other = where(number - 1)
    place = f"row {other.row}" if other.row is not None else f"decision {number}"
    return f"{head}(also on {place})"


@attrs.frozen(kw_only=True)
class RowEntry:
    """One row as a person left it: the line's ids, its Decision and Match-to-id cells.

    ``row`` is the row number to report (a workbook row, or the line's number on the page).
    """

    row: int
    mis_id: str
    app_id: str
    decision: str = ""
    match_to: str = ""


def prefilled(line: ReviewLine) -> str:
    """The Decision a line shows before anyone edits it (what the review already says).

    New records show Import or Do not import; pairs a person already accepted show Accept
    match; the rest are blank. Reading back an unchanged row therefore decides nothing.
    """
    if line.selected is not None:
        return Choice.IMPORT.label if line.selected else Choice.DO_NOT_IMPORT.label
    if line.result.confirmed:
        return Choice.ACCEPT.label
    return ""


def _parse_choice(text: str) -> Choice | None:
    return _PARSE.get(" ".join(text.replace("_", " ").split()).casefold()) or _PARSE.get(
        text.strip().casefold()
    )


def _row_decisions(line: ReviewLine, choice: Choice | None, target: str) -> list[Decision] | str:
    """The decisions one row asks for (none when it repeats what the review says)."""
    m, a = line.mis_id, line.app_id
    status = line.status
    if target and choice is None:
        choice = Choice.MATCH
    if choice is None:
        return []
    if status is MatchStatus.NOT_MATCHED:
        if choice is Choice.MATCH:
            return [Decision(choice=Choice.MATCH, mis_id=target, app_id=a)]
        return f"{choice.label!r} does not apply to a Not matched record; it can only be matched"
    if status is MatchStatus.NEW:
        if choice is Choice.MATCH:
            return [Decision(choice=Choice.MATCH, mis_id=m, app_id=target)]
        if choice in (Choice.ACCEPT, Choice.REJECT):
            return f"{choice.label!r} does not apply to a New record: it has no match"
        if (choice is Choice.IMPORT) == bool(line.selected):
            return []
        return [Decision(choice=choice, mis_id=m)]
    if choice is Choice.MATCH:
        if target == a:
            choice = Choice.ACCEPT
        else:
            return [
                Decision(choice=Choice.REJECT, mis_id=m, app_id=a),
                Decision(choice=Choice.MATCH, mis_id=m, app_id=target),
            ]
    if choice in (Choice.IMPORT, Choice.DO_NOT_IMPORT):
        return f"{choice.label!r} applies to New records only; this one is a {status.label} pair"
    if choice is Choice.ACCEPT and line.result.confirmed and status is MatchStatus.MATCHED:
        return []
    return [Decision(choice=choice, mis_id=m, app_id=a)]


def decisions_from_rows(
    review: MatchReview[Any],
    entries: Iterable[RowEntry],
    *,
    source: str,
    lines: Sequence[ReviewLine] | None = None,
    require_every_line: bool = True,
) -> ReviewDecisions:
    """Check every row's decision and return the decisions they make about *review*.

    *source* names the file (or ``"review page"``) in problems. Each problem names the row and
    the column: a decision that is not one of the drop-down's, a match-to id no record has (or
    an id of the wrong side), a record matched twice, a choice that does not fit the line's
    status, a row whose ids are not a line of the review or appear twice, and (when
    *require_every_line*) lines with no row at all.

    Raises:
        DecisionsError: one problem per bad row (at most 100 listed); nothing is decided.
    """
    lines = review_lines(review) if lines is None else lines
    by_key = {(ln.mis_id, ln.app_id): ln for ln in lines}
    mis_ids = {ln.mis_id for ln in lines if ln.mis_id}
    app_ids = {ln.app_id for ln in lines if ln.app_id}
    problems: list[FileFormatError] = []
    more = 0

    def problem(row: int | None, column: str, reason: str, value: object = None) -> None:
        nonlocal more
        if len(problems) >= _MAX_PROBLEMS:
            more += 1
            return
        problems.append(FileFormatError(source, reason, row=row, field=column, value=value))

    seen: dict[tuple[str, str], int] = {}
    made: list[Decision] = []
    made_set: set[Decision] = set()
    places: list[tuple[int, str]] = []
    for entry in entries:
        key = (entry.mis_id.strip(), entry.app_id.strip())
        line = by_key.get(key)
        if line is None:
            problem(
                entry.row,
                "MIS id" if key[0] else "App id",
                "no line of the review has these ids (were the ids edited, or a row added?)",
            )
            continue
        if key in seen:
            problem(entry.row, "MIS id", f"the same line as row {seen[key]} (a copied row?)")
            continue
        seen[key] = entry.row
        text = entry.decision.strip()
        target = entry.match_to.strip()
        choice = _parse_choice(text) if text else None
        if text and choice is None:
            problem(
                entry.row,
                DECISION_COLUMN,
                "not a decision; choose one of " + ", ".join(DECISION_LABELS),
                text[:40],
            )
            continue
        if choice is Choice.MATCH and not target:
            problem(entry.row, MATCH_COLUMN, "give the id of the record to match with")
            continue
        if target and choice not in (None, Choice.MATCH) and text == prefilled(line):
            choice = Choice.MATCH  # an id typed beside the untouched proposal: the id wins
        if target and choice not in (None, Choice.MATCH):
            problem(
                entry.row,
                MATCH_COLUMN,
                f"an id is given but the decision is {choice.label!r}; "
                f"choose {Choice.MATCH.label!r} or clear the id",
                target[:40],
            )
            continue
        if target:
            wanted, other, side = (
                (mis_ids, app_ids, "MIS")
                if line.status is MatchStatus.NOT_MATCHED
                else (app_ids, mis_ids, "app")
            )
            if target not in wanted:
                hint = (
                    f"; that is an {'app' if side == 'MIS' else 'MIS'} record's id"
                    if target in other
                    else ""
                )
                problem(entry.row, MATCH_COLUMN, f"no {side} record has this id{hint}", target[:40])
                continue
        asked = _row_decisions(line, choice, target)
        if isinstance(asked, str):
            problem(entry.row, DECISION_COLUMN, asked)
            continue
        for d in asked:
            if d in made_set:  # the same hand match asked from both records' rows
                continue
            made_set.add(d)
            made.append(d)
            places.append(
                (entry.row, MATCH_COLUMN if d.choice is Choice.MATCH else DECISION_COLUMN)
            )
    if require_every_line:
        for ln in lines:
            if (ln.mis_id, ln.app_id) not in seen:
                column, rec_id = ("MIS id", ln.mis_id) if ln.mis_id else ("App id", ln.app_id)
                problem(
                    None,
                    column,
                    "the review's line for this record has no row (rows must not be deleted)",
                    rec_id,
                )
    decisions = ReviewDecisions(
        kind=review.kind, review=review_fingerprint(review), decisions=tuple(made)
    )
    if made:
        # The decisions each row makes are checked together too (a record matched twice).
        rows: dict[str, int] = {}
        for (m, a), row in seen.items():
            if m:
                rows[f"m:{m}"] = row
            if a:
                rows[f"a:{a}"] = row

        def locate(i: int) -> FileFormatError:
            row, column = places[i]
            return FileFormatError(source, "", row=row, field=column)

        try:
            apply_decisions(review, decisions, locate=locate, source=source, rows=rows)
        except DecisionsError as exc:
            for e in exc.exceptions:
                if isinstance(e, FileFormatError) and len(problems) < _MAX_PROBLEMS:
                    problems.append(e)
    if problems:
        problems.sort(key=lambda p: (p.row is None, p.row or 0))
        raise _problems("the decisions cannot be used", problems, more)
    return decisions
