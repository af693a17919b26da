"""Clocks: :class:`SystemClock` for production, :class:`FixedClock` for tests and replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

__all__ = ["FixedClock", "SystemClock"]


class SystemClock:
    """Reads the system clock (UTC). The only place schoolsync reads real time."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


@attrs.define
class FixedClock:
    """A clock that stands still until told to move."""

    current: datetime = attrs.field(factory=lambda: datetime(2026, 9, 1, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        """The clock's current time."""
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by *delta* and return the new time."""
        self.current = self.current + delta
        return self.current

    def set(self, moment: datetime) -> None:
        """Move the clock to *moment*."""
        self.current = moment
