"""``schoolsync match``: match two exports and write a review workbook."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from schoolsync.bulk import read_sheet
from schoolsync.cli._common import check_table_file, run_steps
from schoolsync.clock import SystemClock
from schoolsync.errors import FileFormatError
from schoolsync.matching import MatchReview, MatchStatus, match_pupils, match_staff
from schoolsync.ports import MisSnapshot
from schoolsync.sources import (
    PupilColumns,
    StaffColumns,
    read_ctf,
    read_oneroster,
    read_sds,
    read_sds_classic,
    read_tabular,
)

__all__ = ["match", "match_files", "read_people", "write_review_workbook"]

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "mis id",
        "misid",
        "person id",
        "pupil id",
        "staff id",
        "admission number",
        "adno",
        "sourcedid",
        "reference",
    ),
    "forename": (
        "forename",
        "first name",
        "firstname",
        "legal forename",
        "given name",
        "givenname",
    ),
    "surname": ("surname", "last name", "lastname", "legal surname", "family name", "familyname"),
    "upn": ("upn", "unique pupil number"),
    "former_upns": ("former upn", "former upns"),
    "preferred_forename": ("preferred forename", "preferred first name", "known as"),
    "preferred_surname": ("preferred surname", "preferred last name"),
    "middle_names": ("middle name", "middle names", "middlename"),
    "date_of_birth": ("date of birth", "dob", "birth date", "birthdate"),
    "gender": ("gender", "sex"),
    "year": ("year", "year group", "nc year", "ncyear", "year code"),
    "classes": ("class", "classes", "reg group", "registration group", "form"),
    "email": ("email", "email address", "e mail"),
    "title": ("title",),
    "staff_code": ("staff code", "initials"),
}
_PUPIL_FIELDS = {a.name for a in PupilColumns.__attrs_attrs__}
_STAFF_FIELDS = {a.name for a in StaffColumns.__attrs_attrs__}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _columns(path: Path, kind: str) -> PupilColumns | StaffColumns:
    header = read_sheet(path).header
    by_norm = {_norm(h): h for h in header}
    fields = _PUPIL_FIELDS if kind == "pupils" else _STAFF_FIELDS
    found: dict[str, str] = {}
    for field in fields:
        for name in _SYNONYMS.get(field, ()):
            if name in by_norm:
                found[field] = by_norm[name]
                break
    missing = [f for f in ("id", "forename", "surname") if f not in found]
    if missing:
        raise FileFormatError(
            path.name,
            "cannot find the column(s) for "
            + ", ".join(missing)
            + " (headers such as 'ID', 'Forename', 'Surname' are recognised)",
            row=1,
        )
    if kind == "pupils":
        return PupilColumns(**found)
    return StaffColumns(**found)


def _bundle_names(path: Path) -> set[str]:
    if path.is_dir():
        return {p.name.lower() for p in path.iterdir()}
    with zipfile.ZipFile(path) as archive:
        return {Path(n).name.lower() for n in archive.namelist()}


def read_people(
    path: Path, *, kind: str, school_id: str, school_org: str | None = None
) -> MisSnapshot:
    """Read pupils or staff from an export, telling the format from the file.

    ``.xml`` is a CTF; a folder or ``.zip`` is a OneRoster bundle (it has ``manifest.csv``),
    classic SDS (``student.csv``) or SDS v2; ``.csv``/``.xlsx`` is a plain table whose columns
    are recognised by their headings. *school_org* picks the school of a bundle holding several
    (its ``sourcedId``, or its DfE number for classic SDS).

    Raises:
        FileFormatError: the file cannot be read as any of these.
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
    if suffix in {".csv", ".xlsx", ".xlsm"}:
        check_table_file(path)
        columns = _columns(path, kind)
        if isinstance(columns, PupilColumns):
            return read_tabular(school_id=school_id, pupils=path, pupil_columns=columns)
        return read_tabular(school_id=school_id, staff=path, staff_columns=columns)
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
@click.argument("mis_file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("review.xlsx"),
    show_default=True,
    help="The review workbook to write.",
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
def match(app_file: Path, mis_file: Path, out: Path, kind: str, school_org: str | None) -> None:
    """Match the app's export APP_FILE with the MIS export MIS_FILE; write a review workbook.

    Each file may be CSV/XLSX (columns recognised by heading), a OneRoster or SDS bundle (folder
    or zip) or a CTF (.xml, pupils only).
    """
    steps: list[tuple[str, Callable[[], None]]] = []
    state: dict[str, Any] = {}

    def read(name: str, path: Path) -> Callable[[], None]:
        def step() -> None:
            state[name] = read_people(path, kind=kind, school_id="school", school_org=school_org)

        return step

    def write_workbook(review: MatchReview[Any]) -> None:
        from schoolsync.review import write_review_workbook as write

        write(
            review,
            out,
            sources=[f"app: {app_file.name}", f"MIS: {mis_file.name}"],
            written_at=SystemClock().now(),
        )
        state["out"] = out

    def run_match() -> None:
        app: MisSnapshot = state["app"]
        mis: MisSnapshot = state["mis"]
        if kind == "pupils":
            state["review"] = match_pupils(list(mis.pupils), list(app.pupils))
        else:
            state["review"] = match_staff(list(mis.staff), list(app.staff))

    steps = [
        ("reading the app file", read("app", app_file)),
        ("reading the MIS file", read("mis", mis_file)),
        ("matching", run_match),
        ("writing the workbook", lambda: write_workbook(state["review"])),
    ]
    run_steps("Matching", steps)
    app_snap: MisSnapshot = state["app"]
    mis_snap: MisSnapshot = state["mis"]
    records: Sequence[object] = app_snap.pupils if kind == "pupils" else app_snap.staff
    mis_records: Sequence[object] = mis_snap.pupils if kind == "pupils" else mis_snap.staff
    review: MatchReview[Any] = state["review"]
    click.echo(f"Matched {len(mis_records)} MIS {kind} with {len(records)} app {kind}:")
    counts = review.counts()
    for status in sorted(MatchStatus, key=lambda s: s.review_order):
        click.echo(f"  {status.label:<12} {counts.get(status, 0)}")
    for warning in [*app_snap.warnings, *mis_snap.warnings][:10]:
        click.echo(f"  warning: {warning}")
    click.echo(f"Wrote {state['out']}")
