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
     "sharing": ["school-1"],
     "stall_commit": "/tmp/stall",
     "stall_send": "/tmp/sent"}

``broker`` is the fake Wonde's by default; ``{"provider": "oneroster", "url": <the fake
OneRoster's url>, "client_id": ..., "client_secret": ...}`` serves the schools from a fake
OneRoster 1.2 with its gradebook, so the job writes assessment results back (to the schools
listed in ``sharing``, whose connections grant the ``gradebook`` scope and share results).

:func:`broker_config` writes the ``broker`` entry for a fake Wonde or OneRoster;
:func:`import_schools` gives each configured school its first sync from the fake that serves
it, so a test starts from schools already synced, as a real night does.

``stall_commit``: while a file ``<stall_commit>.<school id>`` exists, a nightly job's last
commit for that school (the unit of work that holds the school's lock and writes the job's
record) writes its process id to ``<stall_commit>.<school id>.reached`` and waits: for crash
tests, kill the worker there, after every write of the job, before its final commit.
``stall_send``: while a file ``<stall_send>.<school id>`` exists, a result the job has just
posted to the broker waits before its answer is recorded (the process id is written to
``<stall_send>.<school id>.reached``): kill the worker there, between the post and its record.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from schoolsync.clock import SystemClock
from schoolsync.ports import Clock, MisSource, Store, UnitOfWork
from schoolsync.records.brokers import QueuedResult
from schoolsync.records.tables import Table
from schoolsync.sync.connection import (
    DataSharing,
    MisConnection,
    authorise,
    deauthorise,
    set_data_sharing,
)

if TYPE_CHECKING:
    from schoolsync.brokers import BrokerSchool, HttpSettings
    from schoolsync.testing.brokers import FakeBroker

__all__ = [
    "CONFIG_ENV",
    "ConfiguredHost",
    "authorised_connection",
    "broker_config",
    "import_schools",
    "write_config",
]

#: The environment variable naming the host's JSON file.
CONFIG_ENV = "SCHOOLSYNC_NIGHTLY_TEST_CONFIG"

_AUTHORISED_AT = datetime(2026, 1, 5, tzinfo=UTC)


def authorised_connection(
    school_id: str, provider: str = "wonde", *, sharing: bool = False
) -> MisConnection:
    """An authorised connection of *school_id* (granted the ``roster`` scope). With
    *sharing*, it also grants the optional ``gradebook`` scope and shares results (not
    historical ones), so assessment results are written back."""
    yes = lambda a, p, s: True  # noqa: E731
    made = authorise(
        MisConnection(
            school_id=school_id,
            provider=provider,
            required_scopes={"roster"},
            optional_scopes={"gradebook"} if sharing else set(),
            sharing_scope="gradebook" if sharing else None,
        ),
        actor_id="coordinator",
        granted_scopes={"roster", "gradebook"} if sharing else {"roster"},
        at=_AUTHORISED_AT,
        can_configure=yes,
    )
    if sharing:
        made = set_data_sharing(
            made,
            DataSharing(share_results=True),
            actor_id="coordinator",
            at=_AUTHORISED_AT,
            can_configure=yes,
        )
    return made


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


