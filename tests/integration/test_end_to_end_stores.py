"""One contract, three backends: the whole trust scenario through the services, on every store.

The repository contract tests prove each adapter stores records the same way; this test proves
the *services* (trust lifecycle, access index, MIS sync and undo, bulk export/import) behave the
same on top of them. One scenario runs, through public APIs only, on the in-memory store, an
SQLite file and a PostgreSQL database; each run checks the expected outcomes step by step, and
the three stores must end holding the same records and the same audit trail. The
`schoolsync demo` scenario (School Upload, a larger sync, a bulk import applied) is run the same
way, and must print the same story on every store.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.index import AccessIndex
from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.access.presets import boost_insights
from schoolsync.bulk import CatalogueChecks, export_users, import_users
from schoolsync.clock import FixedClock
from schoolsync.demo import run_demo, run_demo_steps
from schoolsync.identifiers import Urn
from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot, Store
from schoolsync.serialisation import converter
from schoolsync.storage.postgres import PostgresStore
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import MisConnection, SchoolRecords, apply, authorise, plan
from schoolsync.sync.applying import unmatch
from schoolsync.sync.records import RecordKind
from schoolsync.sync.sample import evolve_snapshot, sample_snapshot
from schoolsync.testing.faults import StoreSnapshot, whole_store
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School, TrustPolicy

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRUST = "nlt"
SCHOOLS = (("oak", "Oakfield Primary", "140001"), ("riv", "Riverside Academy", "140002"))
# account id, school (None: trust level), school role
PEOPLE = (
    ("grace", None, None),
    ("amir", "oak", "Access Coordinator"),
    ("bea", "riv", "Access Coordinator"),
)


# -- the three stores ---------------------------------------------------------------------------


def _memory(_tmp: Path, _request: pytest.FixtureRequest) -> Store:
    return MemoryStore()


def _sqlite(tmp: Path, _request: pytest.FixtureRequest) -> Store:
    return SqliteStore(tmp.parent / "end-to-end.sqlite")


_SCHEMA_NUMBERS = itertools.count(1)


def _postgres(_tmp: Path, request: pytest.FixtureRequest) -> Store:
    dsn: str = request.getfixturevalue("postgres_dsn")
    # One schema per test: the database is shared by the module, each test needs an empty store.
    return PostgresStore(dsn, schema=f"e2e_{next(_SCHEMA_NUMBERS)}")


STORES: dict[str, Callable[[Path, pytest.FixtureRequest], Store]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgres": _postgres,
}

# -- the scenario -------------------------------------------------------------------------------


def _seed_app_records(store: Store, snapshot: MisSnapshot) -> dict[str, Pupil]:
    """What the app held before its first sync: hand-typed copies with app ids, no MIS ids and
    a few typing slips. Returns the pupils written, by id."""
    pupils = {}
    for n, p in enumerate(snapshot.pupils):
        if n % 10 == 9:
            continue  # joined since the app was set up: New in the review
        forename = p.forename[0] + p.forename[2:] if n % 7 == 3 else p.forename
        pupil = attrs.evolve(
            p,
            id=f"app-{p.id}",
            mis_id=None,
            forename=forename,
            upn=p.upn if n % 2 else None,
            class_ids=tuple(f"app-{c}" for c in p.class_ids),
        )
        pupils[pupil.id] = pupil
    with store.unit_of_work() as uow:
        uow.year_groups.put_many(
            attrs.evolve(y, id=f"app-{y.id}", mis_id=None) for y in snapshot.year_groups
        )
        uow.classes.put_many(
            attrs.evolve(
                c,
                id=f"app-{c.id}",
                mis_id=None,
                year_group_ids=tuple(f"app-{y}" for y in c.year_group_ids),
            )
            for c in snapshot.classes
        )
        uow.pupils.put_many(pupils.values())
        uow.commit()
    return pupils


class Scenario:
    """The trust scenario on one store, every service made deterministic (clock, ids, tokens)."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self.catalogue: RoleCatalogue = boost_insights()
        self.clock = FixedClock(START)
        self.notifier = RecordingNotifier()
        ids, tokens = itertools.count(1), itertools.count(1)
        self.lifecycle = TrustLifecycle(
            store=store,
            clock=self.clock,
            notifier=self.notifier,
            policy=TrustPolicy(acceptor_roles=frozenset({"Access Coordinator"})),  # type: ignore[arg-type]
            trust_admin_role="Group Admin",
            new_id=lambda kind: f"{kind}-{next(ids)}",
            new_token=lambda: f"token-{next(tokens):04d}-" + "x" * 40,
        )

    def index(self) -> AccessIndex:
        return AccessIndex.from_store(self.catalogue, self.store, now=self.clock.now())

    def tick(self, minutes: int = 10) -> datetime:
        self.clock.advance(timedelta(minutes=minutes))
        return self.clock.now()

    def set_up_trust(self) -> None:
        """A trust, its schools, its people; Grace nominated and accepted as trust admin;
        each school invited and accepted by its Access Coordinator."""
        self.lifecycle.create_trust(name="Northern Lights Trust", trust_id=TRUST)
        memberships = {
            school_id: self.lifecycle.add_school(
                TRUST,
                School(
                    id=school_id,
                    name=name,
                    urn=Urn.parse(urn),
                    email_pattern=f"{{forename}}.{{surname}}@{school_id}.example",
                ),
            )
            for school_id, name, urn in SCHOOLS
        }
        with self.store.unit_of_work() as uow:
            for person, school, role in PEOPLE:
                uow.accounts.add(
                    Account(
                        id=person,
                        trust_id=TRUST,
                        email=f"{person}@northernlights.example",
                        name=person.title(),
                        status=AccountStatus.ACTIVE,
                        created_at=START,
                    )
                )
                if role is not None:
                    uow.assignments.add(
                        RoleAssignment(
                            id=f"as-{person}",
                            account_id=person,
                            trust_id=TRUST,
                            role=role,
                            school_id=school,
                            assigned_at=START,
                        )
                    )
            uow.commit()
        self.tick()
        token = self.lifecycle.nominate_trust_admin(TRUST, "grace")
        assert self.lifecycle.accept_trust_admin(TRUST, token) == "grace"
        for school_id, *_ in SCHOOLS:
            self.lifecycle.send_invitation(memberships[school_id].id, actor_id="grace")
        self.tick()
        self.lifecycle.accept_invitation(memberships["oak"].id, actor_id="amir")
        self.lifecycle.accept_invitation(memberships["riv"].id, actor_id="bea")

    def grant_check_revoke(self) -> None:
        """A school's grant opens exactly that school to the trust admin, until revoked."""
        assert not self.index().check("grace", "users.manage", "oak").allowed
        self.tick()
        grant = self.lifecycle.grant(
            TRUST, "oak", ["users.manage"], actor_id="amir", account_ids=["grace"]
        )
        index = self.index()
        assert index.check("grace", "users.manage", "oak").allowed
        elsewhere = index.check("grace", "users.manage", "riv")
        assert not elsewhere.allowed
        assert elsewhere.reason == "no_grant"
        self.tick()
        self.lifecycle.revoke_grant(grant.id, actor_id="amir")
        self.tick()
        revoked = self.index().check("grace", "users.manage", "oak")
        assert not revoked.allowed
        assert revoked.reason == "grant_revoked"

    def mis_sync(self) -> tuple[dict[str, Pupil], set[str]]:
        """Oakfield's first sync: match, review, plan, apply. Returns the app's pupils as they
        were before the sync, and the ids of those the sync overwrote."""
        now = self.tick()
        mis = sample_snapshot("oak", pupils=42, staff=6, seed=7, taken_at=now)
        before = _seed_app_records(self.store, evolve_snapshot(mis, joiners=0, leavers=0, seed=2))
        mis = evolve_snapshot(mis, joiners=3, leavers=2, seed=3, taken_at=now)
        with self.store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "oak")
            app_year_groups = uow.year_groups.list(school_id="oak")
            app_classes = uow.classes.list(school_id="oak")
            app_pupils = uow.pupils.list(school_id="oak")
            app_staff = uow.staff.list(school_id="oak")
        reviews = [
            match_year_groups(list(mis.year_groups), app_year_groups),
            match_classes(
                list(mis.classes),
                app_classes,
                mis_year_groups=list(mis.year_groups),
                app_year_groups=app_year_groups,
            ),
            match_staff(list(mis.staff), app_staff).select_all_new(),
            match_pupils(list(mis.pupils), app_pupils).accept_all_may_match(),
        ]
        sync_plan = plan(reviews, current, at=now)
        assert sync_plan.creates
        assert sync_plan.links
        connection = authorise(
            MisConnection(school_id="oak", provider="e2e MIS", required_scopes={"read"}),
            actor_id="amir",
            granted_scopes={"read"},
            at=now,
            can_configure=lambda account, _permission, school: bool(
                self.index().check(account, "grants.manage", school)
            ),
        )
        report = apply(
            sync_plan,
            self.store,
            connection=connection,
            at=now,
            notifier=self.notifier,
            actor_id="amir",
        )
        assert sum(report.counts().values()) > 0
        assert len(self.notifier.of_kind("welcome")) == len(mis.staff)
        overwritten = {
            c.app_id
            for c in sync_plan.links
            if c.kind is RecordKind.PUPIL
            and c.app_id is not None
            and any(f.field == "forename" for f in c.changes)
        }
        return before, overwritten

    def unmatch_restores(self, before: dict[str, Pupil], overwritten: set[str]) -> None:
        """Unmatching a pupil the sync overwrote gives back exactly the record typed in."""
        app_id = sorted(overwritten)[0]
        with self.store.unit_of_work() as uow:
            assert uow.pupils.require(app_id) != before[app_id]
        unmatch(self.store, RecordKind.PUPIL, app_id, at=self.tick(), actor_id="amir")
        with self.store.unit_of_work() as uow:
            assert uow.pupils.require(app_id) == before[app_id]
            assert not [link for link in uow.sync_links.list() if link.app_id == app_id]

    def bulk_round_trip(self) -> None:
        """Exporting the users and importing the file unchanged asks for no change."""
        exported = export_users(self.store, TRUST, self.directory / "users.xlsx")
        change_set = import_users(
            self.store,
            TRUST,
            exported,
            checks=CatalogueChecks(self.catalogue),
            at=self.tick(),
            actor_id="grace",
        )
        assert change_set.ok, change_set.problems
        assert change_set.is_empty, change_set.describe()


