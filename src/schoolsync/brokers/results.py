"""Writing assessment results back to the school's MIS: a results port, its Assembly and
OneRoster 1.2 gradebook implementations, and an outbox in the store.

The seed's optional scope: "every time a synced pupil has a paper marked, their test data will
immediately be sent". So:

1. In the unit of work that records a mark, the host calls :func:`queue_result`. It queues the
   result only when the connection may share it (:func:`~schoolsync.sync.shares_result`: the
   optional scope granted, data sharing on, and for a result marked before sharing began,
   "share historical data" ticked), so a result is queued exactly when the mark commits.
2. After the commit, :func:`send_results` sends what is queued, oldest first: each result is
   marked *sending* (committed) before the request and *sent* (with the broker's id) after it,
   so a result is never posted twice. A refusal or a request that surely did not arrive puts it
   back in the queue (retried up to ``max_attempts``); a request whose answer never came makes
   it *uncertain*, for a person to check, instead of risking a second post.
3. A result left *sending* by a sender that died between marking it and recording the answer
   is settled as *uncertain* by :func:`settle_abandoned` (the nightly job calls it before it
   sends, holding the school's job lock): the post may or may not have arrived, so it is never
   sent again by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

from schoolsync.brokers._base import text
from schoolsync.brokers._http import Call
from schoolsync.brokers.assembly import AssemblySchool
from schoolsync.brokers.oneroster import OneRosterBroker
from schoolsync.errors import BrokerError, SyncError
from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.brokers import QueuedResult, ResultState
from schoolsync.records.tables import RESULT_OUTBOX
from schoolsync.sync.connection import MisConnection, shares_result
from schoolsync.sync.records import RecordKind
from schoolsync.sync.state import link_id_for

__all__ = [
    "AssemblyResults",
    "OneRosterGradebook",
    "ResultsPort",
    "SendReport",
    "queue_result",
    "send_results",
    "settle_abandoned",
]


class ResultsPort(Protocol):
    """Sends one result to a broker; returns the broker's id for it.

    Raises :class:`~schoolsync.errors.BrokerError`; its ``maybe_applied`` says whether the
    broker may have stored the result although the answer did not arrive.
    """

    provider: str

    def send(self, result: QueuedResult, student: str) -> str:
        """Send *result* for the broker's pupil *student*."""
        ...


@attrs.define
class AssemblyResults:
    """``POST /results`` on a school's Assembly token (needs the ``assessments.write`` scope).

    The payload holds ``subject_id``, ``facet_id``, ``assessment_point_rank``,
    ``assessment_id`` and ``grade_id`` (from Assembly's look-ups); ``result_date`` is the mark's
    date.
    """

    school: AssemblySchool
    provider: str = "assembly"

    def send(self, result: QueuedResult, student: str) -> str:
        """Post one result; the id Assembly gives it."""
        p = result.payload
        body = {
            "subject_id": p.get("subject_id"),
            "facet_id": p.get("facet_id"),
            "assessment_point_rank": p.get("assessment_point_rank"),
            "assessment_id": p.get("assessment_id"),
            "results": [
                {
                    "student_id": int(student) if student.isdigit() else student,
                    "grade_id": p.get("grade_id"),
                    "result_date": result.marked_at.date().isoformat(),
                }
            ],
        }
        _, data = self.school.request(
            "POST", "results", json=body, ok=frozenset({200, 201}), idempotent=False
        )
        rows = data if isinstance(data, list) else []
        found = text(rows[0], "id") if rows and isinstance(rows[0], Mapping) else None
        return found or ""


@attrs.define
class OneRosterGradebook:
    """OneRoster 1.2 gradebook: ``PUT results/{sourcedId}`` (idempotent: a repeat replaces).

    The payload holds ``line_item`` (the lineItem's sourcedId), ``score``, ``score_status``
    (default ``"fully graded"``) and an optional ``comment``.
    """

    broker: OneRosterBroker
    provider: str = "oneroster"

    def send(self, result: QueuedResult, student: str) -> str:
        """Put one result; its sourcedId (the queued result's id)."""
        if self.broker.gradebook_url is None:
            raise BrokerError("oneroster", result.school_id, "results", "no gradebook_url given")
        p = result.payload
        body = {
            "result": {
                "sourcedId": result.id,
                "status": "active",
                "lineItem": {"sourcedId": p.get("line_item")},
                "student": {"sourcedId": student},
                "score": p.get("score"),
                "scoreStatus": p.get("score_status", "fully graded"),
                "scoreDate": result.marked_at.date().isoformat(),
                "comment": p.get("comment"),
            }
        }
        self.broker.request(
            Call(
                method="PUT",
                url=f"{self.broker.gradebook_url}/results/{result.id}",
                endpoint="results/{id}",
                json_body=body,
                ok=frozenset({200, 201, 204}),
            ),
            school=result.school_id,
        )
        return result.id