class _StallingPort:
    """A results port that waits after each post while the stall file exists."""

    def __init__(self, port: Any, stall: Path, school_id: str) -> None:
        self._port = port
        self.provider: str = port.provider
        self._stall = stall.with_name(f"{stall.name}.{school_id}")

    def send(self, result: QueuedResult, student: str) -> str:
        remote: str = self._port.send(result, student)
        if self._stall.exists():
            reached = self._stall.with_name(self._stall.name + ".reached")
            reached.write_text(str(os.getpid()), encoding="utf-8")
            while self._stall.exists():
                time.sleep(0.05)
        return remote


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

    @property
    def provider(self) -> str:
        """The configured broker's provider (``wonde`` unless set)."""
        return str(self.config["broker"].get("provider", "wonde"))

    def authorised(self, school_id: str) -> MisConnection:
        """The school's connection as it was authorised (before any deauthorisation): sharing
        results if the school is listed in ``sharing``."""
        return authorised_connection(
            school_id, self.provider, sharing=school_id in self.config.get("sharing", ())
        )

    def connection(self, school_id: str) -> MisConnection:
        """Authorised, unless the school is listed as deauthorised; sharing results if the
        school is listed in ``sharing``."""
        made = self.authorised(school_id)
        if school_id in self.config.get("deauthorised", ()):
            made = deauthorise(
                made, actor_id="school", at=_AUTHORISED_AT, can_configure=lambda a, p, s: True
            )
        return made

    def _wonde(self) -> Any:
        if self._broker is None and self.provider == "oneroster":
            from schoolsync.brokers import HttpSettings, OneRosterBroker, RetryPolicy

            spec = self.config["broker"]
            self._broker = OneRosterBroker(
                spec["url"] + "/ims/oneroster/rostering/v1p2",
                client_id=spec["client_id"],
                client_secret=spec["client_secret"],
                token_url=spec["url"] + "/token",
                gradebook_url=spec["url"] + "/ims/oneroster/gradebook/v1p2",
                settings=HttpSettings(
                    read_timeout=float(spec.get("read_timeout", 10)),
                    retry=RetryPolicy(
                        attempts=int(spec.get("attempts", 3)), wait_initial=0, wait_jitter=0
                    ),
                ),
            )
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
        """The school's connector (Wonde, or OneRoster)."""
        school: MisSource = self._wonde().school(self._keys[school_id], school_id=school_id)
        return school

    def results(self, school_id: str) -> Any:
        """The school's results port: the OneRoster gradebook (``None`` for Wonde), which
        stalls after a post while the ``stall_send`` file of the school exists."""
        if self.provider != "oneroster":
            return None
        from schoolsync.brokers.results import OneRosterGradebook

        port = OneRosterGradebook(self._wonde())
        stall = self.config.get("stall_send")
        return _StallingPort(port, Path(stall), school_id) if stall else port

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


def import_schools(
    host: ConfiguredHost, fake: FakeBroker, *, at: datetime, settings: HttpSettings | None = None
) -> None:
    """The first sync of each of *host*'s schools from *fake*, the broker serving them:
    everything it serves imported (:func:`schoolsync.testing.brokers.import_school`) through
    the school's connection as authorised (:meth:`ConfiguredHost.authorised`: a school listed
    as deauthorised was authorised for its first sync), connected by the school's broker key
    with *settings* (default :data:`schoolsync.testing.brokers.QUICK`)."""
    from schoolsync.testing.brokers import QUICK, import_school

    connect = cast(Callable[..., "BrokerSchool"], fake.connect)  # type: ignore[attr-defined]
    for _, school_id in host.schools():
        with connect(host._keys[school_id], settings=settings or QUICK) as source:
            import_school(host.store(), source, connection=host.authorised(school_id), at=at)


def broker_config(fake: FakeBroker, *, settings: HttpSettings | None = None) -> dict[str, Any]:
    """The file's ``broker`` entry for *fake* (a fake Wonde or OneRoster): its URL and
    credentials, and the read timeout and attempts of *settings* (default
    :data:`schoolsync.testing.brokers.QUICK`, as :func:`import_schools` connects)."""
    from schoolsync.testing.brokers import QUICK, FakeOneRoster, FakeWonde

    chosen = settings or QUICK
    timing = {"read_timeout": chosen.read_timeout, "attempts": chosen.retry.attempts}
    if isinstance(fake, FakeOneRoster):
        return {
            "provider": "oneroster",
            "url": fake.url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            **timing,
        }
    if isinstance(fake, FakeWonde):
        return {"url": fake.url, "token": fake.token, **timing}
    raise TypeError(
        f"a ConfiguredHost serves from a fake Wonde or OneRoster, not {type(fake).__name__}"
    )
