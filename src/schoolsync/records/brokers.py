"""Records the broker connectors keep: each school's delta watermark and the results outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = ["QueuedResult", "ResultState", "SyncWatermark", "watermark_id"]


def watermark_id(school_id: str, provider: str) -> str:
    """The id of a school's watermark at a provider."""
    return f"{school_id}:{provider}"


@attrs.frozen(kw_only=True)
class SyncWatermark:
    """Where the last committed sync of one school from one broker got to.

    ``value`` is the provider's delta token (a time, a changeset token...), ``options`` the
    fingerprint of the fetch options that made it (other options mean a full fetch),
    ``school`` the broker's own key for the school. Written only after the sync that used the
    fetch has committed.
    """

    id: str
    school_id: str
    provider: str
    school: str
    value: str
    options: str
    taken_at: datetime
    committed_at: datetime


class ResultState(StrEnum):
    """Where a queued result is: waiting, being sent, sent, given up, or unknown (a send whose
    answer never came: it is never sent again without a person checking)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@attrs.frozen(kw_only=True)
class QueuedResult:
    """An assessment result waiting to be written back to the school's MIS (the outbox).

    Queued in the same unit of work as the mark that produced it; sent after that commit.
    ``payload`` is what the provider needs besides the pupil (Assembly: ``subject_id``,
    ``facet_id``, ``assessment_point_rank``, ``assessment_id``, ``grade_id``; OneRoster:
    ``line_item``, ``score``, ``score_status``, ``comment``). No names: the pupil is an app id.
    """

    id: str
    school_id: str
    provider: str
    pupil_id: str
    payload: dict[str, Any]
    marked_at: datetime
    queued_at: datetime
    historical: bool = False
    state: ResultState = ResultState.QUEUED
    attempts: int = 0
    sent_at: datetime | None = None
    remote_id: str | None = None
    last_error: str | None = None
