"""A small web app on schoolsync: a Starlette app over an SQLite store, every call through one
:class:`schoolsync.TrustOffice`.

Endpoints (JSON; the signed-in account comes from the host's authentication, here the
``X-Account`` header, which a real app replaces with its session):

* ``GET  /schools/{school}/check/{permission}``: the access decision, explained.
* ``GET  /schools/{school}/reports``: a resource guarded by ``reports.school.view``.
* ``POST /schools/{school}/grants``: the school grants its trust permissions
  (``{"permissions": [...], "accounts": [...]}``; only the school's Access Co-ordinator may).
* ``POST /schools/{school}/review``: review the school's MIS records against the app's and
  plan the sync; the plan is kept for a person to read (``GET /plans/{plan}``).
* ``POST /plans/{plan}/apply``: apply a plan that was read (one unit of work, backup first).

How a denial maps to HTTP: a decision whose ``visible`` is false (the account has no
relationship with the school, or the school does not exist) is a **404**, so an outsider cannot
learn that a school or its records exist; a visible denial is a **403** carrying its reason and
explanation (ids only, no personal data). An unauthenticated request is a 401.

Run it: ``python examples/web_app/app.py`` (needs the ``review`` extra: Starlette, uvicorn);
it seeds a demo trust in ``web_app_demo.sqlite3`` and serves on http://127.0.0.1:8000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from schoolsync import School, SqliteStore, TrustOffice
from schoolsync.access import Decision, RoleCatalogue
from schoolsync.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    SchoolsyncError,
    SyncError,
    ValidationError,
)
from schoolsync.ports import MisSource, Store
from schoolsync.records.tables import OUTBOX
from schoolsync.service import SIGN_UP_MESSAGE, NewUser
from schoolsync.sync.incremental import SnapshotSource
from schoolsync.sync.plans import SyncPlan
from schoolsync.sync.sample import sample_snapshot

#: The host's role model: a trust admin role, and per school an Access Co-ordinator who
#: configures the MIS sync and grants the trust access, and teachers.
CATALOGUE_TOML = """
name = "Web app example"
manage_permission = "users.manage"
grant_permission = "grants.manage"
trust_admin_role = "Trust Admin"

[[permissions]]
name = "reports.school.view"
needs_grant = false
[[permissions]]
name = "pupils.view"
[[permissions]]
name = "users.manage"
[[permissions]]
name = "grants.manage"
[[permissions]]
name = "mis_sync.configure"

[[roles]]
name = "Trust Admin"
scope = "trust"
permissions = ["reports.school.view", "pupils.view", "users.manage"]
[[roles]]
name = "Access Co-ordinator"
scope = "school"
permissions = ["grants.manage", "mis_sync.configure", "users.manage", "pupils.view",
  "reports.school.view"]
exactly_one = true
[[roles]]
name = "Teacher"
scope = "school"
permissions = ["reports.school.view"]
"""


def catalogue() -> RoleCatalogue:
    """The example's role catalogue."""
    return RoleCatalogue.from_toml(CATALOGUE_TOML)


Handler = Callable[[Request], Awaitable[JSONResponse]]


def refusal(decision: Decision) -> JSONResponse:
    """The HTTP answer to a denial: 404 when the school may not be revealed to the account,
    else 403 with the reason a client can switch on and the explanation (ids only)."""
    if not decision.visible:
        return JSONResponse({"error": "not found"}, status_code=404)
    assert decision.reason is not None
    return JSONResponse(
        {"error": "forbidden", "reason": decision.reason.value, "detail": decision.explain()},
        status_code=403,
    )


_STATUS = (
    (NotFoundError, 404),
    (AccessDeniedError, 403),
    (ConflictError, 409),
    (ValidationError, 422),
    (SyncError, 409),
)


def failure(error: SchoolsyncError) -> JSONResponse:
    """A refused change as HTTP: nothing was written (the office's unit of work rolled back)."""
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
    return JSONResponse({"error": type(error).__name__, "detail": str(error)}, status_code=status)


