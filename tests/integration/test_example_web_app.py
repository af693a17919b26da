"""examples/web_app: a Starlette app over an SQLite store, every call through one TrustOffice,
driven with Starlette's TestClient. It shows how a host maps ``Decision.visible`` to 404 vs 403,
and that grants, reviews and applies go through the service (audited, all or nothing)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

from schoolsync import SqliteStore
from schoolsync.clock import FixedClock
from schoolsync.records.audit import AuditAction

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def web_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "web_app_example", ROOT / "examples" / "web_app" / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["web_app_example"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(web_app: ModuleType, tmp_path: Path) -> Iterator[Any]:
    store = SqliteStore(tmp_path / "app.sqlite3")
    yield web_app.seed_demo(
        store,
        clock=FixedClock(datetime(2026, 9, 7, 9, tzinfo=UTC)),
        activation_work_factor=2**4,
    )
    store.close()


@pytest.fixture
def client(web_app: ModuleType, demo: Any) -> TestClient:
    return TestClient(web_app.create_app(demo.office, mis_sources=demo.sources))


def as_(demo: Any, name: str) -> dict[str, str]:
    return {"X-Account": demo.accounts[name]}


def test_an_outsider_gets_404_and_an_insider_403(client: TestClient, demo: Any) -> None:
    """Oak's teacher has no relationship with Elm or Ash: 404, the same as for a school that
    does not exist. At Oak she may see reports (200) but not pupils: 403 with the reason."""
    teacher = as_(demo, "teacher")

    assert 200 == client.get("/schools/oak/reports", headers=teacher).status_code
    for school in ("elm", "ash", "no-such-school"):
        answer = client.get(f"/schools/{school}/reports", headers=teacher)
        assert (404, {"error": "not found"}) == (answer.status_code, answer.json())
    denied = client.get("/schools/oak/check/pupils.view", headers=teacher)
    assert 403 == denied.status_code
    assert "no_role" == denied.json()["reason"]
    assert 401 == client.get("/schools/oak/reports").status_code


def test_a_grant_through_the_app_turns_a_403_into_a_200(client: TestClient, demo: Any) -> None:
    """The trust admin sees Elm (a member school) but not its pupils until Elm grants them:
    403 "no_grant"; Elm's Access Co-ordinator grants through the app (201), and the next
    request is allowed: the office's index is current by itself."""
    tina = as_(demo, "tina")
    before = client.get("/schools/elm/check/pupils.view", headers=tina)
    assert (403, "no_grant") == (before.status_code, before.json()["reason"])

    made = client.post(
        "/schools/elm/grants",
        json={"permissions": ["pupils.view"], "accounts": [demo.accounts["tina"]]},
        headers=as_(demo, "elm_aco"),
    )

    assert 201 == made.status_code
    after = client.get("/schools/elm/check/pupils.view", headers=tina)
    assert 200 == after.status_code
    assert any("grant" in path for path in after.json()["paths"])
    with demo.office.store.unit_of_work() as uow:
        assert [AuditAction.GRANT_CREATED] == [
            e.action for e in uow.audit.events() if e.subject_kind == "grant"
        ]


def test_only_the_schools_co_ordinator_may_grant(client: TestClient, demo: Any) -> None:
    """A teacher asking Oak to grant gets 403; Ash's co-ordinator asking at Elm gets 404; an
    empty grant from the right person is refused (422). Nothing is written."""
    body = {"permissions": ["pupils.view"]}

    assert (
        403
        == client.post("/schools/oak/grants", json=body, headers=as_(demo, "teacher")).status_code
    )
    assert (
        404
        == client.post("/schools/elm/grants", json=body, headers=as_(demo, "ash_aco")).status_code
    )
    empty = client.post(
        "/schools/oak/grants", json={"permissions": []}, headers=as_(demo, "oak_aco")
    )
    assert 422 == empty.status_code
    with demo.office.store.unit_of_work() as uow:
        assert 0 == uow.grants.count()


def test_review_plan_and_apply_through_the_app(client: TestClient, demo: Any) -> None:
    """Oak's co-ordinator reviews the MIS against the app (201 with the statuses and a plan),
    reads the plan, applies it (200, one sync); the teacher can neither see nor apply it, and
    a plan is applied once."""
    aco = as_(demo, "oak_aco")

    reviewed = client.post("/schools/oak/review", headers=aco)
    assert 201 == reviewed.status_code
    plan_id = reviewed.json()["plan"]
    assert 24 == reviewed.json()["review"]["pupils"]["new"]
    assert 403 == client.get(f"/plans/{plan_id}", headers=as_(demo, "teacher")).status_code
    assert 403 == client.post(f"/plans/{plan_id}/apply", headers=as_(demo, "teacher")).status_code
    assert reviewed.json()["changes"] == len(
        client.get(f"/plans/{plan_id}", headers=aco).json()["changes"]
    )

    applied = client.post(f"/plans/{plan_id}/apply", headers=aco)

    assert 200 == applied.status_code
    assert applied.json()["counts"]["created"] >= 24
    assert 404 == client.post(f"/plans/{plan_id}/apply", headers=aco).status_code
    with demo.office.store.unit_of_work() as uow:
        assert 24 == len(uow.pupils.list())


def test_a_deauthorised_connection_refuses_the_review(client: TestClient, demo: Any) -> None:
    """The office reads the stored connection: once deauthorised, the review is refused (409)."""
    demo.office.deauthorise_mis(actor_id=demo.accounts["oak_aco"], school_id="oak")

    refused = client.post("/schools/oak/review", headers=as_(demo, "oak_aco"))

    assert 409 == refused.status_code
    assert "deauthorised" in refused.json()["detail"]
