"""HTTP for every broker: one pooled httpx client, retries with backoff and jitter, a rate
limit shared per credential, token refresh on 401, and errors that name the provider, school
and endpoint but never a credential.

The retry loop is ours rather than a decorator library's because the delay a broker asks for
(``Retry-After``; Assembly's 429 body ``{"data": {"period": 300}}``) must pause every school
sharing the credential, not one call, and because tests inject the sleep and the clock.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import attrs
import httpx

from schoolsync.errors import BrokerAuthError, BrokerError

__all__ = [
    "HttpSettings",
    "Limiter",
    "RateLimit",
    "RateLimiter",
    "RateLimits",
    "RetryPolicy",
    "Secret",
]

log = logging.getLogger("schoolsync.brokers")


class Secret:
    """A credential (a password, client secret or token) that never shows itself.

    ``str()``, ``repr()`` and formatting give ``'********'``; :meth:`reveal` is the only way
    to the value, and only the HTTP layer calls it. Two secrets are equal when their values
    are; :meth:`fingerprint` is a short one-way hash for keying shared limits.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        """The credential itself (for the Authorization header, nothing else)."""
        return self._value

    def fingerprint(self) -> str:
        """A short SHA-256 of the value: the same credential gives the same fingerprint."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled (it would leave the process in clear)")


#: What an HTTP header can carry of a token: printable ASCII without spaces (RFC 9110's
#: field values are ASCII; RFC 6750's bearer tokens and Idaas tokens are visible characters).
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")


def issued_token(value: object, *, provider: str, school: str, endpoint: str) -> Secret:
    """A token the broker issued, as a :class:`Secret`, when a request header can carry it.

    Raises:
        BrokerAuthError: *value* is not a non-empty string of printable ASCII without spaces
            (the broker's answer is unusable; the value itself is never shown).
    """
    if not isinstance(value, str) or not value:
        raise BrokerAuthError(provider, school, endpoint, "no token in the response")
    if _HEADER_TOKEN.fullmatch(value) is None:
        raise BrokerAuthError(
            provider,
            school,
            endpoint,
            "the token returned is not printable ASCII without spaces (no header can carry it)",
        )
    return Secret(value)


def as_secret(value: str | Secret) -> Secret:
    """*value* as a :class:`Secret` (unchanged if it already is one)."""
    return value if isinstance(value, Secret) else Secret(value)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    The wait before retry *n* (1-based) is ``min(wait_max, wait_initial * 2 ** (n - 1)) +
    uniform(0, wait_jitter)`` unless the broker asks for a delay (``Retry-After`` or Assembly's
    ``period``), which is honoured as given. A broker asking for more than ``max_delay`` seconds
    ends the fetch with an error instead of waiting. Tests pass ``sleep`` (and zero waits).
    """

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 0.5
    max_delay: float = 600.0
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False, eq=False)
    rng: random.Random = attrs.field(factory=random.Random, repr=False, eq=False)

    def backoff(self, attempt: int) -> float:
        """The wait before retry number *attempt* (1-based) when the broker names none."""
        base = min(self.wait_max, self.wait_initial * 2 ** (attempt - 1))
        return float(base + self.rng.uniform(0.0, self.wait_jitter))


@attrs.frozen(kw_only=True)
class HttpSettings:
    """Timeouts (seconds), connection pool size and retries for a broker's HTTP client."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_connections: int = 20
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)

    def timeout(self) -> httpx.Timeout:
        """The httpx timeout these settings describe."""
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout)


@attrs.frozen(kw_only=True)
class RateLimit:
    """At most ``requests`` requests in any ``period`` seconds (Assembly: 600 per 300 s)."""

    requests: int
    period: float

    def __attrs_post_init__(self) -> None:
        if self.requests < 1 or self.period <= 0:
            raise ValueError("a rate limit needs requests >= 1 and period > 0")


class Limiter(Protocol):
    """What a connector needs of a rate limit: a slot per request and a pause for everyone.

    :class:`RateLimiter` is the in-process implementation. A host running schools in several
    processes can give :class:`RateLimits` a ``make`` that returns its own (for instance one
    kept in PostgreSQL); it must keep the same promise: at most ``limit.requests`` requests
    whose slots ended within any ``limit.period`` seconds, counting each from when its slot
    ended (the broker counts requests on arrival, which is before the answer ends).
    """

    limit: RateLimit

    def slot(self) -> AbstractContextManager[None]:
        """Wait for a free slot, hold it for one request, and count it from when it ends."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every request back for *seconds* (the broker asked for it)."""
        ...


