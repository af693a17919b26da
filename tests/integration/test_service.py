"""The trust office: every workflow through one object, one unit of work per call, messages in
the outbox, and an access index that stays current by itself, in this process and across
processes, on the memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schoolsync.access.activation import ActivationOutcome
from schoolsync.access.presets import boost_insights
from schoolsync.clock import FixedClock
from schoolsync.errors import CapExceededError, NotFoundError
from schoolsync.identifiers import Urn
from schoolsync.ports import Store
from schoolsync.records import AccountStatus, School
from schoolsync.records.tables import ACTIVATION_CHALLENGES, OUTBOX
from schoolsync.service import SIGN_UP_MESSAGE, TrustOffice
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing import SeededTokens
from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database

START = datetime(2026, 9, 1, 9, tzinfo=UTC)
TRUST = "nlt"


def _office(store: Store, clock: FixedClock | None = None, **kw: Any) -> TrustOffice:
    return TrustOffice(
        store,
        catalogue=boost_insights(),
        clock=clock or FixedClock(START),
        tokens=SeededTokens(3),
        activation_work_factor=2,  # fast hashes in tests; production uses 2**14
        sign_up_link="https://app.example/sign-up?a={account_id}&t={token}",
        max_staleness=0,
        **kw,
    )


def _outbox(store: Store, kind: str) -> list[Any]:
    with store.unit_of_work() as uow:
        return [e.message for e in uow.repository(OUTBOX).list() if e.message.kind == kind]


def _signed_up(office: TrustOffice, name: str, roles: list[tuple[str, str | None]]) -> str:
    """A user created through the office and activated from their sign-up message."""
    user = office.create_user(
        actor_id=None,
        trust_id=TRUST,
        email=f"{name}@nlt.example",
        name=name.title(),
        roles=roles,
    )
    (message,) = [
        m for m in _outbox(office.store, SIGN_UP_MESSAGE) if m.data["account_id"] == user.account.id
    ]
    outcome = office.activate(
        account_id=user.account.id, link_token=str(message.data["token"]), code=user.code
    )
    assert outcome is ActivationOutcome.ACTIVATED
    return user.account.id


def _set_up(office: TrustOffice) -> tuple[str, str, str]:
    """Boost Insights: a group, Oak Primary with its Access Coordinator (given through the
    office: the exactly-one rule and the audit log), Grace accepted as Group Admin, Oak's
    invitation accepted. Returns (membership id, Access Coordinator, Group Admin)."""
    office.trusts.create_trust(name="Northern Lights Trust", trust_id=TRUST)
    membership = office.trusts.add_school(
        TRUST, School(id="oak", name="Oak Primary", urn=Urn.parse("100000"))
    )
    amir = _signed_up(office, "amir", [("Access Coordinator", "oak")])
    grace = _signed_up(office, "grace", [("Teacher", "oak")])
    token = office.trusts.nominate_trust_admin(TRUST, grace)
    assert office.trusts.accept_trust_admin(TRUST, token) == grace
    office.trusts.send_invitation(membership.id, actor_id=grace)
    office.trusts.accept_invitation(membership.id, actor_id=amir)
    return membership.id, amir, grace


def test_a_boost_group_is_a_few_calls_and_the_index_follows_every_commit(store: Store) -> None:
    office = _office(store)
    _, amir, grace = _set_up(office)
    assert office.check(grace, "trust.reports.compare").allowed
    assert not office.check(grace, "users.manage", "oak").allowed
    office.trusts.grant(TRUST, "oak", ["users.manage"], actor_id=amir, account_ids=[grace])
    assert office.check(grace, "users.manage", "oak").allowed
    # Every change reached the index incrementally: it was built once, when the office was made.
    assert office.live.builds == 1
    # The lifecycle's messages went to the outbox, with the change that asked for them.
    assert [m.to for m in _outbox(store, "trust_admin_nomination")] == ["grace@nlt.example"]
    assert [m.to for m in _outbox(store, "trust_invitation")] == ["amir@nlt.example"]
    # The index the office keeps equals one built from the store now.
    fresh = TrustOffice(store, catalogue=boost_insights(), clock=office.clock)
    for who in (amir, grace):
        assert office.index.access_of(who) == fresh.index.access_of(who)


def test_a_schools_access_coordinator_is_exactly_one_and_audited(store: Store) -> None:
    office = _office(store)
    _, amir, _ = _set_up(office)
    bea = office.create_user(actor_id=None, trust_id=TRUST, email="bea@nlt.example", name="Bea")
    with pytest.raises(CapExceededError):
        office.assign_role(
            actor_id=None, account_id=bea.account.id, role="Access Coordinator", school_id="oak"
        )
    (held,) = [a for a in office.index.assignments_of(amir) if a.role == "Access Coordinator"]
    moved = office.transfer_role(actor_id=None, assignment_id=held.id, to_account_id=bea.account.id)
    assert moved.account_id == bea.account.id
    with store.unit_of_work() as uow:
        actions = [e.action for e in uow.audit.events(account_id=bea.account.id)]
        holders = [
            a.account_id for a in uow.assignments.list(school_id="oak") if a.role == moved.role
        ]
    assert "assignment.added" in actions
    assert holders == [bea.account.id]


def test_creating_a_user_queues_the_sign_up_link_and_never_sends_the_code(store: Store) -> None:
    office = _office(store)
    office.trusts.create_trust(name="Northern Lights Trust", trust_id=TRUST)
    user = office.create_user(
        actor_id=None, trust_id=TRUST, email="cara@nlt.example", name="  Cara   Lee "
    )
    assert user.account.status is AccountStatus.PENDING
    assert user.account.name == "Cara Lee"
    assert user.code not in repr(user)
    (message,) = _outbox(store, SIGN_UP_MESSAGE)
    assert message.to == "cara@nlt.example"
    token = str(message.data["token"])
    assert message.data["link"] == f"https://app.example/sign-up?a={user.account.id}&t={token}"
    assert user.code not in repr(message)
    with store.unit_of_work() as uow:
        challenge = uow.repository(ACTIVATION_CHALLENGES).require(user.account.id)
        logged = repr(uow.audit.events())
    assert token not in repr(challenge)
    assert user.code not in repr(challenge)
    assert user.code not in logged
    assert token not in logged
    assert "cara@" not in logged
    assert not office.check(user.account.id, "reports.school.view", None).allowed


def test_activation_attempts_lock_the_account_not_the_challenge(store: Store) -> None:
    office = _office(store, max_attempts=3)
    office.trusts.create_trust(name="Northern Lights Trust", trust_id=TRUST)
    user = office.create_user(actor_id=None, trust_id=TRUST, email="dan@nlt.example", name="Dan")
    account = user.account.id
    (message,) = _outbox(store, SIGN_UP_MESSAGE)
    token = str(message.data["token"])
    assert office.activate(account_id=account, link_token=token, code="WRONG234") == "wrong_code"
    assert office.activate(account_id=account, link_token=token, code="WRONG345") == "wrong_code"
    # A new challenge does not reset the count: one wrong try left, then locked.
    again = office.resend_activation(actor_id=None, account_id=account)
    (new_token,) = {str(m.data["token"]) for m in _outbox(store, SIGN_UP_MESSAGE)} - {token}
    assert office.activate(account_id=account, link_token=new_token, code="WRONG456") == "locked"
    right = office.activate(account_id=account, link_token=new_token, code=again.code)
    assert right is ActivationOutcome.LOCKED
    # An administrator unlocks; the right code then works once.
    office.unlock_activation(actor_id=None, account_id=account)
    right = office.activate(account_id=account, link_token=new_token, code=again.code)
    assert right is ActivationOutcome.ACTIVATED
    assert office.activate(account_id=account, link_token=new_token, code=again.code) == (
        "already_used"
    )
    with store.unit_of_work() as uow:
        actions = [str(e.action) for e in uow.audit.events(account_id=account)]
    assert actions.count("activation.failed") == 3
    assert "activation.unlocked" in actions
    assert "account.activated" in actions
    with pytest.raises(NotFoundError):
        office.activate(account_id="nobody", link_token=token, code=again.code)


def test_a_refused_call_changes_nothing_and_queues_nothing(store: Store) -> None:
    office = _office(store)
    _set_up(office)
    with store.unit_of_work() as uow:
        accounts_before = uow.accounts.count()
        events_before = len(uow.audit.events())
    outbox_before = len(_outbox(store, SIGN_UP_MESSAGE))
    with pytest.raises(CapExceededError):
        office.create_user(
            actor_id=None,
            trust_id=TRUST,
            email="eve@nlt.example",
            name="Eve",
            roles=[("Teacher", "oak"), ("Access Coordinator", "oak")],
        )
    with store.unit_of_work() as uow:
        assert uow.accounts.count() == accounts_before
        assert len(uow.audit.events()) == events_before
    assert len(_outbox(store, SIGN_UP_MESSAGE)) == outbox_before
    assert not any(a.name == "Eve" for a in office.index.records.accounts.values())


# -- another process ---------------------------------------------------------------------------


def _open(kind: str, where: str) -> Store:
    if kind == "sqlite":
        return SqliteStore(where)
    from schoolsync.storage.postgres import PostgresStore

    return PostgresStore(where)


def _grant_elsewhere(kind: str, where: str, amir: str, grace: str) -> None:
    store = _open(kind, where)
    try:
        office = TrustOffice(store, catalogue=boost_insights(), clock=FixedClock(START))
        office.trusts.grant(TRUST, "oak", ["users.manage"], actor_id=amir, account_ids=[grace])
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "shared.sqlite3")
    else:
        with throwaway_postgres_database(postgres_admin_dsn()) as dsn:
            yield "postgres", dsn


def test_a_grant_another_process_commits_is_caught_up_without_a_rebuild(
    shared: tuple[str, str],
) -> None:
    kind, where = shared
    store = _open(kind, where)
    try:
        office = _office(store)
        _, amir, grace = _set_up(office)
        assert not office.check(grace, "users.manage", "oak").allowed
        process = multiprocessing.get_context("spawn").Process(
            target=_grant_elsewhere, args=(kind, where, amir, grace)
        )
        process.start()
        process.join(120)
        assert process.exitcode == 0
        version = office.live.version
        assert office.check(grace, "users.manage", "oak").allowed
        assert office.live.version == version + 1
        assert office.live.builds == 1  # caught up from the change log, not rebuilt
        assert office.live.catch_ups >= 1
    finally:
        store.close()


def test_with_staleness_other_processes_changes_wait_for_the_next_look(tmp_path: Path) -> None:
    """Within max_staleness the office answers from memory; then it looks and catches up."""
    ticks = [0.0]
    with SqliteStore(tmp_path / "s.sqlite3") as store:
        office = _office(store)
        _, amir, grace = _set_up(office)
        lazy = TrustOffice(
            store,
            catalogue=boost_insights(),
            clock=office.clock,
            max_staleness=1.0,
            monotonic=lambda: ticks[0],
        )
        assert not lazy.check(grace, "users.manage", "oak").allowed
        office.trusts.grant(TRUST, "oak", ["users.manage"], actor_id=amir, account_ids=[grace])
        assert not lazy.check(grace, "users.manage", "oak").allowed
        ticks[0] += 1.0
        assert lazy.check(grace, "users.manage", "oak").allowed
        assert lazy.live.builds == 1


def test_a_pruned_change_log_falls_back_to_one_rebuild(tmp_path: Path) -> None:
    from schoolsync.records.changes import change_id
    from schoolsync.records.tables import ACCESS_CHANGES

    with SqliteStore(tmp_path / "s.sqlite3") as store:
        office = _office(store)
        _, amir, grace = _set_up(office)
        other = _office(store)
        other.trusts.grant(TRUST, "oak", ["users.manage"], actor_id=amir, account_ids=[grace])
        with store.unit_of_work() as uow:
            uow.repository(ACCESS_CHANGES).remove(change_id(other.live.version))
            uow.commit()
        assert office.check(grace, "users.manage", "oak").allowed
        assert office.live.builds == 2


def test_the_clock_moves_the_live_index(store: Store) -> None:
    clock = FixedClock(START)
    office = _office(store, clock)
    _, amir, grace = _set_up(office)
    office.trusts.grant(
        TRUST,
        "oak",
        ["users.manage"],
        actor_id=amir,
        account_ids=[grace],
        expires_at=START + timedelta(days=1),
    )
    assert office.check(grace, "users.manage", "oak").allowed
    clock.advance(timedelta(days=2))
    assert not office.check(grace, "users.manage", "oak").allowed


# -- the MIS connection, stored -----------------------------------------------------------------


def _hodder(store: Store) -> tuple[TrustOffice, str]:
    """A Hodder centre with its Access Co-ordinator and an authorised Wonde connection."""
    from schoolsync.access.presets import hodder_admin_hub

    office = TrustOffice(
        store,
        catalogue=hodder_admin_hub(),
        clock=FixedClock(START),
        tokens=SeededTokens(5),
        activation_work_factor=2,
        max_staleness=0,
    )
    office.trusts.create_trust(name="Hodder centres", trust_id=TRUST)
    office.trusts.add_school(TRUST, School(id="oak", name="Oak Primary", urn=Urn.parse("100000")))
    coordinator = _signed_up(office, "ada", [("Access Co-ordinator", "oak")])
    office.set_up_mis_connection(
        actor_id=coordinator, school_id="oak", provider="wonde", required_scopes={"read"}
    )
    office.authorise_mis(actor_id=coordinator, school_id="oak", granted_scopes={"read"})
    return office, coordinator


def _deauthorise_elsewhere(where: str, coordinator: str) -> None:
    from schoolsync.access.presets import hodder_admin_hub

    with SqliteStore(where) as store:
        office = TrustOffice(store, catalogue=hodder_admin_hub(), clock=FixedClock(START))
        office.deauthorise_mis(actor_id=coordinator, school_id="oak")


def test_a_connection_deauthorised_elsewhere_stops_a_sync_holding_a_stale_copy(
    tmp_path: Path,
) -> None:
    """The issue's scenario: a sync prepared while the connection was authorised, the
    connection deauthorised by another process, then the sync applied: refused, nothing
    written, because the office reads the connection inside the sync's unit of work."""
    from schoolsync.errors import SyncError
    from schoolsync.sync.incremental import SnapshotSource
    from schoolsync.sync.sample import sample_snapshot

    where = str(tmp_path / "hodder.sqlite3")
    with SqliteStore(where) as store:
        office, coordinator = _hodder(store)
        stale = office.mis_connection("oak")
        assert stale is not None
        assert stale.is_active
        source = SnapshotSource(snapshot=sample_snapshot("oak", pupils=12, staff=3, seed=4))
        sync_plan = office.plan_sync("oak", office.review("oak", source))
        assert sync_plan.writes
        process = multiprocessing.get_context("spawn").Process(
            target=_deauthorise_elsewhere, args=(where, coordinator)
        )
        process.start()
        process.join(120)
        assert process.exitcode == 0
        with pytest.raises(SyncError, match="deauthorised"):
            office.apply_sync(sync_plan)
        with pytest.raises(SyncError, match="deauthorised"):
            office.nightly_sync("oak", source, since=None)
        with store.unit_of_work() as uow:
            assert uow.pupils.count(school_id="oak") == 0
            assert uow.backups.count() == 0
        # Authorised again, the same plan applies, its welcome messages in the outbox.
        office.authorise_mis(actor_id=coordinator, school_id="oak", granted_scopes={"read"})
        report = office.apply_sync(sync_plan)
        assert report.committed
        with store.unit_of_work() as uow:
            assert uow.pupils.count(school_id="oak") == 12


