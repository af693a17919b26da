"""``schoolsync check-upload``: validate a School Upload spreadsheet and list its problems."""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

import click
from openpyxl.utils.exceptions import InvalidFileException

from schoolsync.cli._common import (
    Output,
    _DataProblems,
    check_table_file,
    open_store,
    output_options,
    pick_trust,
)
from schoolsync.errors import FileFormatError
from schoolsync.sources.school_upload import read_school_upload
from schoolsync.trusts import Membership, School, plan_school_upload

__all__ = ["check_upload"]


@click.command("check-upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check against the schools and trusts in this SQLite store.",
)
@click.option("--trust", "trust_id", help="With --store: the trust the schools would join.")
@click.option("--sheet", help="The workbook sheet to read (default: the first).")
@output_options
def check_upload(
    file: Path, store: Path | None, trust_id: str | None, sheet: str | None, *, output: Output
) -> None:
    """Validate a School Upload FILE (.xlsx or .csv: school name, postcode, URN).

    Lists every problem with its row and column and exits with status 1 if there is any.
    With --store, a school already in another trust is a problem too.
    """
    layout = check_table_file(file, expected=("School name", "Postcode", "URN"))
    try:
        sheet_read = read_school_upload(file, sheet=sheet)
    except (zipfile.BadZipFile, KeyError, InvalidFileException) as exc:
        # A zip that is not a workbook (or is damaged): the reader's error is not a sentence.
        raise FileFormatError(file.name, "not a readable XLSX workbook") from exc
    schools: list[School] = []
    memberships: list[Membership] = []
    trust = trust_id or "(new trust)"
    if store is not None:
        db = open_store(store)
        try:
            with db.unit_of_work() as uow:
                if trust_id is not None or uow.trusts.count() == 1:
                    trust = pick_trust(uow, trust_id)
                schools = uow.schools.list()
                memberships = uow.memberships.list()
        finally:
            db.close()
    counter = itertools.count(1)
    plan = plan_school_upload(
        sheet_read.rows,
        file=sheet_read.file,
        trust_id=trust,
        schools=schools,
        memberships=memberships,
        new_id=lambda: f"new-{next(counter)}",
    )
    new = sum(1 for p in plan.valid if p.is_new)
    known = sum(1 for p in plan.valid if not p.is_new and not p.already_in_trust)
    already = sum(1 for p in plan.valid if p.already_in_trust)
    how = f" (read as {layout.describe()})" if layout is not None else ""
    output.echo(
        f"{sheet_read.file}{how}: {len(sheet_read.rows)} row(s); {len(plan.valid)} valid "
        f"({new} new school(s), {known} known, {already} already in the trust)"
    )
    output.result(
        file=str(file),
        read_as=layout.describe() if layout is not None else None,
        rows=len(sheet_read.rows),
        valid=len(plan.valid),
        new_schools=new,
        known_schools=known,
        already_in_trust=already,
    )
    if plan.problems:
        raise _DataProblems(
            f"{sheet_read.file} has {len(plan.problems)} problem(s); fix them and check again",
            [str(p) for p in plan.problems],
        )
    output.echo("No problems found.")
