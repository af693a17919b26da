"""Fake data brokers: real HTTP servers on loopback that speak Wonde, Assembly, Xporter on
Demand and OneRoster REST, for your own tests (as httpx ships ``MockTransport``).

Each fake serves the schools you give it as :class:`~schoolsync.ports.MisSnapshot` values (for
instance :func:`schoolsync.sync.sample_snapshot`), checks credentials the way the provider does,
pages the way it does (quirks included), answers delta queries from the changes you make with
:meth:`FakeBroker.set_school`, and injects faults on demand::

    with FakeWonde(token="t0k3n", schools={"A1": sample_snapshot("A1")}) as fake:
        fake.inject("429", times=3, retry_after=0)      # a rate-limit storm
        fake.inject("vanish", endpoint="students", page=2)  # an item disappears mid-read
        broker = WondeBroker("t0k3n", base_url=fake.url)
        ...

Faults (``kind`` of :meth:`FakeBroker.inject`): ``"429"`` (with ``retry_after`` seconds; the
Assembly fake sends its ``period`` body), ``"500"``, ``"503"`` (any other status as digits,
e.g. ``"422"``: a refusal), ``"truncate"`` (half a JSON
body), ``"drop"`` (the connection closes mid-body), ``"stall"`` (no answer for ``delay``
seconds: a client timeout), ``"expire_token"`` (every token issued so far stops working),
``"duplicate"`` (a new item is inserted before the page: the page repeats an item and the total
grows), ``"vanish"`` (an item already read is deleted: later pages shift and the total falls),
``"error200"`` (Xporter's HTTP 200 error body), ``"body"`` (HTTP 200 with the given ``body``
bytes: any payload shape). ``endpoint`` matches a substring of the path;
``page`` a 1-based page number.

:class:`FakeXporterRecording` serves Groupcall's recorded responses (VCR cassettes) byte for
byte. Every request is logged in :attr:`FakeBroker.log` (time, path, credential fingerprint,
status), so tests and benchmarks can count requests per rate-limit window.

For tests of what comes after a first sync: :func:`import_school` imports everything a fake
serves; :data:`QUICK` (or :func:`quick_settings`) are HTTP settings that retry without waiting;
:data:`ASSESSMENT` is an Assembly assessment result ready to queue and post.

Needs only the standard library (``http.server``); the recorded-response fake needs PyYAML
(the ``testing`` extra).
"""

from __future__ import annotations

import abc
import base64
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import pickle
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs

from schoolsync.brokers._base import BrokerFetch
from schoolsync.brokers._http import HttpSettings, RetryPolicy, Secret
from schoolsync.brokers._school import BrokerSchool
from schoolsync.brokers.assembly import AssemblyBroker, AssemblySchool, AssemblyTokens
from schoolsync.brokers.oneroster import OneRosterBroker, OneRosterSchool, oauth1_authorization
from schoolsync.brokers.sync import syncing_unit
from schoolsync.brokers.wonde import WondeBroker, WondeSchool
from schoolsync.brokers.xporter import XporterBroker, XporterSchool
from schoolsync.clock import SystemClock
from schoolsync.people import Pupil, SchoolClass, StaffMember
from schoolsync.ports import Clock, MisSnapshot, Store
from schoolsync.sync.connection import MisConnection
from schoolsync.trusts import School

__all__ = [
    "ASSESSMENT",
    "QUICK",
    "FakeAssembly",
    "FakeBroker",
    "FakeOneRoster",
    "FakeWonde",
    "FakeXporter",
    "FakeXporterRecording",
    "Fault",
    "LoggedRequest",
    "Reply",
    "Request",
    "import_school",
    "quick_settings",
    "school_with_registration_groups",
]


def quick_settings(*, read_timeout: float = 5.0, attempts: int = 2) -> HttpSettings:
    """HTTP settings for tests against a fake: *attempts* tries per request with no wait
    between them (a fault injected ``times=n`` is retried at once), reads timing out after
    *read_timeout* seconds (shorter than a ``"stall"`` fault's ``delay`` to see the timeout)."""
    return HttpSettings(
        read_timeout=read_timeout,
        retry=RetryPolicy(attempts=attempts, wait_initial=0, wait_jitter=0),
    )


#: :func:`quick_settings` as they default: 2 attempts without waiting, 5 s to read.
QUICK = quick_settings()

#: An assessment result ready to post to Assembly (the payload of
#: :func:`schoolsync.brokers.results.queue_result` that
#: :class:`~schoolsync.brokers.results.AssemblyResults` sends; grade 41). Read-only.
ASSESSMENT: Mapping[str, Any] = MappingProxyType(
    {
        "subject_id": 2,
        "facet_id": 1,
        "assessment_point_rank": 3,
        "assessment_id": 9,
        "grade_id": 41,
    }
)

# ---------------------------------------------------------------------------------------------
# The server