class RateLimiter:
    """A token bucket of ``limit.requests`` tokens in which each spent token comes back one
    ``limit.period`` after its request ended, so no window of that length ever holds more
    requests than the limit, at the broker too (a plain refilling bucket lets twice the limit
    through a window).

    Thread-safe; one limiter is shared by every school using the same credential. A thread
    asking for a token is given the one that comes back first and sleeps until then, on its
    own: a returning token is handed straight to the thread that has waited longest (first
    come, first served), so each token wakes one thread once, and no thread waits on another
    thread's wake-up (under load, such hand-on chains cost milliseconds per token). A broker's
    "slow down" (429) pauses every holder until the delay it asked for has passed. ``margin``
    lengthens the period a little (0.1 %: clocks drift).
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.001,
    ) -> None:
        self.limit = limit
        self.margin = margin
        # A token comes back a period (plus a small margin) after its request ended.
        self._period = limit.period * (1 + margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # When each token not in use is (or was) free again: a heap, earliest first.
        self._free_at: list[float] = [-math.inf] * limit.requests
        # Threads waiting while every token is in use, first come first; each gets the time
        # its token is free from (the token's request end plus a period).
        self._waiting: deque[_Waiter] = deque()
        self._paused_until = -math.inf

    @property
    def waiting(self) -> int:
        """How many threads are waiting because every token is held by a request in flight."""
        with self._lock:
            return len(self._waiting)

    def acquire(self) -> None:
        """Wait until a request may be sent, and count it as sent now."""
        self._take()
        self._give_back()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a token for one request: it is counted from when the request *ends*, so the
        next request on it reaches the broker at least one period after this one did, however
        long the way there takes (the broker counts requests on arrival)."""
        self._take()
        try:
            yield
        finally:
            self._give_back()

    def _take(self) -> None:
        waiter: _Waiter | None = None
        free_at: float | None = None
        with self._lock:
            if self._free_at:  # then nobody is waiting: tokens go to waiters first
                free_at = heapq.heappop(self._free_at)
            else:
                waiter = _Waiter()
                self._waiting.append(waiter)
        try:
            if waiter is not None:
                free_at = waiter.wait()
            assert free_at is not None
            at = free_at
            while True:
                with self._lock:
                    wait = max(at, self._paused_until) - self._clock()
                if wait <= 0:
                    return
                self._sleep(wait)
        except BaseException:
            with self._lock:  # interrupted: the token goes back unspent
                if waiter is not None and free_at is None:
                    if waiter in self._waiting:
                        self._waiting.remove(waiter)
                    else:
                        free_at = waiter.free_at
                if free_at is not None:
                    self._return(free_at)
            raise

    def _give_back(self) -> None:
        with self._lock:
            self._return(self._clock() + self._period)

    def _return(self, free_at: float) -> None:
        """Hand a token free from *free_at* to the longest waiting thread, or keep it."""
        if self._waiting:
            self._waiting.popleft().give(free_at)
        else:
            heapq.heappush(self._free_at, free_at)

    def pause(self, seconds: float) -> None:
        """Hold every request back for *seconds* (the broker asked for it)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class _Waiter:
    """A thread waiting for a token: it sleeps until one is handed to it."""

    __slots__ = ("_event", "free_at")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.free_at: float | None = None

    def give(self, free_at: float) -> None:
        self.free_at = free_at
        self._event.set()

    def wait(self) -> float:
        self._event.wait()
        assert self.free_at is not None
        return self.free_at


class RateLimits:
    """The limiters of a host, one per credential, so that every school using a credential
    shares its limit. Create one per process and pass it to every broker.

    ``make(provider, key, limit)`` builds a limiter for a credential (``key`` is a one-way
    fingerprint of it, stable across processes): pass one to share limits between processes
    (see :class:`Limiter`); by default each is an in-process :class:`RateLimiter`.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        make: Callable[[str, str, RateLimit], Limiter] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._make = make
        self._limiters: dict[tuple[str, str], Limiter] = {}
        self._lock = threading.Lock()

    def limiter(self, provider: str, credential: Secret, limit: RateLimit) -> Limiter:
        """The shared limiter of *credential* at *provider* (made on first use)."""
        key = (provider, credential.fingerprint())
        with self._lock:
            found = self._limiters.get(key)
            if found is None:
                if self._make is not None:
                    found = self._make(provider, key[1], limit)
                else:
                    found = RateLimiter(limit, clock=self._clock, sleep=self._sleep)
                self._limiters[key] = found
            return found


