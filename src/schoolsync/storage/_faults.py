"""Storage faults end the unit of work: the store is left as it was, and the cause surfaces.

A database may end a transaction by itself when a statement fails (SQLite rolls back on a full
disk; PostgreSQL refuses every later statement of an aborted transaction). A unit of work that
carried on would then run its later statements outside any transaction (SQLite autocommit) or
report a misleading second error. :class:`FaultGuard` makes any such error final: the
transaction is rolled back, the original error is raised, and every later use of the unit of
work (commit included) raises :class:`~schoolsync.errors.StorageError` naming that cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from schoolsync.errors import ConcurrentWriteError, SchoolsyncError, StorageError, ValidationError

__all__ = ["FaultGuard"]


class FaultGuard:
    """Remembers the error that ended a unit of work (see the module docstring)."""

    def __init__(self) -> None:
        self.failure: SchoolsyncError | None = None

    def check(self) -> None:
        """Refuse a unit of work that an earlier error ended.

        Raises:
            StorageError: naming the earlier error (chained to it).
        """
        if self.failure is not None:
            raise StorageError(
                "this unit of work was ended by an earlier error "
                f"({self.failure}); nothing it wrote was kept; start a new one"
            ) from self.failure

    @contextmanager
    def watch(
        self, end: Callable[[], None], intact: Callable[[], bool] = lambda: True
    ) -> Iterator[None]:
        """Run a statement; on a storage error (or text no store can hold) call *end* (which
        rolls the transaction back) and remember the error. A lock conflict
        (:class:`~schoolsync.errors.ConcurrentWriteError`) passes through when *intact* says
        the transaction survived it."""
        self.check()
        try:
            yield
        except ConcurrentWriteError as exc:
            if not intact():
                self._end(exc, end)
            raise
        except UnicodeEncodeError:
            error = ValidationError(
                "text",
                None,
                "holds a lone surrogate character (not valid Unicode text), which cannot be "
                "stored; clean the value (e.g. str.encode('utf-8', 'replace')) first",
                code="lone_surrogate",
            )
            self._end(error, end)
            raise error from None
        except StorageError as exc:
            self._end(exc, end)
            raise

    def _end(self, error: SchoolsyncError, end: Callable[[], None]) -> None:
        self.failure = error
        end()
