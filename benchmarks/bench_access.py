"""Access decisions: index build from storage, check throughput, school lists, and the anchors.

Shape (issue 4): a trust of 100 schools, 20,000 accounts, 60,000 role assignments. The anchors
run the same policy their fastest documented way, in the same run, on the same requests:
pycasbin's ``FastEnforcer`` (RBAC with domains, indexed by domain and object; trust roles
flattened to each school whose membership or grant lets them through, since casbin has no
grants) with ``batch_enforce``, and AWS Cedar through cedarpy (policies and entities parsed
once into handles, ``is_authorized_batch``). Both are warmed first, and must agree with
``AccessIndex.check`` on every request (the run stops otherwise).
``--quick``: 10 schools, 2,000 accounts, 6,000 assignments. Times are CPU (process) time: the
fair one-core figure on a machine shared with other jobs.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from schoolsync.access import (
    AccessAdmin,
    AccessIndex,
    Account,
    AccountStatus,
    Grant,
    Permission,
    PermissionLevel,
    Role,
    RoleAssignment,
    RoleCatalogue,
    RoleScope,
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


def _policy_facts(store: MemoryStore) -> _Facts:
    """The records the anchors are given, read once (the policy as stored at ``NOW``)."""
    with store.unit_of_work() as uow:
        trusts = uow.trusts.list()
        schools = sorted(s.id for s in uow.schools.list())
        members = sorted(m.school_id for m in uow.memberships.list() if m.is_member)
        grants = [g for g in uow.grants.list() if g.is_live(NOW)]
        active = {a.id for a in uow.accounts.list() if a.status is AccountStatus.ACTIVE}
        assignments = [a for a in uow.assignments.list() if a.account_id in active]
    if len(trusts) != 1 or CATALOGUE.requires_designated_trust:
        raise NotImplementedError("the anchors' translation covers one trust, no designation")
    if any(g.account_ids is not None for g in grants):
        raise NotImplementedError("the anchors' translation covers whole-trust grants")
    granted: dict[str, set[str]] = {}
    for g in grants:
        granted.setdefault(g.school_id, set()).update(g.permissions)
    return _Facts(schools=schools, members=set(members), granted=granted, assignments=assignments)


@attrs.frozen(kw_only=True)
class _Facts:
    schools: list[str]
    members: set[str]
    granted: dict[str, set[str]]
    assignments: list[RoleAssignment]


def _trust_role_rows(facts: _Facts) -> list[tuple[str, str, str]]:
    """(trust role, school, permission) for every school-level permission a trust role may use
    at a school: a member school, by membership alone or through its live grant."""
    rows = []
    for role in sorted(n for n, r in CATALOGUE.roles.items() if r.scope is RoleScope.TRUST):
        for school in facts.schools:
            if school not in facts.members:
                continue
            for name in sorted(CATALOGUE.effective_permissions(role)):
                perm = CATALOGUE.permissions[name]
                if perm.level is PermissionLevel.TRUST:
                    continue
                if not perm.needs_grant or name in facts.granted.get(school, ()):
                    rows.append((role, school, name))
    return rows


CASBIN_MODEL = """
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


def casbin_fast_enforcer(store: MemoryStore) -> Any:
    """pycasbin's ``FastEnforcer`` (RBAC with domains) holding the same policy: each school
    role's permissions at every school, each trust role's at the schools whose membership or
    live grant lets it through (casbin has no grants, so they are flattened in), and each
    account linked to its roles by domain. ``cache_key_order=[1, 2]`` indexes the policy by
    (domain, object), pycasbin's documented way to skip the linear scan."""
    import casbin

    facts = _policy_facts(store)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "model.conf").write_text(CASBIN_MODEL)
    (tmp / "policy.csv").write_text("")
    enforcer = casbin.FastEnforcer(
        str(tmp / "model.conf"), str(tmp / "policy.csv"), cache_key_order=[1, 2]
    )
    school_roles = sorted(n for n, r in CATALOGUE.roles.items() if r.scope is RoleScope.SCHOOL)
    policies = [
        [role, school, name]
        for school in facts.schools
        for role in school_roles
        for name in sorted(CATALOGUE.effective_permissions(role))
    ]
    policies.extend(list(row) for row in _trust_role_rows(facts))
    enforcer.add_policies(policies)
    links: list[list[str]] = []
    for a in facts.assignments:
        if a.school_id is None:
            links.extend([a.account_id, a.role, s] for s in facts.schools)
        else:
            links.append([a.account_id, a.role, a.school_id])
    enforcer.add_named_grouping_policies("g", links)
    return enforcer


