"""Record matching: which MIS record is which app record, and how sure.

Four statuses (:class:`MatchStatus`), one-to-one, reviewed in the order Not matched, New,
May match, Matched through a :class:`MatchReview`::

    review = match_pupils(mis_pupils, app_pupils)
    for result in review.pairs():
        result.mis, result.app, result.status, result.score, result.explanation

See docs/matching.md for the method, the settings and measured accuracy.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from schoolsync.errors import DuplicateRecordError
from schoolsync.matching._groups import is_nursery, nc_year_key
from schoolsync.matching._groups import match_classes_impl as _match_classes
from schoolsync.matching._groups import match_year_groups_impl as _match_year_groups
from schoolsync.matching._normalise import (
    NicknameTable,
    default_nicknames,
    name_tokens,
    normalise_name,
)
from schoolsync.matching._people import match_people as _match_people
from schoolsync.matching._people import score_pair as _score_pair
from schoolsync.matching._results import FieldScore, MatchResult, MatchRule, MatchStatus
from schoolsync.matching._review import MatchReview, MixedYearClass, record_name
from schoolsync.matching._settings import MatchSettings
from schoolsync.records.decisions import MatchDecision
from schoolsync.records.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.records.sync import RecordKind

__all__ = [
    "FieldScore",
    "MatchResult",
    "MatchReview",
    "MatchRule",
    "MatchSettings",
    "MatchStatus",
    "MixedYearClass",
    "NicknameTable",
    "default_nicknames",
    "is_nursery",
    "match_classes",
    "match_pupils",
    "match_staff",
    "match_year_groups",
    "name_tokens",
    "nc_year_key",
    "normalise_name",
    "record_name",
    "score_pair",
]


def _check_unique(kind: str, side: str, records: Sequence[object]) -> None:
    ids = list(map(operator.attrgetter("id"), records))
    if len(set(ids)) == len(ids):
        return
    seen: set[str] = set()
    for r in records:
        key: str = getattr(r, "id")  # noqa: B009 - records of several types
        if key in seen:
            raise DuplicateRecordError(f"{side} {kind}", key)
        seen.add(key)


P = TypeVar("P", Pupil, StaffMember)


def _checked_match(
    kind: str, mis: Sequence[P], app: Sequence[P], settings: MatchSettings | None
) -> list[MatchResult[P]]:
    _check_unique(kind, "MIS", mis)
    _check_unique(kind, "app", app)
    return _match_people(mis, app, settings or MatchSettings())


def match_pupils(
    mis: Sequence[Pupil],
    app: Sequence[Pupil],
    settings: MatchSettings | None = None,
    *,
    decisions: Iterable[MatchDecision] = (),
) -> MatchReview[Pupil]:
    """Match the MIS's pupils with the app's; New pupils are selected for import.

    *decisions* are a person's remembered decisions (``schoolsync.sync.load_decisions``):
    no automatic evidence overrides them (:meth:`MatchReview.honour`).

    Raises:
        DuplicateRecordError: two records on one side share an ``id``.
    """
    results = _checked_match("pupil", mis, app, settings)
    return MatchReview(
        kind=RecordKind.PUPIL,
        results=results,
        selected=[r.mis.id for r in results if r.status is MatchStatus.NEW and r.mis],
        select_new_by_default=True,
    ).honour(decisions, scorer=_scorer(settings))


def match_staff(
    mis: Sequence[StaffMember],
    app: Sequence[StaffMember],
    settings: MatchSettings | None = None,
    *,
    decisions: Iterable[MatchDecision] = (),
) -> MatchReview[StaffMember]:
    """Match the MIS's staff with the app's; New staff are deselected by default.

    *decisions*: a person's remembered decisions, honoured as by :func:`match_pupils`.

    Raises:
        DuplicateRecordError: two records on one side share an ``id``.
    """
    results = _checked_match("staff member", mis, app, settings)
    review: MatchReview[StaffMember] = MatchReview(
        kind=RecordKind.STAFF, results=results, select_new_by_default=False
    )
    return review.honour(decisions, scorer=_scorer(settings))


def _scorer(settings: MatchSettings | None) -> Any:
    def scorer(mis: Any, app: Any) -> tuple[float, tuple[FieldScore, ...]]:
        return _score_pair(mis, app, settings or MatchSettings())

    return scorer


def match_year_groups(mis: Sequence[YearGroup], app: Sequence[YearGroup]) -> MatchReview[YearGroup]:
    """Match year groups by National Curriculum year.

    MIS names supersede app names (a Matched pair whose names differ says so in its
    breakdown); Nursery MIS year groups go to ``review.excluded``; year groups the app already
    has are ``locked`` (cannot be deselected) and app-only ones are kept (Not matched).
    """
    _check_unique("year group", "MIS", mis)
    _check_unique("year group", "app", app)
    return _match_year_groups(mis, app)


def match_classes(
    mis: Sequence[SchoolClass],
    app: Sequence[SchoolClass],
    *,
    mis_year_groups: Sequence[YearGroup] = (),
    app_year_groups: Sequence[YearGroup] = (),
    similarity_threshold: float = 0.88,
    decisions: Iterable[MatchDecision] = (),
) -> MatchReview[SchoolClass]:
    """Match classes on normalised names within year groups.

    MIS id first; then the same normalised name with the same NC years (Matched; different
    years or several candidates: May match); then mixed-year MIS classes the app holds split by
    year ("Swans" with Years 1 and 2 vs "1Swans" and "2Swans"), reported in
    ``review.mixed_year_classes`` (the MIS class is New, the app classes Not matched); then names
    equal apart from a year designator, or similar (Jaro-Winkler at least
    *similarity_threshold*) within the same year groups: May match. A person's remembered
    *decisions* are honoured (:meth:`MatchReview.honour`).
    """
    _check_unique("class", "MIS", mis)
    _check_unique("class", "app", app)
    review = _match_classes(mis, app, mis_year_groups, app_year_groups, similarity_threshold)
    return review.honour(decisions)


def score_pair(
    mis: Pupil | StaffMember,
    app: Pupil | StaffMember,
    settings: MatchSettings | None = None,
) -> tuple[float, tuple[FieldScore, ...]]:
    """Score one pair of people (for a pair matched by hand: ``review.match(a, b, scorer=score_pair)``)."""
    return _score_pair(mis, app, settings or MatchSettings())  # type: ignore[type-var]
