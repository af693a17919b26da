"""`schoolsync demo`: the sample trust scenario runs, is re-runnable, and leaves a usable store."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from schoolsync.bulk import read_sheet
from schoolsync.cli import main
from schoolsync.demo import DATABASE_NAME, PEOPLE, SCHOOLS, TRUST_ID, run_demo
from schoolsync.storage.sqlite import SqliteStore


def test_demo_runs_every_step_and_can_run_again(tmp_path: Path) -> None:
    """Two runs in the same directory give the same story and the same database contents."""
    first = run_demo(tmp_path / "d")
    second = run_demo(tmp_path / "d")
    assert [
        "Sample trust",
        "School Upload",
        "Invitations",
        "Grants",
        "MIS sync (Oakfield Primary)",
        "Bulk import",
        "In the database",
    ] == [s.title for s in first.steps]
    assert first.steps == second.steps
    assert tmp_path / "d" / DATABASE_NAME == second.database


def test_demo_store_holds_the_sync_and_the_bulk_import(tmp_path: Path) -> None:
    """After the demo the SQLite store holds synced pupils and staff, and the imported users."""
    result = run_demo(tmp_path)
    store = SqliteStore(result.database)
    try:
        with store.unit_of_work() as uow:
            assert 0 < uow.pupils.count(school_id="oak")
            assert 0 < uow.staff.count(school_id="oak")
            emails = {a.email for a in uow.accounts.list()}
            assert {"fern.ahmed@oakfield.example", "gus.moore@oakfield.example"} <= emails
            actions = {e.action for e in uow.audit.events()}
    finally:
        store.close()
    assert {"membership.accepted", "assignment.added", "bulk.change_set.applied"} <= actions


def test_cli_demo_prints_each_step_and_then_users_export_works(tmp_path: Path) -> None:
    """The command prints numbered steps; the store it leaves works with `users export`."""
    runner = CliRunner()
    result = runner.invoke(main, ["demo", str(tmp_path / "demo")])
    assert 0 == result.exit_code, result.output
    for title in ("1. Sample trust", "4. Grants", "5. MIS sync", "6. Bulk import"):
        assert title in result.output
    # The explained denial before the grant, naming who can fix it.
    assert "users.manage at Oakfield denied: Oakfield Primary has not granted" in result.output
    assert "its Access Coordinator can grant it (Amir Khan)" in result.output
    database = tmp_path / "demo" / DATABASE_NAME
    out = tmp_path / "users.csv"
    export = runner.invoke(main, ["users", "export", str(database), str(out)])
    assert 0 == export.exit_code, export.output
    assert "fern.ahmed@oakfield.example" in {row[0] for row in read_sheet(out).rows}


def test_each_step_is_summarised_in_words_with_names_not_ids(tmp_path: Path) -> None:
    """Every step says what happened (trust, invitations, grants, the sync's review and apply,
    the bulk import's preview and apply), naming people and schools, never their record ids."""
    steps = {s.title: "\n".join(s.lines) for s in run_demo(tmp_path).steps}
    assert "Grace Hopper is the Group Admin" in steps["Sample trust"]
    assert "Riverside Academy    accepted" in steps["Invitations"]
    assert "Hillcrest Juniors    invitation sent" in steps["Invitations"]
    assert "after the grant: allowed" in steps["Grants"]
    sync = steps["MIS sync (Oakfield Primary)"]
    assert re.search(r"pupil review: \d+ Not matched, \d+ New, \d+ May match, \d+ Matched", sync)
    assert "the reviewer confirms" in sync
    assert "applied in one unit of work" in sync
    bulk = steps["Bulk import"]
    assert "Grace Hopper cannot give 'Access Coordinator'" in bulk  # the refusal, by name
    assert "applied as one audited unit of work" in bulk
    ids = {TRUST_ID} | {p[0] for p in PEOPLE} | {s[0] for s in SCHOOLS}
    text = "\n".join(steps.values())
    for record_id in ids:
        assert not re.search(rf"(?<![\w.@'`-]){record_id}(?![\w@'`-]|\.\w)", text), record_id
