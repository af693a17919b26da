"""Benchmark: trust-wide views, School Upload validation and the GIAS links file.

A trust of 100 schools (3 grants each, half of them covering the permission asked about):
``schools_in_view`` read from the in-memory and SQLite stores, the pure rule alone, a
1,000-row School Upload plan, and reading the real GIAS links file (33,801 rows) when the
shared fixtures folder is beside the clone.

Usage: ``python benchmarks/bench_trusts.py [--quick]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.grants import Grant
from schoolsync.identifiers import Urn
from schoolsync.ports import Store
from schoolsync.sources.gias import read_gias_links
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import (
    Membership,
    MembershipStatus,
    School,
    SchoolUploadRow,
    Trust,
    plan_school_upload,
)
from schoolsync.views import schools_in_view, view_from_records

AT = datetime(2026, 9, 1, tzinfo=UTC)
ROLES = {"trust_admin": {"reports.school.view"}}
GIAS = (
    Path(__file__).resolve().parents[1].parent
    / "shared/fixtures/gias-links-mastodonc/links_edubasealldata20250422.csv"
)


def fill(store: Store, schools: int) -> None:
    """One trust, one trust admin, *schools* accepted members with three grants each."""
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t", name="Trust"))
        uow.accounts.add(
            Account(id="a", trust_id="t", email="", name="", status=AccountStatus.ACTIVE)
        )
        uow.assignments.add(
            RoleAssignment(id="ra", account_id="a", trust_id="t", role="trust_admin")
        )
        for i in range(schools):
            uow.schools.add(School(id=f"s{i}", name=f"School {i}", urn=Urn(f"{100000 + i}")))
            uow.memberships.add(
                Membership(
                    id=f"m{i}", trust_id="t", school_id=f"s{i}", status=MembershipStatus.ACCEPTED
                )
            )
            perms = {"reports.school.view"} if i % 2 else {"users.manage"}
            for j in range(3):
                uow.grants.add(
                    Grant(id=f"g{i}-{j}", trust_id="t", school_id=f"s{i}", permissions=perms)
                )
        uow.commit()


def per_call(fn: object, repeat: int) -> float:
    """Seconds per call of the no-argument callable *fn*."""
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main(argv: list[str]) -> int:
    """Print the figures."""
    quick = "--quick" in argv
    schools = 20 if quick else 100
    repeat = 20 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[tuple[str, Store]] = [
            ("memory", MemoryStore()),
            ("sqlite", SqliteStore(Path(tmp) / "bench.sqlite3")),
        ]
        for name, store in stores:
            fill(store, schools)
            with store.unit_of_work() as uow:
                seconds = per_call(
                    lambda uow=uow: schools_in_view(
                        "a", "reports.school.view", uow=uow, at=AT, role_permissions=ROLES
                    ),
                    repeat,
                )
                trust = uow.trusts.require("t")
                account = uow.accounts.require("a")
                memberships = uow.memberships.list()
                grants = uow.grants.list()
            print(f"schools_in_view, {schools} schools, {name} store: {seconds * 1e3:.2f} ms")
            store.close()
    pure = per_call(
        lambda: view_from_records(
            account,
            "reports.school.view",
            trust=trust,
            memberships=memberships,
            grants=grants,
            at=AT,
            trust_permissions={"reports.school.view"},
        ),
        repeat * 5,
    )
    print(f"view_from_records (pure rule), {schools} schools: {pure * 1e6:.0f} us")

    rows = [
        SchoolUploadRow(row=i + 2, name=f"School {i}", postcode="SW1A 1AA", urn=str(200000 + i))
        for i in range(100 if quick else 1000)
    ]
    start = time.perf_counter()
    plan = plan_school_upload(
        rows, file="upload.xlsx", trust_id="t", schools=[], memberships=[], new_id=lambda: "x"
    )
    print(f"plan_school_upload, {len(rows)} rows: {(time.perf_counter() - start) * 1e3:.1f} ms")
    assert plan.ok

    if GIAS.exists() and not quick:
        start = time.perf_counter()
        links = read_gias_links(GIAS)
        took = time.perf_counter() - start
        print(f"read_gias_links, {len(links)} rows: {took:.2f} s")
        sample = [link.urn for link in links.links[:10_000]]
        seconds = per_call(lambda: [links.current_urn(u) for u in sample], 1) / len(sample)
        print(f"GiasLinks.current_urn: {seconds * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
