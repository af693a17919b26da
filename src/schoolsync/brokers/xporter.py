"""Groupcall Xporter on Demand (XoD): one school per ``estab``, one Idaas token per school.

* Token: ``POST /api/oauth/GetToken`` with ``{"estab", "relyingParty", "password",
  "thirdpartyid"}``; a failure is HTTP 200 with ``"token": null``. The token is sent as
  ``Authorization: Idaas <token>`` and renewed a minute before its ``expires`` (or on a 401).
* Data: ``GET /api/v1/School/{estab}/{Students|Staff|Groups|SchoolInfo}``. Errors can arrive as
  HTTP 200 with ``ExceptionMessage``: every body is checked.
* Paging: ``page``/``pageSize`` and a ``__pagination__`` table. The last page still carries a
  ``NextPage`` link, so paging stops at ``PageNumber >= PageCount``; each page must be full
  except the last, and the rows must add up to ``RowCount``.
* Deltas: changesets (``changedRows=*`` starts one, ``NextChangedRows`` continues it, deleted
  rows arrive in ``{Table}_deleted``); the same options must be used every time, so the
  watermark records them. With ``changesets=False`` the delta uses ``updatedSince`` (it sees
  no deletions; the next full fetch does).
* Rate limits are not documented (UNCONFIRMED): pass ``rate_limit`` to impose one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from schoolsync.brokers._base import (
    BrokerFetch,
    Mapper,
    PageCheck,
    Watermark,
    deletions,
    gender,
    home_address,
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
from schoolsync.brokers._school import BrokerClient, BrokerSchool
from schoolsync.calendar import AcademicYear
from schoolsync.errors import BrokerAuthError, BrokerError
from schoolsync.people import Pupil
from schoolsync.ports import Clock
from schoolsync.sources._roster import Deletion

__all__ = ["XporterBroker", "XporterSchool"]

PROVIDER = "xporter"
#: The address parts of a Students/Staff row (XoD's Address group), in the order written.
_ADDRESS = ("Apartment", "HouseName", ("HouseNo", "Street"), "District", "TownOrCity", "County")
DEFAULT_URL = "https://xporter.groupcall.com"


class XporterBroker(BrokerClient):
    """Your relying party at Xporter on Demand; :meth:`school` connects one school.

    Args:
        relying_party: your app's relying party name at Groupcall.
        base_url: the API host (a fake broker's URL in tests).
        token_url: where tokens come from (default ``{base_url}/api/oauth/GetToken``; the older
            ``https://login.groupcall.com/idaas/sts/STS/GetToken`` works too).
        settings: timeouts and retries.
        rate_limit: a limit to keep to, shared by every school (XoD documents none).
        rate_limits: the host's :class:`~schoolsync.brokers.RateLimits` (shares limits).
        transport: an httpx transport (tests).
        clock: the time source (token expiry, watermarks).
    """

    def __init__(
        self,
        relying_party: str,
        *,
        base_url: str = DEFAULT_URL,
        token_url: str | None = None,
        settings: HttpSettings | None = None,
        rate_limit: RateLimit | None = None,
        rate_limits: RateLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.relying_party = relying_party
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or f"{self.base_url}/api/oauth/GetToken"
        limiter = None
        if rate_limit is not None:
            limiter = (rate_limits or RateLimits()).limiter(
                PROVIDER, Secret(relying_party), rate_limit
            )
        self.http = HttpSession(
            PROVIDER, settings or HttpSettings(), limiter=limiter, transport=transport
        )
        self.clock = clock

    def __repr__(self) -> str:
        return f"XporterBroker(relying_party={self.relying_party!r}, base_url={self.base_url!r})"

    def school(
        self,
        estab: str,
        school_secret: str | Secret,
        *,
        school_id: str | None = None,
        page_size: int = 100,
        registration_groups: bool = True,
        changesets: bool = True,
    ) -> XporterSchool:
        """One school (its ``estab`` and the ``schoolSecret`` its authorisation sent you)."""
        return XporterSchool(
            self,
            estab,
            as_secret(school_secret),
            school_id=school_id,
            page_size=page_size,
            registration_groups=registration_groups,
            changesets=changesets,
        )


class XporterSchool(BrokerSchool):
    """One school at Xporter on Demand (a :class:`~schoolsync.ports.MisSource`)."""

    provider = PROVIDER
    broker: XporterBroker

    def __init__(
        self,
        broker: XporterBroker,
        estab: str,
        secret: Secret,
        *,
        school_id: str | None,
        page_size: int,
        registration_groups: bool,
        changesets: bool,
    ) -> None:
        super().__init__(school=estab, school_id=school_id, clock=broker.clock)
        self.broker = broker
        self._secret = secret
        self.page_size = page_size
        self.registration_groups = registration_groups
        self.changesets = changesets
        self._token: Secret | None = None
        self._expires: datetime | None = None
        self.requests = 0

    def __repr__(self) -> str:
        return f"XporterSchool(estab={self.school!r}, school_id={self.school_id!r})"

    def fetch_options(self) -> Mapping[str, object]:
        """The options changesets depend on."""
        return {
            "page_size": self.page_size,
            "registration_groups": self.registration_groups,
            "changesets": self.changesets,
        }

    # -- auth ------------------------------------------------------------------------------

    def _get_token(self) -> None:
        body = {
            "estab": self.school,
            "relyingParty": self.broker.relying_party,
            "password": self._secret.reveal(),
            "thirdpartyid": "XporterOnDemand",
        }
        self.requests += 1
        _, data = self.broker.http.send(
            Call(method="POST", url=self.broker.token_url, endpoint="GetToken", json_body=body),
            school=self.school,
            parse=json_body,
        )
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            reason = text(data, "ExceptionMessage", "Message") if isinstance(data, dict) else None
            raise BrokerAuthError(
                PROVIDER,
                self.school,
                "GetToken",
                f"no token: {reason[:200]}" if reason else "no token in the response",
            )
        self._token = issued_token(
            token, provider=PROVIDER, school=self.school, endpoint="GetToken"
        )
        expires = text(data, "expires", "Expires")
        try:
            self._expires = _utc(datetime.fromisoformat(expires[:26])) if expires else None
        except ValueError:
            self._expires = None

    def _auth(self) -> Mapping[str, str]:
        now = self.clock.now()
        if self._token is None or (
            self._expires is not None and self._expires - timedelta(minutes=1) <= now
        ):
            self._get_token()
        assert self._token is not None
        return {"Authorization": f"Idaas {self._token.reveal()}"}

    def _refresh(self) -> None:
        self._token = None
        self._get_token()

    # -- pages -----------------------------------------------------------------------------

    def get(
        self, endpoint: str, params: Mapping[str, str] | None = None, *, school_path: bool = True
    ) -> dict[str, Any]:
        """One response of *endpoint* (``School/{estab}/{endpoint}``, or ``api/v1/{endpoint}``
        when *school_path* is false), checked for Xporter's HTTP 200 errors.

        Raises:
            BrokerError: the request failed or the body carries an ``ExceptionMessage``.
        """
        return self._get(endpoint, params or {}, school_path=school_path)

    def rows(
        self, endpoint: str, table: str | None = None, **params: str
    ) -> Iterator[dict[str, Any]]:
        """Every row of *endpoint*'s main table (default: named like the endpoint), page by
        page, checked like a fetch (for endpoints the snapshot does not read, e.g. ``Calendar``)."""
        for data in self._pages(endpoint, (table or endpoint,), params):
            yield from (dict(r) for r in rows_of(data.get(table or endpoint)))

    def pupils_from(self, rows: Iterable[Mapping[str, Any]]) -> list[Pupil]:
        """``Students`` rows (from :meth:`rows`) as pupils, mapped as a fetch maps them."""
        m = Mapper(PROVIDER, self.school, self.school_id)
        for row in rows:
            self._student(m, row)
        return list(m.finish(None).pupils)

    def _get(
        self, endpoint: str, params: Mapping[str, str], *, school_path: bool = True
    ) -> dict[str, Any]:
        where = f"School/{self.school}/{endpoint}/" if school_path else endpoint
        url = f"{self.broker.base_url}/api/v1/{where}"
        self.requests += 1
        _, data = self.broker.http.send(
            Call(method="GET", url=url, endpoint=endpoint, params=params),
            school=self.school,
            auth=self._auth,
            refresh=self._refresh,
            parse=json_body,
        )
        if not isinstance(data, dict):
            raise BrokerError(PROVIDER, self.school, endpoint, "the response is not a JSON object")
        message = data.get("ExceptionMessage")
        if isinstance(message, str) and message:
            # XoD reports errors as HTTP 200 with ExceptionMessage.
            raise BrokerError(PROVIDER, self.school, endpoint, f"error: {message[:200]}")
        return data

    def _pages(
        self, endpoint: str, tables: tuple[str, ...], params: Mapping[str, str]
    ) -> Iterator[dict[str, Any]]:
        check = PageCheck(PROVIDER, self.school, endpoint)
        page = 1
        while True:
            query = {**params, "pageSize": str(self.page_size)}
            if page > 1:
                query["page"] = str(page)
            data = self._get(endpoint, query)
            rows = next((rows_of(data[t]) for t in tables if t in data), None)
            if rows is None:
                raise check.fail(f"the response has no {tables[0]} table")
            info = rows_of(data.get("__pagination__"))
            if not info:
                check.page(rows, "Id", last=True)
                yield data
                return
            p = info[0]
            number = _int(p.get("PageNumber"), page)
            count = _int(p.get("PageCount"), page)
            size = _int(p.get("PageSize"), self.page_size)
            if number != page:
                raise check.fail(f"asked for page {page} but got page {number}")
            # The last page still carries a NextPage link: PageCount decides.
            last = number >= count
            reported = _int(p.get("RowCount"), -1)
            check.page(
                rows, "Id", expected=size, last=last, total=reported if reported >= 0 else None
            )
            yield data
            if last:
                return
            page += 1
            if page > 100_000:
                raise check.fail("more than 100,000 pages: stopped")

    # -- fetch -----------------------------------------------------------------------------

    def _run(self, started: datetime, since: Watermark | None) -> BrokerFetch:
        self.requests = 0
        m = Mapper(PROVIDER, self.school, self.school_id)
        tokens: dict[str, str] = {}
        previous: dict[str, str] = json.loads(since.value) if since is not None else {}
        gone: list[Deletion] = []
        info = self._get("SchoolInfo", {})
        year = _academic_year(info)

        def params(endpoint: str) -> dict[str, str]:
            if self.changesets:
                return {"changedRows": previous.get(endpoint, "*")}
            if since is not None and "updatedSince" in previous:
                return {"updatedSince": previous["updatedSince"]}
            return {}

        def note_changes(endpoint: str, data: Mapping[str, Any]) -> None:
            changed = rows_of(data.get("__changedRows__"))
            if changed:
                token = text(changed[0], "NextChangedRows")
                if token:
                    tokens[endpoint] = token

        group_params = {
            **params("Groups"),
            "options": "includeStudentMembers,includeStaffMembers",
        }
        for data in self._pages("Groups", ("Groups", "Group"), group_params):
            note_changes("Groups", data)
            self._groups(m, data)
            for row in rows_of(data.get("Groups_deleted")) + rows_of(data.get("Group_deleted")):
                gid = text(row, "Id")
                if gid:
                    gone.append(Deletion(kind="class", id=gid))
        for data in self._pages("Staff", ("Staff",), params("Staff")):
            note_changes("Staff", data)
            for row in rows_of(data.get("Staff")):
                self._staff(m, row)
            gone += deletions(
                "user", [i for r in rows_of(data.get("Staff_deleted")) if (i := text(r, "Id"))]
            )
        for data in self._pages("Students", ("Students",), params("Students")):
            note_changes("Students", data)
            for row in rows_of(data.get("Students")):
                self._student(m, row)
            gone += deletions(
                "user", [i for r in rows_of(data.get("Students_deleted")) if (i := text(r, "Id"))]
            )
        if self.changesets and len(tokens) == 3:
            value = json.dumps(tokens, sort_keys=True)
        else:
            value = json.dumps({"updatedSince": started.astimezone(UTC).isoformat()})
        return BrokerFetch(
            provider=PROVIDER,
            school=self.school,
            snapshot=m.finish(started, delta=since is not None),
            watermark=self.watermark(value, started),
            is_delta=since is not None,
            deletions_complete=since is None or self.changesets,
            deleted=tuple(gone) if since is not None else (),
            academic_year=year,
            requests=self.requests,
        )

    def _groups(self, m: Mapper, data: Mapping[str, Any]) -> None:
        groups = rows_of(data.get("Groups")) or rows_of(data.get("Group"))
        kinds: dict[str, str] = {}
        for row in groups:
            gid = text(row, "Id")
            kind = text(row, "Type") or ""
            if gid is None:
                raise m.fail("Groups", "a group without an Id")
            kinds[gid] = kind
            if kind == "YearGrp":
                m.year(text(row, "Name", "Code"), gid)
            elif kind == "TeachingGrp" or (kind == "RegGrp" and self.registration_groups):
                m.add_class(
                    "Groups",
                    mis_id=gid,
                    name=text(row, "Name", "Code"),
                    subject=text(row, "Subject", "SubjectName"),
                    description="registration group" if kind == "RegGrp" else None,
                )
        for table in ("StudentMembers", "StaffMembers"):
            person_key = "StudentId" if table == "StudentMembers" else "StaffId"
            for row in rows_of(data.get(table)):
                gid, pid = text(row, "GroupId"), text(row, person_key)
                if gid is not None and pid is not None and gid in m.classes:
                    m.join(("p:" if person_key == "StudentId" else "s:") + pid, gid)

    def _student(self, m: Mapper, row: Mapping[str, Any]) -> None:
        mis_id = text(row, "Id")
        year = m.year(text(row, "YearGroup"), text(row, "YearGroupId"))
        m.add_pupil(
            "Students",
            mis_id=mis_id,
            legal=(text(row, "LegalForename"), text(row, "LegalSurname")),
            preferred=(text(row, "Forename"), text(row, "Surname")),
            middle_names=text(row, "MiddleName"),
            upn=m.upn(text(row, "UPN"), "Students"),
            date_of_birth=m.day(
                row.get("DateofBirth") or row.get("DateOfBirth"), "Students", "date of birth"
            ),
            gender=gender(text(row, "Gender")),
            year_code=year,
            email=text(row, "WorkEmail", "IdaasEmail"),
            **home_address(row, "PostCode", *_ADDRESS),
        )
        if mis_id is not None:
            reg = text(row, "RegGroupId")
            if reg is not None and reg in m.classes:
                m.join("p:" + mis_id, reg)

    def _staff(self, m: Mapper, row: Mapping[str, Any]) -> None:
        mis_id = text(row, "Id")
        m.add_staff(
            "Staff",
            mis_id=mis_id,
            legal=(text(row, "LegalForename"), text(row, "LegalSurname")),
            preferred=(text(row, "Forename"), text(row, "Surname")),
            title=text(row, "Title"),
            middle_names=text(row, "MiddleName"),
            staff_code=text(row, "StaffCode"),
            email=text(row, "WorkEmail", "IdaasEmail"),
            gender=gender(text(row, "Gender")),
            **home_address(row, "PostCode", *_ADDRESS),
        )


def _int(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _academic_year(info: Mapping[str, Any]) -> AcademicYear | None:
    rows = rows_of(info.get("SchoolInfo"))
    label = text(rows[0], "CurrentAcademicYear") if rows else None
    if label is None or not label.isdigit():
        return None
    try:
        return AcademicYear(int(label))
    except ValueError:
        return None