def create_app(
    office: TrustOffice,
    *,
    mis_sources: Mapping[str, MisSource] | Callable[[str], MisSource],
    authenticate: Callable[[Request], str | None] | None = None,
) -> Starlette:
    """The app over *office*.

    Args:
        office: the one service of the store (create it once per process).
        mis_sources: each school's MIS feed (a mapping or a function of the school id).
        authenticate: the signed-in account of a request (default: the ``X-Account``
            header, for the example only).
    """
    plans: dict[str, SyncPlan] = {}  # a real host keeps plans in its session or its store

    def who(request: Request) -> str | None:
        if authenticate is not None:
            return authenticate(request)
        return request.headers.get("x-account")

    def signed_in(handler: Callable[[Request, str], Awaitable[JSONResponse]]) -> Handler:
        async def endpoint(request: Request) -> JSONResponse:
            account_id = who(request)
            if account_id is None:
                return JSONResponse({"error": "sign in first"}, status_code=401)
            try:
                return await handler(request, account_id)
            except SchoolsyncError as error:
                return failure(error)

        return endpoint

    def source_of(school_id: str) -> MisSource:
        if callable(mis_sources):
            return mis_sources(school_id)
        return mis_sources[school_id]

    async def check(request: Request, account_id: str) -> JSONResponse:
        school_id = request.path_params["school"]
        permission = request.path_params["permission"]
        office.catalogue.permission(permission)  # an unknown permission is a 422
        decision = office.check(account_id, permission, school_id)
        if not decision:
            return refusal(decision)
        return JSONResponse({"allowed": True, "paths": [str(p) for p in decision.paths]})

    async def reports(request: Request, account_id: str) -> JSONResponse:
        school_id = request.path_params["school"]
        decision = office.check(account_id, "reports.school.view", school_id)
        if not decision:
            return refusal(decision)
        return JSONResponse({"school": school_id, "reading_at_expected": 0.74})

    async def grant(request: Request, account_id: str) -> JSONResponse:
        school_id = request.path_params["school"]
        decision = office.check(account_id, "grants.manage", school_id)
        if not decision:
            return refusal(decision)
        body: dict[str, Any] = await request.json()
        with office.store.unit_of_work() as uow:
            trust_id = uow.accounts.require(account_id).trust_id  # the co-ordinator's trust
        made = office.trusts.grant(
            trust_id,
            school_id,
            body.get("permissions", []),
            actor_id=account_id,
            account_ids=body.get("accounts"),
        )
        return JSONResponse(
            {"grant": made.id, "permissions": sorted(made.permissions)}, status_code=201
        )

    async def review(request: Request, account_id: str) -> JSONResponse:
        school_id = request.path_params["school"]
        decision = office.check(account_id, "mis_sync.configure", school_id)
        if not decision:
            return refusal(decision)
        reviews = office.review(school_id, source_of(school_id))
        plan = office.plan_sync(school_id, reviews)
        plans[plan.sync_id] = plan
        statuses = {
            name: {status.value: n for status, n in r.counts().items()}
            for name, r in zip(("year_groups", "classes", "pupils", "staff"), reviews, strict=True)
        }
        return JSONResponse(
            {"plan": plan.sync_id, "review": statuses, "changes": len(plan.changes)},
            status_code=201,
        )

    def plan_for(request: Request, account_id: str) -> SyncPlan | JSONResponse:
        plan = plans.get(request.path_params["plan"])
        if plan is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        decision = office.check(account_id, "mis_sync.configure", plan.school_id)
        return plan if decision else refusal(decision)

    async def show_plan(request: Request, account_id: str) -> JSONResponse:
        plan = plan_for(request, account_id)
        if isinstance(plan, JSONResponse):
            return plan
        return JSONResponse({"school": plan.school_id, "changes": plan.to_rows()})

    async def apply(request: Request, account_id: str) -> JSONResponse:
        plan = plan_for(request, account_id)
        if isinstance(plan, JSONResponse):
            return plan
        report = office.apply_sync(plan, actor_id=account_id)
        del plans[plan.sync_id]
        return JSONResponse({"sync": report.sync_id, "counts": report.counts()})

    return Starlette(
        routes=[
            Route("/schools/{school}/check/{permission}", signed_in(check)),
            Route("/schools/{school}/reports", signed_in(reports)),
            Route("/schools/{school}/grants", signed_in(grant), methods=["POST"]),
            Route("/schools/{school}/review", signed_in(review), methods=["POST"]),
            Route("/plans/{plan}", signed_in(show_plan)),
            Route("/plans/{plan}/apply", signed_in(apply), methods=["POST"]),
        ]
    )