def _cedar_key(role: str) -> str:
    return "at_" + re.sub(r"[^a-z0-9]+", "_", role.lower()).strip("_")


def cedar_policy(store: MemoryStore) -> tuple[str, list[dict[str, Any]]]:
    """The same policy in AWS Cedar, written as Cedar's docs recommend (few policies, facts in
    entities): each school role is one policy over a user attribute holding the schools where
    the user has that role; each trust role is a parent entity of its holders, with one policy
    for its permissions that need the school's grant (the school's ``granted`` actions) and
    one for those its membership alone allows. Returns (policies, entities)."""
    facts = _policy_facts(store)
    policies: list[str] = []
    school_roles = sorted(n for n, r in CATALOGUE.roles.items() if r.scope is RoleScope.SCHOOL)
    for role in school_roles:
        actions = ", ".join(f'Action::"{p}"' for p in sorted(CATALOGUE.effective_permissions(role)))
        policies.append(
            f"permit(principal, action in [{actions}], resource is School) "
            f"when {{ principal.{_cedar_key(role)}.contains(resource) }};"
        )
    trust_roles = sorted(n for n, r in CATALOGUE.roles.items() if r.scope is RoleScope.TRUST)
    for role in trust_roles:
        usable = [
            CATALOGUE.permissions[p]
            for p in sorted(CATALOGUE.effective_permissions(role))
            if CATALOGUE.permissions[p].level is PermissionLevel.SCHOOL
        ]
        for needs_grant in (True, False):
            names = [p.name for p in usable if p.needs_grant is needs_grant]
            if not names:
                continue
            actions = ", ".join(f'Action::"{p}"' for p in names)
            when = "resource.member" + (
                " && resource.granted.contains(action)" if needs_grant else ""
            )
            policies.append(
                f'permit(principal in TrustRole::"{role}", action in [{actions}], '
                f"resource is School) when {{ {when} }};"
            )
    held: dict[str, dict[str, list[str]]] = {}
    parents: dict[str, list[str]] = {}
    for a in facts.assignments:
        if a.school_id is None:
            parents.setdefault(a.account_id, []).append(a.role)
        else:
            held.setdefault(a.account_id, {}).setdefault(a.role, []).append(a.school_id)
    entities: list[dict[str, Any]] = [
        {"uid": {"type": "TrustRole", "id": role}, "attrs": {}, "parents": []}
        for role in trust_roles
    ]
    for school in facts.schools:
        granted = sorted(facts.granted.get(school, ()))
        entities.append(
            {
                "uid": {"type": "School", "id": school},
                "attrs": {
                    "member": school in facts.members,
                    "granted": [{"__entity": {"type": "Action", "id": p}} for p in granted],
                },
                "parents": [],
            }
        )
    for account_id in sorted(set(held) | set(parents)):
        roles = held.get(account_id, {})
        attrs_ = {
            _cedar_key(role): [
                {"__entity": {"type": "School", "id": s}} for s in sorted(set(roles.get(role, ())))
            ]
            for role in school_roles
        }
        entities.append(
            {
                "uid": {"type": "User", "id": account_id},
                "attrs": attrs_,
                "parents": [
                    {"type": "TrustRole", "id": r} for r in sorted(set(parents.get(account_id, ())))
                ],
            }
        )
    return "\n".join(policies), entities


Request = tuple[str, str, str]


def casbin_batch(enforcer: Any) -> Callable[[list[Request]], list[bool]]:
    """Decide a batch with pycasbin's ``batch_enforce`` (requests as (sub, domain, object))."""

    def decide(requests: list[Request]) -> list[bool]:
        return [bool(x) for x in enforcer.batch_enforce([(a, s, p) for a, p, s in requests])]

    return decide


