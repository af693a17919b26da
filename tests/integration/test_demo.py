"""`schoolsync demo`: the sample trust scenario runs, is re-runnable, and leaves a usable store."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from schoolsync.bulk import read_sheet
from schoolsync.cli import main
from schoolsync.demo import DATABASE_NAME, run_demo
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
    assert {"membership.accepted", "role.assigned", "bulk.change_set.applied"} <= actions


def test_cli_demo_prints_each_step_and_then_users_export_works(tmp_path: Path) -> None:
    """The command prints numbered steps; the store it leaves works with `users export`."""
    runner = CliRunner()
    result = runner.invoke(main, ["demo", str(tmp_path / "demo")])
    assert 0 == result.exit_code, result.output
    for title in ("1. Sample trust", "4. Grants", "5. MIS sync", "6. Bulk import"):
        assert title in result.output
    assert "no_grant" in result.output  # the explained denial before the grant
    database = tmp_path / "demo" / DATABASE_NAME
    out = tmp_path / "users.csv"
    export = runner.invoke(main, ["users", "export", str(database), str(out)])
    assert 0 == export.exit_code, export.output
    assert "fern.ahmed@oakfield.example" in {row[0] for row in read_sheet(out).rows}
