"""Bulk user round-trips: export, re-import unchanged, preview and apply an edited file.

Shape: a Progress Teaching trust of 100 schools and 20,000 accounts with 60,000 role
assignments (``--quick``: 10 schools, 2,000 accounts). The edited file changes 1 % of the rows
(a role added at their school) and adds 100 new users. Stores: ``MemoryStore`` and
``SqliteStore``; files: CSV and XLSX.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from schoolsync.access import Account, AccountStatus, RoleAssignment
from schoolsync.access.presets import progress_teaching
from schoolsync.bulk import (
    CatalogueChecks,
    apply_change_set,
    export_users,
    import_users,
    read_sheet,
    write_sheet,
)
from schoolsync.ports import Store
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T = TypeVar("T")
SCHOOL_ROLES = ("Staff", "School Leader Appraisal", "School Leader Coaching")


def timed(label: str, fn: Callable[[], T]) -> T:
    """Run *fn* once and print how long it took."""
    start = time.perf_counter()
    result = fn()
    print(f"  {label:<46} {time.perf_counter() - start:8.3f} s")
    return result


def fill(store: Store, schools: int, accounts: int) -> None:
    """A trust with *schools* member schools and *accounts* accounts, 3 assignments each."""
    rng = random.Random(9)
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t", name="Big Trust"))
        uow.schools.put_many(School(id=f"s{i:03d}", name=f"School {i:03d}") for i in range(schools))
        uow.memberships.put_many(
            Membership(
                id=f"m{i}", trust_id="t", school_id=f"s{i:03d}", status=MembershipStatus.ACCEPTED
            )
            for i in range(schools)
        )
        uow.accounts.put_many(
            Account(
                id=f"a{n:06d}",
                trust_id="t",
                email=f"user{n}@school.example",
                name=f"User {n}",
                status=AccountStatus.ACTIVE,
            )
            for n in range(accounts)
        )
        rows = []
        for n in range(accounts):
            school = f"s{n % schools:03d}"
            rows.append(
                RoleAssignment(
                    id=f"r{n}a",
                    account_id=f"a{n:06d}",
                    trust_id="t",
                    role="Staff",
                    school_id=school,
                )
            )
            rows.append(
                RoleAssignment(
                    id=f"r{n}b",
                    account_id=f"a{n:06d}",
                    trust_id="t",
                    role=rng.choice(SCHOOL_ROLES[1:]),
                    school_id=school,
                )
            )
            other = f"s{(n + 1) % schools:03d}"
            rows.append(
                RoleAssignment(
                    id=f"r{n}c", account_id=f"a{n:06d}", trust_id="t", role="Staff", school_id=other
                )
            )
        uow.assignments.put_many(rows)
        uow.commit()


def run(store: Store, directory: Path, suffix: str, accounts: int) -> None:
    checks = CatalogueChecks(progress_teaching())
    path = timed(
        f"export {accounts:,} users ({suffix})",
        lambda: export_users(store, "t", directory / f"users{suffix}"),
    )
    unchanged = timed(
        "re-import unchanged (read, plan, check)",
        lambda: import_users(store, "t", path, checks=checks, at=NOW),
    )
    assert unchanged.is_empty
    sheet = read_sheet(path)
    rows = [list(r) for r in sheet.rows]
    school_columns = range(3, len(sheet.header) - 2)
    for row in rows[::100]:
        for column in school_columns:
            if row[column]:
                row[column] += "; School Leader Feedback"
                break
    for n in range(100):
        new = [f"new{n}@school.example", f"New {n}", ""] + [""] * (len(sheet.header) - 3)
        new[3] = "Staff"
        rows.append(new)
    edited = write_sheet(directory / f"edited{suffix}", sheet.header, rows)
    change_set = timed(
        "preview an edit (1 % changed, 100 new)",
        lambda: import_users(store, "t", edited, checks=checks, at=NOW),
    )
    assert change_set.ok, change_set.problems[:3]
    result = timed(
        f"apply {len(change_set.changes)} changes (one unit of work)",
        lambda: apply_change_set(store, change_set, checks=checks, at=NOW),
    )
    assert result.changes_applied == len(change_set.changes)


def main(argv: list[str] | None = None) -> None:
    """Print export, import, preview and apply times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 schools, 2,000 accounts")
    args = parser.parse_args(argv)
    schools, accounts = (10, 2_000) if args.quick else (100, 20_000)
    print(f"bulk: {schools} schools, {accounts:,} accounts, {3 * accounts:,} assignments")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name, make in (
            ("MemoryStore", MemoryStore),
            ("SqliteStore", lambda: SqliteStore(directory / "bench.sqlite")),
        ):
            for suffix in (".csv", ".xlsx"):
                print(f"{name}, {suffix}:")
                (directory / "bench.sqlite").unlink(missing_ok=True)
                store: Store = make()
                fill(store, schools, accounts)
                run(store, directory, suffix, accounts)
                store.close()


if __name__ == "__main__":
    main()
