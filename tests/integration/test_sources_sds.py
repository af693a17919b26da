"""Microsoft School Data Sync CSV: Microsoft's sample files (MIT) and hand-written bad files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from schoolsync.errors import FileFormatError
from schoolsync.sources import SdsClassicSource, SdsSource, read_sds, read_sds_classic

SDS = Path(__file__).parents[2].parent / "shared" / "fixtures" / "microsoft-sds-csv-samples"
needs_fixtures = pytest.mark.skipif(
    not SDS.is_dir(),
    reason="the shared fixtures folder (../shared/fixtures beside the clone) is absent",
)


@needs_fixtures
class TestSdsV21:
    def test_reads_school_with_roles_and_match_ids(self):
        """v2.1: the only org of type school is chosen; roles.csv gives roles; the
        activeDirectoryMatchId is kept as directory_match_id; demographics give DOB and sex."""
        source = SdsSource(SDS / "SDS v2.1")
        snap = source.read()
        assert "2.1" == source.version
        assert "110003" == snap.school_id
        assert ["114001", "114003", "114004"] == [p.id for p in snap.pupils]
        assert ["114007"] == [s.id for s in snap.staff]
        first = snap.pupils[0]
        assert "jcraig@classrmtest31.org" == first.directory_match_id
        assert (date(2001, 7, 2), "M", "10") == (first.date_of_birth, first.gender, first.year_code)
        assert ("112002",) == first.class_ids
        assert "kfein@classrmtest31.org" == snap.staff[0].directory_match_id

    def test_department_users_belong_to_their_parent_org(self):
        """Choosing the college includes its department's professor and classes."""
        snap = read_sds(SDS / "SDS v2.1", school_org="110001")
        assert ["114006"] == [s.id for s in snap.staff]
        assert ["114008"] == [p.id for p in snap.pupils]
        assert ["112001"] == [c.id for c in snap.classes]


@needs_fixtures
class TestSdsV2:
    def test_reads_users_with_role_and_grade_columns(self):
        """v2 (no roles.csv): users.csv's role, orgSourcedIds and grade columns are used."""
        source = SdsSource(SDS / "SDS v2", school_org="10001")
        snap = source.read()
        assert "2" == source.version
        assert 7 == len(snap.pupils)
        assert ["6"] * 6 + ["9"] == [p.year_code for p in snap.pupils]
        assert ("11001",) == snap.pupils[0].class_ids

    def test_ministry_with_schools_needs_a_choice(self):
        """Several schools under a ministry: the reader asks for school_org."""
        with pytest.raises(FileFormatError, match="school_org"):
            read_sds(SDS / "SDS v2")


@needs_fixtures
class TestSdsClassic:
    @pytest.mark.parametrize("folder", ["UK Format/25 Users", "UK Format/100 Users"])
    def test_uk_format_keyed_on_dfe_number(self, folder):
        """UK format: School DfE Number keys; enrolment files give class ids; m/d/yyyy birth
        dates are read as US dates with a warning."""
        source = SdsClassicSource(SDS / folder, school="10001")
        snap = source.read()
        assert source.uk_format
        assert snap.pupils
        ora = snap.pupils[0]
        assert ("13001", "Ora", "Klein", date(2000, 4, 2)) == (
            ora.id,
            ora.forename,
            ora.surname,
            ora.date_of_birth,
        )
        assert "11001" in ora.class_ids
        assert ("11001", "11003") == snap.staff[0].class_ids
        assert any("m/d/yyyy" in w for w in snap.warnings)

    def test_sis_id_format(self):
        """The SIS ID format reads the same people as the UK format."""
        uk = read_sds_classic(SDS / "UK Format/100 Users", school="10001")
        sis = read_sds_classic(SDS / "SDS Format/100 Users", school="10001")
        assert [p.id for p in uk.pupils] == [p.id for p in sis.pupils]
        assert not SdsClassicSource(SDS / "SDS Format/100 Users").uk_format

    def test_minimum_attributes_leave_names_blank_with_a_warning(self):
        """Files with only the required columns give pupils with blank names, warned."""
        snap = read_sds_classic(SDS / "UK Format/Min Required Attributes", school="10001")
        assert snap.pupils
        assert {""} == {p.forename for p in snap.pupils}
        assert any("name is blank" in w for w in snap.warnings)


