"""OneRoster and Microsoft SDS findings from reading real bundles, each kept as a regression:
the enrolment's own role, OneRoster 1.0 bundles, unknown manifest keys, a school under a
school, and classic SDS's Gender, Zip, day_first and error wording."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from tests.integration.test_sources_oneroster import (
    ENROLMENTS,
    ORGS,
    USERS,
    bundle_files,
    write_bundle,
)

from schoolsync.errors import FileFormatError
from schoolsync.people import Gender
from schoolsync.sources import OneRosterSource, read_oneroster, read_sds_classic

SDS = Path(__file__).parents[2].parent / "shared" / "fixtures" / "microsoft-sds-csv-samples"
SDS_UK = SDS / "UK Format" / "25 Users"
SDS_US = SDS / "SDS Format" / "25 Users"
needs_sds = pytest.mark.skipif(
    not SDS_UK.is_dir(), reason="the shared fixtures folder (../shared/fixtures) is absent"
)


def test_an_enrolment_keeps_its_own_role_and_a_disagreement_is_warned(tmp_path: Path) -> None:
    """A student in users.csv enrolled as the class's teacher: the enrolment is reported as a
    teacher's, with a warning naming the row."""
    files = dict(bundle_files())
    files["enrollments.csv"] = ENROLMENTS.replace(
        "e2,active,2024-09-01T08:00:00Z,c2,sch1,p2,student",
        "e2,active,2024-09-01T08:00:00Z,c2,sch1,p2,teacher",
    )
    source = OneRosterSource(write_bundle(tmp_path, files), school_org="sch1")
    roles = {(e.class_id, e.user_id): e.role for e in source.enrolments()}
    assert "teacher" == roles[("c2", "p2")]
    assert "student" == roles[("c1", "p1")]
    assert "teacher" == roles[("c1", "t1")]
    warning = next(w for w in source.warnings() if "enrolment's role" in w)
    assert "enrollments.csv, row 3, field 'role'" in warning
    assert "'teacher' is not the user's role in the users file ('student')" in warning


def test_a_oneroster_1_0_bundle_without_enabled_user_is_read(tmp_path: Path) -> None:
    """OneRoster 1.0 had no enabledUser column (1.1 added it): the bundle is read, saying so."""
    files = dict(bundle_files(version="1.0"))
    header, *rows = USERS.splitlines(keepends=True)
    cut = header.split(",").index("enabledUser")
    files["users.csv"] = "".join(
        ",".join(c for i, c in enumerate(line.split(",")) if i != cut) for line in [header, *rows]
    )
    source = OneRosterSource(write_bundle(tmp_path, files), school_org="sch1")
    assert "1.0" == source.version
    assert ["p1", "p2"] == [p.id for p in source.pupils()]
    assert any("OneRoster 1.0 read with the 1.1 columns" in w for w in source.warnings())
    files["manifest.csv"] = files["manifest.csv"].replace(
        "oneroster.version,1.0", "oneroster.version,1.1"
    )
    with pytest.raises(FileFormatError, match="enabledUser"):
        read_oneroster(write_bundle(tmp_path, files, name="b11"), school_org="sch1")


def test_unknown_manifest_keys_are_warned(tmp_path: Path) -> None:
    """A manifest key OneRoster does not define (a typo of a file key) is a warning."""
    files = dict(bundle_files())
    files["manifest.csv"] += "files.users,bulk\nsource.systemCode,X1\n"
    snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
    assert any("unknown manifest key 'files.users' ignored" in w for w in snap.warnings)
    assert not any("source.systemCode" in w for w in snap.warnings)