@attrs.frozen(kw_only=True)
class Demo:
    """A seeded store: the office, each school's MIS feed, and the accounts by name."""

    office: TrustOffice
    sources: dict[str, MisSource]
    accounts: dict[str, str]


def _activated(office: TrustOffice, new_user: NewUser) -> str:
    """The user follows the emailed sign-up link and types the code they were given."""
    with office.store.unit_of_work() as uow:
        (token,) = [
            e.message.data["token"]
            for e in uow.repository(OUTBOX).list()
            if e.message.kind == SIGN_UP_MESSAGE
            and e.message.data.get("account_id") == new_user.account.id
        ]
    office.activate(account_id=new_user.account.id, link_token=token, code=new_user.code)
    return new_user.account.id


def seed_demo(store: Store, **office_options: Any) -> Demo:
    """Oak Trust with two schools (Oak, Elm) and Ash Trust with one (Ash), through the office:
    each school's Access Co-ordinator, a teacher at Oak, a trust admin of Oak Trust, and Oak's
    MIS connection authorised. *office_options* go to :class:`TrustOffice` (clock, ids...)."""
    office = TrustOffice(store, catalogue=catalogue(), **office_options)
    oak_trust = office.trusts.create_trust(name="Oak Trust", trust_id="oak-trust")
    ash_trust = office.trusts.create_trust(name="Ash Trust", trust_id="ash-trust")
    memberships = {
        school: office.trusts.add_school(trust.id, School(id=school, name=school.title()))
        for school, trust in (("oak", oak_trust), ("elm", oak_trust), ("ash", ash_trust))
    }
    accounts: dict[str, str] = {}
    for name, trust, role, school in (
        ("oak_aco", oak_trust, "Access Co-ordinator", "oak"),
        ("elm_aco", oak_trust, "Access Co-ordinator", "elm"),
        ("ash_aco", ash_trust, "Access Co-ordinator", "ash"),
        ("teacher", oak_trust, "Teacher", "oak"),
        ("tina", oak_trust, "Teacher", "elm"),
    ):
        made = office.create_user(
            actor_id=None,
            trust_id=trust.id,
            email=f"{name}@{school}.example",
            name=name.title(),
            roles=[(role, school)],
        )
        accounts[name] = _activated(office, made)
    token = office.trusts.nominate_trust_admin(oak_trust.id, accounts["tina"])
    office.trusts.accept_trust_admin(oak_trust.id, token)  # the catalogue names the role
    for school, membership in memberships.items():
        office.trusts.send_invitation(membership.id)
        office.trusts.accept_invitation(membership.id, actor_id=accounts[f"{school}_aco"])
    office.set_up_mis_connection(
        actor_id=accounts["oak_aco"], school_id="oak", provider="wonde", required_scopes={"read"}
    )
    office.authorise_mis(actor_id=accounts["oak_aco"], school_id="oak", granted_scopes={"read"})
    snapshot = sample_snapshot("oak", pupils=24, staff=3, seed=11, taken_at=office.clock.now())
    return Demo(
        office=office, sources={"oak": SnapshotSource(snapshot=snapshot)}, accounts=accounts
    )


def main() -> None:  # pragma: no cover - serves until interrupted
    """Seed a demo trust in an SQLite file and serve the app on 127.0.0.1:8000."""
    import uvicorn

    path = Path("web_app_demo.sqlite3")
    path.unlink(missing_ok=True)
    demo = seed_demo(SqliteStore(path))
    print("try: curl -H 'X-Account: <id>' http://127.0.0.1:8000/schools/oak/reports")
    print("accounts:", ", ".join(f"{k}={v}" for k, v in sorted(demo.accounts.items())))
    uvicorn.run(create_app(demo.office, mis_sources=demo.sources), host="127.0.0.1", port=8000)


if __name__ == "__main__":  # pragma: no cover
    main()
