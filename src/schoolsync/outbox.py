"""The outbox: messages are queued with the change that asks for them, and sent after commit.

A service writes :class:`~schoolsync.records.OutboxEntry` rows in the same unit of work as the
change itself (:func:`queue_message`, or an :class:`OutboxNotifier` handed to code that expects
a :class:`~schoolsync.ports.Notifier`), so a change that rolls back queues nothing. A relay,
:func:`deliver_outbox`, then sends what has committed through a real notifier (for instance
:class:`schoolsync.mail.SmtpNotifier`), retrying transient failures with backoff and moving
refusals and exhausted entries to the dead letters a person reads with :func:`dead_letters`.

Delivery is at least once: an entry is claimed (leased) in one unit of work, sent, then removed
in another; a relay that dies between sending and removing sends that entry again once its
lease runs out. Relays running at once on one store never send the same entry twice while its
lease holds: claims are taken under the outbox's store lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from schoolsync.errors import DeliveryError, NotFoundError
from schoolsync.ids import ids_or_random
from schoolsync.ports import IdSource, Notifier, Store, UnitOfWork
from schoolsync.records.messages import OutboundMessage, OutboxEntry, OutboxState
from schoolsync.records.tables import OUTBOX

__all__ = [
    "OUTBOX_LOCK",
    "DeliveryReport",
    "OutboxNotifier",
    "RetryPolicy",
    "dead_letters",
    "deliver_outbox",
    "queue_message",
    "retry_dead_letter",
]

#: The key of the store lock a relay holds while it claims entries.
OUTBOX_LOCK = "schoolsync:outbox"


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")


def queue_message(
    uow: UnitOfWork,
    message: OutboundMessage,
    *,
    at: datetime,
    ids: IdSource | None = None,
    school_id: str | None = None,
    trust_id: str | None = None,
) -> OutboxEntry:
    """Queue *message* in the unit of work *uow*: it is sent only if *uow* commits."""
    _require_aware(at)
    entry = OutboxEntry(
        id=ids_or_random(ids).new_id(),
        message=message,
        queued_at=at,
        school_id=school_id,
        trust_id=trust_id,
    )
    uow.repository(OUTBOX).add(entry)
    return entry


@attrs.define
class OutboxNotifier:
    """A :class:`~schoolsync.ports.Notifier` that queues each message in one unit of work.

    Hand it to code that sends through a notifier (the trust lifecycle, ``sync.apply``) so its
    messages leave only once that unit of work commits.
    """

    uow: UnitOfWork
    at: datetime
    ids: IdSource | None = None
    school_id: str | None = None
    trust_id: str | None = None
    queued: list[OutboxEntry] = attrs.field(factory=list)

    def send(self, message: OutboundMessage) -> None:
        """Queue *message* (see :func:`queue_message`)."""
        self.queued.append(
            queue_message(
                self.uow,
                message,
                at=self.at,
                ids=self.ids,
                school_id=self.school_id,
                trust_id=self.trust_id,
            )
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a relay retries: exponential backoff between attempts, then a dead letter.

    Attributes:
        max_attempts: attempts before an entry that keeps failing becomes a dead letter.
        first_delay: the wait after the first failed attempt.
        factor: each further wait is this many times the one before.
        max_delay: the longest wait.
        lease: how long a claimed entry is kept from other relays while it is being sent.
    """

    max_attempts: int = 6
    first_delay: timedelta = timedelta(minutes=1)
    factor: float = 4.0
    max_delay: timedelta = timedelta(hours=6)
    lease: timedelta = timedelta(minutes=10)

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")

    def delay(self, attempts: int) -> timedelta:
        """The wait after the *attempts*-th failed attempt."""
        seconds = self.first_delay.total_seconds() * self.factor ** max(0, attempts - 1)
        return min(timedelta(seconds=seconds), self.max_delay)


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What one relay run did: entries sent, put back for a later attempt, and dead-lettered."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        """Entries this run tried to send."""
        return self.sent + self.retrying + self.dead


def _due(entry: OutboxEntry, at: datetime) -> bool:
    return entry.state is OutboxState.QUEUED and (
        entry.next_attempt_at is None or entry.next_attempt_at <= at
    )


def _claim(
    store: Store, *, at: datetime, policy: RetryPolicy, limit: int | None
) -> list[OutboxEntry]:
    with store.unit_of_work() as uow:
        uow.lock_school(OUTBOX_LOCK)
        repo = uow.repository(OUTBOX)
        due = sorted((e for e in repo.list() if _due(e, at)), key=lambda e: (e.queued_at, e.id))[
            :limit
        ]
        claimed = [
            attrs.evolve(e, attempts=e.attempts + 1, next_attempt_at=at + policy.lease) for e in due
        ]
        repo.put_many(claimed)
        uow.commit()
    return claimed


def _settle(
    store: Store,
    entry: OutboxEntry,
    *,
    at: datetime,
    policy: RetryPolicy,
    error: DeliveryError | None,
) -> OutboxState | None:
    """Record the outcome of sending *entry*: removed when sent, else retried or dead."""
    with store.unit_of_work() as uow:
        repo = uow.repository(OUTBOX)
        if error is None:
            if repo.get(entry.id) is not None:
                repo.remove(entry.id)
            uow.commit()
            return None
        reason = (
            type(error).__name__ if error.code is None else f"{type(error).__name__} {error.code}"
        )
        dead = not error.transient or entry.attempts >= policy.max_attempts
        state = OutboxState.DEAD if dead else OutboxState.QUEUED
        repo.put(
            attrs.evolve(
                entry,
                state=state,
                error=reason,
                next_attempt_at=None if dead else at + policy.delay(entry.attempts),
            )
        )
        uow.commit()
        return state


def deliver_outbox(
    store: Store,
    notifier: Notifier,
    *,
    at: datetime,
    policy: RetryPolicy | None = None,
    limit: int | None = None,
) -> DeliveryReport:
    """Send every committed outbox entry that is due at *at* through *notifier*.

    A sent entry leaves the outbox. A :class:`~schoolsync.errors.DeliveryError` marked
    ``transient`` (or any other exception from a host's notifier) puts the entry back with
    backoff, up to ``policy.max_attempts``; a refusal, or the last attempt, makes it a dead
    letter. Never raises for a failed delivery: the report counts the outcomes.
    """
    _require_aware(at)
    policy = policy or RetryPolicy()
    sent = retrying = dead = 0
    for entry in _claim(store, at=at, policy=policy, limit=limit):
        error: DeliveryError | None = None
        try:
            notifier.send(entry.message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a host notifier's own failure: retried, then dead
            error = DeliveryError(type(exc).__name__, transient=True)
        outcome = _settle(store, entry, at=at, policy=policy, error=error)
        if outcome is None:
            sent += 1
        elif outcome is OutboxState.DEAD:
            dead += 1
        else:
            retrying += 1
    return DeliveryReport(sent=sent, retrying=retrying, dead=dead)


def dead_letters(store: Store) -> list[OutboxEntry]:
    """The entries a relay gave up on, oldest first, for a person to read."""
    with store.unit_of_work() as uow:
        entries = uow.repository(OUTBOX).list()
    return sorted(
        (e for e in entries if e.state is OutboxState.DEAD), key=lambda e: (e.queued_at, e.id)
    )


def retry_dead_letter(store: Store, entry_ids: Iterable[str], *, at: datetime) -> None:
    """Put dead letters back in the queue (after a person fixed the cause), attempts reset.

    Raises:
        NotFoundError: an id is not in the outbox.
    """
    _require_aware(at)
    with store.unit_of_work() as uow:
        repo = uow.repository(OUTBOX)
        for entry_id in entry_ids:
            entry = repo.get(entry_id)
            if entry is None:
                raise NotFoundError("outbox entry", entry_id)
            repo.put(
                attrs.evolve(
                    entry, state=OutboxState.QUEUED, attempts=0, next_attempt_at=at, error=None
                )
            )
        uow.commit()