@attrs.frozen(kw_only=True)
class Request:
    """A request as the fake saw it (header names lower-cased; the query's first values)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    raw_query: str = ""

    def form(self) -> dict[str, str]:
        """The urlencoded body and query together (token endpoints accept either)."""
        out = dict(self.query)
        out.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return out

    def json(self) -> Any:
        """The JSON body (``None`` when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@attrs.define(kw_only=True)
class Reply:
    """A response to send: status, headers and the exact body bytes."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)
    stall: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Reply:
        """A JSON reply."""
        return cls(
            status=status,
            body=json.dumps(value, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json; charset=utf-8", **headers},
        )


@attrs.frozen(kw_only=True)
class LoggedRequest:
    """One request the fake answered: when (monotonic seconds), what, whose, and the status."""

    at: float
    method: str
    path: str
    credential: str
    status: int


@attrs.define(kw_only=True)
class Fault:
    """A fault to inject into the next matching requests (see the module docstring)."""

    kind: str
    endpoint: str | None = None
    page: int | None = None
    times: int = 1
    retry_after: float = 0.0
    delay: float = 5.0
    body: bytes = b""

    def matches(self, path: str, page: int | None) -> bool:
        """True if this fault applies to a request of *path* for *page*."""
        if self.times <= 0:
            return False
        if self.endpoint is not None and self.endpoint not in path:
            return False
        return self.page is None or self.page == page


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed ACK)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the fake keeps its own log

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_query=parts.query,
        )
        reply = self.server.broker.dispatch(request)
        if self.server.broker.latency:
            time.sleep(self.server.broker.latency)  # a broker that far away (the GIL is free)
        if reply.stall:
            time.sleep(reply.stall)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.drop:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.drop:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: sixteen clients connecting at once overflow it, the
    # kernel drops their SYNs and each retries a whole second later (a 1 s stall per burst).
    request_queue_size = 1024

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer was written (a test's read timeout
        shorter than a ``"stall"``, a dropped connection) is what a fake is for: nothing is
        printed. Anything else is printed as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _ServingProcess:
    """A fake broker serving from a process of its own, and the pipe that reaches it."""

    def __init__(self, fake: FakeBroker) -> None:
        context = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded process
        self._conn, theirs = context.Pipe()
        self._lock = threading.Lock()
        self._process = context.Process(
            target=_serve_from_here,
            args=(pickle.dumps(fake), theirs),
            name=f"fake-{fake.provider}",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        if not self._conn.poll(120):
            self._process.kill()
            raise RuntimeError("the fake broker's process did not start")
        self.url: str = self._receive()
        assert self._process.pid is not None
        self.pid: int = self._process.pid

    def _receive(self) -> Any:
        try:
            outcome, value = self._conn.recv()
        except EOFError:
            raise RuntimeError("the fake broker's process has ended") from None
        if outcome == "error":
            raise value
        return value

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``fake.remote(name, *args, **kwargs)`` in the serving process."""
        with self._lock:
            self._conn.send((name, args, kwargs))
            return self._receive()

    def stop(self) -> None:
        """Stop the server and end the process."""
        with self._lock:
            with contextlib.suppress(OSError):  # already ended
                self._conn.send(None)
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._conn.close()


def _serve_from_here(pickled: bytes, conn: Any) -> None:
    """The serving process: start the fake, then answer the parent's calls until told to end."""
    fake: FakeBroker = pickle.loads(pickled)  # noqa: S301 (our own parent's bytes)
    with fake:
        conn.send(("ok", fake.url))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            name, args, kwargs = message
            try:
                reply: tuple[str, Any] = ("ok", fake.remote(name, *args, **kwargs))
                conn.send(reply)
            except Exception as exc:  # the parent raises it
                try:
                    conn.send(("error", exc))
                except Exception:  # an exception that does not pickle
                    conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


# ---------------------------------------------------------------------------------------------
# Records, changes and deletions, shared by every provider


@attrs.define(kw_only=True)
class _Item:
    """One record the fake serves, stamped with the change that last touched it."""

    kind: str  # pupil, staff, class, year
    record: Any
    seq: int
    at: datetime


@attrs.define(kw_only=True)
class _Gone:
    kind: str
    id: str
    seq: int
    at: datetime
    restored_at: datetime | None = None


class _School:
    """A school's records as the fake holds them, with change stamps for deltas."""

    def __init__(self, key: str, school_id: str) -> None:
        self.key = key
        self.school_id = school_id
        self.items: dict[tuple[str, str], _Item] = {}
        self.gone: dict[tuple[str, str], _Gone] = {}

    def of(self, kind: str) -> list[_Item]:
        return sorted(
            (i for (k, _), i in self.items.items() if k == kind), key=lambda i: i.record.id
        )


def _records(snapshot: MisSnapshot) -> Iterable[tuple[str, Any]]:
    for kind, records in (
        ("year", snapshot.year_groups),
        ("class", snapshot.classes),
        ("staff", snapshot.staff),
        ("pupil", snapshot.pupils),
    ):
        for record in records:
            yield kind, record


def _memberships(items: Iterable[_Item]) -> dict[str, set[tuple[str, str]]]:
    """Class id -> its members (a class whose members change counts as changed)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for item in items:
        for class_id in getattr(item.record, "class_ids", ()):
            out.setdefault(class_id, set()).add((item.kind, item.record.id))
    return out


class FakeBroker(abc.ABC):
    """The server, credentials, schools, changes, faults and request log every fake shares.

    Args:
        schools: the schools served, by the provider's key for them (estab, Wonde id, org...).
        clock: the fake's clock for change stamps and token expiry (share the client's
            :class:`~schoolsync.clock.FixedClock` in tests to make deltas exact).
        rate_limit: ``(requests, period)`` the fake enforces per credential (429 when over).
        token_lifetime: how long issued tokens last.
        latency: seconds added before every answer (a broker across a network, not loopback).
        process: serve from a process of its own (a real broker is another machine: the
            fake's work then no longer shares this process's CPU and GIL with the client under
            test). The fake's state lives in that process: :meth:`set_school`,
            :meth:`inject`, :meth:`expire_tokens`, :attr:`log` (a copy) and the rest of this
            class's methods reach it through a pipe, and :meth:`remote` reaches anything else
            (``fake.remote("results")``). Everything given to the fake must pickle, and the
            serving process keeps its own copy of ``clock`` (advancing yours does not move it).
    """

    provider = ""

    def __init__(
        self,
        *,
        schools: Mapping[str, MisSnapshot] | None = None,
        clock: Clock | None = None,
        rate_limit: tuple[int, float] | None = None,
        token_lifetime: timedelta = timedelta(hours=24),
        latency: float = 0.0,
        process: bool = False,
    ) -> None:
        self.process = process
        self._child: _ServingProcess | None = None
        self.clock: Clock = clock or SystemClock()
        self.latency = latency
        self.rate_limit = rate_limit
        self.token_lifetime = token_lifetime
        self.schools: dict[str, _School] = {}
        self.faults: list[Fault] = []
        self._log: list[LoggedRequest] = []
        self._seq = 0
        self._lock = threading.RLock()
        self._windows: dict[str, list[float]] = {}
        self._cache: dict[Any, Any] = {}
        self._cache_seq = -1
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for key, snapshot in (schools or {}).items():
            self.set_school(key, snapshot)

    # -- life ------------------------------------------------------------------------------

    def start(self) -> FakeBroker:
        """Start serving on a free loopback port (in a process of its own with ``process``)."""
        if self.process:
            if self._child is None:
                self._child = _ServingProcess(self)
        elif self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"fake-{self.provider}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (and end the serving process, if any)."""
        if self._child is not None:
            child, self._child = self._child, None
            child.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        if self._child is not None:
            return self._child.url
        if self._server is None:
            raise RuntimeError("the fake broker is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def pid(self) -> int:
        """The id of the process serving (this one, unless ``process``)."""
        return self._child.pid if self._child is not None else os.getpid()

    @property
    def log(self) -> list[LoggedRequest]:
        """Every request answered so far, oldest first (a copy when serving from a process)."""
        if self._child is not None:
            return self._child.call("_get", ("_log",), {})  # type: ignore[no-any-return]
        return self._log

    def remote(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the fake's method *name* (or read its attribute, given no arguments) where it
        serves: in this process, or in its own with ``process`` (the result comes back as a
        copy). For instance ``fake.remote("results")`` or ``fake.remote("record_of", "K1", 3)``."""
        if self._child is not None:
            return self._child.call(name, args, kwargs)
        found = getattr(self, name)
        return found(*args, **kwargs) if callable(found) else found

    def _get(self, name: str) -> Any:
        return getattr(self, name)

    def __getstate__(self) -> dict[str, Any]:
        """What a serving process receives: the data, not the server, locks or pipe."""
        state = self.__dict__.copy()
        for name in ("_lock", "_server", "_thread", "_child"):
            state.pop(name, None)
        state["process"] = False  # the copy serves in-process, there
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self._child = None

    # -- data ------------------------------------------------------------------------------

    def set_school(self, key: str, snapshot: MisSnapshot) -> None:
        """Serve *snapshot* as school *key* from now on. Records that changed (or are new) are
        stamped with the fake's clock; records gone are listed as deletions; a deleted record
        that comes back is restored (``restored_at``)."""
        if self._child is not None:
            self._child.call("set_school", (key, snapshot), {})
        with self._lock:
            self._seq += 1
            now = self.clock.now()
            school = self.schools.setdefault(key, _School(key, snapshot.school_id))
            fresh = {(kind, r.id): r for kind, r in _records(snapshot)}
            for ident, _item in list(school.items.items()):
                if ident not in fresh:
                    del school.items[ident]
                    school.gone[ident] = _Gone(kind=ident[0], id=ident[1], seq=self._seq, at=now)
            before = _memberships(school.items.values())
            after = _memberships(
                _Item(kind=kind, record=r, seq=0, at=now) for (kind, _), r in fresh.items()
            )
            for ident, record in fresh.items():
                old = school.items.get(ident)
                moved = ident[0] == "class" and before.get(ident[1]) != after.get(ident[1])
                if old is not None and old.record == record and not moved:
                    continue
                school.items[ident] = _Item(kind=ident[0], record=record, seq=self._seq, at=now)
                gone = school.gone.get(ident)
                if gone is not None and gone.restored_at is None:
                    gone.restored_at = now
                    gone.seq = self._seq

    def inject(
        self,
        kind: str,
        *,
        endpoint: str | None = None,
        page: int | None = None,
        times: int = 1,
        retry_after: float = 0.0,
        delay: float = 5.0,
        body: bytes = b"",
    ) -> Fault:
        """Inject a fault into the next *times* matching requests (see the module docstring)."""
        fault = Fault(
            kind=kind,
            endpoint=endpoint,
            page=page,
            times=times,
            retry_after=retry_after,
            delay=delay,
            body=body,
        )
        if self._child is not None:  # the serving process counts down its own copy
            made = self._child.call("inject", (), attrs.asdict(fault, recurse=False))
            assert isinstance(made, Fault)
            return made
        with self._lock:
            self.faults.append(fault)
        return fault

    def school_id(self, key: str) -> str:
        """The ``school_id`` of the snapshot served as *key*."""
        return self.schools[key].school_id

    def requests_to(self, fragment: str) -> int:
        """How many requests had *fragment* in their path."""
        return sum(1 for r in self.log if fragment in r.path)

    def max_in_window(self, period: float) -> int:
        """The most requests of one credential in any window of *period* seconds."""
        best = 0
        by_cred: dict[str, list[float]] = {}
        for r in self.log:
            by_cred.setdefault(r.credential, []).append(r.at)
        for times in by_cred.values():
            times.sort()
            start = 0
            for end, t in enumerate(times):
                while t - times[start] >= period:
                    start += 1
                best = max(best, end - start + 1)
        return best

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``, kept until the served data next changes (a collection's row list is
        then made once per change, not once per page: a real broker pages in O(page))."""
        with self._lock:
            if self._cache_seq != self._seq:
                self._cache.clear()
                self._cache_seq = self._seq
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = build()
            return found

    # -- dispatch --------------------------------------------------------------------------

    def credential_of(self, request: Request) -> str:
        """A fingerprint of the request's credential (for the log and the rate limit)."""
        value = request.headers.get("authorization", "")
        return hashlib.sha256(value.encode()).hexdigest()[:12] if value else "-"

    def page_of(self, request: Request) -> int | None:
        """The 1-based page a request asks for (provider-specific)."""
        return None

    def _fault(self, request: Request) -> Fault | None:
        page = self.page_of(request)
        with self._lock:
            for fault in self.faults:
                if fault.matches(request.path, page):
                    fault.times -= 1
                    return fault
        return None

    def _over_limit(self, credential: str) -> bool:
        if self.rate_limit is None or credential == "-":
            return False
        limit, period = self.rate_limit
        now = time.monotonic()
        with self._lock:
            window = [t for t in self._windows.get(credential, []) if now - t < period]
            over = len(window) >= limit
            if not over:
                window.append(now)
            self._windows[credential] = window
        return over

    def dispatch(self, request: Request) -> Reply:
        """Answer one request: faults first, then the rate limit, then the provider."""
        arrived = time.monotonic()
        credential = self.credential_of(request)
        fault = self._fault(request)
        reply: Reply
        if fault is not None and (
            fault.kind in {"429", "500", "503", "stall", "error200", "body"} or fault.kind.isdigit()
        ):
            reply = self.fault_reply(fault, request)
        elif self._over_limit(credential):
            reply = self.too_many(self.rate_limit[1] if self.rate_limit else 1.0)
        else:
            try:
                if fault is not None and fault.kind == "expire_token":
                    self.expire_tokens()
                if fault is not None and fault.kind in {"duplicate", "vanish"}:
                    self.mutate(request, fault.kind)
                reply = self.handle(request)
            except _Refused as refused:
                reply = refused.reply
            except Exception as exc:  # a fake's own bug shows as a 500, not a hung client
                reply = Reply.json({"error": f"fake broker error: {type(exc).__name__}"}, 500)
            if fault is not None and fault.kind == "truncate":
                reply.body = reply.body[: max(1, len(reply.body) // 2)]
            if fault is not None and fault.kind == "drop":
                reply.drop = True
        with self._lock:
            self._log.append(
                LoggedRequest(
                    at=arrived,
                    method=request.method,
                    path=request.path,
                    credential=credential,
                    status=reply.status,
                )
            )
        return reply

    def fault_reply(self, fault: Fault, request: Request) -> Reply:
        """The reply of an HTTP-level fault."""
        if fault.kind == "429":
            return self.too_many(fault.retry_after)
        if fault.kind == "stall":
            reply = self.handle(request)
            reply.stall = fault.delay
            return reply
        if fault.kind == "body":
            return Reply(body=fault.body, headers={"Content-Type": "application/json"})
        if fault.kind == "error200":
            return Reply.json(
                {
                    "Message": None,
                    "ExceptionType": None,
                    "ExceptionMessage": "Something went wrong",
                    "InnerException": None,
                }
            )
        return Reply.json({"error": "server error"}, status=int(fault.kind))

    def too_many(self, retry_after: float) -> Reply:
        """A 429 as this provider sends it."""
        return Reply.json(
            {"error": "too many requests"}, 429, **{"Retry-After": f"{retry_after:g}"}
        )

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid."""
        if self._child is not None:
            self._child.call("expire_tokens", (), {})
        else:
            self._expire_tokens()

    def _expire_tokens(self) -> None:  # noqa: B027 (providers without tokens keep this)
        """Make every token issued so far invalid (providers with tokens override)."""

    @abc.abstractmethod
    def handle(self, request: Request) -> Reply:
        """Answer a request the provider's way."""

    def mutate(self, request: Request, kind: str) -> None:
        """Apply a ``duplicate`` or ``vanish`` fault to the collection being read."""
        collection = self.collection_of(request)
        school = self.school_of(request)
        if collection is None or school is None:
            return
        items = school.of(collection)
        if not items:
            return
        with self._lock:
            self._seq += 1
            now = self.clock.now()
            if kind == "vanish":
                victim = items[0]
                del school.items[(victim.kind, victim.record.id)]
                school.gone[(victim.kind, victim.record.id)] = _Gone(
                    kind=victim.kind, id=victim.record.id, seq=self._seq, at=now
                )
            else:
                first = items[0]
                copy = attrs.evolve(first.record, id="0" + first.record.id, mis_id=None)
                school.items[(first.kind, copy.id)] = _Item(
                    kind=first.kind, record=copy, seq=self._seq, at=now
                )

    def collection_of(self, request: Request) -> str | None:
        """The record kind a request reads (``pupil``, ``staff``, ``class``), if any."""
        return None

    def school_of(self, request: Request) -> _School | None:
        """The school a request is about, if any."""
        return None

    def page(self, items: Sequence[_Item], number: int, size: int) -> tuple[list[_Item], int]:
        """Page *number* (1-based) of *items* and the page count."""
        size = max(1, size)
        count = max(1, -(-len(items) // size))
        start = (number - 1) * size
        return list(items[start : start + size]), count


class _Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _bearer(request: Request, scheme: str = "Bearer") -> str:
    value = request.headers.get("authorization", "")
    return value[len(scheme) + 1 :] if value.startswith(scheme + " ") else ""


def _basic(request: Request) -> tuple[str, str]:
    raw = _bearer(request, "Basic")
    try:
        user, _, password = base64.b64decode(raw).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password


def _nc_label(code: str) -> str:
    return "Reception" if code == "R" else f"Year  {code}"  # Xporter's double space


def _xporter_address(person: Any) -> dict[str, str | None]:
    """A person's home address as XoD's Address group writes it (the whole line as Street)."""
    return {"Street": person.address, "PostCode": person.postcode}


def _assembly_address(person: Any) -> dict[str, str | None] | None:
    """A person's home address as Assembly's ``address`` object (``addresses=true``)."""
    if not (person.address or person.postcode):
        return None
    return {"object": "address", "address_line_1": person.address, "postcode": person.postcode}


def _members(snapshot_items: Sequence[_Item], class_id: str) -> list[Any]:
    return [i.record for i in snapshot_items if class_id in getattr(i.record, "class_ids", ())]


def _class_name(school: _School, class_id: str) -> str:
    item = school.items.get(("class", class_id))
    return str(item.record.name) if item is not None else class_id


def _year_of(school: _School, record: SchoolClass) -> str | None:
    for item in school.of("year"):
        if item.record.id in record.year_group_ids:
            return str(item.record.nc_year)
    return None


class _Tokens:
    """Issued tokens: value -> (school key, expiry)."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[str, datetime]] = {}
        self.lock = threading.Lock()

    def issue(self, school: str, until: datetime) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.issued[token] = (school, until)
        return token

    def school(self, token: str, now: datetime) -> str | None:
        with self.lock:
            found = self.issued.get(token)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def clear(self) -> None:
        with self.lock:
            self.issued.clear()

    def __getstate__(self) -> dict[str, Any]:
        with self.lock:
            return {"issued": dict(self.issued)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.issued = state["issued"]
        self.lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# Xporter on Demand


class FakeXporter(FakeBroker):
    """Xporter on Demand: ``GetToken`` with each school's secret, ``Idaas`` tokens, the
    ``__pagination__`` table whose last page still carries ``NextPage``, changesets
    (``changedRows``) with ``{Table}_deleted``, errors as HTTP 200.

    Args:
        secrets: each school's ``schoolSecret`` by estab.
        relying_party: the relying party tokens are issued to.
    """

    provider = "xporter"

    def __init__(
        self,
        *,
        secrets: Mapping[str, str],
        relying_party: str = "app.example",
        **options: Any,
    ) -> None:
        self.secrets = dict(secrets)
        self.relying_party = relying_party
        self.tokens = _Tokens()
        super().__init__(**options)

    def _expire_tokens(self) -> None:
        """Every Idaas token issued so far stops working."""
        self.tokens.clear()

    def connect(self, key: str, **options: Any) -> XporterSchool:
        """A client of school *key* wired to this fake (``settings``, ``rate_limit``,
        ``rate_limits`` go to the broker; other options to :meth:`XporterBroker.school`)."""
        broker = XporterBroker(
            self.relying_party, base_url=self.url, clock=self.clock, **_broker_options(options)
        )
        return broker.school(key, self.secrets[key], school_id=self.school_id(key), **options)

    def _parts(self, request: Request) -> list[str]:
        return [p for p in request.path.split("/") if p]

    def page_of(self, request: Request) -> int | None:
        return _int(request.query.get("page"), 1) if "School" in request.path else None

    def school_of(self, request: Request) -> _School | None:
        parts = self._parts(request)
        return self.schools.get(parts[3]) if len(parts) > 4 else None

    def collection_of(self, request: Request) -> str | None:
        parts = self._parts(request)
        endpoint = parts[4] if len(parts) > 4 else ""
        return {"Students": "pupil", "Staff": "staff", "Groups": "class"}.get(endpoint)

    def handle(self, request: Request) -> Reply:
        parts = self._parts(request)
        if request.method == "POST" and parts[-1:] == ["GetToken"]:
            return self._token(request)
        if len(parts) < 5 or parts[:3] != ["api", "v1", "School"]:
            return Reply.json({"Message": "No HTTP resource was found"}, 404)
        estab, endpoint = parts[3], parts[4]
        token_school = self.tokens.school(_bearer(request, "Idaas"), self.clock.now())
        if token_school is None:
            return Reply.json({"Message": "Authorization has been denied for this request."}, 401)
        school = self.schools.get(estab)
        if token_school != estab or school is None:
            return Reply.json(_xod_error("Estab not authorised for this token"))
        if endpoint == "SchoolInfo":
            return Reply.json(
                {
                    "SchoolInfo": [
                        {
                            "Id": "1",
                            "Name": f"School {estab}",
                            "EstabId": estab,
                            "CurrentAcademicYear": str(
                                self.clock.now().year
                                if self.clock.now().month >= 9
                                else self.clock.now().year - 1
                            ),
                        }
                    ],
                    "meta": [{"Id": 1, "MIS": "fake", "Version": "1"}],
                }
            )
        kind = self.collection_of(request)
        if kind is None:
            return Reply.json({"Message": "No HTTP resource was found"}, 404)
        since = request.query.get("changedRows")
        items = self._items(school, endpoint)
        deleted: list[str] = []
        if since not in (None, "*"):
            after = _int(since.lstrip("v"), -1)
            if after < 0:
                return Reply.json(_xod_error("changedRows token not recognised"))
            items = [i for i in items if i.seq > after]
            deleted = sorted(
                g.id
                for g in school.gone.values()
                if g.seq > after and g.restored_at is None and _XOD_KIND[g.kind] == endpoint
            )
        number = _int(request.query.get("page"), 1)
        size = _int(request.query.get("pageSize"), 100)
        rows, count = self.page(items, number, size)
        table = {"Students": "Students", "Staff": "Staff", "Groups": "Group"}[endpoint]
        body: dict[str, Any] = {table: [self._row(school, i) for i in rows]}
        if endpoint == "Groups":
            body["StudentMembers"], body["StaffMembers"] = self._memberships(school, rows)
        body["meta"] = [{"Id": 1, "MIS": "fake", "Version": "1"}]
        body["__pagination__"] = [
            {
                "PageSize": size,
                "PageNumber": number,
                "PageCount": count,
                "RowCount": len(items),
                # The real service keeps a NextPage link on the last page too.
                "NextPage": f"?page={number + 1}&pageSize={size}",
            }
        ]
        if since is not None:
            body[f"{table}_deleted"] = [{"Id": i} for i in deleted]
            token = f"v{self._seq}"
            body["__changedRows__"] = [
                {
                    "SnapshotDate": self.clock.now().isoformat(),
                    "PreviousChangedRows": since,
                    "NextChangedRows": token,
                    "NextUrl": f"?changedRows={token}&page=1&pageSize={size}",
                }
            ]
        return Reply.json(body)

    def _token(self, request: Request) -> Reply:
        data = request.json() or {}
        estab = str(data.get("estab", ""))
        ok = (
            data.get("relyingParty") == self.relying_party
            and estab in self.secrets
            and hmac.compare_digest(str(data.get("password", "")), self.secrets[estab])
        )
        if not ok:
            return Reply.json(
                {
                    "Message": None,
                    "ExceptionMessage": "Relying Party not found for estab or secret not correct",
                    "token": None,
                    "expires": None,
                }
            )
        until = self.clock.now() + self.token_lifetime
        token = self.tokens.issue(estab, until)
        return Reply.json(
            {
                "Message": None,
                "ExceptionMessage": None,
                "token": token,
                "expires": until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )

    def _items(self, school: _School, endpoint: str) -> list[_Item]:
        if endpoint == "Groups":
            return school.of("year") + school.of("class")
        return school.of(_XOD_COLLECTION[endpoint])

    def _row(self, school: _School, item: _Item) -> dict[str, Any]:
        r = item.record
        stamp = item.at.isoformat()
        if item.kind == "pupil":
            reg = next((c for c in r.class_ids if c.startswith("REG")), None)
            return {
                "Id": r.id,
                "IdaasId": f"PL-{r.id}",
                "Forename": r.preferred_forename or r.forename,
                "Surname": r.preferred_surname or r.surname,
                "LegalForename": r.forename,
                "LegalSurname": r.surname,
                "MiddleName": r.middle_names,
                "Gender": r.gender.value,
                "DateofBirth": r.date_of_birth.isoformat() if r.date_of_birth else None,
                "UPN": str(r.upn) if r.upn else None,
                "YearGroupId": f"YG{r.year_code}" if r.year_code else None,
                "YearGroup": _nc_label(r.year_code) if r.year_code else None,
                "RegGroupId": reg,
                "StudentStatus": "OnRoll",
                "EnrolmentStatus": "C",
                "LastUpdated": stamp,
                **_xporter_address(r),
            }
        if item.kind == "staff":
            return {
                "Id": r.id,
                "IdaasId": f"PWT-{r.id}",
                "Title": r.title,
                "Forename": r.preferred_forename or r.forename,
                "Surname": r.preferred_surname or r.surname,
                "LegalForename": r.forename,
                "LegalSurname": r.surname,
                "StaffCode": r.staff_code,
                "WorkEmail": r.email,
                "Gender": r.gender.value,
                "StaffStatus": "Current",
                "IsTeacher": 1 if r.class_ids else 0,
                "LastUpdated": stamp,
                **_xporter_address(r),
            }
        if item.kind == "year":
            return {
                "Id": f"YG{r.nc_year}",
                "IdaasId": f"GY-{r.nc_year}",
                "Type": "YearGrp",
                "Code": r.nc_year,
                "Name": _nc_label(r.nc_year),
                "LastUpdated": stamp,
            }
        kind = "RegGrp" if r.id.startswith("REG") else "TeachingGrp"
        return {
            "Id": r.id,
            "IdaasId": f"GC-{r.id}",
            "Type": kind,
            "Code": r.name,
            "Name": r.name,
            "Subject": r.subject,
            "LastUpdated": stamp,
        }

    def _memberships(
        self, school: _School, rows: Sequence[_Item]
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        pupils, staff = school.of("pupil"), school.of("staff")
        students: list[dict[str, str]] = []
        teachers: list[dict[str, str]] = []
        for item in rows:
            if item.kind != "class":
                continue
            cid = item.record.id
            students += [{"GroupId": cid, "StudentId": p.id} for p in _members(pupils, cid)]
            teachers += [{"GroupId": cid, "StaffId": s.id} for s in _members(staff, cid)]
        return students, teachers


_XOD_COLLECTION = {"Students": "pupil", "Staff": "staff"}
_XOD_KIND = {"pupil": "Students", "staff": "Staff", "class": "Groups", "year": "Groups"}


def _xod_error(message: str) -> dict[str, Any]:
    return {
        "Message": None,
        "ExceptionType": None,
        "ExceptionMessage": message,
        "InnerException": None,
    }


class FakeXporterRecording(FakeBroker):
    """Groupcall's recorded Xporter on Demand responses (VCR cassettes), served byte for byte.

    A request is answered with the recorded response whose method, path (trailing slash
    ignored) and query match; anything unrecorded gets a 404. The recorded token is
    ``REDACTED-IDAAS-TOKEN``; data requests must carry it.

    Args:
        cassettes: the folder of ``*.yml`` cassettes (or the files).
    """

    provider = "xporter"

    def __init__(self, cassettes: Path | Sequence[Path], **options: Any) -> None:
        import yaml  # the testing extra

        files = sorted(cassettes.glob("*.yml")) if isinstance(cassettes, Path) else list(cassettes)
        self.recorded: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[int, bytes]] = {}
        for f in files:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
            for interaction in data.get("http_interactions", []):
                req, resp = interaction["request"], interaction["response"]
                parts = urlsplit(req["uri"])
                key = (
                    req["method"].upper(),
                    parts.path.rstrip("/"),
                    tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))),
                )
                body = resp["body"]["string"]
                self.recorded[key] = (
                    int(resp["status"]["code"]),
                    body.encode("utf-8") if isinstance(body, str) else bytes(body),
                )
        super().__init__(**options)

    def page_of(self, request: Request) -> int | None:
        return _int(request.query.get("page"), 1)

    def handle(self, request: Request) -> Reply:
        key = (
            request.method,
            request.path.rstrip("/"),
            tuple(sorted(parse_qsl(request.raw_query, keep_blank_values=True))),
        )
        found = self.recorded.get(key)
        if found is None:
            return Reply.json({"Message": "not recorded"}, 404)
        if not request.path.endswith("GetToken") and (
            request.headers.get("authorization") != "Idaas REDACTED-IDAAS-TOKEN"
        ):
            return Reply.json({"Message": "Authorization has been denied for this request."}, 401)
        status, body = found
        return Reply(
            status=status, body=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )


# ---------------------------------------------------------------------------------------------
# Wonde


class FakeWonde(FakeBroker):
    """Wonde: one bearer token, the school's region domain, ``meta.pagination`` (absent for
    50 or fewer items unless ``per_page`` is given), ``updated_after`` and ``deletions``.

    Args:
        token: the app token the fake accepts.
        regions: school id -> region domain (default: this fake's own host).
    """

    provider = "wonde"

    def __init__(
        self, *, token: str, regions: Mapping[str, str] | None = None, **options: Any
    ) -> None:
        self.token = token
        self.regions = dict(regions or {})
        super().__init__(**options)

    def broker(self, **options: Any) -> WondeBroker:
        """A client of this fake (``settings``, ``rate_limit``, ``rate_limits``): one for every
        school, as a host with one app token has, so they share its connections."""
        return WondeBroker(self.token, base_url=self.url, clock=self.clock, **options)

    def connect(self, key: str, **options: Any) -> WondeSchool:
        """A client of school *key* wired to this fake (see :meth:`FakeXporter.connect`)."""
        broker = self.broker(**_broker_options(options))
        return broker.school(key, school_id=self.school_id(key), **options)

    def _parts(self, request: Request) -> list[str]:
        return [p for p in request.path.split("/") if p]

    def page_of(self, request: Request) -> int | None:
        return _int(request.query.get("page"), 1)

    def school_of(self, request: Request) -> _School | None:
        parts = self._parts(request)
        return self.schools.get(parts[2]) if len(parts) > 2 else None

    def collection_of(self, request: Request) -> str | None:
        parts = self._parts(request)
        return {"students": "pupil", "employees": "staff", "classes": "class"}.get(
            parts[3] if len(parts) > 3 else ""
        )

    def handle(self, request: Request) -> Reply:
        if not hmac.compare_digest(_bearer(request), self.token):
            return Reply.json({"error": "Unauthenticated."}, 401)
        parts = self._parts(request)
        if parts == ["v1.0", "schools"]:  # the schools that approved the app
            host = urlsplit(self.url).netloc
            return self._paged(
                request,
                [(None, self._school_row(s, host)) for _, s in sorted(self.schools.items())],
            )
        if len(parts) < 3 or parts[:2] != ["v1.0", "schools"]:
            return Reply.json({"error": "not found"}, 404)
        school = self.schools.get(parts[2])
        if school is None:
            return Reply.json({"error": "school not found or not approved"}, 404)
        if len(parts) == 3:
            return Reply.json({"data": self._school_row(school, urlsplit(self.url).netloc)})
        endpoint = parts[3]
        since = _wonde_time(request.query.get("updated_after"))
        if endpoint == "deletions":
            rows = [
                {
                    "type": _WONDE_TYPE[g.kind],
                    "id": g.id,
                    "mis_id": g.id,
                    "deleted_at": _wonde_date(g.at),
                    "restored_at": _wonde_date(g.restored_at) if g.restored_at else None,
                }
                for g in sorted(school.gone.values(), key=lambda g: g.id)
                if since is None or g.at > since or (g.restored_at and g.restored_at > since)
            ]
            return self._paged(request, [(None, r) for r in rows])
        kind = self.collection_of(request)
        if kind is None:
            return Reply.json({"error": "not found"}, 404)
        items = [
            i
            for i in school.of(kind)
            if (since is None or i.at > since)
            and not (kind == "class" and i.record.id.startswith("REG"))  # those are groups
        ]
        return self._paged(request, [(i, None) for i in items], school)

    def _school_row(self, school: _School, host: str) -> dict[str, Any]:
        return {
            "id": school.key,
            "name": f"School {school.key}",
            "region": {"code": "GBR", "domain": self.regions.get(school.key, host)},
        }

    def _paged(
        self,
        request: Request,
        entries: list[tuple[_Item | None, dict[str, Any] | None]],
        school: _School | None = None,
    ) -> Reply:
        per_page_text = request.query.get("per_page")
        size = _int(per_page_text, 50)
        number = _int(request.query.get("page"), 1)
        start = (number - 1) * size
        chunk = entries[start : start + size]
        data = [
            row if row is not None else self._row(school, item)
            for item, row in chunk
            if item is not None or row is not None
        ]
        body: dict[str, Any] = {"data": data, "meta": {}}
        more = start + size < len(entries)
        if per_page_text is not None or len(entries) > 50:
            query = {k: v for k, v in request.query.items() if k != "page"}
            query["page"] = str(number + 1)
            following = f"{self.url}{request.path}?" + "&".join(
                f"{k}={quote(v)}" for k, v in query.items()
            )
            body["meta"]["pagination"] = {
                "next": following if more else None,
                "previous": None,
                "more": more,
                "per_page": size,
                "current_page": number,
            }
        return Reply.json(body)

    def _row(self, school: _School | None, item: _Item | None) -> dict[str, Any]:
        assert item is not None
        assert school is not None
        r = item.record
        base = {
            "id": r.id,
            "mis_id": r.mis_id or r.id,
            "updated_at": {"date": _wonde_date(item.at), "timezone_type": 3, "timezone": "UTC"},
        }
        if item.kind == "class":
            return {
                **base,
                "name": r.name,
                "code": r.name,
                "subject": {"data": {"name": r.subject}} if r.subject else None,
            }
        classes = {"data": [{"id": c} for c in r.class_ids if not c.startswith("REG")]}
        person = {
            **base,
            "upi": hashlib.sha1(r.id.encode()).hexdigest(),  # noqa: S324 (an id, not security)
            "forename": r.preferred_forename or r.forename,
            "surname": r.preferred_surname or r.surname,
            "legal_forename": r.forename,
            "legal_surname": r.surname,
            "middle_names": r.middle_names,
            "gender": {"M": "MALE", "F": "FEMALE"}.get(r.gender.value),
            "classes": classes,
        }
        if item.kind == "staff":
            return {
                **person,
                "title": r.title,
                "contact_details": {"data": {"emails": {"work": r.email, "email": r.email}}},
            }
        reg = next((c for c in r.class_ids if c.startswith("REG")), None)
        return {
            **person,
            "date_of_birth": {
                "date": f"{r.date_of_birth.isoformat()} 00:00:00.000000",
                "timezone_type": 3,
                "timezone": "Europe/London",
            }
            if r.date_of_birth
            else None,
            "education_details": {
                "data": {"upn": str(r.upn) if r.upn else None, "current_nc_year": r.year_code}
            },
            "year": {"data": {"id": f"YG{r.year_code}", "name": _nc_label(r.year_code)}}
            if r.year_code
            else None,
            "registration": {"data": {"id": reg, "name": _class_name(school, reg)}}
            if reg
            else None,
        }


_WONDE_TYPE = {"pupil": "student", "staff": "employee", "class": "class", "year": "group"}


def _wonde_date(moment: datetime | None) -> str:
    assert moment is not None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _wonde_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Assembly


class FakeAssembly(FakeBroker):
    """Assembly Platform: the version in ``Accept``, school tokens with refresh (``POST
    /oauth/token``, HTTP Basic), 600 requests per 5 minutes per token answered with the 429
    ``period`` body, bare-array pages with ``Total``/``Total-Pages``/``Next-Page`` headers,
    ``If-Modified-Since`` (304), ``/students/left``, and ``POST /results`` (kept in
    :attr:`results`).

    Args:
        client_id, client_secret: the app's credentials.
        refresh_tokens: each school's refresh token (key: school key).
        access_tokens: tokens already issued (token -> school key), valid ``token_lifetime``.
    """

    provider = "assembly"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_tokens: Mapping[str, str],
        access_tokens: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_tokens = {v: k for k, v in refresh_tokens.items()}
        self.tokens = _Tokens()
        self.results: list[dict[str, Any]] = []
        self._ids: dict[tuple[str, str], int] = {}
        options.setdefault("rate_limit", (600, 300.0))
        super().__init__(**options)
        until = self.clock.now() + self.token_lifetime
        for token, school in (access_tokens or {}).items():
            with self.tokens.lock:
                self.tokens.issued[token] = (school, until)

    def _expire_tokens(self) -> None:
        """Every access token issued so far expires (refresh tokens still work)."""
        self.tokens.clear()

    def connect(self, key: str, **options: Any) -> AssemblySchool:
        """A client of school *key* wired to this fake, holding a fresh access token and the
        school's refresh token (see :meth:`FakeXporter.connect`)."""
        until = self.clock.now() + self.token_lifetime
        refresh = next(t for t, school in self.refresh_tokens.items() if school == key)
        tokens = AssemblyTokens(
            access_token=self.remote("_issue_token", key, until),
            refresh_token=Secret(refresh),
            expires_at=until,
            school_id=key,
        )
        broker = AssemblyBroker(
            self.client_id,
            self.client_secret,
            base_url=self.url,
            auth_url=self.url,
            clock=self.clock,
            **_broker_options(options),
        )
        return broker.school(tokens, school_id=self.school_id(key), **options)

    def _issue_token(self, key: str, until: datetime) -> str:
        return self.tokens.issue(key, until)

    def too_many(self, retry_after: float) -> Reply:
        """Assembly's 429: the wait is in the body's ``period`` (no Retry-After header)."""
        limit = self.rate_limit[0] if self.rate_limit else 600
        return Reply.json(
            {
                "error": "too many requests",
                "data": {"count": limit + 1, "period": retry_after, "limit": limit},
            },
            429,
        )

    def fault_reply(self, fault: Fault, request: Request) -> Reply:
        if fault.kind == "429":
            return self.too_many(fault.retry_after)
        reply = super().fault_reply(fault, request)
        reply.headers.setdefault("Total-Pages", "1")
        return reply

    def credential_of(self, request: Request) -> str:
        token = _bearer(request)
        return hashlib.sha256(token.encode()).hexdigest()[:12] if token else "-"

    def page_of(self, request: Request) -> int | None:
        return _int(request.query.get("page"), 1)

    def school_of(self, request: Request) -> _School | None:
        found = self.tokens.school(_bearer(request), self.clock.now())
        return self.schools.get(found) if found else None

    def collection_of(self, request: Request) -> str | None:
        return {"/students": "pupil", "/staff_members": "staff", "/teaching_groups": "class"}.get(
            request.path
        )

    def id_of(self, school: str, record_id: str) -> int:
        """The integer id the fake gives a record (Assembly ids are integers)."""
        with self._lock:
            key = (school, record_id)
            if key not in self._ids:
                self._ids[key] = len(self._ids) + 1
            return self._ids[key]

    def record_of(self, school: str, number: int) -> str | None:
        """The record id behind an integer id."""
        for (s, rid), n in self._ids.items():
            if s == school and n == number:
                return rid
        return None

    def handle(self, request: Request) -> Reply:
        if request.path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        accept = request.headers.get("accept", "")
        if "application/vnd.assembly+json" not in accept or not any(
            accept.replace(" ", "").endswith(v) for v in ("version=1.1", "version=1")
        ):
            return Reply.json({"error": "unsupported_version"}, 406)
        key = self.tokens.school(_bearer(request), self.clock.now())
        if key is None:
            return Reply.json({"error": "invalid_token", "message": "the token is not valid"}, 401)
        school = self.schools.get(key)
        if school is None:
            return Reply.json({"error": "not found", "message": "no such school"}, 404)
        if request.path == "/results" and request.method == "POST":
            return self._results(key, request)
        if request.path == "/academic_years":
            now = self.clock.now().date()
            start = date(now.year if now.month >= 9 else now.year - 1, 9, 1)
            return Reply.json(
                [
                    {
                        "id": 1,
                        "name": f"{start.year}/{start.year + 1}",
                        "start_date": start.isoformat(),
                        "end_date": date(start.year + 1, 8, 31).isoformat(),
                    }
                ]
            )
        since_text = request.headers.get("if-modified-since")
        since = parsedate_to_datetime(since_text) if since_text else None
        path = request.path
        if path in ("/students/left", "/staff_members/left"):
            left = "pupil" if path.startswith("/students") else "staff"
            rows = [
                {"id": self.id_of(key, g.id)}
                for g in sorted(school.gone.values(), key=lambda g: g.id)
                if g.kind == left and g.restored_at is None and (since is None or g.at > since)
            ]
            return self._paged(request, rows)
        collections = {
            "/students": "pupil",
            "/staff_members": "staff",
            "/teaching_groups": "class",
            "/registration_groups": "reg",
            "/year_groups": "year",
        }
        kind = collections.get(path)
        if kind is None:
            return Reply.json({"error": "not found"}, 404)
        if kind in ("class", "reg"):
            items = [
                i for i in school.of("class") if i.record.id.startswith("REG") == (kind == "reg")
            ]
        else:
            items = school.of(kind)
        if since is not None:
            items = [i for i in items if i.at > since]
            if not items:
                return Reply(status=304)
        return self._paged(request, [self._row(key, school, i) for i in items])

    def _paged(self, request: Request, rows: list[dict[str, Any]]) -> Reply:
        size = min(_int(request.query.get("per_page"), 100), 1500)
        number = _int(request.query.get("page"), 1)
        count = max(1, -(-len(rows) // size))
        chunk = rows[(number - 1) * size : number * size]
        headers = {
            "Page": str(number),
            "Per-Page": str(size),
            "Total": str(len(rows)),
            "Total-Pages": str(count),
            "Last-Modified": format_datetime(self.clock.now().astimezone(UTC), usegmt=True),
        }
        if number < count:
            headers["Next-Page"] = str(number + 1)
        reply = Reply.json(chunk)
        reply.headers.update(headers)
        return reply

    def _row(self, key: str, school: _School, item: _Item) -> dict[str, Any]:
        r = item.record
        rid = self.id_of(key, r.id)
        if item.kind == "pupil":
            return {
                "object": "student",
                "id": rid,
                "mis_id": r.mis_id,
                "year_code": r.year_code,
                "upn": str(r.upn) if r.upn else None,
                "first_name": r.preferred_forename or r.forename,
                "last_name": r.preferred_surname or r.surname,
                "legal_first_name": r.forename,
                "legal_last_name": r.surname,
                "middle_name": r.middle_names,
                "dob": r.date_of_birth.isoformat() if r.date_of_birth else None,
                "demographics": {"gender": r.gender.value},
                "emails": [{"email": r.email, "is_primary": True}] if r.email else [],
                "address": _assembly_address(r),
            }
        if item.kind == "staff":
            return {
                "object": "staff_member",
                "id": rid,
                "mis_id": r.mis_id,
                "title": r.title,
                "first_name": r.preferred_forename or r.forename,
                "last_name": r.preferred_surname or r.surname,
                "legal_first_name": r.forename,
                "legal_last_name": r.surname,
                "staff_code": r.staff_code,
                "email": r.email,
                "is_teaching_staff": bool(r.class_ids),
                "address": _assembly_address(r),
            }
        if item.kind == "year":
            members = [
                self.id_of(key, p.record.id)
                for p in school.of("pupil")
                if p.record.year_code == r.nc_year
            ]
            return {
                "object": "year_group",
                "id": rid,
                "code": r.nc_year,
                "name": r.name,
                "student_ids": members,
                "supervisor_ids": [],
            }
        return {
            "object": "teaching_group",
            "id": rid,
            "name": r.name,
            "subject": {"name": r.subject} if r.subject else None,
            "student_ids": [self.id_of(key, p.id) for p in _members(school.of("pupil"), r.id)],
            "supervisor_ids": [self.id_of(key, s.id) for s in _members(school.of("staff"), r.id)],
        }

    def _token(self, request: Request) -> Reply:
        user, password = _basic(request)
        if user != self.client_id or not hmac.compare_digest(password, self.client_secret):
            return Reply.json({"error": "invalid_client"}, 401)
        form = request.form()
        school = self.refresh_tokens.get(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or school is None:
            return Reply.json({"error": "invalid_grant"}, 400)
        until = self.clock.now() + self.token_lifetime
        access = self.tokens.issue(school, until)
        return Reply.json(
            {
                "access_token": access,
                "refresh_token": form["refresh_token"],
                "token_type": "bearer",
                "level": "school",
                "expires_in": int(self.token_lifetime.total_seconds()),
                "school_id": school,
                "scopes": ["students.basic"],
            }
        )

    def _results(self, key: str, request: Request) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            return Reply.json({"error": "validation", "message": "results missing"}, 422)
        out = []
        for entry in body["results"]:
            if (
                not isinstance(entry, dict)
                or self.record_of(key, entry.get("student_id", -1)) is None
            ):
                return Reply.json({"error": "validation", "message": "unknown student"}, 422)
            stored = {
                **{
                    k: body.get(k)
                    for k in ("subject_id", "facet_id", "assessment_id", "assessment_point_rank")
                },
                **entry,
                "id": len(self.results) + 1,
                "school": key,
            }
            self.results.append(stored)
            out.append({"object": "result", **stored})
        return Reply.json(out, 201)


# ---------------------------------------------------------------------------------------------
# OneRoster REST


class FakeOneRoster(FakeBroker):
    """OneRoster REST 1.1/1.2 under ``/ims/oneroster/...``: OAuth 2 client credentials or
    OAuth 1.0a HMAC-SHA256 (signatures checked), ``limit``/``offset`` paging with optional
    ``X-Total-Count``, ``filter=dateLastModified>'...'``, ``status=tobedeleted`` for
    deletions, and gradebook ``PUT results/{id}`` (kept in :attr:`results`).

    Args:
        client_id, client_secret: the credentials.
        version: ``"1.2"`` or ``"1.1"``.
        oauth1: check OAuth 1.0a signatures instead of bearer tokens.
        count_headers: send ``X-Total-Count`` (many servers do not).
    """

    provider = "oneroster"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        version: str = "1.2",
        oauth1: bool = False,
        count_headers: bool = True,
        **options: Any,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.version = version
        self.oauth1 = oauth1
        self.count_headers = count_headers
        self.tokens = _Tokens()
        self.results: dict[str, dict[str, Any]] = {}
        super().__init__(**options)

    @property
    def base_path(self) -> str:
        """The rostering path prefix."""
        return "/ims/oneroster/rostering/v1p2" if self.version == "1.2" else "/ims/oneroster/v1p1"

    @property
    def base_url(self) -> str:
        """The rostering base URL to give a client."""
        return self.url + self.base_path

    @property
    def gradebook_url(self) -> str:
        """The gradebook base URL (1.2)."""
        return self.url + "/ims/oneroster/gradebook/v1p2"

    def _expire_tokens(self) -> None:
        """Every bearer token issued so far stops working."""
        self.tokens.clear()

    def broker(self, **options: Any) -> OneRosterBroker:
        """A client of this fake (``settings``, ``rate_limit``, ``rate_limits``)."""
        return OneRosterBroker(
            self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            version=self.version,
            oauth1=self.oauth1,
            token_url=self.url + "/token",
            gradebook_url=self.gradebook_url,
            clock=self.clock,
            **options,
        )

    def connect(self, key: str, **options: Any) -> OneRosterSchool:
        """A client of school (org) *key* wired to this fake (see :meth:`FakeXporter.connect`)."""
        return self.broker(**_broker_options(options)).school(
            key, school_id=self.school_id(key), **options
        )

    def page_of(self, request: Request) -> int | None:
        # ceil: page n of a client whose pages overlap by one item starts at (n - 1) * (limit - 1)
        limit = max(_int(request.query.get("limit"), 100), 1)
        return -(-_int(request.query.get("offset"), 0) // limit) + 1

    def _rest(self, request: Request) -> list[str]:
        return [p for p in request.path[len(self.base_path) :].split("/") if p]

    def school_of(self, request: Request) -> _School | None:
        rest = self._rest(request)
        return self.schools.get(rest[1]) if len(rest) > 2 and rest[0] == "schools" else None

    def collection_of(self, request: Request) -> str | None:
        rest = self._rest(request)
        return {"students": "pupil", "teachers": "staff", "classes": "class"}.get(
            rest[2] if len(rest) > 2 else ""
        )

    def _authorised(self, request: Request) -> bool:
        if not self.oauth1:
            return self.tokens.school(_bearer(request), self.clock.now()) is not None
        header = request.headers.get("authorization", "")
        if not header.startswith("OAuth "):
            return False
        fields = {
            k.strip(): v.strip().strip('"')
            for k, _, v in (p.partition("=") for p in header[6:].split(","))
        }
        expected = oauth1_authorization(
            request.method,
            f"{self.url}{request.path}",
            consumer_key=self.client_id,
            consumer_secret=Secret(self.client_secret),
            nonce=unquote(fields.get("oauth_nonce", "")),
            timestamp=_int(fields.get("oauth_timestamp"), 0),
            params=dict(parse_qsl(request.raw_query, keep_blank_values=True)),
        )
        return fields.get("oauth_consumer_key") == self.client_id and hmac.compare_digest(
            expected, header
        )

    def handle(self, request: Request) -> Reply:
        if request.path.endswith("/token") and request.method == "POST":
            user, password = _basic(request)
            if user != self.client_id or not hmac.compare_digest(password, self.client_secret):
                return Reply.json({"error": "invalid_client"}, 401)
            token = self.tokens.issue("*", self.clock.now() + self.token_lifetime)
            return Reply.json(
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": int(self.token_lifetime.total_seconds()),
                }
            )
        if not self._authorised(request):
            return Reply.json(_imsx("unauthorized", "the credentials were refused"), 401)
        if (
            request.path.startswith("/ims/oneroster/gradebook/v1p2/results/")
            and request.method == "PUT"
        ):
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
                return Reply.json(_imsx("invalid_data", "a result is needed"), 400)
            rid = request.path.rsplit("/", 1)[1]
            self.results[rid] = body["result"]
            return Reply.json({"result": body["result"]}, 201)
        rest = self._rest(request)
        rows = self.cached(
            (request.path, request.query.get("filter")), lambda: self._collection(request, rest)
        )
        if rows is None:
            return Reply.json(_imsx("unknown_object", "not found"), 404)
        return self._paged(
            request, "users" if rest[-1] in ("students", "teachers") else rest[-1], rows
        )

    def _collection(
        self, request: Request, rest: list[str]
    ) -> list[Callable[[], dict[str, Any]]] | None:
        """The rows of a collection, each made only for the page that serves it."""
        if len(rest) == 1 and rest[0] == "demographics":
            return [
                partial(self._demographic, i) for s in self.schools.values() for i in s.of("pupil")
            ]
        school = self.school_of(request)
        if school is None or len(rest) != 3:
            return None
        since = _filter_time(request.query.get("filter"))
        collection = rest[2]
        rows: list[Callable[[], dict[str, Any]]] = []
        if collection in ("students", "teachers", "classes"):
            kind = {"students": "pupil", "teachers": "staff", "classes": "class"}[collection]
            rows = [
                partial(self._row, school, i)
                for i in school.of(kind)
                if since is None or i.at > since
            ]
            rows += [
                partial(self._gone, g)
                for g in school.gone.values()
                if g.kind == kind and since is not None and g.at > since and g.restored_at is None
            ]
            return rows
        if collection == "enrollments":
            for kind, role in (("pupil", "student"), ("staff", "teacher")):
                for i in school.of(kind):
                    if since is not None and i.at <= since:
                        continue
                    rows += [partial(_enrolment, c, i, role) for c in i.record.class_ids]
            return rows
        return None

    def _paged(self, request: Request, key: str, rows: list[Callable[[], dict[str, Any]]]) -> Reply:
        limit_text = request.query.get("limit")
        if limit_text is not None and (not limit_text.isdigit() or int(limit_text) == 0):
            return Reply.json(
                _imsx("invalid_selection_field", "limit must be a positive integer"), 400
            )
        limit = min(_int(limit_text, 100), 1000)
        offset = _int(request.query.get("offset"), 0)
        reply = Reply.json({key: [make() for make in rows[offset : offset + limit]]})
        if self.count_headers:
            reply.headers["X-Total-Count"] = str(len(rows))
        return reply

    def _gone(self, gone: _Gone) -> dict[str, Any]:
        return {
            "sourcedId": gone.id,
            "status": "tobedeleted",
            "dateLastModified": _or_time(gone.at),
        }

    def _demographic(self, item: _Item) -> dict[str, Any]:
        r = item.record
        return {
            "sourcedId": r.id,
            "status": "active",
            "dateLastModified": _or_time(item.at),
            "birthDate": r.date_of_birth.isoformat() if r.date_of_birth else None,
            "sex": {"M": "male", "F": "female"}.get(r.gender.value, "other"),
        }

    def _row(self, school: _School, item: _Item) -> dict[str, Any]:
        r = item.record
        base = {"sourcedId": r.id, "status": "active", "dateLastModified": _or_time(item.at)}
        if item.kind == "class":
            year = _year_of(school, r)
            return {
                **base,
                "title": r.name,
                "classCode": r.name,
                "classType": "homeroom" if r.id.startswith("REG") else "scheduled",
                "grades": [year.zfill(2) if year and year.isdigit() else year] if year else [],
                "subjects": [r.subject] if r.subject else [],
                "school": {"sourcedId": school.key},
            }
        person: dict[str, Any] = {
            **base,
            "enabledUser": "true",
            "givenName": r.forename,
            "familyName": r.surname,
            "middleName": r.middle_names,
            "email": r.email,
            "username": r.id,
        }
        preferred_keys = (
            ("preferredFirstName", "preferredLastName")
            if self.version == "1.2"
            else ("preferredGivenName", "preferredFamilyName")
        )
        person[preferred_keys[0]] = r.preferred_forename
        person[preferred_keys[1]] = r.preferred_surname
        if isinstance(r, Pupil):
            person["userIds"] = [{"type": "UPN", "identifier": str(r.upn)}] if r.upn else []
            person["grades"] = (
                [r.year_code.zfill(2) if r.year_code and r.year_code.isdigit() else r.year_code]
                if r.year_code
                else []
            )
            person["roles"] = [
                {"roleType": "primary", "role": "student", "org": {"sourcedId": school.key}}
            ]
        elif isinstance(r, StaffMember):
            person["roles"] = [
                {"roleType": "primary", "role": "teacher", "org": {"sourcedId": school.key}}
            ]
        return person


def _broker_options(options: dict[str, Any]) -> dict[str, Any]:
    """Take the broker-level options out of *options* (the rest are the school's)."""
    return {k: options.pop(k) for k in ("settings", "rate_limit", "rate_limits") if k in options}


def _enrolment(class_id: str, item: _Item, role: str) -> dict[str, Any]:
    return {
        "sourcedId": f"{class_id}:{item.record.id}",
        "status": "active",
        "dateLastModified": _or_time(item.at),
        "role": role,
        "class": {"sourcedId": class_id},
        "user": {"sourcedId": item.record.id},
        "classSourcedId": class_id,
        "userSourcedId": item.record.id,
    }


def _imsx(minor: str, description: str) -> dict[str, str]:
    return {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_codeMinor": minor,
    }


def _or_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _filter_time(text: str | None) -> datetime | None:
    if not text or not text.startswith("dateLastModified>"):
        return None
    value = text.split(">", 1)[1].strip().strip("'")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def school_with_registration_groups(snapshot: MisSnapshot, *, per_group: int = 30) -> MisSnapshot:
    """*snapshot* with registration groups (classes whose ids start ``REG``) added, each pupil
    in one: the fakes serve them as each provider's registration groups."""
    pupils = list(snapshot.pupils)
    regs: list[SchoolClass] = []
    out: list[Pupil] = []
    for n, pupil in enumerate(pupils):
        reg = f"REG{n // per_group:03d}"
        if not regs or regs[-1].id != reg:
            regs.append(
                SchoolClass(
                    id=reg,
                    school_id=snapshot.school_id,
                    name=f"Reg {n // per_group + 1}",
                    mis_id=reg,
                    description="registration group",
                )
            )
        out.append(attrs.evolve(pupil, class_ids=(*pupil.class_ids, reg)))
    return attrs.evolve(snapshot, pupils=tuple(out), classes=(*snapshot.classes, *regs))


def import_school(
    store: Store,
    source: BrokerSchool,
    *,
    connection: MisConnection,
    at: datetime,
    school_name: str = "School",
) -> BrokerFetch:
    """A first sync as a person approving everything: fetch *source*, import every New record
    (staff too) into an empty school, and keep the watermark (in the sync's own commit). For
    tests of what comes after."""
    from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
    from schoolsync.sync import SchoolRecords, apply, plan

    school_id = connection.school_id
    fetched = source.fetch()
    mis = fetched.snapshot
    with store.unit_of_work() as uow:
        if uow.schools.get(school_id) is None:
            uow.schools.add(
                School(
                    id=school_id, name=school_name, email_pattern="{forename}.{surname}@s.example"
                )
            )
            uow.commit()
        current = SchoolRecords.load(uow, school_id)
    reviews = [
        match_year_groups(mis.year_groups, []),
        match_classes(mis.classes, []),
        match_staff(mis.staff, []).select_all_new(),
        match_pupils(mis.pupils, []),
    ]
    with syncing_unit(store, school_id, fetched, at=at) as unit:
        apply(plan(reviews, current, at=at), unit, connection=connection, at=at)
    return fetched
