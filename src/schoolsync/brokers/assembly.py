"""Assembly Platform (REST v1.1): a school token per school, refreshed every 24 hours.

* Version: ``Accept: application/vnd.assembly+json; version=1.1`` on every request.
* Auth: a school's access token (``Authorization: Bearer``), valid ``expires_in`` seconds
  (86,400 documented; the docs' own example says 108,000, so ``expires_in`` is read). It is
  refreshed before it expires and on a 401 ``invalid_token`` (once), with
  ``grant_type=refresh_token`` and the app's client id and secret (HTTP Basic). The token
  exchange parameters go in the form body (RFC 6749) so that no token is ever in a URL; the
  docs show them in the query string (UNCONFIRMED which the live service requires).
  ``on_tokens`` hands every new token pair to the host to store.
* Rate limit: 600 requests per 5 minutes per access token; a 429's body ``{"data": {"period":
  300}}`` says how long to wait, and every request on that token waits.
* Paging: a bare JSON array with ``Total``, ``Total-Pages``, ``Per-Page``, ``Next-Page``
  headers (``page``/``per_page``); full pages until the last, and ``Total`` items in all.
* Deltas: ``If-Modified-Since`` (a 304 means nothing changed); there is no deletions feed, so
  leavers come from ``/students/left`` and ``/staff_members/left``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import attrs
import httpx

from schoolsync.brokers._base import (
    BrokerFetch,
    Mapper,
    PageCheck,
    Watermark,
    deletions,
    gender,
    home_address,
    nested,
    rows_of,
    text,
)
from schoolsync.brokers._http import (
    Call,
    HttpSession,
    HttpSettings,
    Limiter,
    RateLimit,
    RateLimits,
    Secret,
    as_secret,
    issued_token,
    json_body,
)
from schoolsync.brokers._school import BrokerClient, BrokerSchool
from schoolsync.calendar import AcademicYear
from schoolsync.errors import BrokerAuthError, BrokerError
from schoolsync.ports import Clock

__all__ = ["ASSEMBLY_LIMIT", "AssemblyBroker", "AssemblySchool", "AssemblyTokens"]

PROVIDER = "assembly"
#: The parts of a student's or staff member's ``address`` (asked for with ``addresses=true``).
_ADDRESS = ("address_line_1", "address_line_2", "town_city", "county")
_STUDENT_PARAMS = {"demographics": "true", "emails": "true", "addresses": "true"}
DEFAULT_URL = "https://api.assembly.education"
DEFAULT_AUTH_URL = "https://platform.assembly.education"
#: Assembly's documented limit: 600 requests per 5 minutes per access token.
ASSEMBLY_LIMIT = RateLimit(requests=600, period=300.0)


def _optional_secret(value: str | Secret | None) -> Secret | None:
    return None if value is None else as_secret(value)


@attrs.frozen(kw_only=True)
class AssemblyTokens:
    """A school's token pair (never shown: the repr hides both tokens)."""

    access_token: Secret = attrs.field(converter=as_secret)
    refresh_token: Secret | None = attrs.field(default=None, converter=_optional_secret)
    expires_at: datetime | None = None
    school_id: str | None = None
    scopes: frozenset[str] = frozenset()


