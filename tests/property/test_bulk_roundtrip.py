"""Property: exporting a trust's users and re-importing the file unchanged is an empty change set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.bulk import (
    AccountEdit,
    RoleEdit,
    RoleScope,
    export_users,
    import_users,
    neutralise,
    restore,
)
from schoolsync.ports import UnitOfWork
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

AT = datetime(2026, 9, 1, tzinfo=UTC)
SCHOOL_ROLES = ("Admin", "Staff", "School Leader Coaching")
TRUST_ROLES = ("Trust Admin", "Trust Report Viewer")


class OpenChecks:
    """Knows the role names; allows every change (the property is about the file, not the rules)."""

    def role_names(self) -> Sequence[str]:
        return [*TRUST_ROLES, *SCHOOL_ROLES]

    def role_scope(self, role: str) -> RoleScope | None:
        if role in TRUST_ROLES:
            return RoleScope.TRUST
        return RoleScope.SCHOOL if role in SCHOOL_ROLES else None

    def check_role(
        self, uow: UnitOfWork, edit: RoleEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        return None

    def check_account(
        self, uow: UnitOfWork, edit: AccountEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        return None


# Text a spreadsheet can hold (no control characters, which XLSX cannot store), with a good
# chance of formula-like and apostrophe prefixes.
plain_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x00"), max_size=20
)
risky_text = st.one_of(
    plain_text,
    st.builds(
        lambda p, t: p + t, st.sampled_from(["=", "+", "-", "@", "'", "''", "'="]), plain_text
    ),
)
emails = st.builds(
    lambda prefix, local, domain: f"{prefix}{local}@{domain}.example",
    st.sampled_from(["", "=", "+", "-", "@x", "'"]),
    st.text("abcdefghijKLM0123._-", min_size=1, max_size=8),
    st.sampled_from(["oak", "river", "Hill"]),
)


@st.composite
def trusts(draw: st.DrawFn) -> MemoryStore:
    store = MemoryStore()
    school_names = draw(
        st.lists(risky_text.filter(lambda s: s.strip() != ""), min_size=1, max_size=3)
    )
    mail = draw(st.lists(emails, max_size=8, unique_by=lambda e: e.lower()))
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t", name="T"))
        for i, name in enumerate(school_names):
            uow.schools.add(School(id=f"s{i}", name=name))
            uow.memberships.add(
                Membership(
                    id=f"m{i}", trust_id="t", school_id=f"s{i}", status=MembershipStatus.ACCEPTED
                )
            )
        n = 0
        for j, email in enumerate(mail):
            uow.accounts.add(
                Account(
                    id=f"a{j}",
                    trust_id="t",
                    email=email,
                    name=draw(risky_text),
                    status=draw(st.sampled_from(AccountStatus)),
                    edited_after_sync=draw(st.booleans()),
                )
            )
            places: list[tuple[str | None, tuple[str, ...]]] = [
                (f"s{i}", SCHOOL_ROLES) for i in range(len(school_names))
            ]
            places.append((None, TRUST_ROLES))
            for school_id, names in places:
                for role in draw(st.sets(st.sampled_from(names), max_size=2)):
                    n += 1
                    uow.assignments.add(
                        RoleAssignment(
                            id=f"r{n}",
                            account_id=f"a{j}",
                            trust_id="t",
                            role=role,
                            school_id=school_id,
                        )
                    )
        uow.commit()
    return store


@given(store=trusts(), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_export_then_import_unchanged_is_empty(store: MemoryStore, suffix: str) -> None:
    """Whatever the names, emails, roles and statuses, an untouched export imports as no change."""
    with TemporaryDirectory() as tmp:
        path = export_users(store, "t", Path(tmp) / f"users{suffix}")
        change_set = import_users(store, "t", path, checks=OpenChecks(), at=AT)
    assert change_set.is_empty, change_set.to_rows()


@given(value=st.text())
def test_neutralise_is_reversible_and_safe(value: str) -> None:
    """restore(neutralise(v)) == v, and a neutralised value never starts with = + - @ tab or CR."""
    safe = neutralise(value)
    assert value == restore(safe)
    assert not safe[:1] or safe[0] not in "=+-@\t\r"


@st.composite
def edits(draw: st.DrawFn, header: tuple[str, ...], rows: list[list[str]]) -> list[list[str]]:
    """Random edits of an exported file: role cells rewritten, Inactive flipped, rows added."""
    role_columns = [
        i for i, h in enumerate(header) if h not in ("Email", "Name", "Edited", "Inactive")
    ]
    edited = [list(r) for r in rows]
    for row in edited:
        for i in role_columns:
            if draw(st.integers(0, 3)) == 0:
                pool = TRUST_ROLES if header[i] == "Trust Roles" else SCHOOL_ROLES
                row[i] = "; ".join(draw(st.sets(st.sampled_from(pool), max_size=2)))
        if draw(st.integers(0, 4)) == 0:
            row[-1] = draw(st.sampled_from(["true", "false", ""]))
    for n in range(draw(st.integers(0, 3))):
        new = [f"new{n}@added.example", f"New {n}", ""] + [""] * (len(header) - 3)
        for i in role_columns:
            pool = TRUST_ROLES if header[i] == "Trust Roles" else SCHOOL_ROLES
            new[i] = "; ".join(draw(st.sets(st.sampled_from(pool), max_size=2)))
        edited.append(new)
    return edited


@given(store=trusts(), data=st.data())
def test_applying_an_import_makes_the_file_true(store: MemoryStore, data: st.DataObject) -> None:
    """After applying an edited file, importing the same file again is an empty change set."""
    from schoolsync.bulk import apply_change_set, read_sheet, write_sheet

    with TemporaryDirectory() as tmp:
        sheet = read_sheet(export_users(store, "t", Path(tmp) / "users.csv"))
        rows = data.draw(edits(sheet.header, [list(r) for r in sheet.rows]))
        path = write_sheet(Path(tmp) / "edited.csv", sheet.header, rows)
        change_set = import_users(store, "t", path, checks=OpenChecks(), at=AT)
        assert change_set.ok, change_set.problem_rows()
        apply_change_set(store, change_set, checks=OpenChecks(), at=AT)
        again = import_users(store, "t", path, checks=OpenChecks(), at=AT)
    assert again.is_empty, again.to_rows()
