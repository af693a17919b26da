"""Access decisions: index build from storage, check throughput, school lists, and pycasbin.

Shape (issue 4): a trust of 100 schools, 20,000 accounts, 60,000 role assignments. pycasbin
runs the same policy (RBAC with domains: trust roles flattened to each granting school).
``--quick``: 10 schools, 2,000 accounts, 6,000 assignments. Times are CPU (process) time: the
fair one-core figure on a machine shared with other jobs.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import attrs

from schoolsync.access import (
    AccessAdmin,
    AccessIndex,
    Account,
    AccountStatus,
    Grant,
    Permission,
    Role,
    RoleAssignment,
    RoleCatalogue,
    record_event,
)
from schoolsync.errors import DuplicateRecordError
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

CATALOGUE = RoleCatalogue.build(
    [
        "users.manage",
        "grants.manage",
        "data.manage",
        "settings.edit",
        "reports.pupil_level.view",
        Permission(name="reports.school.view", needs_grant=False),
        Permission(name="trust.reports.compare", level="trust"),
    ],
    [
        Role(
            name="Access Coordinator",
            scope="school",
            permissions={"grants.manage", "users.manage", "settings.edit"},
            implies={"Admin"},
        ),
        Role(name="Admin", scope="school", permissions={"users.manage"}, implies={"Data"}),
        Role(name="Data", scope="school", permissions={"data.manage"}, implies={"Teacher"}),
        Role(name="Leader", scope="school", permissions={"reports.pupil_level.view"}),
        Role(name="Teacher", scope="school", permissions={"reports.school.view"}),
        Role(
            name="Trust Admin",
            scope="trust",
            permissions={
                "users.manage",
                "reports.pupil_level.view",
                "trust.reports.compare",
                "reports.school.view",
            },
        ),
        Role(name="Trust Viewer", scope="trust", permissions={"reports.school.view"}),
    ],
)
SCHOOL_ROLES = ("Teacher", "Leader", "Data", "Admin")


def make_store(schools: int, accounts: int, assignments: int, seed: int = 1) -> MemoryStore:
    """A store holding the benchmark trust."""
    rng = random.Random(seed)
    store = MemoryStore()
    trust_accounts = max(2, accounts // 100)
    with store.unit_of_work() as uow:
        uow.trusts.put(Trust(id="T", name="Big Trust"))
        uow.schools.put_many(School(id=f"S{i:03}", name=f"School {i}") for i in range(schools))
        uow.memberships.put_many(
            Membership(
                id=f"m{i}", trust_id="T", school_id=f"S{i:03}", status=MembershipStatus.ACCEPTED
            )
            for i in range(schools)
        )
        uow.accounts.put_many(
            Account(id=f"a{i:05}", trust_id="T", email="", name="", status=AccountStatus.ACTIVE)
            for i in range(accounts)
        )
        rows = []
        for i in range(trust_accounts):
            role = "Trust Admin" if i % 4 == 0 else "Trust Viewer"
            rows.append(RoleAssignment(id=f"t{i}", account_id=f"a{i:05}", trust_id="T", role=role))
        for s in range(schools):
            rows.append(
                RoleAssignment(
                    id=f"ac{s}",
                    account_id=f"a{trust_accounts + s:05}",
                    trust_id="T",
                    role="Access Coordinator",
                    school_id=f"S{s:03}",
                )
            )
        n = len(rows)
        while n < assignments:
            a = rng.randrange(trust_accounts, accounts)
            home = a % schools
            school = home if rng.random() < 0.9 else rng.randrange(schools)
            rows.append(
                RoleAssignment(
                    id=f"r{n}",
                    account_id=f"a{a:05}",
                    trust_id="T",
                    role=rng.choice(SCHOOL_ROLES),
                    school_id=f"S{school:03}",
                )
            )
            n += 1
        uow.assignments.put_many(rows)
        grants = []
        for s in range(schools):
            if s % 10 == 9:
                continue  # some schools have not granted anything
            perms = {"users.manage", "reports.pupil_level.view"} if s % 2 else {"users.manage"}
            grants.append(Grant(id=f"g{s}", trust_id="T", school_id=f"S{s:03}", permissions=perms))
        uow.grants.put_many(grants)
        uow.commit()
    return store


def casbin_enforcer(store: MemoryStore) -> object:
    """A pycasbin RBAC-with-domains enforcer holding the same policy (flattened)."""
    import casbin

    model = """