def test_only_the_access_co_ordinator_changes_the_connection(store: Store) -> None:
    from schoolsync.errors import AccessDeniedError

    office, _ = _hodder(store)
    teacher = _signed_up(office, "tom", [("Teacher", "oak")])
    with pytest.raises(AccessDeniedError):
        office.deauthorise_mis(actor_id=teacher, school_id="oak")
    connection = office.mis_connection("oak")
    assert connection is not None
    assert connection.is_active


class _DeauthorisedMidway:
    """A broker connector whose fetch is followed, before the sync commits, by the school
    deauthorising its connection elsewhere (the stale-copy race)."""

    def __init__(self, inner: Any, deauthorise: Any) -> None:
        self._inner = inner
        self._deauthorise = deauthorise
        self.provider = inner.provider

    def fetch(self, since: Any = None) -> Any:
        fetched = self._inner.fetch(since)
        self._deauthorise()
        return fetched

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_broker_sync_stops_when_the_connection_is_deauthorised_during_its_fetch(
    tmp_path: Path,
) -> None:
    """The nightly broker sync read an authorised connection, fetched, and meanwhile the school
    deauthorised: the office re-reads the connection in the sync's unit of work and refuses;
    nothing is written and the watermark stays."""
    from schoolsync.brokers import HttpSettings, RetryPolicy
    from schoolsync.sync.sample import sample_snapshot
    from schoolsync.testing.brokers import FakeWonde

    quick = HttpSettings(read_timeout=2.0, retry=RetryPolicy(attempts=2, wait_initial=0))
    with SqliteStore(tmp_path / "broker.sqlite3") as store:
        office, coordinator = _hodder(store)
        served = sample_snapshot("oak", pupils=20, staff=3, seed=9)
        with FakeWonde(token="t", schools={"K1": served}, clock=FixedClock(START)) as fake:
            conn = fake.connect("K1", settings=quick)
            try:
                _sync_midway(store, office, coordinator, served, fake, conn)
            finally:
                conn.close()


