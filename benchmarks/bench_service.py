"""Checks through the trust office against a bare ``AccessIndex.check``, while another process
writes a grant every second.

Shape: an SQLite store holding a trust of 20 schools and 4,000 accounts (``--quick``: 5 schools,
600 accounts), each school an accepted member with an active Access Coordinator. A second
process opens its own ``TrustOffice`` on the same file and, every second, grants or revokes a
trust account's access at a school. This process answers the same 20,000 random requests,
round after round for 10 s (``--quick``: 3 s), through ``office.check`` (the index kept
current: a look at the store's access version every ``max_staleness`` = 0.5 s, catching up
incrementally) and through a bare ``AccessIndex.check`` built once (which never sees the
grants). Rounds alternate, so both meet the same machine load. Reports checks per second of
each, the ratio, and how the office kept up (catch-ups, rebuilds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from schoolsync.access.index import AccessIndex
from schoolsync.access.presets import boost_insights
from schoolsync.clock import FixedClock
from schoolsync.identifiers import Urn
from schoolsync.records import (
    Account,
    AccountStatus,
    Membership,
    MembershipStatus,
    RoleAssignment,
    School,
    Trust,
)
from schoolsync.service import TrustOffice
from schoolsync.storage.sqlite import SqliteStore

NOW = datetime(2026, 9, 1, 9, tzinfo=UTC)
TRUST = "trust"
PERMISSIONS = ("users.manage", "reports.school.view", "users.invite", "grants.manage")


def _urn(n: int) -> Urn:
    return Urn.parse(str(100000 + n))


def make_store(path: Path, schools: int, accounts: int) -> None:
    """The benchmark trust, written straight to the store (set-up is not what is measured)."""
    rng = random.Random(1)
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        uow.trusts.add(Trust(id=TRUST, name="Benchmark Trust", max_trust_admins=50))
        for s in range(schools):
            sid = f"s{s}"
            uow.schools.add(School(id=sid, name=f"School {s}", urn=_urn(s)))
            uow.memberships.add(
                Membership(
                    id=f"m{s}",
                    trust_id=TRUST,
                    school_id=sid,
                    status=MembershipStatus.ACCEPTED,
                    invited_at=NOW,
                    responded_at=NOW,
                )
            )
        for a in range(accounts):
            uow.accounts.add(
                Account(
                    id=f"a{a}",
                    trust_id=TRUST,
                    email=f"a{a}@bench.example",
                    name=f"User {a}",
                    status=AccountStatus.ACTIVE,
                    created_at=NOW,
                )
            )
            if a < schools:  # each school's Access Coordinator
                role, school = "Access Coordinator", f"s{a}"
            elif a < schools + 40:
                role, school = "Group Admin", None
            else:
                role, school = "Teacher", f"s{rng.randrange(schools)}"
            uow.assignments.add(
                RoleAssignment(
                    id=f"r{a}",
                    account_id=f"a{a}",
                    trust_id=TRUST,
                    role=role,
                    school_id=school,
                    assigned_at=NOW,
                )
            )
        uow.commit()


def writer(path: str, schools: int) -> None:
    """Every second, grant or revoke a trust account's access at a school (until killed)."""
    rng = random.Random(2)
    with SqliteStore(path) as store:
        office = TrustOffice(store, catalogue=boost_insights(), clock=FixedClock(NOW))
        live: dict[str, str] = {}
        print("ready", flush=True)
        while True:
            s = rng.randrange(schools)
            school = f"s{s}"
            if school in live:
                office.trusts.revoke_grant(live.pop(school), actor_id=f"a{s}")
            else:
                admin = f"a{schools + rng.randrange(40)}"
                grant = office.trusts.grant(
                    TRUST, school, ["users.manage"], actor_id=f"a{s}", account_ids=[admin]
                )
                live[school] = grant.id
            time.sleep(1.0)


def main(argv: list[str]) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    schools, accounts, seconds = (5, 600, 3.0) if args.quick else (20, 4000, 10.0)
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        make_store(path, schools, accounts)
        catalogue = boost_insights()
        requests = [
            (
                f"a{rng.randrange(accounts)}",
                rng.choice(PERMISSIONS),
                f"s{rng.randrange(schools)}",
            )
            for _ in range(20_000)
        ]
        process = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(path), str(schools)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        with SqliteStore(path) as store:
            office = TrustOffice(store, catalogue=catalogue, clock=FixedClock(NOW))
            bare = AccessIndex.from_store(catalogue, store, now=NOW)
            start_version = office.live.version
            allowed = [
                (account, permission, school)
                for account in sorted(bare.records.accounts)
                for school, permission in sorted(bare.access_of(account), key=str)
                if school is not None
            ]
            granted = [rng.choice(allowed) for _ in range(20_000)]
            mixes = {"random (mostly denied)": requests, "allowed only": granted}
            rates: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in mixes}
            office_check, bare_check = office.check, bare.check
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                for mix, batch in mixes.items():
                    t0 = time.perf_counter()
                    for account, permission, school in batch:
                        bare_check(account, permission, school)
                    t1 = time.perf_counter()
                    for account, permission, school in batch:
                        office_check(account, permission, school)
                    t2 = time.perf_counter()
                    rates[mix][0].append(len(batch) / (t1 - t0))
                    rates[mix][1].append(len(batch) / (t2 - t1))
            process.terminate()
            process.wait(60)
            office.refresh()
            changes = office.live.version - start_version
            rounds = len(rates["allowed only"][0])
            print(
                f"{schools} schools, {accounts:,} accounts; {rounds} rounds of 2 x 20,000 "
                f"checks in {seconds:.0f} s; another process committed {changes} grant "
                "changes meanwhile"
            )
            for mix, (bare_rates, office_rates) in rates.items():
                bare_rate = statistics.median(bare_rates)
                office_rate = statistics.median(office_rates)
                print(
                    f"{mix}: bare AccessIndex.check {bare_rate:,.0f}/s, TrustOffice.check "
                    f"{office_rate:,.0f}/s (median rounds): {bare_rate / office_rate:.2f}x "
                    "(target: within 2x)"
                )
            print(
                f"the office caught up {office.live.catch_ups} time(s) and built its index "
                f"{office.live.builds} time(s)"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--writer"]:
        writer(sys.argv[2], int(sys.argv[3]))
    else:
        main(sys.argv[1:])
