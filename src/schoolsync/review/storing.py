"""Remember what a person decided on the review workbook or page, in the store.

:func:`record_review_decisions` turns a checked :class:`~schoolsync.review.ReviewDecisions`
into the school's remembered :class:`~schoolsync.records.MatchDecision` rows through the same
store path as every other decision (:func:`schoolsync.sync.decisions.decide_in`), in one unit
of work: all of them, or (on any problem) none.

======================  ==========================================================
Review decision         Remembered as
======================  ==========================================================
Accept match            ``MATCH`` (the pair, whatever the evidence later says)
Reject match (Unmatch)  ``NOT_MATCH``; a pair linked now is unmatched (data restored)
Match to id             ``MATCH``
Import                  ``NEW``
Do not import           ``LEAVE_OUT``
======================  ==========================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schoolsync.ids import ids_or_random
from schoolsync.matching import MatchReview
from schoolsync.ports import IdSource, Store, UnitOfWork
from schoolsync.records.decisions import MatchChoice, MatchDecision
from schoolsync.review.decisions import _ORDER, Choice, ReviewDecisions, apply_decisions
from schoolsync.sync.decisions import DecisionLedger, decide_in
from schoolsync.sync.state import committed_unit

__all__ = ["REMEMBERED_AS", "record_review_decisions"]

#: The remembered choice each review decision becomes.
REMEMBERED_AS: dict[Choice, MatchChoice] = {
    Choice.ACCEPT: MatchChoice.MATCH,
    Choice.REJECT: MatchChoice.NOT_MATCH,
    Choice.MATCH: MatchChoice.MATCH,
    Choice.IMPORT: MatchChoice.NEW,
    Choice.DO_NOT_IMPORT: MatchChoice.LEAVE_OUT,
}


def record_review_decisions(
    target: Store | UnitOfWork,
    review: MatchReview[Any],
    decisions: ReviewDecisions,
    *,
    school_id: str,
    at: datetime,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> tuple[MatchDecision, ...]:
    """Remember *decisions* (made about *review*) for school *school_id*; the rows written.

    Every decision is checked against the review first (:func:`apply_decisions`); then, in one
    unit of work holding the school's lock, each is remembered in the order the review applies
    them (rejections, hand matches, acceptances, import choices), a later one replacing what
    it contradicts. MIS records are remembered by their MIS identifier (``mis_id``, else
    ``id``), so the decisions hold for the next export of the same MIS.

    Raises:
        DecisionsError: the decisions were made about another review, or one cannot be
            applied; nothing is written.
    """
    apply_decisions(review, decisions)
    mis_keys = {r.mis.id: r.mis.mis_id or r.mis.id for r in review.results if r.mis is not None}
    ids = ids_or_random(ids)
    made: list[MatchDecision] = []
    with committed_unit(target) as uow:
        uow.lock_school(school_id)
        ledger = DecisionLedger(uow, school_id)
        for d in sorted(decisions.decisions, key=lambda d: _ORDER[d.choice]):
            choice = REMEMBERED_AS[d.choice]
            made.append(
                decide_in(
                    uow,
                    school_id=school_id,
                    kind=review.kind,
                    choice=choice,
                    mis_id=mis_keys[d.mis_id or ""],
                    app_id=d.app_id if choice.needs_app else None,
                    at=at,
                    actor_id=actor_id,
                    ids=ids,
                    ledger=ledger,
                )
            )
    return tuple(made)
