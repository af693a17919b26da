"""``schoolsync match``: match two exports and write a review workbook."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import openpyxl
from openpyxl.styles import Font

from schoolsync.bulk import neutralise, read_sheet
from schoolsync.cli._common import check_table_file, run_steps
from schoolsync.errors import FileFormatError
from schoolsync.matching import MatchReview, MatchStatus, match_pupils, match_staff, record_name
from schoolsync.people import Pupil, StaffMember
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

__all__ = ["match", "read_people", "write_review_workbook"]

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


def _dob(record: Pupil | StaffMember | None) -> str:
    value = getattr(record, "date_of_birth", None)
    return "" if value is None else value.isoformat()


def write_review_workbook(review: MatchReview[Any], path: Path) -> Path:
    """Write *review* as a workbook: a Summary sheet, then one sheet per status in review order
    (Not matched, New, May match, Matched) with each pair's score and its per-field breakdown.

    Every cell is neutralised (no value can run as a spreadsheet formula).
    """
    workbook = openpyxl.Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Summary"
    summary.append(["Status", "Records"])
    counts = review.counts()
    ordered = sorted(MatchStatus, key=lambda s: s.review_order)
    for status in ordered:
        summary.append([status.label, counts.get(status, 0)])
    summary["A1"].font = summary["B1"].font = Font(bold=True)
    for status in ordered:
        results = review.by_status(status)
        fields: list[str] = []
        for r in results:
            for score in r.breakdown:
                if score.field not in fields:
                    fields.append(score.field)
        sheet = workbook.create_sheet(status.label)
        header = [
            "Score",
            "Rule",
            "MIS id",
            "MIS name",
            "MIS date of birth",
            "App id",
            "App name",
            "App date of birth",
            "Explanation",
            "Flags",
            *(f"{f.replace('_', ' ')}" for f in fields),
        ]
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r in results:
            by_field = {f.field: f for f in r.breakdown}
            row: list[object] = [
                round(r.score, 3) if r.is_pair else None,
                r.rule.value if r.is_pair else "",
                neutralise(r.mis_key or ""),
                neutralise(record_name(r.mis)) if r.mis is not None else "",
                _dob(r.mis),
                neutralise(r.app_key or ""),
                neutralise(record_name(r.app)) if r.app is not None else "",
                _dob(r.app),
                neutralise(r.explanation),
                ", ".join(r.flags),
            ]
            for name in fields:
                found = by_field.get(name)
                row.append(
                    "" if found is None else neutralise(f"{found.similarity:.2f} {found.note}")
                )
            sheet.append(row)
        sheet.freeze_panes = "A2"
    workbook.save(path)
    return path


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
        (
            "writing the workbook",
            lambda: state.__setitem__("out", write_review_workbook(state["review"], out)),
        ),
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
