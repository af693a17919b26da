"""Use ``schoolsync.testing`` in your own project's tests.

``schoolsync.testing`` is public: the fakes and builders schoolsync tests itself with, for the
projects built on it. This file is an ordinary pytest module for an imaginary host app (its
"app code" is the two small functions at the top) showing each tool:

* ``world(...)``: a fluent builder of trusts, schools, accounts, roles and grants, giving an
  ``AccessIndex`` or a ``MemoryStore``;
* ``assert_allowed`` / ``assert_denied(reason=...)``: failures explain the decision;
* ``scenario_params``: access rules as a table (YAML or XLSX) a data-protection officer can
  write, run as one pytest case per row;
* ``MemoryStore``, ``RecordingNotifier`` and ``FixedClock``: a real in-memory store, a notifier
  that keeps messages, and a clock that only moves when told;
* ``schoolsync.testing.strategies``: hypothesis strategies for UK school data.

Run it directly (``python testing_in_your_project.py``: it runs pytest on itself) or with
``pytest testing_in_your_project.py``. It writes ``access-scenarios.yaml`` in the current
directory.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

try:
    import pytest
except ModuleNotFoundError:  # what a new user sees without the test tools
    raise SystemExit(
        "This example is a pytest module: install the test tools first, "
        "pip install -e '.[dev]' in the schoolsync clone"
    ) from None
from hypothesis import given

from schoolsync.access import AccessIndex, DenialReason
from schoolsync.access.presets import boost_insights
from schoolsync.clock import FixedClock
from schoolsync.identifiers import Upn
from schoolsync.people import Pupil
from schoolsync.ports import Notifier, OutboundMessage
from schoolsync.testing.assertions import assert_allowed, assert_denied
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.testing.scenarios import run_scenario, scenario_params
from schoolsync.testing.strategies import pupils
from schoolsync.testing.world import world

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# --- the host app's own code under test -----------------------------------------------------


def comparison_schools(index: AccessIndex, account_id: str, school_ids: list[str]) -> list[str]:
    """The schools whose reports a trust comparison may include for *account_id*."""
    return [s for s in school_ids if index.check(account_id, "users.manage", s)]


def remind_pending_pupils(store: MemoryStore, notifier: Notifier, *, now: datetime) -> int:
    """Send the office a reminder for each pupil without a UPN (the app's nightly job)."""
    with store.unit_of_work() as uow:
        missing = [p for p in uow.pupils.list() if p.upn is None]
    for pupil in missing:
        notifier.send(
            OutboundMessage(
                kind="upn_reminder",
                to="office@oak.example",
                subject="A pupil has no UPN",
                data={"pupil_id": pupil.id, "on": now.date().isoformat()},
            )
        )
    return len(missing)


# --- tests -------------------------------------------------------------------------------------


@pytest.fixture
def trust() -> AccessIndex:
    """A Boost Insights trust: Grace is a Group Admin; only Oakfield granted her users.manage."""
    return (
        world(boost_insights(), now=NOW)
        .trust("T", name="Northern Lights Trust")
        .school("oak", name="Oakfield Primary", in_trust="T")
        .school("riv", name="Riverside Academy", in_trust="T")
        .account("grace")
        .role("grace", "Group Admin")
        .grant("oak", ["users.manage"], accounts=["grace"])
        .index()
    )


def test_comparison_includes_only_granting_schools(trust: AccessIndex) -> None:
    """A school that did not grant the trust never appears in a comparison."""
    assert comparison_schools(trust, "grace", ["oak", "riv"]) == ["oak"]
    assert_allowed(trust, "grace", "users.manage", "oak")
    denial = assert_denied(trust, "grace", "users.manage", "riv", reason=DenialReason.NO_GRANT)
    assert "Access Coordinator" in denial.explain()


SCENARIOS = Path("access-scenarios.yaml")
SCENARIOS.write_text(
    """
catalogue: boost_insights
world:
  trusts: [{id: T, name: Northern Lights Trust}]
  schools: [{id: oak, trust: T}, {id: riv, trust: T}]
  accounts: [{id: grace, trust: T}, {id: amir, trust: T}]
  roles:
    - {account: grace, role: Group Admin}
    - {account: amir, role: Access Coordinator, school: oak}
  grants: [{school: oak, permissions: [users.manage], accounts: [grace]}]
scenarios:
  - {account: grace, school: oak, permission: users.manage, expected: allow}
  - {account: grace, school: riv, permission: users.manage, expected: deny, reason: no_grant}
  - {account: amir, school: riv, permission: reports.school.view, expected: deny}
""",
    encoding="utf-8",
)


@pytest.mark.parametrize(("scenario", "index"), scenario_params(SCENARIOS))
def test_access_table(scenario: object, index: AccessIndex) -> None:
    """Each row of the data-protection officer's table holds (a failure names the row)."""
    run_scenario(index, scenario)  # type: ignore[arg-type]


def test_nightly_reminders_with_fakes() -> None:
    """The job sends one reminder per pupil without a UPN, dated by the (fixed) clock."""
    store, notifier, clock = MemoryStore(), RecordingNotifier(), FixedClock(NOW)
    with store.unit_of_work() as uow:
        uow.pupils.put(Pupil(id="p1", school_id="oak", forename="Ana", surname="Lee"))
        uow.pupils.put(
            Pupil(
                id="p2",
                school_id="oak",
                forename="Ben",
                surname="Ng",
                upn=Upn.parse("G201200115001"),
            )
        )
        uow.commit()
    clock.advance(timedelta(days=1))
    assert remind_pending_pupils(store, notifier, now=clock.now()) == 1
    [message] = notifier.of_kind("upn_reminder")
    assert message.data == {"pupil_id": "p1", "on": "2026-03-03"}


@given(pupil=pupils(school_id="oak"))
def test_reminders_for_any_pupil(pupil: Pupil) -> None:
    """For any realistic pupil, a reminder is sent exactly when the UPN is missing."""
    store, notifier = MemoryStore(), RecordingNotifier()
    with store.unit_of_work() as uow:
        uow.pupils.put(pupil)
        uow.commit()
    assert remind_pending_pupils(store, notifier, now=NOW) == (1 if pupil.upn is None else 0)


if __name__ == "__main__":
    result = subprocess.run(  # noqa: S603 - runs this very file under pytest
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"], check=False
    )
    sys.exit(result.returncode)
