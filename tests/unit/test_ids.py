"""Id, token and clock sources are injected: the pure core draws no randomness and reads no
clock; services take an IdSource; tests get repeatable ids and tokens."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs

from schoolsync.access import ActivationOutcome, redeem_activation, start_activation
from schoolsync.access.accounts import RoleAssignment
from schoolsync.access.records import record_event
from schoolsync.ids import RandomIds, SystemTokens
from schoolsync.people import Pupil
from schoolsync.ports import IdSource, TokenSource
from schoolsync.sync import (
    MisConnection,
    Pairing,
    RecordKind,
    SchoolRecords,
    apply,
    authorise,
    plan_pairings,
    soft_delete,
    unmatch,
)
from schoolsync.testing import MemoryStore, SeededTokens, SequentialIds
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
SRC = Path(__file__).parents[2] / "src" / "schoolsync"
#: Packages that may draw randomness and read the clock themselves: the test doubles, and the
#: HTTP broker adapters (I/O at the edge, which take an optional clock and nonce maker).
ADAPTERS_WITH_OWN_SOURCES = ("testing/", "brokers/")


def _connection() -> MisConnection:
    return authorise(
        MisConnection(school_id="s1", provider="assembly", required_scopes={"read"}),
        actor_id="ac",
        granted_scopes={"read"},
        at=NOW,
        can_configure=lambda a, p, s: True,
    )


def _school() -> tuple[MemoryStore, list[Pairing]]:
    """A school whose app has pupil a1; the MIS has her (matched) and a new pupil."""
    store = MemoryStore()
    app = Pupil(id="a1", school_id="s1", forename="Zoey", surname="Smith", year_code="R")
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="s1", name="Oak Primary"))
        uow.pupils.add(app)
        uow.commit()
    mis = Pupil(
        id="m1",
        school_id="mis",
        mis_id="M1",
        forename="Zoe",
        surname="Smith",
        year_code="1",
        date_of_birth=date(2019, 5, 1),
    )
    new = attrs.evolve(mis, id="m2", mis_id="M2", forename="Bea")
    return store, [
        Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis, app=app),
        Pairing(kind=RecordKind.PUPIL, status="new", mis=new),
    ]


def _current(store: MemoryStore) -> SchoolRecords:
    with store.unit_of_work() as uow:
        return SchoolRecords.load(uow, "s1")


class TestSources:
    def test_the_sources_satisfy_their_ports(self) -> None:
        """The production and test sources are the ports' implementations."""
        id_sources: list[IdSource] = [RandomIds(), SequentialIds()]
        token_sources: list[TokenSource] = [SystemTokens(), SeededTokens()]
        assert all(isinstance(s.new_id(), str) for s in id_sources)
        assert all(len(s.token_bytes(16)) == 16 for s in token_sources)

    def test_sequential_ids_count_up_from_their_prefix(self) -> None:
        ids = SequentialIds(prefix="evt-")
        assert [ids.new_id() for _ in range(3)] == ["evt-1", "evt-2", "evt-3"]

    def test_random_ids_are_unique_uuids(self) -> None:
        ids = RandomIds()
        drawn = {ids.new_id() for _ in range(1000)}
        assert len(drawn) == 1000
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in drawn)

    def test_seeded_tokens_repeat_with_the_seed_and_differ_across_seeds(self) -> None:
        def draw(seed: int) -> tuple[str, bytes, str]:
            t = SeededTokens(seed)
            return (
                t.token_urlsafe(32),
                t.token_bytes(16),
                "".join(t.choice("AB23") for _ in "x" * 8),
            )

        assert draw(7) == draw(7)
        assert draw(7) != draw(8)
        assert len(draw(7)[0]) == 43  # 32 bytes, base64url without padding, like secrets


class TestPureCoreDrawsNoRandomness:
    def _modules(self) -> list[tuple[str, ast.Module]]:
        return [
            (str(p.relative_to(SRC)), ast.parse(p.read_text(encoding="utf-8")))
            for p in sorted(SRC.rglob("*.py"))
        ]

    def test_only_the_ids_module_imports_uuid_or_secrets(self) -> None:
        """Like clock.py for time, ids.py is the one place that draws random ids and secrets
        (aside from schoolsync.testing, which fakes them, and the broker adapters, which make
        OAuth nonces on the wire)."""
        offenders = []
        for name, tree in self._modules():
            if name == "ids.py" or name.startswith(ADAPTERS_WITH_OWN_SOURCES):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""]
                else:
                    continue
                if any(m.split(".")[0] in {"uuid", "secrets"} for m in mods):
                    offenders.append(f"{name}:{node.lineno}")
        assert offenders == []

    def test_only_the_clock_migrations_and_testing_read_the_clock(self) -> None:
        """``datetime.now``/``date.today``/``time.time`` appear only in clock.py, the SQL
        stores' migration bookkeeping, schoolsync.testing and the broker adapters (token
        expiry on the wire)."""
        allowed = {"clock.py", "storage/sqlite.py", "storage/postgres.py"}
        offenders = []
        for name, tree in self._modules():
            if name in allowed or name.startswith(ADAPTERS_WITH_OWN_SOURCES):
                continue
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr)
                    in {
                        ("datetime", "now"),
                        ("datetime", "utcnow"),
                        ("date", "today"),
                        ("time", "time"),
                        ("datetime", "today"),
                    }
                ):
                    offenders.append(f"{name}:{node.lineno}")
        assert offenders == []


