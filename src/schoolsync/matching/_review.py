"""``MatchReview``: the value a person reviews, edits, saves and resumes before a sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic

import attrs
from cattrs import BaseValidationError, transform_error

from schoolsync.errors import NotFoundError, ValidationError
from schoolsync.matching._normalise import normalise_name
from schoolsync.matching._results import FieldScore, MatchResult, MatchRule, MatchStatus, R
from schoolsync.records.decisions import MatchChoice, MatchDecision, MatchDecisions
from schoolsync.records.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.records.sync import RecordKind
from schoolsync.tables import Tabular

__all__ = ["MatchReview", "MixedYearClass", "ReviewLines", "manual_pair", "record_name"]


_TYPES: dict[RecordKind, type[Any]] = {
    RecordKind.PUPIL: Pupil,
    RecordKind.STAFF: StaffMember,
    RecordKind.CLASS: SchoolClass,
    RecordKind.YEAR_GROUP: YearGroup,
}


def record_name(record: Pupil | StaffMember | SchoolClass | YearGroup) -> str:
    """The name a person knows a record by (display name for people, name for groups)."""
    if isinstance(record, Pupil | StaffMember):
        return f"{record.forename} {record.surname}"
    return record.name


def _search_text(record: Pupil | StaffMember | SchoolClass | YearGroup) -> str:
    if isinstance(record, Pupil | StaffMember):
        parts = [
            record.forename,
            record.surname,
            record.preferred_forename or "",
            record.preferred_surname or "",
        ]
        return normalise_name(" ".join(parts))
    return normalise_name(record.name)


_PEOPLE = (Pupil, StaffMember)
_MATCHED, _MAY_MATCH, _NEW = MatchStatus.MATCHED, MatchStatus.MAY_MATCH, MatchStatus.NEW


def _sort_key(result: MatchResult[Any]) -> str:
    """Status (review order), then name, then ids, as one string (cheap to compare; made
    once per result, so it avoids the enum's Python-level hash and a second casefold)."""
    mis, app = result.mis, result.app
    rec = mis if mis is not None else app
    assert rec is not None
    status = result.status
    order = (
        "3"
        if status is _MATCHED
        else "2"
        if status is _MAY_MATCH
        else "1"
        if status is _NEW
        else "0"
    )
    if isinstance(rec, _PEOPLE):
        name = f"{rec.surname}\x01{rec.forename}".casefold()
    else:
        name = rec.name.casefold()
    return f"{order}{name}\x00{'' if mis is None else mis.id}\x00{'' if app is None else app.id}"


def _ordered(results: Any) -> tuple[MatchResult[Any], ...]:
    return tuple(sorted(results, key=_sort_key))


def _frozen(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@attrs.frozen(kw_only=True)
class MixedYearClass:
    """An MIS class spanning several year groups where the app has one class per year.

    The seed's procedure: create an app class mirroring ``mis_class`` and match it one-to-one;
    pupils are then re-allocated to it from ``app_classes`` automatically.
    """

    mis_class: SchoolClass
    nc_years: tuple[str, ...]
    app_classes: tuple[SchoolClass, ...]


@attrs.frozen(kw_only=True)
class MatchReview(Tabular, Generic[R]):
    """The outcome of matching, as a person reviews it; every edit returns a new review.

    ``results`` are ordered as the review should be done: Not matched, New, May match, Matched
    (then by name). Every MIS record and every app record appears in exactly one result.
    ``selected`` holds the ``id`` of each New MIS record chosen for import (pupils are selected
    by default, staff are not); ``locked`` holds MIS ids that cannot be deselected (year groups
    the app already has). ``excluded`` lists MIS records left out of matching altogether (the
    Nursery year group) and ``mixed_year_classes`` the MIS classes needing the mixed-year
    procedure.
    """

    kind: RecordKind
    results: tuple[MatchResult[R], ...] = attrs.field(converter=_ordered)
    selected: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    locked: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    select_new_by_default: bool = True
    excluded: tuple[R, ...] = ()
    mixed_year_classes: tuple[MixedYearClass, ...] = ()

    # ------------------------------------------------------------------ reading

    def __iter__(self) -> Iterator[MatchResult[R]]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def by_status(self, status: MatchStatus) -> tuple[MatchResult[R], ...]:
        """The results with *status*, in review order."""
        return tuple(r for r in self.results if r.status is status)

    def counts(self) -> dict[MatchStatus, int]:
        """How many results have each status (all four keys present)."""
        out = dict.fromkeys(MatchStatus, 0)
        for r in self.results:
            out[r.status] += 1
        return out

    def pairs(self) -> tuple[MatchResult[R], ...]:
        """Matched and May match results (both records present), in review order."""
        return tuple(r for r in self.results if r.is_pair)

    def filter(self, text: str) -> tuple[MatchResult[R], ...]:
        """Results where either record's names contain every word of *text* (normalised: case,
        accents, apostrophes), in any order: ``"smi ja"`` and ``"ja smi"`` find Jack Smith."""
        words = normalise_name(text).split()
        return tuple(
            r
            for r in self.results
            if any(
                all(w in found for w in words)
                for found in (_search_text(x) for x in (r.mis, r.app) if x is not None)
            )
        )

    def result_for(
        self, *, mis: R | str | None = None, app: R | str | None = None
    ) -> MatchResult[R]:
        """The result holding MIS record *mis* (or app record *app*), given as a record or id."""
        if (mis is None) == (app is None):
            raise ValidationError("mis", mis, "give exactly one of mis= and app=")
        key = _key(mis if mis is not None else app)
        for r in self.results:
            if (r.mis_key if mis is not None else r.app_key) == key:
                return r
        raise NotFoundError("mis record" if mis is not None else "app record", key)

    def is_selected(self, mis: R | str) -> bool:
        """True when New MIS record *mis* will be imported."""
        return _key(mis) in self.selected

    def to_import(self) -> tuple[R, ...]:
        """The New MIS records selected for import, in review order."""
        out = []
        for r in self.results:
            if r.status is MatchStatus.NEW and r.mis is not None and r.mis.id in self.selected:
                out.append(r.mis)
        return tuple(out)

    # ------------------------------------------------------------------ editing

    def match(
        self,
        mis: R | str,
        app: R | str,
        *,
        scorer: Callable[[R, R], tuple[float, tuple[FieldScore, ...]]] | None = None,
    ) -> MatchReview[R]:
        """Match MIS record *mis* with app record *app* by hand (records or ids).

        Any pair either record was in is broken up: its other record becomes New or Not matched.
        The new pair is Matched, ``confirmed``, rule ``MANUAL``; *scorer* (for example
        :func:`schoolsync.matching.score_pair`) fills in its score and breakdown.
        """
        rm = self.result_for(mis=mis)
        ra = self.result_for(app=app)
        assert rm.mis is not None
        assert ra.app is not None
        new = manual_pair(rm.mis, ra.app, scorer)
        rest: list[MatchResult[R]] = [r for r in self.results if r is not rm and r is not ra]
        added: set[str] = set()
        for r in {id(rm): rm, id(ra): ra}.values():
            if r.app is not None and r.app is not ra.app:
                rest.append(MatchResult(status=MatchStatus.NOT_MATCHED, app=r.app))
            if r.mis is not None and r.mis is not rm.mis:
                rest.append(MatchResult(status=MatchStatus.NEW, mis=r.mis))
                if self.select_new_by_default:
                    added.add(r.mis.id)
        rest.append(new)
        return self._with(rest, added=added, dropped={rm.mis.id})

    def unmatch(self, *, mis: R | str | None = None, app: R | str | None = None) -> MatchReview[R]:
        """Break the pair holding *mis* (or *app*): the MIS record becomes New, the app record
        Not matched."""
        r = self.result_for(mis=mis, app=app)
        if not r.is_pair:
            raise ValidationError("status", r.status.value, "only a matched pair can be unmatched")
        assert r.mis is not None
        assert r.app is not None
        rest = [x for x in self.results if x is not r]
        rest.append(MatchResult(status=MatchStatus.NEW, mis=r.mis))
        rest.append(MatchResult(status=MatchStatus.NOT_MATCHED, app=r.app))
        added = {r.mis.id} if self.select_new_by_default else set()
        return self._with(rest, added=added)

    def confirm(self, mis: R | str) -> MatchReview[R]:
        """Accept the May match (or Matched) pair holding MIS record *mis*."""
        r = self.result_for(mis=mis)
        if not r.is_pair:
            raise ValidationError("status", r.status.value, "only a pair can be confirmed")
        rest = [x for x in self.results if x is not r]
        rest.append(attrs.evolve(r, status=MatchStatus.MATCHED, confirmed=True))
        return self._with(rest)

    def accept_all_may_match(self) -> MatchReview[R]:
        """Every May match becomes a confirmed Matched pair."""
        return self._with(
            [
                attrs.evolve(r, status=MatchStatus.MATCHED, confirmed=True)
                if r.status is MatchStatus.MAY_MATCH
                else r
                for r in self.results
            ]
        )

    def select(self, *mis: R | str) -> MatchReview[R]:
        """Choose New MIS records for import."""
        keys = {_key(m) for m in mis}
        news = {r.mis_key for r in self.results if r.status is MatchStatus.NEW}
        unknown = keys - news
        if unknown:
            raise NotFoundError("new MIS record", sorted(unknown)[0])
        return attrs.evolve(self, selected=self.selected | keys)

    def deselect(self, *mis: R | str) -> MatchReview[R]:
        """Leave New MIS records out of the import (locked ones cannot be left out)."""
        keys = {_key(m) for m in mis}
        locked = keys & self.locked
        if locked:
            raise ValidationError(
                "selected", sorted(locked)[0], "already in the app; it cannot be unticked"
            )
        return attrs.evolve(self, selected=self.selected - keys)

    def select_all_new(self) -> MatchReview[R]:
        """Select every New MIS record."""
        return attrs.evolve(
            self,
            selected=self.selected
            | {r.mis.id for r in self.results if r.status is MatchStatus.NEW and r.mis},
        )

    def deselect_all_new(self) -> MatchReview[R]:
        """Deselect every New MIS record (except locked ones)."""
        return attrs.evolve(self, selected=self.selected & self.locked)

    def _with(
        self,
        results: list[MatchResult[R]],
        *,
        added: set[str] | frozenset[str] = frozenset(),
        dropped: set[str] | frozenset[str] = frozenset(),
    ) -> MatchReview[R]:
        new_keys = {r.mis.id for r in results if r.status is MatchStatus.NEW and r.mis is not None}
        selected = ((self.selected | added) - dropped) & (new_keys | self.locked)
        return attrs.evolve(self, results=results, selected=selected)

    def honour(
        self,
        decisions: Iterable[MatchDecision],
        *,
        scorer: Callable[[R, R], tuple[float, tuple[FieldScore, ...]]] | None = None,
    ) -> MatchReview[R]:
        """The review with a person's remembered decisions (of this review's kind) applied.

        No automatic evidence overrides them: a pair a person matched is Matched (``confirmed``,
        rule ``MANUAL``), taking both records from whatever pairs they were in; a pair a person
        refused ("not this one", e.g. by :func:`schoolsync.sync.unmatch`) is split, its MIS
        record New and not ticked for import until a person matches it or chooses Import, its
        app record Not matched; Import and Do not import set the New record's tick. Decisions
        about records absent from the review are ignored. MIS records are named by their MIS
        identifier (``mis_id``, else ``id``). *scorer* scores a pair a person matched (as for
        :meth:`match`; people are scored with the default settings when it is not given). See :mod:`schoolsync.sync.decisions`.
        """
        book = (
            decisions if isinstance(decisions, MatchDecisions) else MatchDecisions(decisions)
        ).of(self.kind)
        if not book:
            return self
        if scorer is None and self.kind in (RecordKind.PUPIL, RecordKind.STAFF):
            from schoolsync.matching._people import score_pair
            from schoolsync.matching._settings import MatchSettings

            settings = MatchSettings()

            def scorer(mis: Any, app: Any) -> tuple[float, tuple[FieldScore, ...]]:
                return score_pair(mis, app, settings)

        honoured: MatchReview[R] = _Honour(self, scorer).run(book)
        return honoured

    # ------------------------------------------------------------------ views and saving

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per result: status, both records' ids and names, score and explanation."""
        rows = []
        for r in self.results:
            rows.append(
                {
                    "status": r.status.label,
                    "mis_id": r.mis_key,
                    "mis_name": None if r.mis is None else record_name(r.mis),
                    "app_id": r.app_key,
                    "app_name": None if r.app is None else record_name(r.app),
                    "score": r.score if r.is_pair else None,
                    "rule": r.rule.value if r.is_pair else None,
                    "explanation": r.explanation,
                    "selected": (r.mis_key in self.selected)
                    if r.status is MatchStatus.NEW
                    else None,
                }
            )
        return rows

    def table_caption(self) -> str | None:
        """E.g. ``"pupil matching: 2 Not matched, 3 New, 1 May match, 1494 Matched"``."""
        c = self.counts()
        return f"{self.kind.value} matching: " + ", ".join(f"{c[s]} {s.label}" for s in MatchStatus)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (through the shared cattrs converter) for saving the review."""
        from schoolsync.serialisation import converter

        data: dict[str, Any] = converter.unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchReview[Any]:
        """Resume a review saved with :meth:`to_dict`.

        Raises:
            ValidationError: *data* is not a saved review; ``field`` is the path of the first
                problem (e.g. ``"review.results[0].status"``), never a record's contents.
        """
        from schoolsync.serialisation import converter

        if not isinstance(data, Mapping):
            raise ValidationError(
                "review", type(data).__name__, "not a saved review (expected a JSON object)"
            )
        try:
            kind = RecordKind(data["kind"])
        except (KeyError, ValueError) as exc:
            raise ValidationError("kind", data.get("kind"), "not a record kind") from exc
        try:
            review: MatchReview[Any] = converter.structure(data, MatchReview[_TYPES[kind]])  # type: ignore[valid-type]
        except BaseValidationError as exc:
            problems = transform_error(exc, path="review")
            reason, _, where = (problems[0] if problems else "not a saved review").partition(" @ ")
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ValidationError(where or "review", None, reason + more) from exc
        return review


def manual_pair(
    mis: R,
    app: R,
    scorer: Callable[[R, R], tuple[float, tuple[FieldScore, ...]]] | None = None,
) -> MatchResult[R]:
    """The Matched result of a pair a person matched by hand (``confirmed``, rule ``MANUAL``);
    *scorer* fills in its score and breakdown."""
    score, breakdown = (0.0, ()) if scorer is None else scorer(mis, app)
    return MatchResult(
        status=MatchStatus.MATCHED,
        mis=mis,
        app=app,
        score=score,
        rule=MatchRule.MANUAL,
        breakdown=breakdown,
        confirmed=True,
    )


def _key(value: object) -> str:
    if isinstance(value, str):
        return value
    key = getattr(value, "id", None)
    if not isinstance(key, str):
        raise ValidationError("record", type(value).__name__, "expected a record or an id")
    return key


_UNMATCHED_FLAG = "unmatched by a person"
_LEFT_OUT_FLAG = "left out by a person"


def _mis_key(record: Any) -> str:
    return str(record.mis_id or record.id)


class ReviewLines:
    """A mutable working copy of a review's lines, found by MIS key and app id, for passes
    that edit many lines at once; :meth:`result` is the edited review."""

    def __init__(
        self, review: MatchReview[Any], mis_key: Callable[[Any], str] = lambda rec: rec.id
    ) -> None:
        self.review = review
        self.mis_key = mis_key
        self.live: dict[int, MatchResult[Any]] = {}
        self.by_mis: dict[str, MatchResult[Any]] = {}
        self.by_app: dict[str, MatchResult[Any]] = {}
        self.selected = set(review.selected)
        for r in review.results:
            self.add(r)

    def add(self, r: MatchResult[Any]) -> None:
        """Put line *r* in."""
        self.live[id(r)] = r
        if r.mis is not None:
            self.by_mis[self.mis_key(r.mis)] = r
        if r.app is not None:
            self.by_app[r.app.id] = r

    def remove(self, r: MatchResult[Any]) -> None:
        """Take line *r* out."""
        del self.live[id(r)]
        if r.mis is not None:
            del self.by_mis[self.mis_key(r.mis)]
        if r.app is not None:
            del self.by_app[r.app.id]

    def result(self) -> MatchReview[Any]:
        """The review with the lines as they are now (selection kept to New and locked ids)."""
        results = list(self.live.values())
        news = {x.mis.id for x in results if x.status is MatchStatus.NEW and x.mis is not None}
        return attrs.evolve(
            self.review,
            results=results,
            selected=frozenset(self.selected & (news | set(self.review.locked))),
        )


class _Honour(ReviewLines):
    """Applies remembered decisions to a review in one pass."""

    def __init__(
        self,
        review: MatchReview[Any],
        scorer: Callable[[Any, Any], tuple[float, tuple[FieldScore, ...]]] | None,
    ) -> None:
        super().__init__(review, _mis_key)
        self.scorer = scorer
        self.decided: set[str] = set()  # MIS keys a person matched

    def split(self, r: MatchResult[Any], *, flag: str | None, select: bool) -> None:
        """Break pair *r*: its MIS record New, its app record Not matched."""
        assert r.mis is not None
        assert r.app is not None
        flags = () if flag is None else (flag,)
        self.remove(r)
        self.add(MatchResult(status=MatchStatus.NEW, mis=r.mis, flags=flags))
        self.add(MatchResult(status=MatchStatus.NOT_MATCHED, app=r.app, flags=flags))
        if select:
            self.selected.add(r.mis.id)
        else:
            self.selected.discard(r.mis.id)

    def match(self, d: MatchDecision) -> None:
        rm = self.by_mis.get(d.mis_id)
        ra = self.by_app.get(d.app_id or "")
        if rm is None or ra is None or rm.mis is None or ra.app is None:
            return
        self.decided.add(d.mis_id)
        if rm is ra:
            self.remove(rm)
            self.add(
                attrs.evolve(rm, status=MatchStatus.MATCHED, confirmed=True, rule=MatchRule.MANUAL)
            )
            return
        self.remove(rm)
        self.remove(ra)
        if rm.app is not None:
            self.add(MatchResult(status=MatchStatus.NOT_MATCHED, app=rm.app))
        if ra.mis is not None:
            self.add(MatchResult(status=MatchStatus.NEW, mis=ra.mis))
            if self.review.select_new_by_default:
                self.selected.add(ra.mis.id)
        self.add(manual_pair(rm.mis, ra.app, self.scorer))
        self.selected.discard(rm.mis.id)

    def run(self, book: MatchDecisions) -> MatchReview[Any]:
        for d in book:
            if d.choice is MatchChoice.MATCH:
                self.match(d)
        for d in book:
            r = self.by_mis.get(d.mis_id)
            if r is None or d.mis_id in self.decided or d.choice is MatchChoice.MATCH:
                continue
            if d.choice is MatchChoice.NOT_MATCH:
                if r.app is not None and r.app.id == d.app_id:
                    self.split(r, flag=_UNMATCHED_FLAG, select=False)
            elif d.choice is MatchChoice.NEW and r.is_pair:
                self.split(r, flag=None, select=True)
        for d in book:
            r = self.by_mis.get(d.mis_id)
            if r is None or r.mis is None or r.status is not MatchStatus.NEW:
                continue
            choice = book.import_choice(self.review.kind, d.mis_id)
            if choice is MatchChoice.NEW:
                self.selected.add(r.mis.id)
            elif r.mis.id in self.review.locked:
                continue
            elif choice is MatchChoice.LEAVE_OUT:
                self.selected.discard(r.mis.id)
                if _LEFT_OUT_FLAG not in r.flags:
                    self.remove(r)
                    self.add(attrs.evolve(r, flags=(*r.flags, _LEFT_OUT_FLAG)))
            elif d.choice is MatchChoice.NOT_MATCH:
                self.selected.discard(r.mis.id)
                if _UNMATCHED_FLAG not in r.flags:
                    self.remove(r)
                    self.add(attrs.evolve(r, flags=(*r.flags, _UNMATCHED_FLAG)))
        return self.result()
