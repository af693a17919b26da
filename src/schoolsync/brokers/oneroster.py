"""OneRoster REST 1.1 and 1.2: one credential for many schools (orgs).

* Auth: 1.2 uses OAuth 2 client credentials (``POST token_url``, HTTP Basic, ``scope``),
  renewed before ``expires_in`` and on a 401; 1.1 providers (ClassLink and others) often sign
  each request with OAuth 1.0a HMAC-SHA256 (:func:`oauth1_authorization`, RFC 5849).
  Xporter's OneRoster 1.1 endpoint is OAuth 2 with the client id ``"rp|estab"``.
* Paths: ``{base_url}/schools/{org}/students|teachers|classes|enrollments`` and
  ``{base_url}/demographics``; ``base_url`` ends in ``/ims/oneroster/v1p1`` or
  ``/ims/oneroster/rostering/v1p2``.
* Paging: ``limit``/``offset``. ``X-Total-Count`` and ``Link`` are optional (Ed-Fi sends
  neither): a page shorter than ``limit`` (or empty) is the last; when a total is sent the
  items must add up to it. Each page after the first starts one item back, on the last item
  of the page before: if that item is not the one read last, items were deleted or added
  before it while the collection was read (which shifts later pages and would silently skip
  or repeat someone), and the fetch ends with an error. This needs no count header and no
  extra request; it assumes, as all offset paging does, that the provider's order is stable.
* The collections (classes, demographics, teachers, students, enrolments) are read at once,
  ``concurrency`` at a time, on the broker's pooled client and within its rate limit; the
  first collection to fail stops the others and ends the fetch with its error. Once a
  collection has shown two full pages, ``prefetch`` further pages (whose offsets are then
  known) are asked for ahead and read in order; those past its end come back empty, unused.
* Deltas: ``filter=dateLastModified>'<watermark>'``; records with ``status=tobedeleted`` are
  deletions (1.2 providers may drop records outright: only a full fetch sees those).
* UNCONFIRMED per provider: where the UPN travels (``userIds`` of type ``UPN`` is read first,
  then ``identifier`` if it is a valid UPN), and filter support.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import attrs
import httpx

from schoolsync.brokers._base import (
    BrokerFetch,
    Mapper,
    PageCheck,
    Watermark,
    gender,
    rows_of,
    text,
)
from schoolsync.brokers._http import (
    Call,
    HttpSession,
    HttpSettings,
    RateLimit,
    RateLimits,
    Secret,
    as_secret,
    issued_token,
    json_body,
)
from schoolsync.brokers._reads import Read, read_all
from schoolsync.brokers._school import BrokerClient, BrokerSchool
from schoolsync.errors import BrokerAuthError, BrokerError, InvalidIdentifierError
from schoolsync.identifiers import Upn
from schoolsync.ports import Clock
from schoolsync.sources._roster import Deletion
from schoolsync.sources._years import nc_year_for_grade

__all__ = ["ROSTER_SCOPES", "OneRosterBroker", "OneRosterSchool", "oauth1_authorization"]

PROVIDER = "oneroster"
_SCOPE = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
#: The OAuth 2 scopes a roster fetch asks for (OneRoster 1.2).
ROSTER_SCOPES = (f"{_SCOPE}roster-core.readonly", f"{_SCOPE}roster-demographics.readonly")


def _enc(value: str) -> str:
    return quote(value, safe="-._~")


def oauth1_authorization(
    method: str,
    url: str,
    *,
    consumer_key: str,
    consumer_secret: Secret,
    nonce: str,
    timestamp: int,
    params: Mapping[str, str] | None = None,
) -> str:
    """The ``Authorization`` header of an OAuth 1.0a HMAC-SHA256 request (RFC 5849, no token).

    The query of *url* and *params* are both signed.
    """
    parts = urlsplit(url)
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(timestamp),
        "oauth_version": "1.0",
    }
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *(params or {}).items()]
    pairs += list(oauth.items())
    normal = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in pairs))
    base_url = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))
    base = "&".join((method.upper(), _enc(base_url), _enc(normal)))
    key = f"{_enc(consumer_secret.reveal())}&".encode()
    signature = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    oauth["oauth_signature"] = signature
    return "OAuth " + ", ".join(f'{k}="{_enc(v)}"' for k, v in sorted(oauth.items()))


class OneRosterBroker(BrokerClient):
    """A OneRoster REST provider and your client credentials; :meth:`school` connects an org.

    Args:
        base_url: the rostering base (``.../ims/oneroster/rostering/v1p2`` or ``.../v1p1``).
        client_id: the client id (OAuth 2) or consumer key (OAuth 1.0a).
        client_secret: the client secret (or consumer secret).
        version: ``"1.2"`` or ``"1.1"``.
        oauth1: sign requests with OAuth 1.0a (default: for 1.1); else OAuth 2.
        token_url: the OAuth 2 token endpoint (default ``{base_url}/token``... pass the
            provider's).
        scopes: the OAuth 2 scopes asked for.
        gradebook_url: the gradebook base (1.2 write-back), if any.
        rate_limit: a limit shared by every org on these credentials.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str | Secret,
        version: str = "1.2",
        oauth1: bool | None = None,
        token_url: str | None = None,
        scopes: tuple[str, ...] = ROSTER_SCOPES,
        gradebook_url: str | None = None,
        settings: HttpSettings | None = None,
        rate_limit: RateLimit | None = None,
        rate_limits: RateLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        if version not in {"1.1", "1.2"}:
            raise ValueError("version must be '1.1' or '1.2'")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = as_secret(client_secret)
        self.version = version
        self.oauth1 = version == "1.1" if oauth1 is None else oauth1
        self.token_url = token_url or f"{self.base_url}/token"
        self.scopes = scopes
        self.gradebook_url = gradebook_url.rstrip("/") if gradebook_url else None
        limiter = None
        if rate_limit is not None:
            limiter = (rate_limits or RateLimits()).limiter(
                PROVIDER, Secret(f"{client_id}:{self._secret.fingerprint()}"), rate_limit
            )
        self.http = HttpSession(
            PROVIDER, settings or HttpSettings(), limiter=limiter, transport=transport
        )
        self.clock = clock
        self._nonce = nonce
        self._token: Secret | None = None
        self._expires: datetime | None = None
        self._token_lock = threading.Lock()  # schools and collections read at once share it

    def __repr__(self) -> str:
        return f"OneRosterBroker(base_url={self.base_url!r}, version={self.version!r})"

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    def _get_token(self) -> None:
        pair = f"{self.client_id}:{self._secret.reveal()}".encode()
        try:
            _, data = self.http.send(
                Call(
                    method="POST",
                    url=self.token_url,
                    endpoint="token",
                    form={"grant_type": "client_credentials", "scope": " ".join(self.scopes)},
                ),
                school="",
                auth=lambda: {"Authorization": "Basic " + base64.b64encode(pair).decode()},
                parse=json_body,
            )
        except BrokerAuthError:
            raise
        except BrokerError as exc:
            raise BrokerAuthError(PROVIDER, "", "token", exc.reason) from None
        token = text(data, "access_token") if isinstance(data, dict) else None
        if token is None or not isinstance(data, dict):
            raise BrokerAuthError(PROVIDER, "", "token", "no access token returned")
        self._token = issued_token(token, provider=PROVIDER, school="", endpoint="token")
        lifetime = data.get("expires_in")
        self._expires = (
            self._now() + timedelta(seconds=lifetime)
            if isinstance(lifetime, int) and not isinstance(lifetime, bool)
            else None
        )

    def auth(self) -> Mapping[str, str]:
        """The OAuth 2 bearer header (a token is fetched or renewed as needed)."""
        if self.oauth1:
            return {}
        with self._token_lock:
            if self._token is None or (
                self._expires is not None and self._expires - timedelta(minutes=1) <= self._now()
            ):
                self._get_token()
            token = self._token
        assert token is not None
        return {"Authorization": f"Bearer {token.reveal()}"}

    def refresh(self) -> None:
        """Get a new OAuth 2 token (after a 401)."""
        if self.oauth1:
            raise BrokerAuthError(PROVIDER, "", "oauth1", "the OAuth 1.0a signature was refused")
        with self._token_lock:
            self._get_token()

    def sign(self, call: Call) -> Mapping[str, str]:
        """The OAuth 1.0a header of *call* (empty for OAuth 2)."""
        if not self.oauth1:
            return {}
        return {
            "Authorization": oauth1_authorization(
                call.method,
                call.url,
                consumer_key=self.client_id,
                consumer_secret=self._secret,
                nonce=self._nonce(),
                timestamp=int(self._now().timestamp()),
                params=call.params,
            )
        }

    def request(self, call: Call, *, school: str) -> tuple[httpx.Response, Any]:
        """Send *call* with this provider's auth (limited, retried, re-authorised on 401)."""
        return self.http.send(
            call,
            school=school,
            auth=self.auth,
            refresh=self.refresh,
            sign=self.sign,
            parse=lambda r: json_body(r) if r.content else None,
        )

    def school(
        self,
        org: str,
        *,
        school_id: str | None = None,
        limit: int = 100,
        demographics: bool = True,
        registration_groups: bool = True,
        concurrency: int = 4,
        prefetch: int = 2,
    ) -> OneRosterSchool:
        """One school, by its org ``sourcedId``; *concurrency* collections are read at once
        (1: one after another), and in a long collection *prefetch* pages are asked for ahead
        of the one being read (0: none)."""
        return OneRosterSchool(
            self,
            org,
            school_id=school_id,
            limit=limit,
            demographics=demographics,
            registration_groups=registration_groups,
            concurrency=concurrency,
            prefetch=prefetch,
        )


class OneRosterSchool(BrokerSchool):
    """One school (org) at a OneRoster REST provider (a :class:`~schoolsync.ports.MisSource`)."""

    provider = PROVIDER
    broker: OneRosterBroker

    def __init__(
        self,
        broker: OneRosterBroker,
        org: str,
        *,
        school_id: str | None,
        limit: int,
        demographics: bool,
        registration_groups: bool,
        concurrency: int = 4,
        prefetch: int = 2,
    ) -> None:
        super().__init__(school=org, school_id=school_id, clock=broker.clock)
        if limit < 1 or concurrency < 1 or prefetch < 0:
            raise ValueError("limit and concurrency must be at least 1, prefetch at least 0")
        self.broker = broker
        self.limit = limit
        self.demographics = demographics
        self.registration_groups = registration_groups
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.requests = 0
        self._count = threading.Lock()

    def __repr__(self) -> str:
        return f"OneRosterSchool(org={self.school!r}, school_id={self.school_id!r})"

    def fetch_options(self) -> Mapping[str, object]:
        """The options a delta depends on."""
        return {
            "limit": self.limit,
            "demographics": self.demographics,
            "registration_groups": self.registration_groups,
            "version": self.broker.version,
        }

    def _page(
        self, path: str, params: Mapping[str, str], offset: int
    ) -> tuple[httpx.Response, Any]:
        """One page of *path* at *offset* (counted, limited, retried)."""
        query = {**params, "limit": str(self.limit), "offset": str(offset)}
        with self._count:
            self.requests += 1
        return self.broker.request(
            Call(method="GET", url=f"{self.broker.base_url}/{path}", endpoint=path, params=query),
            school=self.school,
        )

    def _pages(
        self,
        path: str,
        key: str,
        params: Mapping[str, str],
        cancel: threading.Event | None = None,
    ) -> Iterator[list[Mapping[str, Any]]]:
        check = PageCheck(PROVIDER, self.school, path)
        offset = 0
        overlap = self.limit > 1  # each page after the first repeats the last item read
        before: str | None = None  # that item's sourcedId
        # Once a collection has shown two full pages, the next pages' offsets are known (full
        # pages overlapping by one): up to `prefetch` of them are asked for ahead, and read
        # in order. Pages asked for past the end come back empty and are not used.
        ahead = (
            ThreadPoolExecutor(self.prefetch, "schoolsync-broker-page")
            if (self.prefetch and overlap)
            else None
        )
        queued: deque[tuple[int, Future[tuple[httpx.Response, Any]]]] = deque()
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return  # another collection failed: its error ends the fetch
                if queued and queued[0][0] == offset:
                    response, data = queued.popleft()[1].result()
                else:
                    queued.clear()
                    response, data = self._page(path, params, offset)
                if not isinstance(data, dict) or not isinstance(data.get(key), list):
                    raise check.fail(f"the response has no {key!r} list")
                rows = rows_of(data[key])
                served = len(rows)
                total_text = response.headers.get("X-Total-Count", "").strip()
                total = int(total_text) if total_text.isdigit() else None
                links = response.headers.get("Link", "")
                if total is not None:
                    last = offset + served >= total or not rows
                elif links:
                    last = 'rel="next"' not in links.replace("'", '"') or not rows
                else:
                    last = served < self.limit
                if before is not None:
                    first = text(rows[0], "sourcedId") if rows else None
                    if first != before:
                        raise check.fail(
                            f"page {check.pages + 1} does not start where page {check.pages} "
                            "ended: items were deleted or added while the collection was read; "
                            "fetch again"
                        )
                    rows = rows[1:]
                check.page(
                    rows,
                    "sourcedId",
                    expected=self.limit - (1 if before is not None else 0),
                    last=last,
                    total=total,
                )
                yield rows
                if last:
                    return
                before = text(rows[-1], "sourcedId") if overlap and rows else None
                offset += served - (1 if before is not None else 0)
                if check.pages > 100_000:
                    raise check.fail("more than 100,000 pages: stopped")
                if ahead is not None and check.pages >= 2 and served == self.limit:
                    if cancel is not None and cancel.is_set():
                        return
                    step = self.limit - 1
                    while len(queued) < self.prefetch:
                        at = queued[-1][0] + step if queued else offset
                        queued.append((at, ahead.submit(self._page, path, params, at)))
        finally:
            if ahead is not None:
                ahead.shutdown(wait=True, cancel_futures=True)

    def _run(self, started: datetime, since: Watermark | None) -> BrokerFetch:
        self.requests = 0
        m = Mapper(PROVIDER, self.school, self.school_id)
        params = {"filter": f"dateLastModified>'{since.value}'"} if since is not None else {}
        gone: list[Deletion] = []
        births: dict[str, tuple[Any, str | None]] = {}
        org = f"schools/{self.school}"
        mapping = threading.Lock()  # the collections are read at once, mapped one page at a time

        def alive(row: Mapping[str, Any], kind: str) -> bool:
            if (text(row, "status") or "active").lower() == "tobedeleted":
                rid = text(row, "sourcedId")
                if rid is not None and since is not None:
                    gone.append(Deletion(kind=kind, id=rid))
                return False
            return True

        def classes(rows: list[Mapping[str, Any]]) -> None:
            for row in rows:
                homeroom = (text(row, "classType") or "").lower() == "homeroom"
                if alive(row, "class") and (self.registration_groups or not homeroom):
                    subjects = row.get("subjects")
                    m.add_class(
                        "classes",
                        mis_id=text(row, "sourcedId"),
                        name=text(row, "title", "classCode"),
                        subject=subjects[0]
                        if isinstance(subjects, list) and subjects and isinstance(subjects[0], str)
                        else None,
                        description="registration group" if homeroom else text(row, "classCode"),
                    )

        def demographics(rows: list[Mapping[str, Any]]) -> None:
            for row in rows:
                rid = text(row, "sourcedId")
                if rid is not None:
                    births[rid] = (row.get("birthDate"), text(row, "sex"))

        def users(kind: str) -> Callable[[list[Mapping[str, Any]]], None]:
            def consume(rows: list[Mapping[str, Any]]) -> None:
                for row in rows:
                    if alive(row, "user"):
                        self._user(m, row, kind)

            return consume

        def enrollments(rows: list[Mapping[str, Any]]) -> None:
            for row in rows:
                if not alive(row, "enrolment"):
                    continue
                cid, uid = text(row, "classSourcedId"), text(row, "userSourcedId")
                if cid is None or uid is None:
                    cid = text(row.get("class") or {}, "sourcedId")
                    uid = text(row.get("user") or {}, "sourcedId")
                role = (text(row, "role") or "").lower()
                if cid is not None and uid is not None:
                    m.join(("p:" if role == "student" else "s:") + uid, cid)

        def read(path: str, key: str, consume: Callable[[list[Mapping[str, Any]]], None]) -> Read:
            def run(cancel: threading.Event) -> None:
                for rows in self._pages(path, key, params, cancel):
                    with mapping:
                        consume(rows)

            return run

        reads = [
            read(f"{org}/enrollments", "enrollments", enrollments),
            read(f"{org}/students", "users", users("p")),
            read(f"{org}/classes", "classes", classes),
            read(f"{org}/teachers", "users", users("s")),
        ]
        if self.demographics:
            reads.insert(2, read("demographics", "demographics", demographics))
        read_all(reads, workers=self.concurrency)
        self._demographics(m, births)
        value = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return BrokerFetch(
            provider=PROVIDER,
            school=self.school,
            snapshot=m.finish(started, delta=since is not None),
            watermark=self.watermark(value, started),
            is_delta=since is not None,
            deletions_complete=since is None,
            deleted=tuple(d for d in gone if d.kind in ("user", "class")),
            requests=self.requests,
        )

    @staticmethod
    def _demographics(m: Mapper, births: Mapping[str, tuple[Any, str | None]]) -> None:
        """Birth dates and sex from ``demographics`` (read beside the users) onto the people."""
        for uid, pupil in m.pupils.items():
            birth, sex = births.get(uid, (None, None))
            m.pupils[uid] = attrs.evolve(
                pupil, date_of_birth=m.day(birth, "demographics", "birth date"), gender=gender(sex)
            )
        for uid, member in m.staff.items():
            m.staff[uid] = attrs.evolve(member, gender=gender(births.get(uid, (None, None))[1]))

    def _user(
        self,
        m: Mapper,
        row: Mapping[str, Any],
        kind: str,
    ) -> None:
        """Add a user row (birth date and sex come later, from ``demographics``)."""
        uid = text(row, "sourcedId")
        preferred = (
            text(row, "preferredFirstName", "preferredGivenName"),
            text(row, "preferredLastName", "preferredFamilyName"),
        )
        legal = (text(row, "givenName"), text(row, "familyName"))
        if kind == "s":
            m.add_staff(
                "teachers",
                mis_id=uid,
                legal=legal,
                preferred=preferred,
                middle_names=text(row, "middleName"),
                email=text(row, "email"),
            )
            return
        grades = row.get("grades")
        grade = (
            grades[0]
            if isinstance(grades, list) and grades and isinstance(grades[0], str)
            else None
        )
        nc = nc_year_for_grade(grade) if grade else None
        m.add_pupil(
            "students",
            mis_id=uid,
            legal=legal,
            preferred=preferred,
            middle_names=text(row, "middleName"),
            upn=_upn(m, row),
            year_code=m.year(nc) if nc else None,
            email=text(row, "email"),
        )


def _upn(m: Mapper, row: Mapping[str, Any]) -> Upn | None:
    for item in rows_of(row.get("userIds")):
        if (text(item, "type") or "").upper() == "UPN":
            return m.upn(text(item, "identifier"), "students")
    identifier = text(row, "identifier")
    if identifier is not None and len(identifier) == 13:
        try:
            return Upn.parse(identifier)
        except InvalidIdentifierError:
            return None
    return None