def cedar_batch(store: MemoryStore, chunk: int = 1_000) -> Callable[[list[Request]], list[bool]]:
    """Decide a batch with ``cedarpy.is_authorized_batch``, the policies and entities parsed
    once into handles (``PolicySet``, ``Entities``), *chunk* requests per call, each request
    in the structured form (``{"type": ..., "id": ...}``), which cedarpy parses faster than
    Cedar text."""
    import cedarpy

    text, entities = cedar_policy(store)
    policy_set = cedarpy.PolicySet.from_str(text)
    entity_set = cedarpy.Entities.from_json_str(json.dumps(entities))

    def decide(requests: list[Request]) -> list[bool]:
        out: list[bool] = []
        for i in range(0, len(requests), chunk):
            batch = [
                {
                    "principal": {"type": "User", "id": a},
                    "action": {"type": "Action", "id": p},
                    "resource": {"type": "School", "id": s},
                }
                for a, p, s in requests[i : i + chunk]
            ]
            results = cedarpy.is_authorized_batch(batch, policy_set, entity_set)
            out.extend(r.allowed for r in results)
        return out

    return decide


def disagreements(
    index: AccessIndex, decide: Callable[[list[Request]], list[bool]], requests: list[Request]
) -> list[Request]:
    """The requests on which *decide* and ``AccessIndex.check`` answer differently."""
    theirs = decide(requests)
    return [r for r, d in zip(requests, theirs, strict=True) if d != bool(index.check(*r))]


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    parser.add_argument(
        "--anchor-requests",
        type=int,
        default=None,
        help="requests from the realistic mix given to the anchors (100,000; quick 5,000)",
    )
    parser.add_argument(
        "--no-freeze", dest="freeze", action="store_false", help="leave gc.freeze() out"
    )
    args = parser.parse_args(argv)
    schools, accounts, assignments = (10, 2_000, 6_000) if args.quick else (100, 20_000, 60_000)
    if args.anchor_requests is None:
        args.anchor_requests = 5_000 if args.quick else 100_000
    store = make_store(schools, accounts, assignments)
    print(f"shape: {schools} schools, {accounts} accounts, {assignments} assignments")

    with store.unit_of_work() as uow:
        t0 = time.process_time()
        index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=NOW)
        build = time.process_time() - t0
    print(f"index build from storage: {build:.3f} s")
    chains = {
        length: catalogue_chain(length) for length in (2_000, 20_000)[: 1 if args.quick else 2]
    }
    for length, seconds in chains.items():
        print(
            f"catalogue build, a chain of {length:,} roles each implying the next: {seconds:.3f} s"
        )

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
    # (On a second index, so the anchors below see the stored policy.)
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

    figures = {
        "build_s": build,
        **{f"catalogue_chain_{length}_s": seconds for length, seconds in chains.items()},
        "check_per_s": rate,
        "cold_check_per_s": cold_rate,
        "mixed_check_per_s": mixed_rate,
        "school_list_us": per_list * 1e6,
        "revoke_ms": revoke_s * 1e3,
        "assign_us": assign_s * 1e6,
    }
    sample = mixed[: args.anchor_requests] + distinct[: args.anchor_requests // 5]
    figures |= run_anchors(store, index, sample)
    return figures


def catalogue_chain(length: int) -> float:
    """CPU seconds of ``RoleCatalogue.build`` over *length* capped school roles, each implying
    the next (the last one holding the one permission)."""
    roles = [
        Role(
            name=f"r{n}",
            scope="school",
            implies={f"r{n + 1}"} if n < length - 1 else set(),
            permissions={"reports.view"} if n == length - 1 else set(),
            max_per_school=5,
        )
        for n in range(length)
    ]
    t0 = time.process_time()
    RoleCatalogue.build(["reports.view"], roles, manage_permission=None, grant_permission=None)
    return time.process_time() - t0


def _rate(check: Callable[[str, str, str], object], sample: list[Request]) -> float:
    """Calls of *check* per CPU second over *sample* (decisions dropped)."""
    t0 = time.process_time()
    for a, p, s in sample:
        check(a, p, s)
    return len(sample) / (time.process_time() - t0)


def the_service(
    store: MemoryStore, sample: list[Request], expected: list[bool]
) -> Callable[[str, str, str], object]:
    """``TrustOffice.check`` over *store* (the service's live index, which reads the store's
    access version at most every ``max_staleness`` seconds), warmed by one pass.

    Raises:
        SystemExit: the service disagrees with ``AccessIndex.check`` on any request.
    """
    from schoolsync import TrustOffice
    from schoolsync.clock import FixedClock

    office = TrustOffice(store, catalogue=CATALOGUE, clock=FixedClock(NOW))
    if [bool(office.check(a, p, s)) for a, p, s in sample] != expected:
        raise SystemExit("TrustOffice.check disagrees with AccessIndex.check")
    return office.check


def run_anchors(store: MemoryStore, index: AccessIndex, sample: list[Request]) -> dict[str, float]:
    """The anchors on the same policy and the same requests, each warmed (a first pass over
    the whole sample) and batched, timed on their second pass beside ``AccessIndex.check`` and
    ``TrustOffice.check`` (the service in the way; three interleaved rounds, the median).

    Raises:
        SystemExit: an anchor disagrees with ``AccessIndex.check`` on any request.
    """
    ours = [bool(index.check(a, p, s)) for a, p, s in sample]
    office_check = the_service(store, sample, ours)
    bare: list[float] = []
    served: list[float] = []
    many: list[float] = []
    kept: list[float] = []
    check = index.check
    for _ in range(3):  # interleaved rounds, the median of each (the machine is shared)
        bare.append(_rate(check, sample))
        served.append(_rate(office_check, sample))
        t0 = time.process_time()
        index.check_many(sample)
        many.append(len(sample) / (time.process_time() - t0))
        t0 = time.process_time()
        [check(a, p, s) for a, p, s in sample]  # the loop check_many replaces
        kept.append(len(sample) / (time.process_time() - t0))
    ours_rate, service_rate = statistics.median(bare), statistics.median(served)
    many_rate, kept_rate = statistics.median(many), statistics.median(kept)
    print(f"\nanchors: {len(sample):,} requests ({sum(ours):,} allowed), the same for each engine")
    print(
        f"  AccessIndex.check (a loop, decisions dropped): {ours_rate:,.0f} /s; "
        f"a loop of check keeping the decisions: {kept_rate:,.0f} /s; "
        f"check_many (the decisions kept): {many_rate:,.0f} /s"
    )
    print(
        "  TrustOffice.check (the service: its live index, the store's access version read "
        f"at most every 0.5 s): {service_rate:,.0f} /s ({ours_rate / service_rate:.2f}x "
        "the bare check's time)"
    )
    figures = {
        "anchor_check_per_s": ours_rate,
        "anchor_check_many_per_s": many_rate,
        "anchor_check_loop_kept_per_s": kept_rate,
        "service_check_per_s": service_rate,
    }
    engines: list[tuple[str, str, Callable[[], Callable[[list[Request]], list[bool]]]]] = [
        (
            "casbin",
            "pycasbin FastEnforcer, batch_enforce",
            lambda: casbin_batch(casbin_fast_enforcer(store)),
        ),
        ("cedar", "Cedar (cedarpy is_authorized_batch)", lambda: cedar_batch(store)),
    ]
    for key, name, make in engines:
        t0 = time.process_time()
        decide = make()
        load = time.process_time() - t0
        t0 = time.process_time()
        decide(sample)  # warm-up: every cache the engine keeps is filled
        first = time.process_time() - t0
        t0 = time.process_time()
        theirs = decide(sample)
        their_rate = len(sample) / (time.process_time() - t0)
        wrong = [r for r, mine, d in zip(sample, ours, theirs, strict=True) if mine != d]
        if wrong:
            raise SystemExit(
                f"{name} disagrees with AccessIndex.check on {len(wrong)} of {len(sample)} "
                f"requests, e.g. {wrong[:3]}"
            )
        print(
            f"  {name}: load {load:.2f} s, first pass {len(sample) / first:,.0f} /s, "
            f"warm {their_rate:,.0f} /s; 0 disagreements; AccessIndex.check is "
            f"{ours_rate / their_rate:,.1f}x faster, through the service "
            f"{service_rate / their_rate:,.1f}x"
        )
        figures[f"{key}_per_s"] = their_rate
        figures[f"{key}_ratio"] = ours_rate / their_rate
        figures[f"{key}_service_ratio"] = service_rate / their_rate
    return figures


if __name__ == "__main__":
    main()