def queue_result(
    uow: UnitOfWork,
    connection: MisConnection,
    *,
    result_id: str,
    pupil_id: str,
    payload: Mapping[str, Any],
    marked_at: datetime,
    at: datetime,
    historical: bool = False,
) -> QueuedResult | None:
    """Queue a result in *uow* (the unit of work recording the mark), if it may be shared.

    Returns the queued result, or ``None`` when the connection does not share it. Queuing the
    same ``result_id`` twice keeps the first (a mark is sent once).
    """
    if not shares_result(connection, historical=historical):
        return None
    outbox = uow.repository(RESULT_OUTBOX)
    existing = outbox.get(result_id)
    if existing is not None:
        return existing
    queued = QueuedResult(
        id=result_id,
        school_id=connection.school_id,
        provider=connection.provider,
        pupil_id=pupil_id,
        payload=dict(payload),
        marked_at=marked_at,
        queued_at=at,
        historical=historical,
    )
    outbox.add(queued)
    return queued


@attrs.frozen(kw_only=True)
class SendReport:
    """What :func:`send_results` did, by queued result id."""

    sent: tuple[str, ...] = ()
    retrying: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()
    held: tuple[str, ...] = ()


def _set(store: Store, result: QueuedResult, **changes: Any) -> QueuedResult:
    updated = attrs.evolve(result, **changes)
    with store.unit_of_work() as uow:
        uow.lock_school(result.school_id)
        current = uow.repository(RESULT_OUTBOX).get(result.id)
        if current != result:
            raise SyncError(f"queued result {result.id!r} changed while it was being sent")
        uow.repository(RESULT_OUTBOX).put(updated)
        uow.commit()
    return updated


def send_results(
    store: Store,
    port: ResultsPort,
    connection: MisConnection,
    *,
    at: datetime,
    max_attempts: int = 5,
) -> SendReport:
    """Send the school's queued results, oldest mark first (see the module docstring).

    A result whose sharing was switched off since it was queued is held (left queued). A pupil
    without a sync link cannot be sent (the broker would not know them): failed.
    """
    with store.unit_of_work() as uow:
        queued = [
            r
            for r in uow.repository(RESULT_OUTBOX).list(school_id=connection.school_id)
            if r.state is ResultState.QUEUED and r.provider == port.provider
        ]
        links = {
            r.id: uow.sync_links.get(link_id_for(RecordKind.PUPIL, r.pupil_id)) for r in queued
        }
    out: dict[str, list[str]] = {k: [] for k in ("sent", "retrying", "failed", "uncertain", "held")}
    for result in sorted(queued, key=lambda r: (r.marked_at, r.id)):
        if not shares_result(connection, historical=result.historical):
            out["held"].append(result.id)
            continue
        link = links[result.id]
        if link is None:
            _set(store, result, state=ResultState.FAILED, last_error="the pupil is not synced")
            out["failed"].append(result.id)
            continue
        sending = _set(store, result, state=ResultState.SENDING, attempts=result.attempts + 1)
        try:
            remote = port.send(sending, link.mis_id)
        except BrokerError as exc:
            if exc.maybe_applied:
                _set(store, sending, state=ResultState.UNCERTAIN, last_error=exc.reason)
                out["uncertain"].append(result.id)
            elif sending.attempts >= max_attempts:
                _set(store, sending, state=ResultState.FAILED, last_error=exc.reason)
                out["failed"].append(result.id)
            else:
                _set(store, sending, state=ResultState.QUEUED, last_error=exc.reason)
                out["retrying"].append(result.id)
            continue
        _set(store, sending, state=ResultState.SENT, sent_at=at, remote_id=remote)
        out["sent"].append(result.id)
    return SendReport(**{k: tuple(v) for k, v in out.items()})


def settle_abandoned(store: Store, school_id: str) -> tuple[str, ...]:
    """Mark the school's results left *sending* as *uncertain* (for a person to check: the
    post may have arrived); returns their ids.

    Call it only where no other sender of the school's results is running: the nightly job
    does, holding the school's job lock.
    """
    with store.unit_of_work() as uow:
        left = [
            r
            for r in uow.repository(RESULT_OUTBOX).list(school_id=school_id)
            if r.state is ResultState.SENDING
        ]
    for result in left:
        _set(
            store,
            result,
            state=ResultState.UNCERTAIN,
            last_error="its sender stopped between sending and recording the answer: check "
            "the MIS before sending it again",
        )
    return tuple(r.id for r in left)
