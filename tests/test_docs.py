"""Every ```python block in docs/*.md runs (per page, in order, in one namespace), and every
script in examples/ runs to completion, so that neither can rot."""

from __future__ import annotations

import code
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(page: Path) -> list[str]:
    """The page's runnable python blocks (a block whose first line is ``# not run`` is skipped)."""
    return [
        b for b in _BLOCK.findall(page.read_text(encoding="utf-8")) if not b.startswith("# not run")
    ]


@pytest.mark.parametrize("page", [p for p in DOC_PAGES if code_blocks(p)], ids=lambda p: p.name)
def test_docs_page_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's examples run top to bottom without error (their asserts hold)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, block in enumerate(code_blocks(page), start=1):
        code = compile(block, f"{page.name}[block {number}]", "exec")
        exec(code, namespace)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_script_runs(script: Path, tmp_path: Path) -> None:
    """The example script exits 0 when run from an empty directory."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def test_getting_started_pastes_into_a_python_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/getting-started.md says to paste its blocks into `python`: fed line by line to an
    interactive console (where a blank line ends an indented block), every line is accepted
    and every statement runs."""
    monkeypatch.chdir(tmp_path)
    errors: list[str] = []

    class Shell(code.InteractiveConsole):
        def showsyntaxerror(self, *args: object, **kwargs: object) -> None:
            errors.append(traceback.format_exc(limit=0))

        def showtraceback(self) -> None:
            errors.append(traceback.format_exc())

    shell = Shell({"__name__": "__console__"})
    for block in code_blocks(ROOT / "docs" / "getting-started.md"):
        for line in block.splitlines():
            shell.push(line)
        shell.push("")  # the Enter after a pasted block
    assert not errors, errors[0]
