"""Properties of bulk transfers of "exactly one" roles, with the real catalogue checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.access import Account, AccountStatus, Role, RoleAssignment, RoleCatalogue, RoleScope
from schoolsync.bulk import (
    CatalogueChecks,
    ChangeKind,
    apply_change_set,
    export_users,
    import_users,
    read_sheet,
    write_sheet,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

AT = datetime(2026, 9, 1, tzinfo=UTC)
COORDINATOR = "Coordinator"
CHECKS = CatalogueChecks(
    RoleCatalogue.build(
        ["users.manage", "reports.school.view"],
        [
            Role(name="Trust Admin", scope=RoleScope.TRUST, permissions={"users.manage"}),
            Role(
                name=COORDINATOR,
                scope=RoleScope.SCHOOL,
                permissions={"users.manage"},
                exactly_one=True,
            ),
            Role(name="Staff", scope=RoleScope.SCHOOL, permissions={"reports.school.view"}),
        ],
        grant_permission=None,
    )
)


@st.composite
def trusts(draw: st.DrawFn) -> tuple[MemoryStore, int, int]:
    """A trust of 1-3 schools and 2-5 accounts; each school has one coordinator, some Staff."""
    schools = draw(st.integers(1, 3))
    accounts = draw(st.integers(2, 5))
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t", name="T"))
        for i in range(schools):
            uow.schools.add(School(id=f"s{i}", name=f"School {i}"))
            uow.memberships.add(
                Membership(
                    id=f"m{i}", trust_id="t", school_id=f"s{i}", status=MembershipStatus.ACCEPTED
                )
            )
        for j in range(accounts):
            uow.accounts.add(
                Account(
                    id=f"a{j}",
                    trust_id="t",
                    email=f"a{j}@x.example",
                    name=f"A {j}",
                    status=AccountStatus.ACTIVE,
                )
            )
        n = 0
        for i in range(schools):
            holder = draw(st.integers(0, accounts - 1))
            staff = draw(st.sets(st.integers(0, accounts - 1)))
            for j, role in [(holder, COORDINATOR), *((k, "Staff") for k in sorted(staff))]:
                n += 1
                uow.assignments.add(
                    RoleAssignment(
                        id=f"r{n}", account_id=f"a{j}", trust_id="t", role=role, school_id=f"s{i}"
                    )
                )
        uow.commit()
    return store, schools, accounts


def coordinators(store: MemoryStore, school_id: str) -> list[str]:
    with store.unit_of_work() as uow:
        return [
            a.account_id
            for a in uow.assignments.list()
            if a.role == COORDINATOR and a.school_id == school_id
        ]


@given(trust=trusts(), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_unchanged_round_trip_is_empty(trust: tuple[MemoryStore, int, int], suffix: str) -> None:
    """With transfer-aware checks too, an untouched export imports as no change at all."""
    store, _, _ = trust
    with TemporaryDirectory() as tmp:
        path = export_users(store, "t", Path(tmp) / f"users{suffix}")
        assert import_users(store, "t", path, checks=CHECKS, at=AT).is_empty


@given(trust=trusts(), data=st.data())
def test_moving_coordinators_is_one_transfer_per_school(
    trust: tuple[MemoryStore, int, int], data: st.DataObject
) -> None:
    """Moving each school's coordinator to any account gives one transfer per school that
    changed and no problems; applying leaves exactly the chosen holder, and the file then
    imports empty."""
    store, schools, accounts = trust
    chosen = {f"s{i}": f"a{data.draw(st.integers(0, accounts - 1))}" for i in range(schools)}
    with TemporaryDirectory() as tmp:
        sheet = read_sheet(export_users(store, "t", Path(tmp) / "users.csv"))
        rows = [list(r) for r in sheet.rows]
        for i in range(schools):
            column = sheet.header.index(f"School {i}")
            for row in rows:
                roles = [r for r in row[column].split("; ") if r and r != COORDINATOR]
                if row[0] == f"{chosen[f's{i}']}@x.example":
                    roles.append(COORDINATOR)
                row[column] = "; ".join(roles)
        path = write_sheet(Path(tmp) / "edited.csv", sheet.header, rows)
        moved = {s for s, a in chosen.items() if coordinators(store, s) != [a]}
        change_set = import_users(store, "t", path, checks=CHECKS, at=AT)
        assert change_set.ok, change_set.problem_rows()
        assert {c.school_id for c in change_set.transfers} == moved
        assert {c.kind for c in change_set.changes} <= {ChangeKind.TRANSFER}
        apply_change_set(store, change_set, checks=CHECKS, at=AT)
        for school_id, account_id in chosen.items():
            assert coordinators(store, school_id) == [account_id]
        assert import_users(store, "t", path, checks=CHECKS, at=AT).is_empty