class TestBadInput:
    def test_classic_enrolment_of_unknown_student(self, tmp_path):
        """A StudentEnrollment row naming a student not in Student.csv is an error naming the
        file's own column (ID)."""
        (tmp_path / "School.csv").write_text("DfE Number,Name\n8201234,Oak\n")
        (tmp_path / "Section.csv").write_text("ID,School DfE Number,Section Name\n1,8201234,7A\n")
        (tmp_path / "Student.csv").write_text(
            "ID,School DfE Number,Username,First Name,Last Name\ns1,8201234,amy,Amy,Ng\n"
        )
        (tmp_path / "Teacher.csv").write_text("ID,School DfE Number,Username\n")
        (tmp_path / "StudentEnrollment.csv").write_text("Section ID,ID\n1,s1\n1,s2\n")
        (tmp_path / "TeacherRoster.csv").write_text("Section ID,ID\n")
        with pytest.raises(FileFormatError) as info:
            read_sds_classic(tmp_path)
        assert (3, "ID", "s2") == (info.value.row, info.value.field, info.value.value)

    def test_v21_missing_required_column(self, tmp_path):
        """users.csv without givenName is refused, naming the column."""
        (tmp_path / "orgs.csv").write_text("sourcedId,name,type\no1,Oak,school\n")
        (tmp_path / "roles.csv").write_text("userSourcedId,orgSourcedId,role\nu1,o1,student\n")
        (tmp_path / "users.csv").write_text("sourcedId,username,familyName\nu1,u1,Ng\n")
        with pytest.raises(FileFormatError) as info:
            read_sds(tmp_path)
        assert "givenName" == info.value.field

    def test_not_a_folder(self, tmp_path):
        """A path that does not exist is refused."""
        with pytest.raises(FileFormatError):
            SdsSource(tmp_path / "nothing")


V21 = {
    "orgs.csv": "sourcedId,name,type\no1,Oak,school\n",
    "users.csv": "sourcedId,username,givenName,familyName\nu1,amy,Amy,Ng\nt1,jo,Jo,Li\n",
    "roles.csv": "userSourcedId,orgSourcedId,role,grade\nu1,o1,student,07\nt1,o1,teacher,\n",
    "classes.csv": "sourcedId,orgSourcedId,title\nc1,o1,7A\n",
    "enrollments.csv": "classSourcedId,userSourcedId,role\nc1,u1,student\nc1,t1,teacher\n",
    "demographics.csv": "userSourcedId,sex,birthDate\nu1,female,2013-10-02\n",
}
CLASSIC_UK = {
    "School.csv": "DfE Number,Name\n8201234,Oak\n",
    "Section.csv": "ID,School DfE Number,Section Name\nc1,8201234,7A\n",
    "Student.csv": "ID,School DfE Number,Username,First Name,Last Name,Birthdate\n"
    "s1,8201234,amy,Amy,Ng,10/2/2013\n",
    "Teacher.csv": "ID,School DfE Number,Username,First Name,Last Name\nt1,8201234,jo,Jo,Li\n",
    "StudentEnrollment.csv": "Section ID,ID\nc1,s1\n",
    "TeacherRoster.csv": "Section ID,ID\nc1,t1\n",
}


def sds_error(tmp_path: Path, files: dict[str, str], changes: dict[str, str | bytes]):
    """Write *files* with *changes* into a folder; read it (SDS v2.1 or classic), which must
    fail; return the error."""
    for name, text in {**files, **changes}.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    read = read_sds_classic if "School.csv" in files else read_sds
    with pytest.raises(FileFormatError) as info:
        read(tmp_path)
    return info.value


