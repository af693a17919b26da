"""Locks at the right scope, proved with real processes on the SQL stores (and threads on the
memory store).

Each race starts its contenders at a barrier so that they truly overlap: 8 processes redeeming
one single-use trust-admin link, 8 nominating different accounts under a trust-admin cap of 1,
bulk change sets giving a role capped at 2 per trust (trust-wide, or at different schools).
Every test runs on an SQLite file and on PostgreSQL (SCHOOLSYNC_TEST_POSTGRES_DSN; a fresh
schema per test in a throwaway database).
"""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.access.presets import BOOST_INSIGHTS_TOML
from schoolsync.bulk import CatalogueChecks, apply_change_set, edit_selection
from schoolsync.clock import FixedClock
from schoolsync.errors import (
    CapExceededError,
    ConcurrentWriteError,
    SchoolsyncError,
)
from schoolsync.ports import Store
from schoolsync.records.accounts import Account, AccountStatus
from schoolsync.records.audit import AuditAction
from schoolsync.records.organisations import Membership, MembershipStatus, School
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import TrustAdminTokenError, TrustKind

CONTENDERS = 8
CAP = 2  # Boost Insights: two Group Admins per trust
_WAIT = 120  # seconds; only a hung contender ever waits this long

#: Boost Insights with its Teacher role also capped at two per trust: a school role whose cap
#: spans the trust, so writers at different schools contend for the same places.
TRUST_CAPPED_TEACHER_TOML = BOOST_INSIGHTS_TOML.replace(
    'permissions = ["reports.school.view"]\n',
    'permissions = ["reports.school.view"]\nmax_per_trust = 2\n',
)

#: Where a contender finds the store: ("sqlite", path) or ("postgres", dsn, schema).
Where = tuple[str, ...]


def _catalogue(toml: str | None = None) -> RoleCatalogue:
    return RoleCatalogue.from_toml(toml or BOOST_INSIGHTS_TOML)


def _open(where: Where) -> Store:
    if where[0] == "sqlite":
        return SqliteStore(where[1], timeout=60)
    from schoolsync.storage.postgres import PostgresStore

    return PostgresStore(where[1], schema=where[2], lock_timeout=60)


def _lifecycle(store: Store, notifier: RecordingNotifier | None = None) -> TrustLifecycle:
    return TrustLifecycle(
        store,
        FixedClock(),
        notifier or RecordingNotifier(),
        catalogue=_catalogue(),
        trust_admin_role="Group Admin",
    )


def _outcome(exc: BaseException) -> tuple[str, str]:
    return (type(exc).__name__, str(exc))


# --- the contenders (module level: spawned processes import them) -----------------------------


def _accept(store: Store, trust_id: str, token: str, start: Any) -> tuple[str, str]:
    """Wait at *start*, then redeem *token*: ("accepted", account) or (error, message)."""
    life = _lifecycle(store)
    start.wait(_WAIT)
    try:
        return ("accepted", life.accept_trust_admin(trust_id, token))
    except SchoolsyncError as exc:
        return _outcome(exc)


def _redeem(where: Where, trust_id: str, token: str, start: Any, results: Any) -> None:
    with _open(where) as store:
        results.put(_accept(store, trust_id, token, start))


def _nominate(where: Where, trust_id: str, account_id: str, start: Any, results: Any) -> None:
    with _open(where) as store:
        notifier = RecordingNotifier()
        life = _lifecycle(store, notifier)
        start.wait(_WAIT)
        try:
            life.nominate_trust_admin(trust_id, account_id)
            results.put(("nominated", account_id, len(notifier.messages)))
        except SchoolsyncError as exc:
            results.put((*_outcome(exc), len(notifier.messages)))


def _bulk(
    where: Where,
    trust_id: str,
    account_id: str,
    role: str,
    school_id: str | None,
    toml: str,
    start: Any,
    results: Any,
) -> None:
    with _open(where) as store:
        checks = CatalogueChecks(_catalogue(toml))
        at = FixedClock().now()
        # The preview is taken before the others apply (as a person previews, then applies).
        change_set = edit_selection(
            store, trust_id, [account_id], checks=checks, at=at, add=[(role, school_id)]
        )
        assert not change_set.problems, change_set.problems
        start.wait(_WAIT)
        try:
            apply_change_set(store, change_set, checks=checks, at=at)
            results.put(("applied", account_id))
        except SchoolsyncError as exc:
            results.put(_outcome(exc))


