"""Notebook views: a match review, a sync plan, a change set and a decision table each render as
an escaped HTML table in Jupyter (``_repr_html_``) and give plain rows (``to_rows()``) that a
DataFrame can take: one dict per row, the same keys in every row, JSON-able values."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime

from schoolsync.access.presets import boost_insights
from schoolsync.access.records import write_events
from schoolsync.bulk import CatalogueChecks, ChangeKind, edit_selection
from schoolsync.matching import MatchStatus, match_pupils
from schoolsync.people import Pupil
from schoolsync.sync import SchoolRecords, plan
from schoolsync.tables import Tabular, human_header
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.world import world
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE = "<b>Eve</b>"  # a value that must be shown as text, never as markup


def pupil(pid: str, forename: str, surname: str, born: date) -> Pupil:
    return Pupil(id=pid, school_id="oak", forename=forename, surname=surname, date_of_birth=born)


MIS = [
    pupil("m1", HOSTILE, "Smith", date(2018, 9, 14)),
    pupil("m2", "Noah", "Brown", date(2019, 3, 2)),
    pupil("m3", "Amelia", "O'Connor", date(2018, 11, 30)),
]
APP = [
    pupil("a1", HOSTILE, "Smith", date(2018, 9, 14)),
    pupil("a3", "Amelia", "OConnor", date(2018, 11, 30)),
]


def assert_notebook_table(value: Tabular, *, shows: list[str]) -> list[dict[str, object]]:
    """One escaped table whose headers are the rows' keys in words (``MIS id``) and whose cells
    include *shows*."""
    rows = value.to_rows()
    assert rows
    assert all(isinstance(r, dict) for r in rows)
    assert len({tuple(r) for r in rows}) == 1  # the same columns in every row: a DataFrame
    json.dumps(rows)
    page = value._repr_html_()
    assert page.startswith('<table class="schoolsync">')
    assert page.count("<table") == 1
    labels = value.column_labels()
    for column in value.display_rows()[0]:
        assert f"<th>{html.escape(labels.get(column) or human_header(column))}</th>" in page
    assert HOSTILE not in page
    for text in shows:
        assert html.escape(text) in page
    return rows


def test_match_review_renders_every_pair_with_its_status() -> None:
    """A match review: one row per MIS or app record, with status and the names side by side."""
    review = match_pupils(MIS, APP)
    rows = assert_notebook_table(review, shows=[HOSTILE, "Noah Brown", "Matched", "New"])
    assert len(rows) == sum(review.counts().values())
    assert review.counts()[MatchStatus.NEW] == 1


def test_sync_plan_renders_creates_and_overwritten_values() -> None:
    """A sync plan: the pupils to create, and each value the MIS overwrites (old and new)."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="oak", name="Oakfield Primary"))
        uow.pupils.put_many(APP)
        uow.commit()
        current = SchoolRecords.load(uow, "oak")
    sync_plan = plan([match_pupils(MIS, APP)], current, at=NOW)
    rows = assert_notebook_table(sync_plan, shows=["create", "OConnor", "O'Connor"])
    assert {"create", "link"} <= {str(r["action"]) for r in rows}


def test_change_set_renders_each_change_and_school_name() -> None:
    """A change set: each change with the account's email, the role and the school's name."""
    w = (
        world(boost_insights(), now=NOW)
        .trust("T")
        .school("oak", name="Oak <Primary>", in_trust="T")
        .account("x")
    )
    store = MemoryStore()
    with store.unit_of_work() as uow:
        write_events(uow, list(w.events), w.records)
        uow.commit()
    change_set = edit_selection(
        store,
        "T",
        ["x"],
        checks=CatalogueChecks(boost_insights()),
        at=NOW,
        add=[("Teacher", "oak")],
    )
    assert [c.kind for c in change_set.changes] == [ChangeKind.ADD_ROLE]
    rows = assert_notebook_table(change_set, shows=["add role", "Teacher", "Oak <Primary>"])
    assert rows[0]["where"] == "Oak <Primary>"


def test_decision_table_renders_each_permission_and_how_it_is_held() -> None:
    """A decision (access) table: one row per permission the account holds, and its path."""
    w = (
        world(boost_insights(), now=NOW)
        .trust("T")
        .school("oak", name="Oakfield Primary", in_trust="T")
        .account("grace")
        .role("grace", "Group Admin")
    )
    table = w.index().access_table("grace")
    rows = assert_notebook_table(table, shows=["Group Admin", "reports.download"])
    assert all(r["account"] == "grace" for r in rows)
