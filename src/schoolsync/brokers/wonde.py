"""Wonde: one app token reaches every school that approved the app.

* Auth: ``Authorization: Bearer <token>``; the version is in the path (``/v1.0/``).
* Region: each school's ``region.domain`` (``GET schools/{id}`` on the default domain) is where
  its data lives; "using the wrong domain for a school will return no data".
* Paging: ``meta.pagination.next`` until it is empty or ``more`` is false; a response of 50 or
  fewer items may carry no pagination block at all (the last page). Cursor mode
  (``cursor=true``) is used, as Wonde recommends for full syncs. A ``next`` link to another
  host is refused (the token would go with it).
* Deltas: ``updated_after`` on every collection and ``GET deletions`` for removals;
  ``restored_at`` marks a record that came back (the sync restores it).
* UNCONFIRMED in the public material: rate limits (pass ``rate_limit`` to impose one), error
  bodies other than 422, the ``per_page`` maximum, an academic-year endpoint (none is read).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from schoolsync.brokers._base import (
    BrokerFetch,
    Mapper,
    PageCheck,
    Watermark,
    gender,
    nested,
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
    json_body,
)
from schoolsync.brokers._school import BrokerClient, BrokerSchool
from schoolsync.errors import BrokerError
from schoolsync.ports import Clock
from schoolsync.sources._roster import Deletion

__all__ = ["WondeBroker", "WondeSchool"]

PROVIDER = "wonde"
DEFAULT_URL = "https://api.wonde.com"
_USER_TYPES = frozenset({"student", "employee", "students", "employees"})
_CLASS_TYPES = frozenset({"class", "classes", "group", "groups"})


class WondeBroker(BrokerClient):
    """Your Wonde app token; :meth:`school` connects one school that approved the app.

    Args:
        token: the app's API token (or a school's ``school_token``).
        base_url: the default domain (``https://api.wonde.com``; a fake broker in tests).
        settings: timeouts and retries.
        rate_limit: a limit to keep to, shared by every school on this token (UNCONFIRMED:
            Wonde documents none).
        rate_limits: the host's :class:`~schoolsync.brokers.RateLimits`.
        transport: an httpx transport (tests).
        clock: the time source (watermarks).
    """

    def __init__(
        self,
        token: str | Secret,
        *,
        base_url: str = DEFAULT_URL,
        settings: HttpSettings | None = None,
        rate_limit: RateLimit | None = None,
        rate_limits: RateLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._token = as_secret(token)
        self.base_url = base_url.rstrip("/")
        limiter = None
        if rate_limit is not None:
            limiter = (rate_limits or RateLimits()).limiter(PROVIDER, self._token, rate_limit)
        self.http = HttpSession(
            PROVIDER, settings or HttpSettings(), limiter=limiter, transport=transport
        )
        self.clock = clock
        self._regions: dict[str, str] = {}  # school id -> region domain, from schools()
        self._regions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WondeBroker(base_url={self.base_url!r})"

    def auth(self) -> Mapping[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self._token.reveal()}"}

    def schools(self, *, per_page: int = 100) -> dict[str, str]:
        """The schools that approved the app (``GET schools``, every page): Wonde id -> name.

        Each school's region domain comes with the list and is remembered, so a school of this
        broker fetched afterwards needs no ``GET schools/{id}`` of its own (100 schools: one or
        two requests instead of 100, all counted against a shared rate limit).

        Raises:
            BrokerError: a page failed, was short, or repeated or lost a school.
        """
        found: dict[str, str] = {}
        regions: dict[str, str] = {}
        listing = f"{self.base_url}/v1.0/schools"
        for rows in self.pages(listing, "schools", {"per_page": str(per_page)}, school="*"):
            for row in rows:
                wonde_id = text(row, "id")
                if wonde_id is None:
                    continue
                found[wonde_id] = text(row, "name") or wonde_id
                domain = text(nested(row, "region") or {}, "domain")
                if domain:
                    regions[wonde_id] = domain
        with self._regions_lock:
            self._regions.update(regions)
        return found

    def get(
        self, url: str, endpoint: str, params: Mapping[str, str] | None, *, school: str
    ) -> dict[str, Any]:
        """One GET (retried, within the rate limit): the JSON object it answers."""
        _, data = self.http.send(
            Call(method="GET", url=url, endpoint=endpoint, params=params),
            school=school,
            auth=self.auth,
            parse=json_body,
        )
        if not isinstance(data, dict):
            raise BrokerError(PROVIDER, school, endpoint, "the response is not a JSON object")
        return data

    def pages(
        self,
        url: str,
        endpoint: str,
        query: Mapping[str, str],
        *,
        school: str,
        get: Callable[[str, str, Mapping[str, str] | None], dict[str, Any]] | None = None,
    ) -> Iterator[list[Mapping[str, Any]]]:
        """Every page of the listing at *url* (``per_page`` in *query*), following
        ``meta.pagination.next`` on the same host only (the token would go with it); a short
        page before the last, or an item repeated or lost between pages, is a
        :class:`~schoolsync.errors.BrokerError`."""
        fetch = get or (lambda u, e, q: self.get(u, e, q, school=school))
        per_page = int(query.get("per_page", "50"))
        check = PageCheck(PROVIDER, school, endpoint)
        host = urlsplit(url).netloc
        params: Mapping[str, str] | None = query
        while True:
            data = fetch(url, endpoint, params)
            if "data" not in data:
                raise check.fail("the response has no data")
            rows = rows_of(data["data"])
            following, last = _next_page(data)
            check.page(rows, "id", expected=per_page, last=last)
            yield rows
            if last:
                return
            assert following is not None
            if urlsplit(following).netloc != host:
                raise check.fail(
                    "the next page is on another host: refused (the token would follow)"
                )
            url, params = following, None
            if check.pages > 100_000:
                raise check.fail("more than 100,000 pages: stopped")

    def region_of(self, wonde_id: str) -> str | None:
        """The region domain :meth:`schools` found for *wonde_id* (None if not listed)."""
        with self._regions_lock:
            return self._regions.get(wonde_id)

    def school(
        self,
        wonde_id: str,
        *,
        school_id: str | None = None,
        per_page: int = 100,
        registration_groups: bool = True,
    ) -> WondeSchool:
        """One school, by its Wonde id (``A1930499544``)."""
        return WondeSchool(
            self,
            wonde_id,
            school_id=school_id,
            per_page=per_page,
            registration_groups=registration_groups,
        )


class WondeSchool(BrokerSchool):
    """One school at Wonde (a :class:`~schoolsync.ports.MisSource`)."""

    provider = PROVIDER
    broker: WondeBroker

    def __init__(
        self,
        broker: WondeBroker,
        wonde_id: str,
        *,
        school_id: str | None,
        per_page: int,
        registration_groups: bool,
    ) -> None:
        super().__init__(school=wonde_id, school_id=school_id, clock=broker.clock)
        self.broker = broker
        self.per_page = per_page
        self.registration_groups = registration_groups
        self._base: str | None = None
        self.requests = 0

    def __repr__(self) -> str:
        return f"WondeSchool(wonde_id={self.school!r}, school_id={self.school_id!r})"

    def fetch_options(self) -> Mapping[str, object]:
        """The options a delta depends on."""
        return {"per_page": self.per_page, "registration_groups": self.registration_groups}

    def _get(self, url: str, endpoint: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        self.requests += 1
        return self.broker.get(url, endpoint, params, school=self.school)

    def region_url(self) -> str:
        """The base URL of the school's region (``https://{region.domain}/v1.0``)."""
        if self._base is None:
            domain = self.broker.region_of(self.school)
            if domain is None:
                data = self._get(
                    f"{self.broker.base_url}/v1.0/schools/{self.school}", "schools/{id}", None
                )
                domain = text(nested(data, "data", "region") or {}, "domain")
            scheme = urlsplit(self.broker.base_url).scheme or "https"
            host = domain or urlsplit(self.broker.base_url).netloc
            self._base = f"{scheme}://{host}/v1.0/schools/{self.school}"
        return self._base

    def _pages(self, endpoint: str, params: Mapping[str, str]) -> Iterator[list[Mapping[str, Any]]]:
        query = {**params, "per_page": str(self.per_page), "cursor": "true"}
        return self.broker.pages(
            f"{self.region_url()}/{endpoint}", endpoint, query, school=self.school, get=self._get
        )

    def _run(self, started: datetime, since: Watermark | None) -> BrokerFetch:
        self.requests = 0
        m = Mapper(PROVIDER, self.school, self.school_id)
        changed: dict[str, str] = {} if since is None else {"updated_after": since.value}
        for rows in self._pages("classes", {**changed, "include": "subject"}):
            for row in rows:
                m.add_class(
                    "classes",
                    mis_id=text(row, "id"),
                    name=text(row, "name", "code"),
                    subject=text(nested(row, "subject", "data") or {}, "name"),
                    description=text(row, "description"),
                )
        for rows in self._pages(
            "employees", {**changed, "include": "employment_details,contact_details,classes"}
        ):
            for row in rows:
                self._employee(m, row)
        for rows in self._pages(
            "students", {**changed, "include": "education_details,classes,year,registration"}
        ):
            for row in rows:
                self._student(m, row)
        gone: list[Deletion] = []
        restored: list[str] = []
        if since is not None:
            for rows in self._pages("deletions", {"updated_after": since.value}):
                for row in rows:
                    kind, rid = (text(row, "type") or "").lower(), text(row, "id")
                    if rid is None:
                        continue
                    if text(row, "restored_at") or isinstance(row.get("restored_at"), Mapping):
                        restored.append(rid)
                    elif kind in _USER_TYPES:
                        gone.append(Deletion(kind="user", id=rid))
                    elif kind in _CLASS_TYPES:
                        gone.append(Deletion(kind="class", id=rid))
        value = started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return BrokerFetch(
            provider=PROVIDER,
            school=self.school,
            snapshot=m.finish(started, delta=since is not None),
            watermark=self.watermark(value, started),
            is_delta=since is not None,
            deleted=tuple(gone),
            restored=tuple(restored),
            requests=self.requests,
        )

    def _student(self, m: Mapper, row: Mapping[str, Any]) -> None:
        mis_id = text(row, "id")
        education = nested(row, "education_details", "data") or {}
        year_data = nested(row, "year", "data") or {}
        year = m.year(
            text(education, "current_nc_year") or text(year_data, "code", "name"),
            text(year_data, "id"),
        )
        m.add_pupil(
            "students",
            mis_id=mis_id,
            legal=(text(row, "legal_forename"), text(row, "legal_surname")),
            preferred=(text(row, "forename"), text(row, "surname")),
            middle_names=text(row, "middle_names"),
            upn=m.upn(text(education, "upn"), "students"),
            date_of_birth=m.day(row.get("date_of_birth"), "students", "date of birth"),
            gender=gender(text(row, "gender")),
            year_code=year,
        )
        if mis_id is None:
            return
        for c in rows_of(nested(row, "classes", "data")):
            cid = text(c, "id")
            if cid is not None:
                m.join("p:" + mis_id, cid)
        registration = nested(row, "registration", "data")
        if self.registration_groups and isinstance(registration, Mapping):
            rid = text(registration, "id")
            if rid is not None:
                if rid not in m.classes:
                    m.add_class(
                        "students",
                        mis_id=rid,
                        name=text(registration, "name", "code"),
                        description="registration group",
                    )
                m.join("p:" + mis_id, rid)

    def _employee(self, m: Mapper, row: Mapping[str, Any]) -> None:
        mis_id = text(row, "id")
        emails = nested(row, "contact_details", "data", "emails") or {}
        m.add_staff(
            "employees",
            mis_id=mis_id,
            legal=(text(row, "legal_forename"), text(row, "legal_surname")),
            preferred=(text(row, "forename"), text(row, "surname")),
            title=text(row, "title"),
            middle_names=text(row, "middle_names"),
            email=text(emails, "work", "email") if isinstance(emails, Mapping) else None,
            gender=gender(text(row, "gender")),
        )
        if mis_id is None:
            return
        for c in rows_of(nested(row, "classes", "data")):
            cid = text(c, "id")
            if cid is not None:
                m.join("s:" + mis_id, cid)


def _next_page(data: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The ``meta.pagination.next`` link of a page, and whether the page is the last (no link,
    ``more`` false, or no pagination block at all: 50 or fewer items)."""
    pagination = nested(data, "meta", "pagination")
    following = text(pagination, "next") if isinstance(pagination, Mapping) else None
    more = isinstance(pagination, Mapping) and pagination.get("more") is not False
    return following, following is None or not more
