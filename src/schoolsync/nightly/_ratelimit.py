"""A broker's per-credential rate limit shared by every worker process on every machine: the
limiter's tokens are rows in PostgreSQL.

:class:`PostgresRateLimits` is a :class:`~schoolsync.brokers.RateLimits` (hand it to each
broker as ``rate_limits=``) whose limiters keep the same rule as the in-process
:class:`~schoolsync.brokers.RateLimiter` — ``limit.requests`` tokens, each coming back one
``limit.period`` after its request *ended* — in a table of token rows. A worker takes a token
with one ``UPDATE ... FOR UPDATE SKIP LOCKED`` (no two workers take the same row) and gives it
back when its request ends; every time is PostgreSQL's own clock, so the machines' clocks do
not matter. A worker killed while holding a token loses it for ``lease`` seconds plus a period
(counted as if its request had taken the whole lease), never less. A broker's "slow down"
(429 with a delay) pauses the credential for every worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from schoolsync.brokers._http import RateLimit, RateLimiter, RateLimits, Secret
from schoolsync.errors import StorageError

__all__ = ["PostgresRateLimiter", "PostgresRateLimits"]

_SLOTS = "schoolsync_rate_tokens"
_PAUSES = "schoolsync_rate_pauses"
_SETUP_LOCK = 0x5C4_0011  # advisory lock key serialising the tables' creation

_TAKE = f"""
UPDATE {_SLOTS} AS s
   SET free_at = clock_timestamp() + make_interval(secs => %(hold)s)
  FROM (SELECT n FROM {_SLOTS}
         WHERE key = %(key)s AND n <= %(requests)s AND free_at <= clock_timestamp()
           AND NOT EXISTS (SELECT 1 FROM {_PAUSES} p
                            WHERE p.key = %(key)s AND p.paused_until > clock_timestamp())
         ORDER BY free_at, n LIMIT 1
         FOR UPDATE SKIP LOCKED) AS pick
 WHERE s.key = %(key)s AND s.n = pick.n
RETURNING s.n
"""
_WAIT = f"""
SELECT GREATEST(
         (SELECT min(free_at) FROM {_SLOTS} WHERE key = %(key)s AND n <= %(requests)s),
         (SELECT paused_until FROM {_PAUSES} WHERE key = %(key)s),
         clock_timestamp()) - clock_timestamp()
"""
_GIVE_BACK = f"""
UPDATE {_SLOTS} SET free_at = clock_timestamp() + make_interval(secs => %(period)s)
 WHERE key = %(key)s AND n = %(n)s
"""
_PAUSE = f"""
INSERT INTO {_PAUSES} (key, paused_until)
VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(seconds)s))
ON CONFLICT (key) DO UPDATE SET paused_until = GREATEST({_PAUSES}.paused_until,
                                                         EXCLUDED.paused_until)
"""
_ENSURE = f"""
INSERT INTO {_SLOTS} (key, n, free_at)
SELECT %(key)s, n, '-infinity' FROM generate_series(1, %(requests)s) AS n
ON CONFLICT (key, n) DO NOTHING
"""


class PostgresRateLimiter(RateLimiter):
    """The limiter of one credential, its tokens in PostgreSQL (see the module docstring).

    Made by :meth:`PostgresRateLimits.limiter`; thread-safe (one connection, used under a lock).
    """

    def __init__(
        self,
        limits: PostgresRateLimits,
        key: str,
        limit: RateLimit,
        *,
        sleep: Callable[[float], None],
        margin: float = 0.01,
    ) -> None:
        super().__init__(limit, sleep=sleep, margin=margin)
        self._limits = limits
        self._key = key
        self._args = {"key": key, "requests": limit.requests}
        limits.execute(_ENSURE, self._args)

    def acquire(self) -> None:
        """Wait until a request may be sent, and count it as sent (and ended) now."""
        self._release(self._take_token())

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a token for one request; it comes back one period after the request ends."""
        n = self._take_token()
        try:
            yield
        finally:
            self._release(n)

    def pause(self, seconds: float) -> None:
        """Hold every worker's requests on this credential back for *seconds*."""
        self._limits.execute(_PAUSE, {"key": self._key, "seconds": float(seconds)})

    def _take_token(self) -> int:
        hold = self._limits.lease + self._period
        while True:
            row = self._limits.execute(_TAKE, {**self._args, "hold": hold})
            if row is not None:
                return int(row[0])
            waited = self._limits.execute(_WAIT, self._args)
            wait = waited[0].total_seconds() if waited is not None else 0.0
            # Poll at least every poll interval: a held token may come back early.
            self._sleep(min(max(wait, 0.001), self._limits.poll))

    def _release(self, n: int) -> None:
        self._limits.execute(_GIVE_BACK, {"key": self._key, "n": n, "period": self._period})


class PostgresRateLimits(RateLimits):
    """A host's rate limits kept in PostgreSQL, shared by every process that uses the same
    database (and *schema*): pass one per process to every broker, as ``rate_limits=``.

    Args:
        dsn: the PostgreSQL connection string (the store's database will do).
        schema: where the token tables live (created on first use).
        lease: seconds a token may be held before a dead holder's token is presumed lost
            (keep it above the brokers' read timeout).
        poll: the longest wait between two looks at the tokens.
        sleep: the wait (tests may pass their own).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "schoolsync",
        lease: float = 120.0,
        poll: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(sleep=sleep)
        self.lease = lease
        self.poll = poll
        self._dsn = dsn
        self._schema = schema
        self._conn: Any = None
        self._conn_lock = threading.Lock()
        self._made: dict[str, PostgresRateLimiter] = {}

    def _connect(self) -> Any:
        try:
            import psycopg
            from psycopg import sql
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise StorageError(
                "PostgresRateLimits needs psycopg 3: pip install 'schoolsync[postgres]'"
            ) from exc
        conn = psycopg.connect(self._dsn, autocommit=True)
        schema = sql.Identifier(self._schema)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute(sql.SQL("SET search_path TO {}").format(schema))
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_SLOTS} (key text NOT NULL, n integer NOT NULL, "
                "free_at timestamptz NOT NULL, PRIMARY KEY (key, n))"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_PAUSES} (key text PRIMARY KEY, "
                "paused_until timestamptz NOT NULL)"
            )
        conn.execute(sql.SQL("SET search_path TO {}").format(schema))
        return conn

    def execute(self, statement: str, args: dict[str, Any]) -> Any:
        """Run one statement (its own transaction); its first row, if any."""
        import psycopg

        with self._conn_lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                cursor = self._conn.execute(statement.encode(), args)
                return cursor.fetchone() if cursor.description is not None else None
            except psycopg.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                raise StorageError(
                    f"the shared rate limit could not be used ({type(exc).__name__})"
                ) from exc

    def limiter(self, provider: str, credential: Secret, limit: RateLimit) -> RateLimiter:
        """The shared limiter of *credential* at *provider* (its tokens made on first use)."""
        key = f"{provider}:{credential.fingerprint()}"
        with self._lock:
            found = self._made.get(key)
            if found is None or found.limit != limit:
                found = PostgresRateLimiter(self, key, limit, sleep=self._sleep)
                self._made[key] = found
            return found

    def close(self) -> None:
        """Close the connection to PostgreSQL."""
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
