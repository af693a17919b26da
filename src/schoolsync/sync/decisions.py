"""Remember the match decisions a person made, in the store, so later reviews and syncs honour them.

A person's decision about a school's records (:class:`~schoolsync.records.MatchDecision`:
match these two, "not this one", import it, leave it out) is written by
:func:`record_decision` in one unit of work with its audit event (ids, the choice, who and
when; never a name). A later decision replaces the earlier ones it contradicts
(:meth:`~schoolsync.records.MatchDecisions.deciding`); :func:`forget_decision` removes one, and
the automatic outcome comes back. :func:`load_decisions` reads them for
:meth:`schoolsync.matching.MatchReview.honour`; :class:`~schoolsync.sync.SchoolRecords` loads
them too, so sync plans and the nightly sync honour them without being asked.

:func:`~schoolsync.sync.unmatch` records "not this one" itself, and
:func:`schoolsync.review.record_review_decisions` records a reviewed workbook's or page's
decisions through :func:`decide_in`.
"""

from __future__ import annotations

from datetime import datetime

from schoolsync.errors import NotFoundError, ValidationError
from schoolsync.ids import ids_or_random
from schoolsync.ports import IdSource, Store, UnitOfWork
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.records.decisions import MatchChoice, MatchDecision, MatchDecisions, decision_id
from schoolsync.records.sync import RecordKind
from schoolsync.records.tables import MATCH_DECISIONS
from schoolsync.sync.state import committed_unit, link_id_for, open_unit

__all__ = [
    "DecisionLedger",
    "MatchChoice",
    "MatchDecision",
    "MatchDecisions",
    "decide_in",
    "forget_decision",
    "load_decisions",
    "record_decision",
]


def load_decisions(target: Store | UnitOfWork, school_id: str) -> MatchDecisions:
    """The school's remembered decisions (every kind), oldest first."""
    with open_unit(target) as uow:
        return MatchDecisions(uow.repository(MATCH_DECISIONS).list(school_id=school_id))


class DecisionLedger:
    """One school's remembered decisions inside a unit of work, indexed by MIS record and by
    app record, so that many decisions made at once read the table once and each finds what it
    replaces without a scan (a review's hundreds of decisions stay linear)."""

    def __init__(self, uow: UnitOfWork, school_id: str) -> None:
        self.uow = uow
        self.school_id = school_id
        self._by_id: dict[str, MatchDecision] = {}
        self._near: dict[tuple[RecordKind, str, str], set[str]] = {}
        self.reload()

    def reload(self) -> None:
        """Read the school's decisions again (after another path wrote some)."""
        self._by_id.clear()
        self._near.clear()
        for d in self.uow.repository(MATCH_DECISIONS).list(school_id=self.school_id):
            self._index(d)

    @staticmethod
    def _keys(d: MatchDecision) -> list[tuple[RecordKind, str, str]]:
        keys = [(d.kind, "mis", d.mis_id)]
        if d.app_id is not None:
            keys.append((d.kind, "app", d.app_id))
        return keys

    def _index(self, d: MatchDecision) -> None:
        self._by_id[d.id] = d
        for key in self._keys(d):
            self._near.setdefault(key, set()).add(d.id)

    def _drop(self, d: MatchDecision) -> None:
        del self._by_id[d.id]
        for key in self._keys(d):
            self._near[key].discard(d.id)

    def decisions(self) -> MatchDecisions:
        """The decisions as they stand in the unit of work."""
        return MatchDecisions(self._by_id.values())

    def record(self, new: MatchDecision) -> tuple[MatchDecision, ...]:
        """Write *new*, removing the decisions it replaces (returned, *new*'s own id aside)."""
        near = set().union(*(self._near.get(k, set()) for k in self._keys(new)))
        replaced = sorted(
            (self._by_id[i] for i in near if self._by_id[i].contradicts(new)),
            key=lambda d: (d.decided_at, d.id),
        )
        repo = self.uow.repository(MATCH_DECISIONS)
        for old in replaced:
            self._drop(old)
            if old.id != new.id:
                repo.remove(old.id)
        repo.put(new)
        self._index(new)
        return tuple(d for d in replaced if d.id != new.id)


def _audit(
    uow: UnitOfWork,
    action: AuditAction,
    decision: MatchDecision,
    *,
    at: datetime,
    actor_id: str | None,
    ids: IdSource,
    replaced: tuple[str, ...] = (),
) -> None:
    after: dict[str, object] = {
        "kind": decision.kind.value,
        "choice": decision.choice.value,
        "mis_id": decision.mis_id,
        "app_id": decision.app_id,
    }
    if replaced:
        after["replaced"] = list(replaced)
    uow.audit.append(
        AuditEvent(
            id=ids.new_id(),
            at=at,
            actor_id=actor_id,
            action=action,
            subject_kind=MATCH_DECISIONS.subject,
            subject_id=decision.id,
            school_id=decision.school_id,
            account_id=actor_id,
            after=after,
        )
    )