# -- comparing stores ---------------------------------------------------------------------------

#: A generated id (uuid4, with or without dashes): sync runs, their backups, audit events and
#: the accounts a bulk import creates are named by one.
_UUID = re.compile(
    r"(?<![0-9a-f])[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(?![0-9a-f])"
)


def _plain(data: Any) -> Any:
    """Unstructured data with every generated uuid replaced by a placeholder."""
    if isinstance(data, dict):
        return {_plain(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    if isinstance(data, str):
        return _UUID.sub("<uuid>", data)
    return data


def normalised(snapshot: StoreSnapshot) -> dict[str, Any]:
    """A store's whole state, comparable across backends: every repository's records and the
    audit trail in order, as plain data with the generated uuids masked (records are sorted by
    their masked content, since random ids decide the stores' own order). Everything else
    (the scenario's own ids, times, token hashes) is deterministic and compared as is."""
    records = {
        name: sorted((_plain(converter.unstructure(r)) for r in rows), key=repr)
        for name, rows in snapshot.records.items()
    }
    return {"records": records, "audit": [_plain(converter.unstructure(e)) for e in snapshot.audit]}


# -- the tests ----------------------------------------------------------------------------------


def run_scenario(store: Store, directory: Path) -> dict[str, Any]:
    """Run the whole scenario on *store* (checking each step) and return its final state."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        scenario = Scenario(store, directory)
        scenario.set_up_trust()
        scenario.grant_check_revoke()
        before, overwritten = scenario.mis_sync()
        assert overwritten, "the sample must include pupils whose names the MIS corrects"
        scenario.unmatch_restores(before, overwritten)
        scenario.bulk_round_trip()
        return normalised(whole_store(store))
    finally:
        store.close()


@pytest.mark.parametrize("backend", list(STORES))
def test_trust_scenario_runs_the_same_on_every_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Set-up, invitations, grant/check/revoke, MIS sync, unmatch and a bulk round trip give
    the expected outcomes on this store, and leave it holding exactly what the in-memory
    reference store holds after the same scenario (records and audit trail, generated ids
    aside). On the memory backend this compares two runs: the scenario is deterministic."""
    state = run_scenario(STORES[backend](tmp_path / backend, request), tmp_path / backend)
    reference = run_scenario(MemoryStore(), tmp_path / "reference")

    assert state["records"]["pupils"]
    assert state["records"]["staff"]
    assert state["records"]["grants"]
    assert state["audit"]
    for name in sorted(reference["records"]):
        assert state["records"][name] == reference["records"][name], name
    assert state["audit"] == reference["audit"]


@pytest.mark.parametrize("backend", list(STORES))
def test_demo_scenario_tells_the_same_story_on_every_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The `schoolsync demo` scenario (School Upload, invitations, grants, a 210-pupil sync
    and a bulk import applied) prints exactly what `schoolsync demo` prints on its SQLite file,
    and leaves this store holding what an in-memory run of it holds."""
    store = STORES[backend](tmp_path / backend, request)
    try:
        steps = run_demo_steps(store, tmp_path / backend)
        state = normalised(whole_store(store))
    finally:
        store.close()
    reference_store = MemoryStore()
    run_demo_steps(reference_store, tmp_path / "reference")
    reference = normalised(whole_store(reference_store))

    assert steps == run_demo(tmp_path / "cli").steps
    for name in sorted(reference["records"]):
        assert state["records"][name] == reference["records"][name], name
    assert state["audit"] == reference["audit"]