def _sync_midway(
    store: Store, office: TrustOffice, coordinator: str, served: Any, fake: Any, conn: Any
) -> None:
    import attrs

    from schoolsync.access.presets import hodder_admin_hub
    from schoolsync.brokers.sync import load_watermark
    from schoolsync.errors import SyncError

    office.apply_sync(office.plan_sync("oak", office.review("oak", conn)))
    with store.unit_of_work() as uow:
        before = uow.pupils.count(school_id="oak")
    joiner = attrs.evolve(served.pupils[0], id="J1", mis_id="J1", upn=None, forename="Nia")
    fake.set_school("K1", attrs.evolve(served, pupils=(*served.pupils, joiner)))
    elsewhere = TrustOffice(store, catalogue=hodder_admin_hub(), clock=office.clock)
    racing = _DeauthorisedMidway(
        conn, lambda: elsewhere.deauthorise_mis(actor_id=coordinator, school_id="oak")
    )
    with pytest.raises(SyncError, match="deauthorised"):
        office.nightly_sync("oak", racing)
    with store.unit_of_work() as uow:
        assert uow.pupils.count(school_id="oak") == before
    assert load_watermark(store, "oak", "wonde") is None
    office.authorise_mis(actor_id=coordinator, school_id="oak", granted_scopes={"read"})
    night = office.nightly_sync("oak", conn)
    assert night.watermark is not None
    with store.unit_of_work() as uow:
        names = {p.forename for p in uow.pupils.list(school_id="oak")}
    assert "Nia" in names


