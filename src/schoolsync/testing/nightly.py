"""A :class:`~schoolsync.nightly.NightlyHost` for tests and benchmarks of the nightly sync:
schools served by a fake (or real) Wonde broker, described in a JSON file that every worker
process reads (``SCHOOLSYNC_NIGHTLY_TEST_CONFIG`` names it), so a process pool or job engine
workers load the same host by its import path, ``schoolsync.testing.nightly:ConfiguredHost``.

The file::

    {"store": {"sqlite": "/tmp/night.sqlite"} | {"postgres": "postgresql://...", "schema": "s"},
     "broker": {"url": "http://127.0.0.1:8123", "token": "t", "read_timeout": 5,
                "attempts": 3, "rate_limit": [10, 1.0], "shared_limits": "postgresql://..."},
     "schools": [["trust-1", "school-1", "wonde-key-1"], ...],
     "deauthorised": ["school-3"],
     "stall_commit": "/tmp/stall"}

``stall_commit``: while a file ``<stall_commit>.<school id>`` exists, a nightly job's last
commit for that school (the unit of work that holds the school's lock and writes the job's
record) writes its process id to ``<stall_commit>.<school id>.reached`` and waits: for crash
tests, kill the worker there, after every write of the job, before its final commit.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from schoolsync.clock import SystemClock
from schoolsync.ports import Clock, MisSource, Store, UnitOfWork
from schoolsync.records.tables import Table
from schoolsync.sync.connection import MisConnection, authorise, deauthorise

__all__ = ["CONFIG_ENV", "ConfiguredHost", "authorised_connection", "write_config"]

#: The environment variable naming the host's JSON file.
CONFIG_ENV = "SCHOOLSYNC_NIGHTLY_TEST_CONFIG"

_AUTHORISED_AT = datetime(2026, 1, 5, tzinfo=UTC)


def authorised_connection(school_id: str, provider: str = "wonde") -> MisConnection:
    """An authorised connection of *school_id* (granted the ``roster`` scope)."""
    return authorise(
        MisConnection(school_id=school_id, provider=provider, required_scopes={"roster"}),
        actor_id="coordinator",
        granted_scopes={"roster"},
        at=_AUTHORISED_AT,
        can_configure=lambda a, p, s: True,
    )


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write *config* to *path* and point ``SCHOOLSYNC_NIGHTLY_TEST_CONFIG`` at it (child
    processes started afterwards inherit it)."""
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    os.environ[CONFIG_ENV] = str(path)
    return path


class _StallingUnit:
    """A unit of work that waits before committing while the stall file exists."""

    def __init__(self, uow: UnitOfWork, stall: Path) -> None:
        self._uow = uow
        self._stall = stall
        self._locked: list[str] = []
        self._job_written = False

    def repository(self, table: Table[Any]) -> Any:
        found = self._uow.repository(table)
        return _Flagging(found, self) if table.name == "nightly_jobs" else found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def __enter__(self) -> _StallingUnit:
        self._uow.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._uow.__exit__(*exc)

    def lock_school(self, school_id: str) -> None:
        self._uow.lock_school(school_id)
        self._locked.append(school_id)

    def commit(self) -> None:
        for school in self._locked if self._job_written else []:
            stall = self._stall.with_name(f"{self._stall.name}.{school}")
            if stall.exists():
                reached = stall.with_name(stall.name + ".reached")
                reached.write_text(str(os.getpid()), encoding="utf-8")
                while stall.exists():
                    time.sleep(0.05)
        self._uow.commit()


class _Flagging:
    """A repository that tells its unit of work when a job record was written."""

    def __init__(self, repo: Any, unit: _StallingUnit) -> None:
        self._repo = repo
        self._unit = unit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo, name)

    def put(self, record: Any) -> None:
        self._unit._job_written = True
        self._repo.put(record)


class _StallingStore:
    def __init__(self, store: Store, stall: Path) -> None:
        self._store = store
        self._stall = stall

    def unit_of_work(self) -> UnitOfWork:
        return cast(UnitOfWork, _StallingUnit(self._store.unit_of_work(), self._stall))

    def close(self) -> None:
        self._store.close()


class ConfiguredHost:
    """The host the JSON file named by ``SCHOOLSYNC_NIGHTLY_TEST_CONFIG`` describes (read
    when the host is made, in each process)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        if config is None:
            config = json.loads(Path(os.environ[CONFIG_ENV]).read_text(encoding="utf-8"))
        self.config = config
        self._store: Store | None = None
        self._broker: Any = None
        self._keys = {row[1]: row[2] for row in config["schools"]}

    def store(self) -> Store:
        """The configured store (opened once per process)."""
        if self._store is None:
            spec = self.config["store"]
            made: Store
            if "sqlite" in spec:
                from schoolsync.storage.sqlite import SqliteStore

                made = SqliteStore(Path(spec["sqlite"]), timeout=30)
            else:
                from schoolsync.storage.postgres import PostgresStore

                made = PostgresStore(spec["postgres"], schema=spec.get("schema"), lock_timeout=30)
            stall = self.config.get("stall_commit")
            self._store = _StallingStore(made, Path(stall)) if stall else made
        return self._store

    def schools(self) -> Iterable[tuple[str | None, str]]:
        """The configured schools, as ``(trust, school)``."""
        return [(row[0], row[1]) for row in self.config["schools"]]

    def connection(self, school_id: str) -> MisConnection:
        """Authorised, unless the school is listed as deauthorised."""
        made = authorised_connection(school_id)
        if school_id in self.config.get("deauthorised", ()):
            made = deauthorise(
                made, actor_id="school", at=_AUTHORISED_AT, can_configure=lambda a, p, s: True
            )
        return made

    def _wonde(self) -> Any:
        if self._broker is None:
            from schoolsync.brokers import (
                HttpSettings,
                RateLimit,
                RateLimits,
                RetryPolicy,
                WondeBroker,
            )

            spec = self.config["broker"]
            limits: RateLimits | None = None
            if spec.get("shared_limits"):
                from schoolsync.nightly import PostgresRateLimits

                limits = PostgresRateLimits(
                    spec["shared_limits"], schema=spec.get("limits_schema", "schoolsync")
                )
            rate = spec.get("rate_limit")
            self._broker = WondeBroker(
                spec["token"],
                base_url=spec["url"],
                settings=HttpSettings(
                    read_timeout=float(spec.get("read_timeout", 10)),
                    retry=RetryPolicy(
                        attempts=int(spec.get("attempts", 3)), wait_initial=0, wait_jitter=0
                    ),
                ),
                rate_limit=RateLimit(requests=rate[0], period=rate[1]) if rate else None,
                rate_limits=limits,
            )
        return self._broker

    def source(self, school_id: str) -> MisSource:
        """The school's Wonde connector."""
        school: MisSource = self._wonde().school(self._keys[school_id], school_id=school_id)
        return school

    def clock(self) -> Clock:
        """The system clock."""
        return SystemClock()

    def close(self) -> None:
        """Close the store and the broker's connections."""
        if self._broker is not None:
            self._broker.close()
            self._broker = None
        if self._store is not None:
            self._store.close()
            self._store = None
