"""Scenario tables: access tests a data-protection officer can write without code.

A table has one row per question: ``account``, ``school``, ``permission``, ``expected``
(allow/deny, yes/no, true/false) and, for denials, an optional ``reason`` (a
:class:`~schoolsync.access.DenialReason` value such as ``no_grant``). Tables are YAML files
(a ``scenarios:`` list, optionally with a ``world:`` section and a ``catalogue:`` preset name)
or XLSX sheets (a header row with those columns). :func:`scenario_params` turns a table into
``pytest.param`` cases::

    @pytest.mark.parametrize("scenario", scenario_params("access.yaml"))
    def test_access(scenario, index):
        run_scenario(index, scenario)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from schoolsync.access.decision import DenialReason
from schoolsync.access.index import AccessIndex
from schoolsync.access.presets import PRESETS
from schoolsync.errors import FileFormatError, ValidationError
from schoolsync.testing.assertions import assert_allowed, assert_denied
from schoolsync.testing.world import World

__all__ = [
    "Scenario",
    "ScenarioTable",
    "load_scenarios",
    "run_scenario",
    "scenario_params",
]

_YES = {"allow", "allowed", "yes", "y", "true", "1", "grant", "granted"}
_NO = {"deny", "denied", "no", "n", "false", "0", "refuse", "refused"}
_COLUMNS = ("account", "school", "permission", "expected", "reason")


@attrs.frozen(kw_only=True)
class Scenario:
    """One row: may *account* use *permission* at *school*? ``row`` is the 1-based source row."""

    account: str
    school: str | None
    permission: str
    expected: bool
    reason: DenialReason | None = None
    source: str = ""
    row: int = 0

    @property
    def id(self) -> str:
        """A readable test id."""
        verdict = "allow" if self.expected else f"deny-{self.reason or 'any'}"
        return f"{self.account}:{self.permission}@{self.school or 'trust'}:{verdict}"


@attrs.frozen(kw_only=True)
class ScenarioTable:
    """The rows of one file, and the world it describes (YAML files may carry one)."""

    scenarios: tuple[Scenario, ...]
    world: World | None = None


def _parse_row(values: Mapping[str, Any], source: str, row: int) -> Scenario:
    def text(field: str, required: bool = True) -> str | None:
        value = values.get(field)
        if value is None or str(value).strip() == "":
            if required:
                raise FileFormatError(source, "a value is required", row=row, field=field)
            return None
        return str(value).strip()

    expected_text = str(text("expected")).lower()
    if expected_text in _YES:
        expected = True
    elif expected_text in _NO:
        expected = False
    else:
        raise FileFormatError(
            source, "expected must be allow or deny", row=row, field="expected", value=expected_text
        )
    reason_text = text("reason", required=False)
    reason = None
    if reason_text is not None:
        try:
            reason = DenialReason(reason_text.lower().replace(" ", "_"))
        except ValueError:
            raise FileFormatError(
                source,
                "unknown reason; one of " + ", ".join(r.value for r in DenialReason),
                row=row,
                field="reason",
                value=reason_text,
            ) from None
        if expected:
            raise FileFormatError(
                source, "a reason only goes with deny", row=row, field="reason", value=reason_text
            )
    return Scenario(
        account=str(text("account")),
        school=text("school", required=False),
        permission=str(text("permission")),
        expected=expected,
        reason=reason,
        source=source,
        row=row,
    )


def _load_yaml(path: Path, now: datetime) -> ScenarioTable:
    import yaml  # the "testing" (or "yaml") extra

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FileFormatError(path.name, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        raise FileFormatError(path.name, "expected a mapping with a 'scenarios' list")
    rows = []
    for i, item in enumerate(data["scenarios"], start=1):
        if not isinstance(item, dict):
            raise FileFormatError(path.name, "each scenario is a mapping", row=i)
        rows.append(_parse_row(item, path.name, i))
    built = None
    if "world" in data:
        preset = data.get("catalogue")
        if preset not in PRESETS:
            raise FileFormatError(
                path.name,
                "a world needs 'catalogue': one of " + ", ".join(PRESETS),
                field="catalogue",
                value=preset,
            )
        if not isinstance(data["world"], Mapping):
            raise FileFormatError(path.name, "the world is a mapping", field="world")
        try:
            built = World.from_dict(PRESETS[preset](), data["world"], now=now)
        except ValidationError as exc:
            raise FileFormatError(path.name, exc.reason, field=exc.field, value=exc.value) from None
    return ScenarioTable(scenarios=tuple(rows), world=built)


def _load_xlsx(path: Path, sheet: str | None) -> ScenarioTable:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)  # small sheets: load fully
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise FileFormatError(path.name, f"not a readable XLSX file: {exc}") from None
    try:
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip().lower() if h is not None else "" for h in next(rows, ())]
        missing = [c for c in _COLUMNS[:4] if c not in header]
        if missing:
            raise FileFormatError(path.name, f"missing columns: {', '.join(missing)}", row=1)
        found = []
        for number, values in enumerate(rows, start=2):
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            found.append(_parse_row(dict(zip(header, values, strict=False)), path.name, number))
    finally:
        book.close()
    return ScenarioTable(scenarios=tuple(found))


def load_scenarios(
    path: str | Path, *, sheet: str | None = None, now: datetime | None = None
) -> ScenarioTable:
    """Read a scenario table from a ``.yaml``/``.yml`` or ``.xlsx`` file.

    Bad rows raise :class:`~schoolsync.errors.FileFormatError` naming the file, row and field.
    *now* is when a YAML world is evaluated (default: 2000-01-01 UTC, a fixed moment).
    """
    path = Path(path)
    moment = now or datetime(2000, 1, 1, tzinfo=UTC)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(path, moment)
    if path.suffix.lower() == ".xlsx":
        return _load_xlsx(path, sheet)
    raise FileFormatError(path.name, "scenario tables are .yaml, .yml or .xlsx files")


def run_scenario(index: AccessIndex, scenario: Scenario) -> None:
    """Assert one scenario against *index* (an AssertionError names the source row)."""
    try:
        if scenario.expected:
            assert_allowed(index, scenario.account, scenario.permission, scenario.school)
        else:
            assert_denied(
                index,
                scenario.account,
                scenario.permission,
                scenario.school,
                reason=scenario.reason,
            )
    except AssertionError as exc:
        raise AssertionError(f"{scenario.source}, row {scenario.row}: {exc}") from None


def scenario_params(
    path: str | Path, *, sheet: str | None = None, now: datetime | None = None
) -> list[Any]:
    """The rows of a scenario table as ``pytest.param`` values (ids name each row).

    Each value is ``(scenario, index)`` when the file carries its own world (YAML), else just
    the :class:`Scenario` (pair it with your own index and :func:`run_scenario`).
    """
    import pytest

    table = load_scenarios(path, sheet=sheet, now=now)
    if table.world is not None:
        index = table.world.index()
        return [pytest.param(s, index, id=s.id) for s in table.scenarios]
    return [pytest.param(s, id=s.id) for s in table.scenarios]