class TestPlanning:
    def test_the_same_inputs_give_the_same_plan_id_included(self) -> None:
        """plan is pure: without sync_id= its id is derived from the plan, not drawn."""
        store, pairings = _school()
        first = plan_pairings(pairings, _current(store), at=NOW)
        second = plan_pairings(pairings, _current(store), at=NOW)
        assert first == second
        assert len(first.sync_id) == 32

    def test_a_different_plan_gets_a_different_id(self) -> None:
        store, pairings = _school()
        base = plan_pairings(pairings, _current(store), at=NOW)
        later = plan_pairings(pairings, _current(store), at=NOW + timedelta(seconds=1))
        fewer = plan_pairings(pairings[:1], _current(store), at=NOW)
        assert len({base.sync_id, later.sync_id, fewer.sync_id}) == 3

    def test_a_given_sync_id_is_kept(self) -> None:
        store, pairings = _school()
        sync_plan = plan_pairings(pairings, _current(store), at=NOW, sync_id="run-42")
        assert sync_plan.sync_id == "run-42"


class TestServicesTakeAnIdSource:
    def test_apply_audits_with_the_injected_ids(self) -> None:
        store, pairings = _school()
        sync_plan = plan_pairings(pairings, _current(store), at=NOW)
        apply(sync_plan, store, connection=_connection(), at=NOW, ids=SequentialIds("ev-"))
        with store.unit_of_work() as uow:
            (event,) = uow.audit.events()
        assert event.id == "ev-1"
        assert event.after is not None
        assert event.after["sync_id"] == sync_plan.sync_id

    def test_apply_without_ids_draws_random_ones(self) -> None:
        """The default at the service edge: a random id per event."""
        store, pairings = _school()
        apply(
            plan_pairings(pairings, _current(store), at=NOW),
            store,
            connection=_connection(),
            at=NOW,
        )
        with store.unit_of_work() as uow:
            (event,) = uow.audit.events()
        assert len(event.id) == 32
        assert not event.id.startswith("ev-")

    def test_unmatch_and_soft_delete_use_the_injected_ids(self) -> None:
        store, pairings = _school()
        apply(
            plan_pairings(pairings, _current(store), at=NOW),
            store,
            connection=_connection(),
            at=NOW,
        )
        ids = SequentialIds("u-")
        report = unmatch(store, RecordKind.PUPIL, "a1", at=NOW, ids=ids)
        with store.unit_of_work() as uow:
            created = next(p.id for p in uow.pupils.list() if p.id != "a1")
        soft_delete(store, RecordKind.PUPIL, created, at=NOW, ids=ids)
        with store.unit_of_work() as uow:
            injected = [e.id for e in uow.audit.events() if e.id.startswith("u-")]
        # the unmatch, the remembered "not this one" decision, then the soft delete
        assert injected == ["u-1", "u-2", "u-4"]
        assert report.sync_id == "u-3"

    def test_connection_changes_are_audited_with_the_injected_ids(self) -> None:
        store = MemoryStore()
        with store.unit_of_work() as uow:
            authorise(
                MisConnection(school_id="s1", provider="assembly", required_scopes={"read"}),
                actor_id="ac",
                granted_scopes={"read"},
                at=NOW,
                can_configure=lambda a, p, s: True,
                audit=uow.audit,
                ids=SequentialIds("c-"),
            )
            assert [e.id for e in uow.audit.events()] == ["c-1"]


class TestRecordsAndActivation:
    def test_record_event_ids_are_derived_when_not_given(self) -> None:
        """record_event is pure: the same change gives the same id, another change another."""
        role = RoleAssignment(
            id="r1", account_id="a1", trust_id="t1", role="teacher", school_id="s1"
        )
        added = record_event("assignment", None, role, at=NOW, actor_id="x")
        assert added.id == record_event("assignment", None, role, at=NOW, actor_id="x").id
        removed = record_event("assignment", role, None, at=NOW, actor_id="x")
        later = record_event("assignment", None, role, at=NOW + timedelta(1), actor_id="x")
        assert len({added.id, removed.id, later.id}) == 3
        given = record_event("assignment", None, role, at=NOW, actor_id="x", event_id="e-9")
        assert given.id == "e-9"

    def test_activation_with_seeded_tokens_is_repeatable_and_redeemable(self) -> None:
        first = start_activation("eve", now=NOW, work_factor=2**4, tokens=SeededTokens(3))
        again = start_activation("eve", now=NOW, work_factor=2**4, tokens=SeededTokens(3))
        assert first == again
        challenge, link, code = first
        outcome, _ = redeem_activation(challenge, link_token=link, code=code, now=NOW)
        assert outcome is ActivationOutcome.ACTIVATED

    def test_activation_by_default_draws_fresh_secrets(self) -> None:
        one = start_activation("eve", now=NOW, work_factor=2**4)
        two = start_activation("eve", now=NOW, work_factor=2**4)
        assert one[1] != two[1]
        assert one[0].salt != two[0].salt