def test_a_school_under_a_school_is_not_absorbed(tmp_path: Path) -> None:
    """An org of type school whose parent is the chosen school is a school of its own: its
    pupils are not read as the parent's, and the warning says how to read it."""
    files = dict(bundle_files())
    files["orgs.csv"] = ORGS + "sch3,active,2024-09-01T08:00:00Z,Oak Infants,school,8209999,sch1\n"
    files["users.csv"] = USERS + (
        "p9,active,2024-09-02T10:00:00Z,true,sch3,student,ina,,Ina,Iles,,,,,,,02,\n"
    )
    snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
    assert "p9" not in [p.id for p in snap.pupils]
    assert any(
        "org 'sch3' is a school under 'sch1'" in w and "school_org=" in w for w in snap.warnings
    )
    child = read_oneroster(write_bundle(tmp_path, files, name="b2"), school_org="sch3")
    assert ["p9"] == [p.id for p in child.pupils]


@needs_sds
def test_classic_sds_reads_gender_and_day_first(tmp_path: Path) -> None:
    """Microsoft's UK-format sample with a Gender column: read as each pupil's gender; its
    Birthdate read day first when asked."""
    folder = tmp_path / "uk"
    shutil.copytree(SDS_UK, folder)
    student = folder / "Student.csv"
    lines = student.read_text(encoding="utf-8-sig").splitlines()
    lines = [lines[0] + ",Gender"] + [
        line + (",F" if i % 2 else ",M") for i, line in enumerate(lines[1:])
    ]
    student.write_text("\n".join(lines) + "\n", encoding="utf-8")
    us_order = read_sds_classic(folder, school="10001")
    genders = {p.gender for p in us_order.pupils}
    assert {Gender.FEMALE, Gender.MALE} == genders
    assert not any("Gender" in w for w in us_order.warnings)
    folder2 = _classic(tmp_path / "one", "DfE Number,Name\n8201234,Oak\n")
    (folder2 / "Student.csv").write_text(
        "ID,School DfE Number,Username,First Name,Last Name,Birthdate,Gender\n"
        "s1,8201234,amy,Amy,Ng,4/2/2013,F\n"
    )
    assert (4, 2) == _month_day(read_sds_classic(folder2).pupils[0].date_of_birth)
    assert (2, 4) == _month_day(read_sds_classic(folder2, day_first=True).pupils[0].date_of_birth)


def _month_day(value: object) -> tuple[int, int]:
    assert isinstance(value, date)
    return value.month, value.day


def _classic(folder: Path, school_csv: str) -> Path:
    folder.mkdir()
    (folder / "School.csv").write_text(school_csv)
    (folder / "Section.csv").write_text("ID,School DfE Number,Section Name\nc1,8201234,7A\n")
    (folder / "Student.csv").write_text(
        "ID,School DfE Number,Username,First Name,Last Name\ns1,8201234,amy,Amy,Ng\n"
    )
    (folder / "Teacher.csv").write_text("ID,School DfE Number,Username\n")
    (folder / "StudentEnrollment.csv").write_text("Section ID,ID\n")
    (folder / "TeacherRoster.csv").write_text("Section ID,ID\n")
    return folder


@needs_sds
def test_classic_sds_zip_column_is_known_and_errors_name_its_own_option() -> None:
    """Microsoft's own School.csv has a Zip column: no "unknown column" warning. Two schools
    with no choice: the error names `school=` and `DfE Number`/`SIS ID`, never school_org."""
    snap = read_sds_classic(SDS_US, school="10001")
    assert not any("Zip" in w for w in snap.warnings)


def test_classic_sds_several_schools_error_names_school_and_dfe_number(tmp_path: Path) -> None:
    """The error for two schools names the classic reader's `school=` and `DfE Number`."""
    folder = _classic(tmp_path / "classic", "DfE Number,Name\n8201234,Oak\n8205678,Elm\n")
    with pytest.raises(FileFormatError) as raised:
        read_sds_classic(folder)
    text = str(raised.value)
    assert "pass school= to choose one" in text
    assert "field 'DfE Number'" in text
    assert "school_org" not in text
    assert "sourcedId" not in text
    with pytest.raises(FileFormatError) as missing:
        read_sds_classic(folder, school="9999999")
    assert ("DfE Number", "9999999") == (missing.value.field, missing.value.value)