class TestBadFiles:
    def test_valid_files_read(self, tmp_path):
        """The base files of the bad-file cases read cleanly (so each case tests one problem)."""
        for name, text in V21.items():
            (tmp_path / name).write_text(text)
        snap = read_sds(tmp_path)
        assert (["u1"], ["t1"], ()) == (
            [p.id for p in snap.pupils],
            [s.id for s in snap.staff],
            snap.warnings,
        )
        assert date(2013, 10, 2) == snap.pupils[0].date_of_birth

    @pytest.mark.parametrize(
        ("name", "text", "row", "field", "value"),
        [
            ("users.csv", V21["users.csv"] + "u1,x,X,Y\n", 4, "sourcedId", "u1"),
            ("classes.csv", V21["classes.csv"] + "c1,o1,7B\n", 3, "sourcedId", "c1"),
            ("orgs.csv", V21["orgs.csv"] + "o1,Elm,school\n", 3, "sourcedId", "o1"),
            ("demographics.csv", V21["demographics.csv"] + "u1,male,\n", 3, "userSourcedId", "u1"),
            (
                "demographics.csv",
                "userSourcedId,sex,birthDate\nu1,female,2013-13-02\n",
                2,
                "birthDate",
                "2013-13-02",
            ),
            ("roles.csv", V21["roles.csv"] + "ghost,o1,student,07\n", 4, "userSourcedId", "ghost"),
            (
                "enrollments.csv",
                V21["enrollments.csv"] + "cX,u1,student\n",
                4,
                "classSourcedId",
                "cX",
            ),
            (
                "enrollments.csv",
                V21["enrollments.csv"] + "c1,ghost,student\n",
                4,
                "userSourcedId",
                "ghost",
            ),
        ],
    )
    def test_v21_error_names_file_row_field_and_value(
        self, tmp_path, name, text, row, field, value
    ):
        """Duplicate ids, bad dates and references to unknown users or classes name the file,
        row, column and value."""
        err = sds_error(tmp_path, V21, {name: text})
        assert err.file.endswith(name)
        assert (row, field, value) == (err.row, err.field, err.value)

    def test_v21_windows_1252_is_read_and_said(self, tmp_path):
        """A users.csv saved as Windows-1252 (Excel's plain "CSV") is read, with a warning
        naming the encoding read."""
        for name, text in V21.items():
            (tmp_path / name).write_text(text)
        text = V21["users.csv"].replace("Jo,Li", "José,Li").encode("cp1252")
        (tmp_path / "users.csv").write_bytes(text)
        snap = read_sds(tmp_path)
        assert ["José"] == [s.forename for s in snap.staff]
        assert any("Windows-1252" in w for w in snap.warnings)

    def test_v21_byte_order_mark_is_read(self, tmp_path):
        """UTF-8 with a byte-order mark reads like UTF-8 without one."""
        for name, text in V21.items():
            (tmp_path / name).write_text(text, encoding="utf-8-sig")
        assert ["u1"] == [p.id for p in read_sds(tmp_path).pupils]

    @pytest.mark.parametrize(
        ("name", "text", "row", "field", "value"),
        [
            (
                "Student.csv",
                CLASSIC_UK["Student.csv"] + "s1,8201234,b,B,C,\n",
                3,
                "ID",
                "s1",
            ),
            (
                "Student.csv",
                CLASSIC_UK["Student.csv"].replace("10/2/2013", "2/30/2013"),
                2,
                "Birthdate",
                "2/30/2013",
            ),
            ("TeacherRoster.csv", "Section ID,ID\nc9,t1\n", 2, "Section ID", "c9"),
            ("Section.csv", CLASSIC_UK["Section.csv"] + "c1,8201234,7B\n", 3, "ID", "c1"),
        ],
    )
    def test_classic_error_names_the_files_own_column(
        self, tmp_path, name, text, row, field, value
    ):
        """Classic-format errors name the file's own headers (ID, Birthdate, Section ID)."""
        err = sds_error(tmp_path, CLASSIC_UK, {name: text})
        assert err.file.endswith(name)
        assert (row, field, value) == (err.row, err.field, err.value)

    def test_classic_missing_required_column(self, tmp_path):
        """A classic Student.csv without its school column names the column as the format
        spells it (School DfE Number), with a suggestion when a header is close."""
        text = "ID,Username,First Name,Last Name\ns1,amy,Amy,Ng\n"
        err = sds_error(tmp_path, CLASSIC_UK, {"Student.csv": text})
        assert ("Student.csv", 1, "School DfE Number") == (Path(err.file).name, err.row, err.field)
        text = "ID,School DfE Numbr,Username\ns1,8201234,amy\n"
        (tmp_path / "again").mkdir()
        err = sds_error(tmp_path / "again", CLASSIC_UK, {"Student.csv": text})
        assert "did you mean 'School DfE Numbr'?" in str(err)