class AssemblyBroker(BrokerClient):
    """Your Assembly app (client id and secret); :meth:`school` connects one school.

    Args:
        client_id: the app's client id.
        client_secret: the app's client secret.
        base_url: the API host (``https://api-sandbox.assembly.education`` for the sandbox).
        auth_url: the OAuth host (the sandbox's is UNCONFIRMED: the docs say
            ``sandbox.assembly.education``, the official clients ``platform-sandbox...``).
        version: the API version sent in ``Accept``.
        rate_limit: the limit per school token (default 600 per 5 minutes).
        rate_limits: the host's :class:`~schoolsync.brokers.RateLimits`.
        on_tokens: called with (school, tokens) whenever a school's tokens are refreshed.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | Secret,
        *,
        base_url: str = DEFAULT_URL,
        auth_url: str = DEFAULT_AUTH_URL,
        version: str = "1.1",
        settings: HttpSettings | None = None,
        rate_limit: RateLimit = ASSEMBLY_LIMIT,
        rate_limits: RateLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        on_tokens: Callable[[str, AssemblyTokens], None] | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = as_secret(client_secret)
        self.base_url = base_url.rstrip("/")
        self.auth_url = auth_url.rstrip("/")
        self.version = version
        self.rate_limit = rate_limit
        self.rate_limits = rate_limits or RateLimits()
        self.http = HttpSession(PROVIDER, settings or HttpSettings(), transport=transport)
        self.clock = clock
        self.on_tokens = on_tokens

    def __repr__(self) -> str:
        return f"AssemblyBroker(client_id={self.client_id!r}, base_url={self.base_url!r})"

    @property
    def accept(self) -> str:
        """The ``Accept`` header naming the API version."""
        return f"application/vnd.assembly+json; version={self.version}"

    def _basic(self) -> Mapping[str, str]:
        pair = f"{self.client_id}:{self._client_secret.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def token_request(
        self, form: Mapping[str, str], *, school: str, now: datetime
    ) -> AssemblyTokens:
        """``POST /oauth/token`` with *form*; the tokens it returns.

        Raises:
            BrokerAuthError: the platform refused (the message names its error code only).
        """
        try:
            _, data = self.http.send(
                Call(
                    method="POST",
                    url=f"{self.auth_url}/oauth/token",
                    endpoint="oauth/token",
                    form=form,
                    headers={"Accept": self.accept},
                ),
                school=school,
                auth=self._basic,
                parse=json_body,
            )
        except BrokerAuthError:
            raise
        except BrokerError as exc:
            raise BrokerAuthError(PROVIDER, school, "oauth/token", exc.reason) from None
        access = text(data, "access_token") if isinstance(data, dict) else None
        if access is None or not isinstance(data, dict):
            raise BrokerAuthError(PROVIDER, school, "oauth/token", "no access token returned")
        refresh = text(data, "refresh_token")
        expires_in = data.get("expires_in")
        scopes = data.get("scopes")
        return AssemblyTokens(
            access_token=issued_token(
                access, provider=PROVIDER, school=school, endpoint="oauth/token"
            ),
            refresh_token=Secret(refresh) if refresh else None,
            expires_at=now + timedelta(seconds=expires_in)
            if isinstance(expires_in, int) and not isinstance(expires_in, bool)
            else None,
            school_id=text(data, "school_id"),
            scopes=frozenset(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else frozenset(),
        )

    def exchange_code(self, code: str, redirect_uri: str, *, now: datetime) -> AssemblyTokens:
        """Exchange the authorisation code a school's approval returned for its tokens."""
        return self.token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            school="",
            now=now,
        )

    def school(
        self,
        tokens: AssemblyTokens,
        *,
        school_id: str | None = None,
        per_page: int = 100,
        registration_groups: bool = True,
    ) -> AssemblySchool:
        """One school, through its tokens (``school_id``: the app's id for the school)."""
        return AssemblySchool(
            self,
            tokens,
            school_id=school_id,
            per_page=per_page,
            registration_groups=registration_groups,
        )


