"""Scenario tables (YAML and XLSX) run as pytest cases against an access world."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schoolsync.access import AccessIndex
from schoolsync.access.presets import boost_insights
from schoolsync.errors import FileFormatError
from schoolsync.testing.scenarios import (
    Scenario,
    load_scenarios,
    run_scenario,
    scenario_params,
)
from schoolsync.testing.world import World

HERE = Path(__file__).parent
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("scenario", "index"), scenario_params(HERE / "boost_group.yaml"))
def test_yaml_scenario(scenario: Scenario, index: AccessIndex) -> None:
    """Each row of the YAML table holds for the world the file describes."""
    run_scenario(index, scenario)


def boost_world() -> World:
    return (
        World(boost_insights(), now=NOW)
        .trust("G")
        .school("oakfield", in_trust="G")
        .account("alice")
        .account("cole")
        .role("alice", "Group Admin")
        .role("cole", "Access Coordinator", at="oakfield")
        .grant("oakfield", ["users.manage"], accounts=["alice"])
    )


def write_sheet(path: Path, rows: list[tuple[Any, ...]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(("Account", "School", "Permission", "Expected", "Reason"))
    for row in rows:
        sheet.append(row)
    book.save(path)


def test_xlsx_scenarios_run(tmp_path: Path) -> None:
    """Rows of an XLSX sheet load as scenarios and hold against a world built in code."""
    path = tmp_path / "access.xlsx"
    write_sheet(
        path,
        [
            ("alice", "oakfield", "users.manage", "allow", None),
            ("alice", "oakfield", "users.invite", "deny", "outside grant scope"),
            (None, None, None, None, None),
            ("cole", "oakfield", "grants.manage", "yes", ""),
        ],
    )
    index = boost_world().index()

    table = load_scenarios(path)
    for scenario in table.scenarios:
        run_scenario(index, scenario)

    assert [2, 3, 5] == [s.row for s in table.scenarios]
    assert 3 == len(scenario_params(path))


def test_failing_row_names_file_and_row(tmp_path: Path) -> None:
    """A scenario that does not hold fails with the file name and row number."""
    path = tmp_path / "wrong.xlsx"
    write_sheet(path, [("alice", "oakfield", "users.invite", "allow", None)])
    (scenario,) = load_scenarios(path).scenarios

    with pytest.raises(AssertionError, match=r"wrong\.xlsx, row 2: expected allowed"):
        run_scenario(boost_world().index(), scenario)


def test_bad_rows_are_reported_with_row_and_field(tmp_path: Path) -> None:
    """An unknown expected value or reason is a FileFormatError naming row and field."""
    path = tmp_path / "bad.xlsx"
    write_sheet(path, [("alice", "oakfield", "users.manage", "maybe", None)])
    bad_reason = tmp_path / "bad.yaml"
    bad_reason.write_text(
        "scenarios:\n  - {account: a, school: s, permission: p.q, expected: deny, reason: nope}\n"
    )

    with pytest.raises(FileFormatError) as info:
        load_scenarios(path)
    with pytest.raises(FileFormatError) as info2:
        load_scenarios(bad_reason)

    assert (2, "expected") == (info.value.row, info.value.field)
    assert (1, "reason") == (info2.value.row, info2.value.field)


def test_missing_columns_and_unknown_suffix(tmp_path: Path) -> None:
    """A sheet without the required columns, or a file of another type, is refused."""
    path = tmp_path / "cols.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(("Account", "School"))
    book.save(path)

    with pytest.raises(FileFormatError, match="missing columns: permission, expected"):
        load_scenarios(path)
    with pytest.raises(FileFormatError):
        load_scenarios(tmp_path / "x.csv")


def test_yaml_world_mistakes_name_the_entry_and_field(tmp_path: Path) -> None:
    """A world entry without a required value, or with a bad one, is a FileFormatError
    naming the file and the entry's field, not a KeyError."""
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "catalogue: boost_insights\n"
        "world:\n"
        "  trusts: [{id: G}]\n"
        "  schools: [{id: S1, trust: G}, {name: Elm, trust: G}]\n"
        "scenarios: []\n"
    )
    bad_status = tmp_path / "status.yaml"
    bad_status.write_text(
        "catalogue: boost_insights\n"
        "world:\n"
        "  trusts: [{id: G}]\n"
        "  schools: [{id: S1, trust: G, status: maybe}]\n"
        "scenarios: []\n"
    )

    with pytest.raises(FileFormatError) as info:
        load_scenarios(missing)
    with pytest.raises(FileFormatError) as info2:
        load_scenarios(bad_status)

    assert ("missing.yaml", "world.schools[2].id") == (info.value.file, info.value.field)
    assert ("status.yaml", "world.schools[1]") == (info2.value.file, info2.value.field)
    assert "maybe" in str(info2.value)
