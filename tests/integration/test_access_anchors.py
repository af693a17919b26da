"""The benchmark's anchors (pycasbin's FastEnforcer and AWS Cedar through cedarpy) decide the
same policy exactly as ``AccessIndex.check`` does, on every request of a small trust: the
speed comparison in docs/performance.md is between engines that agree (``casbin`` and
``cedarpy`` are in the ``dev`` extra, so this runs in CI)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_access", ROOT / "benchmarks" / "bench_access.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_access"] = module
    spec.loader.exec_module(module)
    return module


def every_request(bench: ModuleType, accounts: int, schools: int) -> list[tuple[str, str, str]]:
    """Every permission at every school for the first *accounts* accounts (trust accounts,
    Access Coordinators and school staff among them)."""
    return list(
        itertools.product(
            [f"a{i:05}" for i in range(accounts)],
            sorted(bench.CATALOGUE.permissions),
            [f"S{i:03}" for i in range(schools)],
        )
    )


@pytest.mark.parametrize("engine", ["casbin", "cedar"])
def test_anchor_agrees_with_the_index_on_every_request(bench: ModuleType, engine: str) -> None:
    """Zero disagreements on 4,200 requests (some hundreds allowed), across school roles
    with implication, trust roles through grants and through membership alone, and schools
    that granted nothing."""
    from schoolsync.access import AccessIndex

    store = bench.make_store(6, 400, 1_200, seed=3)
    with store.unit_of_work() as uow:
        index = AccessIndex.from_unit_of_work(bench.CATALOGUE, uow, now=bench.NOW)
    requests = every_request(bench, 100, 6)
    decide = (
        bench.casbin_batch(bench.casbin_fast_enforcer(store))
        if engine == "casbin"
        else bench.cedar_batch(store, chunk=500)
    )

    assert [] == bench.disagreements(index, decide, requests)
    allowed = sum(bool(index.check(*r)) for r in requests)
    assert 200 < allowed < len(requests) - 200
    assert any(index.check("a00000", "users.manage", f"S{i:03}") for i in range(6))  # a grant


def test_a_revoked_grant_is_not_in_the_anchors_policy(bench: ModuleType) -> None:
    """The translation reads grants as live at the benchmark's moment: a revoked grant gives
    the anchors nothing, as it gives the index nothing."""
    from schoolsync.access import AccessIndex

    store = bench.make_store(4, 200, 600, seed=5)
    with store.unit_of_work() as uow:
        for grant in uow.grants.list():
            uow.grants.put(attrs.evolve(grant, revoked_at=bench.NOW - timedelta(days=1)))
        uow.commit()
    with store.unit_of_work() as uow:
        index = AccessIndex.from_unit_of_work(bench.CATALOGUE, uow, now=bench.NOW)
    requests = every_request(bench, 60, 4)

    assert [] == bench.disagreements(index, bench.cedar_batch(store), requests)
    assert [] == bench.disagreements(
        index, bench.casbin_batch(bench.casbin_fast_enforcer(store)), requests
    )
    assert not any(index.check(a, "users.manage", s) for a, _, s in requests if a < "a00002")