#: Contenders fork from a server process that has already imported these (a fresh interpreter
#: each, as with "spawn", without paying for the imports eight times).
_PRELOAD = [
    "schoolsync.access.lifecycle",
    "schoolsync.bulk",
    "schoolsync.storage.sqlite",
    "schoolsync.storage.postgres",
    "schoolsync.testing.notifier",
    "psycopg",
    __name__,
]


def _race(target: Callable[..., None], argsets: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Run *target* once per argument tuple, each in its own process, released together from
    a barrier; returns what each reported."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    start = ctx.Barrier(len(argsets))
    results = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*args, start, results)) for args in argsets]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=_WAIT) for _ in processes]
    for process in processes:
        process.join(_WAIT)
        assert process.exitcode == 0
    return outcomes


# --- the stores ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "sqlite":
        path = str(tmp_path / "locks.sqlite3")
        SqliteStore(path).close()
        return ("sqlite", path)
    dsn = request.getfixturevalue("postgres_dsn")
    return ("postgres", dsn, f"locks_{secrets.token_hex(4)}")


def _group(store: Store, accounts: int, *, max_trust_admins: int) -> tuple[str, list[str]]:
    """A Boost group with *accounts* active accounts and one accepted member school per
    contender."""
    trust = _lifecycle(store).create_trust(
        name="Group", kind=TrustKind.SCHOOL_GROUP, max_trust_admins=max_trust_admins
    )
    ids = [f"acct-{n}" for n in range(accounts)]
    active = AccountStatus.ACTIVE
    with store.unit_of_work() as uow:
        uow.accounts.put_many(
            Account(id=i, trust_id=trust.id, email=f"{i}@x.org", name=i, status=active) for i in ids
        )
        for n in range(CONTENDERS):
            uow.schools.add(School(id=f"school-{n}", name=f"School {n}"))
            uow.memberships.add(
                Membership(
                    id=f"m-{n}",
                    trust_id=trust.id,
                    school_id=f"school-{n}",
                    status=MembershipStatus.ACCEPTED,
                )
            )
        uow.commit()
    return trust.id, ids


def _holders(store: Store, role: str) -> list[str]:
    with store.unit_of_work() as uow:
        return sorted(a.account_id for a in uow.assignments.list() if a.role == role)


# --- the races ----------------------------------------------------------------------------------


def test_a_single_use_link_is_accepted_once_across_processes(where: Where) -> None:
    """8 processes redeem one trust-admin link at once: exactly one acceptance; the others
    are told the link was already used; one role assignment and one acceptance are stored."""
    with _open(where) as store:
        trust_id, (nominee, *_) = _group(store, 1, max_trust_admins=2)
        token = _lifecycle(store).nominate_trust_admin(trust_id, nominee)

        outcomes = _race(_redeem, [(where, trust_id, token)] * CONTENDERS)

        assert [("accepted", nominee)] == [o for o in outcomes if o[0] == "accepted"], outcomes
        refusals = [o for o in outcomes if o[0] != "accepted"]
        assert all(
            o[0] == TrustAdminTokenError.__name__ and "already used" in o[1] for o in refusals
        ), refusals
        assert [nominee] == _holders(store, "Group Admin")
        with store.unit_of_work() as uow:
            accepted = [
                e for e in uow.audit.events() if e.action is AuditAction.TRUST_ADMIN_ACCEPTED
            ]
            assigned = [e for e in uow.audit.events() if e.action is AuditAction.ROLE_ASSIGNED]
            assert (nominee,) == uow.trusts.require(trust_id).admin_account_ids()
        assert 1 == len(accepted) == len(assigned)


def test_nominations_under_a_cap_of_one_let_exactly_one_through(where: Where) -> None:
    """8 processes nominate 8 accounts to a trust with one admin place: exactly one reports
    success and sends one link; the others get CapExceededError and send nothing."""
    with _open(where) as store:
        trust_id, accounts = _group(store, CONTENDERS, max_trust_admins=1)

        outcomes = _race(_nominate, [(where, trust_id, a) for a in accounts])

        won = [o for o in outcomes if o[0] == "nominated"]
        lost = [o for o in outcomes if o[0] != "nominated"]
        assert 1 == len(won), outcomes
        assert 1 == won[0][2], "the nomination sent exactly one link"
        assert all(o[0] == CapExceededError.__name__ and o[2] == 0 for o in lost), lost
        with store.unit_of_work() as uow:
            nominations = uow.trusts.require(trust_id).admin_nominations
            audited = [
                e for e in uow.audit.events() if e.action is AuditAction.TRUST_ADMIN_NOMINATED
            ]
        assert [won[0][1]] == [n.account_id for n in nominations]
        assert 1 == len(audited)


