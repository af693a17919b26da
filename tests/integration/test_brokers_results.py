"""Writing assessment results back: queued with the mark only when the connection shares
them, sent after the commit, retried when surely unsent, never posted twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from schoolsync.brokers.results import (
    AssemblyResults,
    OneRosterGradebook,
    queue_result,
    send_results,
)
from schoolsync.clock import FixedClock
from schoolsync.records.brokers import ResultState
from schoolsync.records.tables import RESULT_OUTBOX
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import DataSharing, MisConnection, authorise, set_data_sharing
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import (
    ASSESSMENT,
    FakeAssembly,
    FakeOneRoster,
    import_school,
    quick_settings,
)

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
# A read times out before the 1.2 s stall of a post whose answer never comes.
QUICK = quick_settings(read_timeout=0.6, attempts=3)


def sharing(*, results: bool = True, historical: bool = False) -> MisConnection:
    yes = lambda a, p, s: True  # noqa: E731
    connection = authorise(
        MisConnection(
            school_id="s1",
            provider="assembly",
            required_scopes={"students.basic"},
            optional_scopes={"assessments.write"},
            sharing_scope="assessments.write",
        ),
        actor_id="coordinator",
        granted_scopes={"students.basic", "assessments.write"},
        at=NOW,
        can_configure=yes,
    )
    return set_data_sharing(
        connection,
        DataSharing(share_results=results, share_historical=historical),
        actor_id="coordinator",
        at=NOW,
        can_configure=yes,
    )


@pytest.fixture
def assembly(tmp_path: Path) -> Iterator[tuple[FakeAssembly, Any, SqliteStore]]:
    clock = FixedClock(NOW)
    served = sample_snapshot("s1", pupils=12, staff=2, year_codes=("7",))
    store = SqliteStore(tmp_path / "s.sqlite")
    with FakeAssembly(
        client_id="c",
        client_secret="s",
        refresh_tokens={"K1": "r"},
        schools={"K1": served},
        clock=clock,
    ) as fake:
        conn = fake.connect("K1", settings=QUICK)
        import_school(store, conn, connection=sharing(), at=NOW)
        yield fake, conn, store
        conn.close()
    store.close()


def pupil_ids(store: SqliteStore) -> list[str]:
    with store.unit_of_work() as uow:
        return [p.id for p in uow.pupils.list(school_id="s1")]


def mark(store: SqliteStore, connection: MisConnection, pupil: str, rid: str, **kw: Any) -> Any:
    """The host's unit of work that records a mark also queues its result."""
    with store.unit_of_work() as uow:
        queued = queue_result(
            uow,
            connection,
            result_id=rid,
            pupil_id=pupil,
            payload=ASSESSMENT,
            marked_at=NOW,
            at=NOW,
            **kw,
        )
        uow.commit()
    return queued


def states(store: SqliteStore) -> dict[str, ResultState]:
    with store.unit_of_work() as uow:
        return {r.id: r.state for r in uow.repository(RESULT_OUTBOX).list(school_id="s1")}


def test_a_shared_result_is_posted_once(assembly: Any) -> None:
    fake, conn, store = assembly
    connection = sharing()
    pupil = pupil_ids(store)[0]
    assert mark(store, connection, pupil, "mark-1") is not None
    report = send_results(store, AssemblyResults(conn), connection, at=NOW)
    assert ("mark-1",) == report.sent
    assert 1 == len(fake.results)
    assert fake.record_of("K1", fake.results[0]["student_id"]) is not None
    assert 41 == fake.results[0]["grade_id"]
    # Sending again, or queuing the same mark again, posts nothing more.
    mark(store, connection, pupil, "mark-1")
    assert not send_results(store, AssemblyResults(conn), connection, at=NOW).sent
    assert 1 == len(fake.results)
    assert {"mark-1": ResultState.SENT} == states(store)


def test_only_shared_results_are_queued(assembly: Any) -> None:
    _, _, store = assembly
    pupil = pupil_ids(store)[0]
    assert mark(store, sharing(results=False), pupil, "off") is None
    assert mark(store, sharing(), pupil, "old", historical=True) is None
    assert mark(store, sharing(historical=True), pupil, "old", historical=True) is not None
    assert {"old": ResultState.QUEUED} == states(store)


def test_a_rate_limited_post_is_retried_and_sent_once(assembly: Any) -> None:
    fake, conn, store = assembly
    mark(store, sharing(), pupil_ids(store)[0], "m")
    fake.inject("429", endpoint="/results", times=2, retry_after=0)
    assert ("m",) == send_results(store, AssemblyResults(conn), sharing(), at=NOW).sent
    assert 1 == len(fake.results)


@pytest.mark.parametrize("fault", ["stall", "500", "drop"])
def test_a_post_whose_answer_never_came_is_not_repeated(assembly: Any, fault: str) -> None:
    fake, conn, store = assembly
    mark(store, sharing(), pupil_ids(store)[0], "m")
    fake.inject(fault, endpoint="/results", delay=1.2)
    report = send_results(store, AssemblyResults(conn), sharing(), at=NOW)
    assert ("m",) == report.uncertain
    assert {"m": ResultState.UNCERTAIN} == states(store)
    before = len(fake.results)
    assert not send_results(store, AssemblyResults(conn), sharing(), at=NOW).sent
    assert before == len(fake.results)  # at most once: a person checks the uncertain one


def test_a_refused_post_is_retried_later_then_given_up(assembly: Any) -> None:
    fake, conn, store = assembly
    mark(store, sharing(), pupil_ids(store)[0], "m")
    fake.inject("503", endpoint="/results", times=100)
    for _ in range(2):
        assert ("m",) == send_results(
            store, AssemblyResults(conn), sharing(), at=NOW, max_attempts=3
        ).retrying
    assert ("m",) == send_results(
        store, AssemblyResults(conn), sharing(), at=NOW, max_attempts=3
    ).failed
    assert not fake.results


def test_oneroster_gradebook_puts_the_result(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    served = sample_snapshot("s1", pupils=6, staff=1, year_codes=("7",))
    store = SqliteStore(tmp_path / "s.sqlite")
    with FakeOneRoster(
        client_id="c", client_secret="s", schools={"org": served}, clock=clock
    ) as fake:
        conn = fake.connect("org", settings=QUICK)
        connection = attrs.evolve(sharing(), provider="oneroster")
        import_school(store, conn, connection=connection, at=NOW)
        pupil = pupil_ids(store)[0]
        with store.unit_of_work() as uow:
            queue_result(
                uow,
                connection,
                result_id="r-1",
                pupil_id=pupil,
                payload={"line_item": "li-1", "score": 17.5},
                marked_at=NOW,
                at=NOW,
            )
            uow.commit()
        report = send_results(store, OneRosterGradebook(conn.broker), connection, at=NOW)
        assert ("r-1",) == report.sent
        sent = fake.results["r-1"]
        assert (17.5, "li-1") == (sent["score"], sent["lineItem"]["sourcedId"])
        conn.close()
    store.close()
