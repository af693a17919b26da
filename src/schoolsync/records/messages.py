"""Outbound messages and the outbox that holds them until they are delivered.

A change that asks for a message (an invitation, a welcome, a sign-up link) writes an
:class:`OutboxEntry` in the same unit of work as the change itself, so a rolled-back change
leaves no message behind; a relay (:func:`schoolsync.outbox.deliver_outbox`) sends committed
entries afterwards, retrying transient failures.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

__all__ = ["OutboundMessage", "OutboxEntry", "OutboxState"]


@attrs.frozen(kw_only=True)
class OutboundMessage:
    """A message the library asks the host to deliver.

    ``kind`` names the template (``"trust_invitation"``, ``"welcome"``, ``"user_sign_up"``);
    ``data`` holds the values the template needs. The library itself never puts an activation
    code in a message: that is shown once to the administrator, who hands it over out of band.
    """

    kind: str
    to: str
    subject: str
    data: dict[str, str] = attrs.field(factory=dict)


class OutboxState(StrEnum):
    """Where an outbox entry stands."""

    QUEUED = "queued"  #: waiting for its (next) delivery attempt
    DEAD = "dead"  #: refused for good, or out of attempts: a person must look at it


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """One message waiting to be delivered (delivered entries are removed from the outbox).

    ``error`` holds the last failure's kind and server reply code only (never the address or
    the message text), so a dead letter can be read without exposing personal data.
    """

    id: str
    message: OutboundMessage
    queued_at: datetime
    state: OutboxState = OutboxState.QUEUED
    attempts: int = 0
    next_attempt_at: datetime | None = None
    error: str | None = None
    school_id: str | None = None
    trust_id: str | None = None
