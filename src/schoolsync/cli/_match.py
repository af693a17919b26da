"""``schoolsync match``: match two exports and write a review workbook."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from schoolsync.cli._columns import columns_for, parse_column_options, read_header
from schoolsync.cli._common import (
    Output,
    _DataProblems,
    check_table_file,
    output_options,
    refuse_overwrite,
)
from schoolsync.cli._fetch import connect_from_env, provider_spec
from schoolsync.clock import SystemClock
from schoolsync.errors import FileFormatError, ProblemsError
from schoolsync.matching import MatchReview, MatchStatus, match_pupils, match_staff
from schoolsync.ports import MisSnapshot
from schoolsync.sources import (
    PupilColumns,
    StaffColumns,
    TabularSource,
    read_ctf,
    read_oneroster,
    read_sds,
    read_sds_classic,
)

__all__ = ["match", "match_files", "read_people", "write_review_workbook"]


def _bundle_names(path: Path) -> set[str]:
    if path.is_dir():
        return {p.name.lower() for p in path.iterdir()}
    with zipfile.ZipFile(path) as archive:
        return {Path(n).name.lower() for n in archive.namelist()}


def read_people(
    path: Path,
    *,
    kind: str,
    school_id: str,
    school_org: str | None = None,
    columns: Mapping[str, str] | None = None,
    sheet: str | None = None,
    progress: Callable[[int], None] | None = None,
    read_as: list[str] | None = None,
) -> MisSnapshot:
    """Read pupils or staff from an export, telling the format from the file.

    ``.xml`` is a CTF; a folder or ``.zip`` is a OneRoster bundle (it has ``manifest.csv``),
    classic SDS (``student.csv``) or SDS v2; ``.csv``/``.txt``/``.xlsx`` is a plain table whose
    columns are recognised by their headings, or named in *columns* (field -> header). *sheet*
    picks a workbook's sheet (default: the first with the needed columns). *school_org* picks
    the school of a bundle holding several (its ``sourcedId``, or its DfE number for classic
    SDS). *progress* is told how many rows each step read; *read_as*, when given, gets how a
    plain table was read (``"Windows-1252, semicolon-separated, header on row 3"``).

    Raises:
        FileFormatError: the file cannot be read as any of these (for a table missing a needed
            column, the message lists the file's headers and the nearest matches).
        ProblemsError: a plain table has several bad rows (each is one problem).
    """
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return read_ctf(path, school_id=school_id)
    if path.is_dir() or suffix == ".zip":
        try:
            names = _bundle_names(path)
        except zipfile.BadZipFile as exc:
            raise FileFormatError(path.name, "not a readable zip file") from exc
        if "manifest.csv" in names:
            return read_oneroster(path, school_org=school_org, school_id=school_id)
        if "student.csv" in names:
            return read_sds_classic(path, school=school_org, school_id=school_id)
        if "users.csv" in names:
            return read_sds(path, school_org=school_org, school_id=school_id)
        raise FileFormatError(
            path.name,
            "not a OneRoster or SDS export (it has no manifest.csv, student.csv or users.csv)",
        )
    if suffix in {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}:
        check_table_file(path)
        header = read_header(path, kind=kind, sheet=sheet)
        mapped = columns_for(path, header, kind, columns or {})
        source = TabularSource(
            school_id=school_id,
            pupils=path if isinstance(mapped, PupilColumns) else None,
            pupil_columns=mapped if isinstance(mapped, PupilColumns) else None,
            staff=path if isinstance(mapped, StaffColumns) else None,
            staff_columns=mapped if isinstance(mapped, StaffColumns) else None,
            sheet=header.sheet,
        )
        if read_as is not None:
            read_as.append(header.read_as)
        return source.read(progress=progress)
    raise FileFormatError(
        path.name, "expected a .csv, .xlsx, CTF .xml, or a OneRoster/SDS folder or .zip"
    )


def write_review_workbook(review: MatchReview[Any], path: Path) -> Path:
    """Write *review* as a review workbook (moved to :func:`schoolsync.review.write_review_workbook`)."""
    from schoolsync.review import write_review_workbook as write

    write(review, path)
    return path


def match_files(
    app_file: Path, mis_file: Path, *, kind: str, school_org: str | None
) -> tuple[MatchReview[Any], MisSnapshot, MisSnapshot]:
    """Read both exports and match them: the review, the app's snapshot and the MIS's."""
    app = read_people(app_file, kind=kind, school_id="school", school_org=school_org)
    mis = read_people(mis_file, kind=kind, school_id="school", school_org=school_org)
    review: MatchReview[Any]
    if kind == "pupils":
        review = match_pupils(list(mis.pupils), list(app.pupils))
    else:
        review = match_staff(list(mis.staff), list(app.staff))
    return review, app, mis


@click.command()
@click.argument("app_file", type=click.Path(exists=True, path_type=Path))
@click.argument("mis_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("review.xlsx"),
    show_default=True,
    help="The review workbook to write (.xlsx; never one of the input files).",
)
@click.option(
    "--kind",
    type=click.Choice(["pupils", "staff"]),
    default="pupils",
    show_default=True,
    help="Which records to match.",
)
@click.option(
    "--org",
    "school_org",
    help="For a OneRoster or SDS bundle holding several schools: the school's sourcedId "
    "(DfE number for classic SDS).",
)
@click.option(
    "--column",
    "column_pairs",
    multiple=True,
    metavar="FIELD=HEADER",
    help='Which header holds a field, e.g. --column id="Student ID" --column classes=Reg '
    "(repeatable; fields: id, forename, surname, upn, date_of_birth, gender, year, classes, "
    "email...).",
)
@click.option(
    "--columns",
    "columns_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='A TOML or JSON file of FIELD = "HEADER" lines (as --column).',
)
@click.option("--sheet", help="The workbook sheet to read (default: the first with the columns).")
@output_options
def match(
    app_file: Path,
    mis_file: Path,
    out: Path,
    kind: str,
    school_org: str | None,
    column_pairs: tuple[str, ...],
    columns_file: Path | None,
    sheet: str | None,
    *,
    output: Output,
) -> None:
    """Match the app's export APP_FILE with the MIS export MIS_FILE; write a review workbook.

    Each file may be CSV/XLSX (columns recognised by heading, or named with --column), a
    OneRoster or SDS bundle (folder or zip) or a CTF (.xml, pupils only). MIS_FILE may instead
    name a school at a data broker, PROVIDER:SCHOOL (e.g. wonde:A1930499544), with credentials in
    environment variables as for ``schoolsync fetch``. Every problem in the files is listed (exit
    status 1); nothing is written then.
    """
    # MIS_FILE may name a broker instead: "wonde:A1930499544" (see docs/brokers.md).
    broker = provider_spec(str(mis_file))
    if broker is None and not mis_file.exists():
        raise click.BadParameter(f"Path {str(mis_file)!r} does not exist.", param_hint="'MIS_FILE'")
    refuse_overwrite(out, [app_file] if broker is not None else [app_file, mis_file])
    mapping = parse_column_options(column_pairs, columns_file)
    state: dict[str, Any] = {}
    problems: list[str] = []

    with output.progress("Matching") as progress:
        for name, path in (("app", app_file), ("mis", mis_file)):
            progress.stage(f"reading {path.name}")
            read_as: list[str] = []
            if name == "mis" and broker is not None:
                with connect_from_env(*broker, school_id="school") as conn:
                    state[name] = conn.fetch().snapshot
                state[f"{name}_read_as"] = ""
                continue
            try:
                state[name] = read_people(
                    path,
                    kind=kind,
                    school_id="school",
                    school_org=school_org,
                    columns=mapping,
                    sheet=sheet,
                    progress=progress.advance,
                    read_as=read_as,
                )
            except ProblemsError as exc:
                problems.extend(exc.problems())
                continue
            except FileFormatError as exc:
                problems.append(_cli_wording(str(exc)))
                continue
            state[f"{name}_read_as"] = read_as[0] if read_as else ""
        problems = list(dict.fromkeys(problems))  # the same file given twice
        if len(problems) == 1:
            raise _DataProblems(problems[0])
        if problems:
            raise _DataProblems(
                f"{len(problems)} problem(s) in the files; nothing was written", problems
            )
        progress.stage("matching")
        app: MisSnapshot = state["app"]
        mis: MisSnapshot = state["mis"]
        review: MatchReview[Any]
        if kind == "pupils":
            review = match_pupils(list(mis.pupils), list(app.pupils))
        else:
            review = match_staff(list(mis.staff), list(app.staff))
        progress.stage(f"writing {out.name}")
        from schoolsync.review import write_review_workbook as write

        written = write(
            review,
            out,
            sources=[f"app: {app_file.name}", f"MIS: {mis_file.name}"],
            written_at=SystemClock().now(),
        )

    records: Sequence[object] = app.pupils if kind == "pupils" else app.staff
    mis_records: Sequence[object] = mis.pupils if kind == "pupils" else mis.staff
    for name, path, snap in (("app", app_file, app), ("mis", mis_file, mis)):
        how = state.get(f"{name}_read_as") or ""
        count = len(snap.pupils if kind == "pupils" else snap.staff)
        output.echo(f"Read {path.name}{f' ({how})' if how else ''}: {count} {kind}")
    output.echo(f"Matched {len(mis_records)} MIS {kind} with {len(records)} app {kind}:")
    counts = review.counts()
    ordered = sorted(MatchStatus, key=lambda s: s.review_order)
    for status in ordered:
        output.echo(f"  {status.label:<12} {counts.get(status, 0)}")
    output.warn([*app.warnings, *mis.warnings])
    output.echo(f"Wrote {written}")
    output.result(
        kind=kind,
        app={"file": str(app_file), "records": len(records), "read_as": state["app_read_as"]},
        mis={"file": str(mis_file), "records": len(mis_records), "read_as": state["mis_read_as"]},
        counts={status.label: counts.get(status, 0) for status in ordered},
        out=str(written),
    )


def _cli_wording(message: str) -> str:
    """A library message in the command line's words (``--org``, not ``school_org=``)."""
    for argument in ("pass school_org=", "pass school="):
        message = message.replace(argument, "use --org")
    return message