@pytest.mark.parametrize(
    ("role", "toml", "at_schools"),
    [
        ("Group Admin", BOOST_INSIGHTS_TOML, False),  # a trust role capped per trust
        ("Teacher", TRUST_CAPPED_TEACHER_TOML, True),  # a school role capped per trust
    ],
    ids=["trust-role", "school-role-at-different-schools"],
)
def test_bulk_applies_never_exceed_a_per_trust_cap(
    where: Where, role: str, toml: str, at_schools: bool
) -> None:
    """8 processes each apply a change set giving *role* (capped at two per trust) to another
    account, each previewed before any applied: exactly two apply, the others are refused with
    the cap, and the store never holds more than two."""
    with _open(where) as store:
        trust_id, accounts = _group(store, CONTENDERS, max_trust_admins=2)
        argsets = [
            (where, trust_id, a, role, f"school-{n}" if at_schools else None, toml)
            for n, a in enumerate(accounts)
        ]

        outcomes = _race(_bulk, argsets)

        applied = sorted(o[1] for o in outcomes if o[0] == "applied")
        refused = [o for o in outcomes if o[0] != "applied"]
        assert CAP == len(applied), outcomes
        assert all(o[0] == "BulkImportError" and "allows at most 2" in o[1] for o in refused), (
            refused
        )
        assert applied == _holders(store, role)


# --- threads on the memory store ----------------------------------------------------------------


def test_the_memory_store_accepts_a_link_once_across_threads() -> None:
    """The memory store's claim (safe for threads): 8 threads redeeming one link give one
    acceptance; the others are refused (lock held) or told it was already used."""
    store = MemoryStore()
    trust_id, (nominee, *_) = _group(store, 1, max_trust_admins=2)
    token = _lifecycle(store).nominate_trust_admin(trust_id, nominee)
    start = threading.Barrier(CONTENDERS)
    outcomes: list[tuple[str, str]] = []

    threads = [
        threading.Thread(target=lambda: outcomes.append(_accept(store, trust_id, token, start)))
        for _ in range(CONTENDERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_WAIT)

    assert CONTENDERS == len(outcomes)
    assert [("accepted", nominee)] == [o for o in outcomes if o[0] == "accepted"], outcomes
    refusals = [o for o in outcomes if o[0] != "accepted"]
    assert all(
        o[0] == ConcurrentWriteError.__name__
        or (o[0] == TrustAdminTokenError.__name__ and "already used" in o[1])
        for o in refusals
    ), refusals
    assert [nominee] == _holders(store, "Group Admin")


# --- a writer that waited too long ----------------------------------------------------------


def _impatient(where: Where) -> Store:
    if where[0] == "sqlite":
        return SqliteStore(where[1], timeout=0.2)
    from schoolsync.storage.postgres import PostgresStore

    return PostgresStore(where[1], schema=where[2], lock_timeout=0.2)


def test_a_nomination_that_waited_too_long_changes_and_sends_nothing(where: Where) -> None:
    """While another writer holds the trust, a nomination waits (here 0.2 s), then gives
    ConcurrentWriteError: nothing stored, no link sent; once the lock is free it goes through."""
    with _open(where) as store, _impatient(where) as impatient:
        trust_id, (nominee, *_) = _group(store, 1, max_trust_admins=1)
        notifier = RecordingNotifier()
        life = _lifecycle(impatient, notifier)
        with store.unit_of_work() as holder:
            holder.lock_trust(trust_id)
            with pytest.raises(ConcurrentWriteError):
                life.nominate_trust_admin(trust_id, nominee)
        assert [] == notifier.messages
        with store.unit_of_work() as uow:
            assert () == uow.trusts.require(trust_id).admin_nominations
        life.nominate_trust_admin(trust_id, nominee)
        assert 1 == len(notifier.messages)
