"""The shape every provider's school connector has: a :class:`~schoolsync.ports.MisSource` of
one school, plus :meth:`BrokerSchool.fetch` for full and delta fetches from a watermark."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Protocol, Self

from schoolsync.brokers._base import BrokerFetch, Watermark, options_fingerprint
from schoolsync.brokers._http import HttpSession
from schoolsync.clock import SystemClock
from schoolsync.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import Clock

__all__ = ["BrokerClient", "BrokerSchool"]


class BrokerClient:
    """What every provider's broker (one per credential) shares: its pooled HTTP session."""

    http: HttpSession

    def close(self) -> None:
        """Close the HTTP connections (every school of the broker shares them)."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Broker(Protocol):
    def close(self) -> None: ...


class BrokerSchool(ABC):
    """One school at one broker. Reading it as a :class:`~schoolsync.ports.MisSource` fetches
    the whole school once (complete, or a :class:`~schoolsync.errors.BrokerError`)."""

    provider: str = ""
    broker: _Broker

    def __init__(self, *, school: str, school_id: str | None, clock: Clock | None) -> None:
        self.school = school
        self.school_id = school_id or school
        self.clock: Clock = clock or SystemClock()
        self._full: BrokerFetch | None = None

    @abstractmethod
    def fetch_options(self) -> Mapping[str, object]:
        """The options a delta depends on (a change of any resets the delta)."""

    @abstractmethod
    def _run(self, started: datetime, since: Watermark | None) -> BrokerFetch:
        """Fetch everything (*since* None) or the changes since *since*."""

    def fetch(self, since: Watermark | None = None) -> BrokerFetch:
        """Fetch the school: the changes since *since* when it was made by this school,
        provider and options, else everything.

        Raises:
            BrokerError: any page failed, was short, lost or repeated items, or timed out.
            BrokerAuthError: the credentials were refused or a token could not be refreshed.
        """
        started = self.clock.now()
        fingerprint = options_fingerprint(self.fetch_options())
        if since is not None and since.usable_for(self.provider, self.school, fingerprint):
            return self._run(started, since)
        return self._run(started, None)

    def close(self) -> None:
        """Close the broker's HTTP connections (every school of the broker shares them)."""
        self.broker.close()

    def __enter__(self) -> BrokerSchool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def watermark(self, value: str, started: datetime) -> Watermark:
        """A watermark of this school and options at *value*."""
        return Watermark(
            provider=self.provider,
            school=self.school,
            value=value,
            options=options_fingerprint(self.fetch_options()),
            taken_at=started,
        )

    def _whole(self) -> BrokerFetch:
        if self._full is None:
            self._full = self.fetch()
        return self._full

    def snapshot_time(self) -> datetime | None:
        """When the full fetch began."""
        return self._whole().snapshot_time()

    def pupils(self) -> Iterator[Pupil]:
        """The school's pupils (a full fetch, made once)."""
        return self._whole().pupils()

    def staff(self) -> Iterator[StaffMember]:
        """The school's staff."""
        return self._whole().staff()

    def classes(self) -> Iterator[SchoolClass]:
        """The school's classes."""
        return self._whole().classes()

    def year_groups(self) -> Iterator[YearGroup]:
        """The school's year groups."""
        return self._whole().year_groups()

    def warnings(self) -> list[str]:
        """What the full fetch tolerated."""
        return self._whole().warnings()