class AssemblySchool(BrokerSchool):
    """One school at Assembly (a :class:`~schoolsync.ports.MisSource`)."""

    provider = PROVIDER
    broker: AssemblyBroker

    def __init__(
        self,
        broker: AssemblyBroker,
        tokens: AssemblyTokens,
        *,
        school_id: str | None,
        per_page: int,
        registration_groups: bool,
    ) -> None:
        key = tokens.school_id or school_id or "school"
        super().__init__(school=key, school_id=school_id, clock=broker.clock)
        self.broker = broker
        self.tokens = tokens
        self.per_page = per_page
        self.registration_groups = registration_groups
        # The limit is per access token; a refreshed token continues the same school's count.
        self.limiter: Limiter = broker.rate_limits.limiter(
            PROVIDER, Secret(f"school:{broker.client_id}:{key}"), broker.rate_limit
        )
        self.requests = 0

    def __repr__(self) -> str:
        return f"AssemblySchool(school={self.school!r}, school_id={self.school_id!r})"

    def fetch_options(self) -> Mapping[str, object]:
        """The options a delta depends on."""
        return {"per_page": self.per_page, "registration_groups": self.registration_groups}

    def _refresh(self) -> None:
        if self.tokens.refresh_token is None:
            raise BrokerAuthError(
                PROVIDER,
                self.school,
                "oauth/token",
                "the token expired and there is no refresh token",
            )
        self.requests += 1
        fresh = self.broker.token_request(
            {"grant_type": "refresh_token", "refresh_token": self.tokens.refresh_token.reveal()},
            school=self.school,
            now=self.clock.now(),
        )
        if fresh.refresh_token is None:
            fresh = attrs.evolve(fresh, refresh_token=self.tokens.refresh_token)
        self.tokens = attrs.evolve(fresh, school_id=fresh.school_id or self.tokens.school_id)
        if self.broker.on_tokens is not None:
            self.broker.on_tokens(self.school, self.tokens)

    def _auth(self) -> Mapping[str, str]:
        expires = self.tokens.expires_at
        if expires is not None and expires - timedelta(minutes=5) <= self.clock.now():
            self._refresh()
        return {"Authorization": f"Bearer {self.tokens.access_token.reveal()}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        ok: frozenset[int] = frozenset({200}),
        idempotent: bool = True,
    ) -> tuple[httpx.Response, Any]:
        """One API request on this school's token (limited, retried, refreshed on 401)."""
        self.requests += 1
        return self.broker.http.send(
            Call(
                method=method,
                url=f"{self.broker.base_url}/{path.lstrip('/')}",
                endpoint=path,
                params=params,
                headers={"Accept": self.broker.accept, **(headers or {})},
                json_body=json,
                ok=ok,
                idempotent=idempotent,
            ),
            school=self.school,
            auth=self._auth,
            refresh=self._refresh,
            parse=lambda r: None if r.status_code == 304 or not r.content else json_body(r),
            limiter=self.limiter,
        )

    def _pages(
        self, endpoint: str, params: Mapping[str, str], since: str | None
    ) -> Iterator[list[Mapping[str, Any]]]:
        check = PageCheck(PROVIDER, self.school, endpoint)
        page = 1
        headers = {"If-Modified-Since": since} if since else None
        while True:
            query = {**params, "page": str(page), "per_page": str(self.per_page)}
            response, data = self.request(
                "GET", endpoint, params=query, headers=headers, ok=frozenset({200, 304})
            )
            if response.status_code == 304:
                return  # nothing changed since the watermark
            if isinstance(data, dict) and isinstance(data.get("data"), list):
                data = data["data"]  # the v1.0 envelope
            if not isinstance(data, list):
                raise check.fail("the response is not a list")
            rows = rows_of(data)
            pages = _header_int(response, "Total-Pages")
            following = response.headers.get("Next-Page", "").strip()
            last = (pages is not None and page >= pages) or (pages is None and not following)
            if pages is None and following and not rows:
                last = True
            check.page(
                rows, "id", expected=self.per_page, last=last, total=_header_int(response, "Total")
            )
            yield rows
            if last:
                return
            page += 1
            if page > 100_000:
                raise check.fail("more than 100,000 pages: stopped")

    def _run(self, started: datetime, since: Watermark | None) -> BrokerFetch:
        self.requests = 0
        m = Mapper(PROVIDER, self.school, self.school_id)
        changed = since.value if since is not None else None
        year = self._academic_year(started.date())
        for rows in self._pages("teaching_groups", {}, changed):
            for row in rows:
                self._group(m, row, "teaching_groups", None)
        if self.registration_groups:
            for rows in self._pages("registration_groups", {}, changed):
                for row in rows:
                    self._group(m, row, "registration_groups", "registration group")
        for rows in self._pages("year_groups", {}, changed):
            for row in rows:
                m.year(text(row, "code", "name"), text(row, "id"))
        for rows in self._pages("staff_members", {"addresses": "true"}, changed):
            for row in rows:
                m.add_staff(
                    "staff_members",
                    mis_id=text(row, "id"),
                    legal=(text(row, "legal_first_name"), text(row, "legal_last_name")),
                    preferred=(text(row, "first_name"), text(row, "last_name")),
                    title=text(row, "title"),
                    middle_names=text(row, "middle_name"),
                    staff_code=text(row, "staff_code"),
                    email=_email(row),
                    **home_address(row.get("address"), "postcode", *_ADDRESS),
                )
        for rows in self._pages("students", _STUDENT_PARAMS, changed):
            for row in rows:
                m.add_pupil(
                    "students",
                    mis_id=text(row, "id"),
                    legal=(text(row, "legal_first_name"), text(row, "legal_last_name")),
                    preferred=(text(row, "first_name"), text(row, "last_name")),
                    middle_names=text(row, "middle_name"),
                    upn=m.upn(text(row, "upn"), "students"),
                    former_upns=tuple(
                        u for u in [m.upn(text(row, "former_upn"), "students")] if u is not None
                    ),
                    date_of_birth=m.day(row.get("dob"), "students", "date of birth"),
                    gender=gender(text(nested(row, "demographics") or {}, "gender")),
                    year_code=m.year(text(row, "year_code")),
                    email=_email(row),
                    **home_address(row.get("address"), "postcode", *_ADDRESS),
                )
        gone: list[str] = []
        if since is not None:
            for endpoint in ("students/left", "staff_members/left"):
                for rows in self._pages(endpoint, {}, changed):
                    gone += [i for r in rows if (i := text(r, "id")) is not None]
        value = format_datetime(started.astimezone(UTC), usegmt=True)
        return BrokerFetch(
            provider=PROVIDER,
            school=self.school,
            snapshot=m.finish(started, delta=since is not None),
            watermark=self.watermark(value, started),
            is_delta=since is not None,
            deletions_complete=since is None,
            deleted=tuple(deletions("user", gone)),
            academic_year=year,
            requests=self.requests,
        )

    def _group(
        self, m: Mapper, row: Mapping[str, Any], endpoint: str, description: str | None
    ) -> None:
        gid = text(row, "id")
        m.add_class(
            endpoint,
            mis_id=gid,
            name=text(row, "name", "code"),
            subject=text(nested(row, "subject") or {}, "name"),
            description=description,
        )
        if gid is None:
            return
        for key, tag in (("student_ids", "p:"), ("supervisor_ids", "s:")):
            people = row.get(key)
            if isinstance(people, list):
                for person in people:
                    if isinstance(person, int | str) and not isinstance(person, bool):
                        m.join(tag + str(person), gid)

    def _academic_year(self, today: date) -> AcademicYear | None:
        _, data = self.request("GET", "academic_years")
        years = rows_of(data.get("data") if isinstance(data, dict) else data)
        for row in years:
            start = _day(text(row, "start_date"))
            end = _day(text(row, "end_date"))
            if start is not None and end is not None and start <= today <= end:
                return AcademicYear.containing(start)
        return None


def _email(row: Mapping[str, Any]) -> str | None:
    emails = rows_of(row.get("emails"))
    primary = [e for e in emails if e.get("is_primary") is True] or emails
    return (text(primary[0], "email") if primary else None) or text(row, "email")


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None
