"""The project's own promises about itself: README's Quick start and what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_quick_start_has_exactly_two_commands_demo_then_tests() -> None:
    """README's Quick start holds two one-line commands: the demo first, then the test suite."""
    commands = _quick_start_commands()
    assert 2 == len(commands)
    assert all("\n" not in c for c in commands)
    assert commands[0].endswith("schoolsync demo")
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """.ci/run calls README's test command verbatim, then mypy --strict and ruff."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    test_command = _quick_start_commands()[1]
    assert test_command in [line.strip() for line in ci]
    assert any(line.strip().startswith(".venv/bin/mypy --strict src") for line in ci)
    assert any(line.strip().startswith(".venv/bin/ruff check") for line in ci)