def test_threads_share_one_office(store: Store) -> None:
    """A web server's threads change access through one office at once: the changes take
    turns (no writer refused, even on the memory store), and the index ends equal to one built
    from the store."""
    import threading

    office = _office(store)
    _, amir, _ = _set_up(office)
    users = [
        office.create_user(actor_id=None, trust_id=TRUST, email=f"u{n}@nlt.example", name=f"U{n}")
        for n in range(8)
    ]
    failures: list[BaseException] = []

    def teach(user_id: str) -> None:
        try:
            office.assign_role(actor_id=amir, account_id=user_id, role="Teacher", school_id="oak")
            office.trusts.create_trust(name=f"Group of {user_id}")  # the lifecycle's path
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=teach, args=(u.account.id,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    fresh = TrustOffice(store, catalogue=boost_insights(), clock=office.clock)
    for user in users:
        assert [a.role for a in office.index.assignments_of(user.account.id)] == ["Teacher"]
        assert office.index.access_of(user.account.id) == fresh.index.access_of(user.account.id)


def test_a_bulk_change_set_is_one_unit_of_work_and_reaches_the_index(store: Store) -> None:
    """ "Edit Selected" through the office: previewed, applied in one unit of work through the
    same checks as single edits, and the live index follows without a rebuild."""
    office = _office(store)
    _, amir, _ = _set_up(office)
    users = [
        office.create_user(actor_id=None, trust_id=TRUST, email=f"b{n}@nlt.example", name=f"B{n}")
        for n in range(3)
    ]
    ids = [u.account.id for u in users]
    change_set = office.edit_selection(TRUST, ids, actor_id=amir, add=[("Teacher", "oak")])
    assert not change_set.problems
    with store.unit_of_work() as uow:
        assert not [a for a in uow.assignments.list(school_id="oak") if a.account_id in ids]
    office.apply_change_set(change_set)
    for account_id in ids:
        assert [a.role for a in office.index.assignments_of(account_id)] == ["Teacher"]
    assert office.live.builds == 1
    # A change set breaking the exactly-one rule shows it at preview and is refused whole.
    from schoolsync.bulk import BulkImportError

    refused = office.edit_selection(
        TRUST, [ids[0]], actor_id=amir, add=[("Access Coordinator", "oak")]
    )
    assert refused.problems
    with pytest.raises(BulkImportError):
        office.apply_change_set(refused)
    with store.unit_of_work() as uow:
        holders = [
            a for a in uow.assignments.list(school_id="oak") if a.role == "Access Coordinator"
        ]
    assert [a.account_id for a in holders] == [amir]


def test_leavers_through_the_office(store: Store) -> None:
    """A leaver is soft-deleted (recoverable), restored exactly, deleted again and purged once
    its retention period is over: each one unit of work, audited."""
    from schoolsync.records.sync import RecordKind
    from schoolsync.sync.incremental import SnapshotSource
    from schoolsync.sync.sample import sample_snapshot

    office, _ = _hodder(store)
    source = SnapshotSource(snapshot=sample_snapshot("oak", pupils=6, staff=1, seed=2))
    office.apply_sync(office.plan_sync("oak", office.review("oak", source)))
    with store.unit_of_work() as uow:
        pupil = uow.pupils.list(school_id="oak")[0]
    deleted = office.soft_delete(RecordKind.PUPIL, pupil.id)
    assert office.restore_deleted(deleted.id) == pupil
    again = office.soft_delete(RecordKind.PUPIL, pupil.id)
    assert office.purge_expired(school_id="oak").purged == ()
    clock = office.clock
    assert isinstance(clock, FixedClock)
    clock.set(again.purge_after + timedelta(seconds=1))
    assert office.purge_expired(school_id="oak").purged == (pupil.id,)
    with store.unit_of_work() as uow:
        assert uow.pupils.get(pupil.id) is None
        actions = [str(e.action) for e in uow.audit.events(school_id="oak")]
    assert actions.count("record.soft_deleted") == 2
    assert "record.restored" in actions
    assert "record.purged" in actions


def test_a_persons_unmatch_holds_in_the_offices_next_review(store: Store) -> None:
    """After an unmatch through the office, its next review shows the MIS pupil as New (not
    ticked) and the app pupil as Not matched, although every field still agrees; the plan of
    that review neither re-links nor imports it."""
    from schoolsync.matching import MatchStatus
    from schoolsync.records import Pupil
    from schoolsync.records.sync import RecordKind
    from schoolsync.sync.incremental import SnapshotSource
    from schoolsync.sync.sample import sample_snapshot

    office, _ = _hodder(store)
    snapshot = sample_snapshot("oak", pupils=6, staff=1, seed=3)
    first = snapshot.pupils[0]
    with store.unit_of_work() as uow:  # typed in by hand before the school connected its MIS
        uow.pupils.add(
            Pupil(
                id="app-1",
                school_id="oak",
                forename=first.forename,
                surname=first.surname,
                date_of_birth=first.date_of_birth,
                year_code=first.year_code,
            )
        )
        uow.commit()
    source = SnapshotSource(snapshot=snapshot)
    reviews = office.review("oak", source)
    reviews[3] = reviews[3].select_all_new()
    reviews[2] = reviews[2].accept_all_may_match()
    office.apply_sync(office.plan_sync("oak", reviews))
    with store.unit_of_work() as uow:
        assert [lk.app_id for lk in uow.sync_links.list() if lk.mis_id == first.id] == ["app-1"]

    office.unmatch(RecordKind.PUPIL, "app-1")
    pupils = office.review("oak", source)[2]
    (mis_side,) = [r for r in pupils.results if r.mis is not None and r.mis.id == first.id]
    (app_side,) = [r for r in pupils.results if r.app is not None and r.app.id == "app-1"]
    assert (mis_side.status, mis_side.app) == (MatchStatus.NEW, None)
    assert (app_side.status, app_side.mis) == (MatchStatus.NOT_MATCHED, None)
    assert not pupils.is_selected(first)
    office.apply_sync(office.plan_sync("oak", office.review("oak", source)))
    with store.unit_of_work() as uow:
        assert not [lk for lk in uow.sync_links.list() if lk.mis_id == first.id]
        assert len(uow.pupils.list(school_id="oak")) == 6  # five imported + app-1, no duplicate