[request_definition]
r = sub, dom, obj
[policy_definition]
p = sub, dom, obj
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj
"""
    tmp = Path(tempfile.mkdtemp())
    (tmp / "model.conf").write_text(model)
    (tmp / "policy.csv").write_text("")
    enforcer = casbin.Enforcer(str(tmp / "model.conf"), str(tmp / "policy.csv"))
    with store.unit_of_work() as uow:
        schools = [s.id for s in uow.schools.list()]
        grants = {g.school_id: g for g in uow.grants.list()}
        assignments = uow.assignments.list()
    policies = []
    for s in schools:
        for role in ("Access Coordinator", "Admin", "Data", "Leader", "Teacher"):
            for p in sorted(CATALOGUE.effective_permissions(role)):
                policies.append([role, s, p])
        for role in ("Trust Admin", "Trust Viewer"):
            for p in sorted(CATALOGUE.effective_permissions(role)):
                perm = CATALOGUE.permissions[p]
                if perm.level.value == "trust":
                    continue
                if not perm.needs_grant or (s in grants and p in grants[s].permissions):
                    policies.append([role, s, p])
    enforcer.add_policies(policies)
    links: list[list[str]] = []
    for a in assignments:
        if a.school_id is None:
            links.extend([a.account_id, a.role, s] for s in schools)
        else:
            links.append([a.account_id, a.role, a.school_id])
    enforcer.add_named_grouping_policies("g", links)
    return enforcer


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    parser.add_argument("--casbin-checks", type=int, default=200)
    parser.add_argument(
        "--no-freeze", dest="freeze", action="store_false", help="leave gc.freeze() out"
    )
    args = parser.parse_args(argv)
    schools, accounts, assignments = (10, 2_000, 6_000) if args.quick else (100, 20_000, 60_000)
    store = make_store(schools, accounts, assignments)
    print(f"shape: {schools} schools, {accounts} accounts, {assignments} assignments")

    with store.unit_of_work() as uow:
        t0 = time.process_time()
        index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=NOW)
        build = time.process_time() - t0
    print(f"index build from storage: {build:.3f} s")

    # A host pays the build's deferred collection once at start-up; then, optionally, freezes.
    gc.collect()
    if args.freeze:
        gc.freeze()  # move the index out of the collector's sight (a host's long-lived data)
    rng = random.Random(7)
    perms = sorted(CATALOGUE.permissions)
    account_ids = [f"a{i:05}" for i in range(accounts)]
    school_ids = [f"S{i:03}" for i in range(schools)]
    distinct = [
        (rng.choice(account_ids), rng.choice(perms), rng.choice(school_ids)) for _ in range(20_000)
    ]
    requests = [rng.choice(distinct) for _ in range(200_000)]
    # Requests known to be allowed (drawn from a quarter of the accounts' access tables).
    allowed_requests = [
        (a, p, s)
        for a in account_ids[: accounts // 4]
        for s, p, _ in index.access_table(a).entries
        if s is not None
    ]
    # A realistic mix: each account asks about its own schools (home and assigned), half the
    # time for a permission it holds, half for one it lacks; a tenth ask about another school.
    mixed: list[tuple[str, str, str]] = []
    while len(mixed) < 100_000:
        a = rng.choice(account_ids)
        mine = [s for s, _, _ in index.access_table(a).entries if s is not None]
        if mine and rng.random() < 0.9:
            s = rng.choice(mine)
            held = [p for p in perms if index.check(a, p, s)]
            lacking = [p for p in perms if p not in held]
            p = rng.choice(held if rng.random() < 0.5 or not lacking else lacking)
        else:
            s, p = rng.choice(school_ids), rng.choice(perms)
        mixed.append((a, p, s))
    rng.shuffle(mixed)
    check = index.check

    def timed(batch: list[tuple[str, str, str]]) -> tuple[float, int]:
        """Calls per CPU second over *batch* (decisions dropped, as a web handler would) and
        how many were allowed. CPU time is the fair one-core figure on a shared machine."""
        t0 = time.process_time()
        allowed = 0
        for a, p, s in batch:
            if check(a, p, s):
                allowed += 1
        return len(batch) / (time.process_time() - t0), allowed

    cold_rate, allowed = timed(distinct)
    rate, _ = timed(requests)
    allowed_rate, _ = timed(allowed_requests)
    mixed_rate, mixed_allowed = timed(mixed)
    print(
        f"check, random requests ({len(distinct)} distinct, {allowed} allowed, first calls): "
        f"{cold_rate:,.0f} /s"
    )
    print(f"check, random requests repeated ({len(requests)} calls): {rate:,.0f} /s")
    print(f"check, allowed requests ({len(allowed_requests)}): {allowed_rate:,.0f} /s")
    print(
        f"check, realistic mix ({len(mixed)} calls, {mixed_allowed} allowed): {mixed_rate:,.0f} /s"
    )
    t0 = time.process_time()
    kept = [check(a, p, s) for a, p, s in distinct]  # a caller keeping every decision alive
    kept_rate = len(kept) / (time.process_time() - t0)
    print(f"check, random requests, every decision kept: {kept_rate:,.0f} /s")
    del kept

    t0 = time.process_time()
    n = 0
    for a in account_ids[:5_000]:
        for p in ("reports.school.view", "users.manage"):
            index.schools_with(a, p)
            n += 1
    per_list = (time.process_time() - t0) / n
    print(f"account's school list: {per_list * 1e6:.2f} µs")

    # Changes: a revocation (every trust account at one school) and checked assignments.
    # (On a second index, so the casbin comparison below sees the stored policy.)
    changing = AccessIndex.from_store(CATALOGUE, store, now=NOW)
    grant = changing.records.grants["g1"]
    t0 = time.process_time()
    changing.apply(
        record_event("grant", grant, attrs.evolve(grant, revoked_at=NOW), at=NOW, actor_id=None)
    )
    revoke_s = time.process_time() - t0
    admin = AccessAdmin(changing)
    made = 0
    t0 = time.process_time()
    for i in range(accounts // 2, accounts // 2 + 1_000):
        try:
            admin.assign(
                actor_id=None,
                account_id=f"a{i:05}",
                role="Leader",
                school_id=school_ids[(i * 7) % schools],
                at=NOW,
            )
            made += 1
        except DuplicateRecordError:
            pass
    assign_s = (time.process_time() - t0) / max(made, 1)
    print(f"grant revocation applied: {revoke_s * 1e3:.1f} ms")
    print(f"checked assignment (caps, requirements, index update): {assign_s * 1e6:.0f} µs")

    t0 = time.process_time()
    enforcer = casbin_enforcer(store)
    casbin_load = time.process_time() - t0
    sample = requests[: args.casbin_checks]
    t0 = time.process_time()
    agree = 0
    for a, p, s in sample:
        if enforcer.enforce(a, s, p) == bool(check(a, p, s)):  # type: ignore[attr-defined]
            agree += 1
    casbin_s = time.process_time() - t0
    casbin_rate = len(sample) / casbin_s
    print(f"pycasbin load: {casbin_load:.2f} s; checks: {casbin_rate:,.0f} /s")
    print(f"pycasbin agrees on {agree}/{len(sample)} sampled requests")
    print(f"ratio schoolsync/pycasbin (repeated requests): {rate / casbin_rate:,.0f}x")
    print(f"ratio schoolsync/pycasbin (realistic mix): {mixed_rate / casbin_rate:,.0f}x")
    return {
        "build_s": build,
        "check_per_s": rate,
        "cold_check_per_s": cold_rate,
        "mixed_check_per_s": mixed_rate,
        "school_list_us": per_list * 1e6,
        "revoke_ms": revoke_s * 1e3,
        "assign_us": assign_s * 1e6,
        "casbin_per_s": casbin_rate,
    }


if __name__ == "__main__":
    main()