def _checked(
    kind: RecordKind, choice: MatchChoice, mis_id: str, app_id: str | None
) -> tuple[RecordKind, MatchChoice]:
    try:
        kind, choice = RecordKind(kind), MatchChoice(choice)
    except ValueError as exc:
        raise ValidationError("choice", str(choice), "not a match decision") from exc
    if not mis_id:
        raise ValidationError("mis_id", mis_id, "a decision names its MIS record")
    if choice.needs_app and not app_id:
        raise ValidationError("app_id", app_id, f"a {choice.value!r} decision names an app record")
    if not choice.needs_app and app_id:
        raise ValidationError(
            "app_id", app_id, f"a {choice.value!r} decision is about the MIS record only"
        )
    return kind, choice


def decide_in(
    uow: UnitOfWork,
    *,
    school_id: str,
    kind: RecordKind,
    choice: MatchChoice,
    mis_id: str,
    app_id: str | None = None,
    at: datetime,
    actor_id: str | None = None,
    ids: IdSource,
    ledger: DecisionLedger | None = None,
) -> MatchDecision:
    """Remember a decision in *uow* (not committed): the earlier decisions it contradicts are
    removed, and one audit event says what was decided and what it replaced. "Not this one"
    about a pair that is linked now is the seed's unmatch: the app record gets its original
    data back (:func:`~schoolsync.sync.unmatch`) in the same unit of work. Pass the same
    *ledger* to many calls in one unit of work to read the school's decisions once.

    Raises:
        ValidationError: the choice needs an app record and none was given (or the reverse).
    """
    kind, choice = _checked(kind, choice, mis_id, app_id)
    repo = uow.repository(MATCH_DECISIONS)
    if choice is MatchChoice.NOT_MATCH and app_id is not None:
        link = uow.sync_links.get(link_id_for(kind, app_id))
        if link is not None and link.school_id == school_id and link.mis_id == mis_id:
            from schoolsync.sync.applying import unmatch_in

            # The seed's unmatch: restores the app record and comes back here, unlinked.
            unmatch_in(uow, kind, app_id, at=at, actor_id=actor_id, ids=ids)
            if ledger is not None:
                ledger.reload()
            return repo.require(decision_id(school_id, kind, choice, mis_id, app_id))
    decision = MatchDecision.make(
        school_id=school_id,
        kind=kind,
        choice=choice,
        mis_id=mis_id,
        app_id=app_id,
        decided_at=at,
        decided_by=actor_id,
    )
    if ledger is None or ledger.uow is not uow or ledger.school_id != school_id:
        ledger = DecisionLedger(uow, school_id)
    replaced = ledger.record(decision)
    _audit(
        uow,
        AuditAction.MATCH_DECIDED,
        decision,
        at=at,
        actor_id=actor_id,
        ids=ids,
        replaced=tuple(d.id for d in replaced),
    )
    return decision


def record_decision(
    target: Store | UnitOfWork,
    *,
    school_id: str,
    kind: RecordKind,
    choice: MatchChoice,
    mis_id: str,
    app_id: str | None = None,
    at: datetime,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> MatchDecision:
    """Remember a person's decision about MIS record *mis_id* (its MIS identifier, as a sync
    link holds it) and app record *app_id*, in one unit of work, committed.

    "Not this one" about a pair that is linked now is the seed's unmatch (see
    :func:`decide_in`).

    Args:
        choice: match (the two are one), not match (never pair them again unless a person
            matches them), new (import the MIS record), leave out (do not import it).
        actor_id: the account that decided (kept with the decision and in the audit log).
        ids: makes the audit event's id (default: random).

    Raises:
        ValidationError: the choice and the ids given do not fit.
    """
    ids = ids_or_random(ids)
    with committed_unit(target) as uow:
        uow.lock_school(school_id)
        decision = decide_in(
            uow,
            school_id=school_id,
            kind=kind,
            choice=choice,
            mis_id=mis_id,
            app_id=app_id,
            at=at,
            actor_id=actor_id,
            ids=ids,
        )
    return decision


def forget_decision(
    target: Store | UnitOfWork,
    decision_id: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> MatchDecision:
    """Forget a remembered decision (the automatic outcome comes back); returns it.

    Raises:
        NotFoundError: no decision has this id.
    """
    ids = ids_or_random(ids)
    with committed_unit(target) as uow:
        repo = uow.repository(MATCH_DECISIONS)
        decision = repo.get(decision_id)
        if decision is None:
            raise NotFoundError(MATCH_DECISIONS.kind, decision_id)
        uow.lock_school(decision.school_id)
        repo.remove(decision_id)
        _audit(uow, AuditAction.MATCH_DECISION_REMOVED, decision, at=at, actor_id=actor_id, ids=ids)
    return decision
