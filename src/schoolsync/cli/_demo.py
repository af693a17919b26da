"""``schoolsync demo``: the sample trust scenario with a readable summary of each step."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from schoolsync.cli._common import Output, output_options
from schoolsync.demo import DemoStep, run_demo

__all__ = ["demo"]


@click.command()
@click.argument(
    "directory",
    required=False,
    default="schoolsync-demo",
    type=click.Path(file_okay=False, path_type=Path),
)
@output_options
def demo(directory: Path, *, output: Output) -> None:
    """Build a sample trust in DIRECTORY/schoolsync-demo.sqlite and walk it through set-up,
    invitations, a grant, an MIS sync and a bulk import (default DIRECTORY: ./schoolsync-demo).

    Re-running starts again from a fresh database.
    """
    started = time.perf_counter()
    numbered = iter(range(1, 100))

    steps: list[str] = []

    def show(step: DemoStep) -> None:
        steps.append(step.title)
        if output.quiet or output.as_json:
            return
        click.secho(f"\n{next(numbered)}. {step.title}", bold=True)
        for line in step.lines:
            click.echo(f"   {line}")

    result = run_demo(directory, echo=show)
    elapsed = time.perf_counter() - started
    output.result(database=str(result.database), steps=steps)
    output.echo(f"\nDone in {elapsed:.1f} s. The database is {result.database}")
    # The command as the user typed it (``.venv/bin/schoolsync`` when not on PATH).
    typed = sys.argv[0] if Path(sys.argv[0]).name == "schoolsync" else "schoolsync"
    output.echo(f"Next: {typed} users export {result.database} users.xlsx")
    output.echo("      (edit users.xlsx in a spreadsheet, then preview the changes it asks for)")
    output.echo(f"      {typed} users import {result.database} users.xlsx --roles boost-insights")