def _retry_after(response: httpx.Response) -> float | None:
    """The delay a 429/503 asks for: ``Retry-After`` (seconds or a date), or Assembly's body
    ``{"data": {"period": seconds}}``."""
    header = response.headers.get("Retry-After")
    if header:
        text = header.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
                date_header = response.headers.get("Date")
                now = parsedate_to_datetime(date_header) if date_header else None
                if now is not None:
                    return max(0.0, (when - now).total_seconds())
            except (TypeError, ValueError, IndexError):
                return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, dict):
            period = data.get("period")
            if isinstance(period, int | float) and not isinstance(period, bool) and period >= 0:
                return float(period)
    return None


_RETRY_STATUS = frozenset({408, 425, 500, 502, 503, 504})


@attrs.define(kw_only=True)
class Call:
    """One logical request (retried as a whole)."""

    method: str
    url: str
    endpoint: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    json_body: Any = None
    form: Mapping[str, str] | None = None
    ok: frozenset[int] = frozenset({200})
    #: False for a write that must not be repeated (``POST /results``): only failures that
    #: surely left it unsent are retried.
    idempotent: bool = True


class HttpSession:
    """The HTTP client of one broker connection (one credential): pooled, limited, retried.

    Args:
        provider: names the provider in errors and logs.
        settings: timeouts and retries.
        limiter: the credential's shared limiter, if the broker has a limit.
        transport: an httpx transport (tests; default: the network).
    """

    def __init__(
        self,
        provider: str,
        settings: HttpSettings,
        *,
        limiter: Limiter | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.limiter = limiter
        self._client = httpx.Client(
            timeout=settings.timeout(),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def _unknown(self, school: str, call: Call, reason: str) -> BrokerError:
        return BrokerError(
            self.provider,
            school,
            call.endpoint,
            f"{reason}: the write may or may not have been applied; not repeated",
            maybe_applied=True,
        )

    def error(self, school: str, endpoint: str, reason: str) -> BrokerError:
        """A :class:`BrokerError` naming this provider."""
        return BrokerError(self.provider, school, endpoint, reason)

    def send(
        self,
        call: Call,
        *,
        school: str,
        auth: Callable[[], Mapping[str, str]] | None = None,
        refresh: Callable[[], None] | None = None,
        sign: Callable[[Call], Mapping[str, str]] | None = None,
        parse: Callable[[httpx.Response], Any] | None = None,
        limiter: Limiter | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Send *call*, retrying what can be retried; returns the response and ``parse``'s value.

        ``auth`` gives the Authorization headers (called per attempt, so a refreshed token is
        used); on a 401 ``refresh`` is called once and the call retried. ``parse`` reads the body
        (a ``ValueError`` from it, e.g. truncated JSON, is retried like a transport error).
        ``limiter`` replaces the session's (a limit per school token rather than per credential).

        Raises:
            BrokerAuthError: a 401 that a refresh did not cure (or no refresh possible).
            BrokerError: anything else that did not succeed within the retry policy.
        """
        policy = self.settings.retry
        limiter = limiter or self.limiter
        refreshed = False
        attempt = 0
        last = "no attempt made"
        while True:
            attempt += 1
            if attempt > policy.attempts:
                raise self.error(
                    school, call.endpoint, f"gave up after {policy.attempts} attempts: {last}"
                )
            delay: float | None = None
            headers = dict(call.headers or {})
            if auth is not None:
                headers.update(auth())
            if sign is not None:
                headers.update(sign(call))
            try:
                with limiter.slot() if limiter is not None else nullcontext():
                    response = self._client.request(
                        call.method,
                        call.url,
                        params=call.params,
                        headers=headers,
                        json=call.json_body,
                        data=call.form,
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = f"could not connect ({type(exc).__name__})"
                log.info("%s %s: %s (attempt %d)", self.provider, call.endpoint, last, attempt)
            except httpx.TimeoutException:
                last = "timed out"
                if not call.idempotent:
                    raise self._unknown(school, call, last) from None
                log.info("%s %s: timed out (attempt %d)", self.provider, call.endpoint, attempt)
            except httpx.TransportError as exc:
                # The exception text may hold the URL; only its kind is kept.
                last = f"connection failed ({type(exc).__name__})"
                if not call.idempotent:
                    raise self._unknown(school, call, last) from None
                log.info("%s %s: %s (attempt %d)", self.provider, call.endpoint, last, attempt)
            else:
                status = response.status_code
                if status in call.ok:
                    if parse is None:
                        return response, None
                    try:
                        return response, parse(response)
                    except BrokerError:
                        raise
                    except ValueError:
                        last = "the response body is not valid JSON (truncated?)"
                        log.info("%s %s: %s", self.provider, call.endpoint, last)
                elif status == 401:
                    if refresh is None or refreshed:
                        raise BrokerAuthError(
                            self.provider,
                            school,
                            call.endpoint,
                            "the credentials were refused (401)",
                        )
                    refresh()
                    refreshed = True
                    attempt -= 1  # a refresh is not a failed attempt
                    continue
                elif status == 429:
                    delay = _retry_after(response)
                    last = "rate limited (429)"
                elif status in _RETRY_STATUS:
                    delay = _retry_after(response) if status == 503 else None
                    last = f"server error ({status})"
                    if not call.idempotent and status != 503:
                        raise self._unknown(school, call, last)
                else:
                    raise self.error(school, call.endpoint, _describe_failure(response))
                log.info("%s %s: %s (attempt %d)", self.provider, call.endpoint, last, attempt)
            if attempt >= policy.attempts:
                continue
            if delay is not None:
                if delay > policy.max_delay:
                    raise self.error(
                        school,
                        call.endpoint,
                        f"{last}; the broker asks to wait {delay:.0f} s, more than the "
                        f"{policy.max_delay:.0f} s allowed",
                    )
                if limiter is not None:
                    limiter.pause(delay)  # every school on the credential waits, this one too
                else:
                    policy.sleep(delay)
            else:
                policy.sleep(policy.backoff(attempt))


def _describe_failure(response: httpx.Response) -> str:
    """A short reason for a failed response: its status and the broker's error code, if any
    (error bodies are read only for their code fields, never echoed whole)."""
    reason = f"HTTP {response.status_code}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return reason
    if isinstance(body, dict):
        for key in ("error", "imsx_codeMinor", "ExceptionMessage", "message"):
            value = body.get(key)
            if isinstance(value, str) and value and len(value) <= 120:
                return f"{reason} ({value})"
    return reason


def json_body(response: httpx.Response) -> Any:
    """The response's JSON (``ValueError`` if it is not JSON, e.g. a truncated body)."""
    return json.loads(response.content)
