"""OneRoster CSV bundles: real fixture bundles and hand-written bundles with one problem each."""

from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from schoolsync.errors import FileFormatError, SchoolsyncError
from schoolsync.identifiers import Upn
from schoolsync.people import Gender
from schoolsync.ports import MisSource
from schoolsync.sources import (
    Deletion,
    FileMode,
    GradeMapping,
    OneRosterSource,
    read_oneroster,
)

FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures"
MOODLE = FIXTURES / "oneroster-csv-catalyst-moodle"
OAT = FIXTURES / "oneroster-csv-oat-sa" / "OneRosterv1p1BaseCSV"
needs_fixtures = pytest.mark.skipif(
    not MOODLE.is_dir() or not OAT.is_dir(),
    reason="the shared fixtures folder (../shared/fixtures beside the clone) is absent",
)

MANIFEST = """propertyName,value
manifest.version,1.0
oneroster.version,{version}
file.academicSessions,absent
file.orgs,{mode}
file.users,{mode}
file.classes,{mode}
file.enrollments,{mode}
file.demographics,{mode}
source.systemName,Test MIS
"""
ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
trust,active,2024-09-01T08:00:00Z,Oak Trust,district,,
sch1,active,2024-09-01T08:00:00Z,Oak Primary,school,8201234,trust
dept1,active,2024-09-01T08:00:00Z,Oak Primary Science,department,,sch1
sch2,active,2024-09-01T08:00:00Z,Elm Academy,school,8205678,trust
"""
USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
    "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
)
USERS = USERS_HEADER + (
    "p1,active,2024-09-02T10:00:00Z,true,sch1,student,amara,{UPN:C820123424001},Amara,Okafor,"
    "Grace,A1,amara@oak.example,,,,07,\n"
    "p2,active,2024-09-02T10:00:00Z,true,dept1,student,tomos,,Tomos,Hughes,,,,,,,KG,\n"
    "p3,active,2024-09-02T10:00:00Z,true,sch2,student,zofia,,Zofia,Nowak,,,,,,,08,\n"
    "t1,active,2024-09-03T11:30:00Z,true,sch1,teacher,jsmith,,Jane,Smith,,,jane@oak.example,,,,,\n"
    "g1,active,2024-09-02T10:00:00Z,true,sch1,guardian,gok,,Grace,Okafor,,,,,,,,\n"
)
CLASSES = (
    "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,"
    "schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n"
    'c1,active,2024-09-01T08:00:00Z,7 Maths,07,crs1,7MA,scheduled,,sch1,term1,"Maths, Numeracy",,\n'
    "c2,active,2024-09-01T08:00:00Z,Reception Robins,KG,crs2,RR,homeroom,,dept1,term1,,,\n"
    "c3,active,2024-09-01T08:00:00Z,8 English,08,crs3,8EN,scheduled,,sch2,term1,English,,\n"
)
ENROLMENTS = (
    "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,"
    "beginDate,endDate\n"
    "e1,active,2024-09-01T08:00:00Z,c1,sch1,p1,student,false,,\n"
    "e2,active,2024-09-01T08:00:00Z,c2,sch1,p2,student,false,,\n"
    "e3,active,2024-09-01T08:00:00Z,c1,sch1,t1,teacher,true,,\n"
    "e4,active,2024-09-01T08:00:00Z,c2,sch1,t1,teacher,true,,\n"
    "e5,active,2024-09-01T08:00:00Z,c3,sch2,p3,student,false,,\n"
)
DEMOGRAPHICS = """sourcedId,status,dateLastModified,birthDate,sex
p1,active,2024-09-01T08:00:00Z,2013-10-02,female
p2,active,2024-09-01T08:00:00Z,2020-03-15,male
"""


def bundle_files(version: str = "1.1", mode: str = "bulk") -> dict[str, str]:
    """The text of a small valid bundle: two schools of one trust, one with a department."""
    return {
        "manifest.csv": MANIFEST.format(version=version, mode=mode),
        "orgs.csv": ORGS,
        "users.csv": USERS,
        "classes.csv": CLASSES,
        "enrollments.csv": ENROLMENTS,
        "demographics.csv": DEMOGRAPHICS,
    }


def write_bundle(
    where: Path, files: dict[str, str | bytes], *, as_zip: bool = False, name: str = "bundle"
) -> Path:
    """Write *files* into a folder (or a zip) under *where*; return its path."""
    if as_zip:
        path = where / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as z:
            for fname, text in files.items():
                z.writestr(fname, text)
        return path
    folder = where / name
    folder.mkdir()
    for fname, text in files.items():
        data = text.encode() if isinstance(text, str) else text
        (folder / fname).write_bytes(data)
    return folder


def read_error(tmp_path: Path, files: dict[str, str | bytes], **kw: str) -> FileFormatError:
    """Read a bundle that must fail; return the error."""
    path = write_bundle(tmp_path, files)
    with pytest.raises(FileFormatError) as info:
        read_oneroster(path, **kw)
    return info.value


class TestValidBundle:
    def test_reads_pupils_staff_classes_and_year_groups_of_the_chosen_school(self, tmp_path):
        """The school org's (and its departments') pupils, staff and classes are read, with
        class ids from the enrolments; the other school's records and guardians are not."""
        snap = read_oneroster(write_bundle(tmp_path, bundle_files()), school_org="sch1")
        assert ["p1", "p2"] == [p.id for p in snap.pupils]
        assert ["t1"] == [s.id for s in snap.staff]
        assert ["c1", "c2"] == [c.id for c in snap.classes]
        pupil = snap.pupils[0]
        assert ("sch1", "Amara", "Okafor", "Grace") == (
            pupil.school_id,
            pupil.forename,
            pupil.surname,
            pupil.middle_names,
        )
        assert Upn.parse("C820123424001") == pupil.upn
        assert (date(2013, 10, 2), Gender.FEMALE) == (pupil.date_of_birth, pupil.gender)
        assert ("7", ("c1",)) == (pupil.year_code, pupil.class_ids)
        assert ("c1", "c2") == snap.staff[0].class_ids
        assert ["sch1:year:R", "sch1:year:7"] == [y.id for y in snap.year_groups]
        assert ["Reception", "Year 7"] == [y.name for y in snap.year_groups]
        assert ("sch1:year:7",) == snap.classes[0].year_group_ids
        assert "Maths" == snap.classes[0].subject

    def test_snapshot_time_is_the_latest_date_last_modified(self, tmp_path):
        """Without taken_at, the snapshot time is the newest dateLastModified of the bundle."""
        snap = read_oneroster(write_bundle(tmp_path, bundle_files()), school_org="sch1")
        assert datetime(2024, 9, 3, 11, 30, tzinfo=UTC) == snap.taken_at

    def test_school_id_overrides_the_org_id_on_records(self, tmp_path):
        """school_id= is written on every record and used in year group ids."""
        snap = read_oneroster(
            write_bundle(tmp_path, bundle_files()), school_org="sch1", school_id="S-1"
        )
        assert {"S-1"} == {p.school_id for p in snap.pupils} | {c.school_id for c in snap.classes}
        assert "S-1:year:7" in [y.id for y in snap.year_groups]

    def test_zip_and_folder_read_the_same(self, tmp_path):
        """A zipped bundle gives the same records as the same files in a folder."""
        folder = read_oneroster(write_bundle(tmp_path, bundle_files()), school_org="sch1")
        zipped = read_oneroster(
            write_bundle(tmp_path, dict(bundle_files()), as_zip=True), school_org="sch1"
        )
        assert list(folder.pupils) == list(zipped.pupils)
        assert list(folder.classes) == list(zipped.classes)

    def test_guardians_are_skipped_with_a_warning(self, tmp_path):
        """Users who are neither pupils nor staff are not read, and a warning says so."""
        snap = read_oneroster(write_bundle(tmp_path, bundle_files()), school_org="sch1")
        assert any("guardian" in w for w in snap.warnings)

    def test_us_age_grade_mapping(self, tmp_path):
        """With GradeMapping.US_AGE, grade 07 is Year 8 and KG is Year 1."""
        snap = read_oneroster(
            write_bundle(tmp_path, bundle_files()),
            school_org="sch1",
            grade_mapping=GradeMapping.US_AGE,
        )
        assert ["8", "1"] == [p.year_code for p in snap.pupils]

    def test_source_satisfies_the_port_and_streams(self, tmp_path):
        """OneRosterSource is a MisSource; its streams are iterators, each readable again."""
        source: MisSource = OneRosterSource(
            write_bundle(tmp_path, bundle_files()), school_org="sch1"
        )
        stream = source.pupils()
        assert "p1" == next(stream).id
        assert 2 == len(list(source.pupils()))

    def test_enrolments_stream(self, tmp_path):
        """enrolments() lists the school's memberships as (class, user, role)."""
        source = OneRosterSource(write_bundle(tmp_path, bundle_files()), school_org="sch1")
        got = {(e.class_id, e.user_id, e.role) for e in source.enrolments()}
        assert {
            ("c1", "p1", "student"),
            ("c2", "p2", "student"),
            ("c1", "t1", "teacher"),
            ("c2", "t1", "teacher"),
        } == got

    def test_one_school_is_chosen_without_school_org(self, tmp_path):
        """A bundle with one school org needs no school_org."""
        files = bundle_files()
        files["orgs.csv"] = ORGS.replace("school,8205678", "district,8205678")
        snap = read_oneroster(write_bundle(tmp_path, files))
        assert "sch1" == snap.school_id

    def test_version_12_reads_roles_file(self, tmp_path):
        """In 1.2 users.csv has no role; roles.csv gives each user's role in each org."""
        files = bundle_files(version="1.2")
        files["manifest.csv"] += "file.roles,bulk\n"
        files["users.csv"] = (
            "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,"
            "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
            "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
            "primaryOrgSourcedId,pronouns\n"
            "p1,active,,true,amara,,Amara,Okafor,,,,,,,07,,,Amy,,,sch1,\n"
            "p3,active,,true,zofia,,Zofia,Nowak,,,,,,,08,,,,,,sch2,\n"
            "t1,active,,true,jsmith,,Jane,Smith,,,,,,,,,,,,,sch1,\n"
        )
        files["roles.csv"] = (
            "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
            "orgSourcedId,userProfileSourcedId\n"
            "r1,active,,p1,primary,student,,,sch1,\n"
            "r2,active,,p3,primary,student,,,sch2,\n"
            "r3,active,,t1,primary,teacher,,,sch1,\n"
        )
        files["enrollments.csv"] = ENROLMENTS.replace(
            "e2,active,2024-09-01T08:00:00Z,c2,sch1,p2,student,false,,\n", ""
        )
        files["demographics.csv"] = DEMOGRAPHICS.replace(
            "p2,active,2024-09-01T08:00:00Z,2020-03-15,male\n", ""
        )
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert (["p1"], ["t1"]) == ([p.id for p in snap.pupils], [s.id for s in snap.staff])
        assert "Amy" == snap.pupils[0].preferred_forename


class TestStatusAndDelta:
    def test_tobedeleted_rows_are_left_out_and_listed_as_deletions(self, tmp_path):
        """In a bulk file a tobedeleted user is not read as a record; deletions() lists it."""
        files = bundle_files()
        files["users.csv"] = files["users.csv"].replace("p2,active,", "p2,tobedeleted,")
        files["enrollments.csv"] = files["enrollments.csv"].replace("e2,active", "e2,tobedeleted")
        source = OneRosterSource(write_bundle(tmp_path, files), school_org="sch1")
        assert ["p1"] == [p.id for p in source.pupils()]
        assert Deletion(kind="user", id="p2") in source.deletions()

    def test_delta_enrolments_may_name_records_sent_earlier(self, tmp_path):
        """In delta mode an enrolment of a user or class not in this delta is not an error."""
        files = bundle_files(mode="delta")
        files["enrollments.csv"] += "e9,active,,c1,sch1,p-old,student,false,,\n"
        files["enrollments.csv"] += "e10,tobedeleted,,c-old,sch1,p1,student,false,,\n"
        source = OneRosterSource(write_bundle(tmp_path, files), school_org="sch1")
        assert source.is_delta
        assert FileMode.DELTA == source.modes["users.csv"]
        assert ["p1", "p2"] == [p.id for p in source.pupils()]
        assert Deletion(kind="enrolment", id="e10") in source.deletions()
        assert ("c1", "p-old", "student") in {
            (e.class_id, e.user_id, e.role) for e in source.enrolments()
        }

    def test_delta_enrolment_in_a_class_sent_earlier_reaches_the_pupil(self, tmp_path):
        """In a delta, an enrolment of a pupil in this delta in a class of the school sent
        earlier is among the pupil's class ids."""
        files = bundle_files(mode="delta")
        files["enrollments.csv"] += "e11,active,,c-old,sch1,p1,student,false,,\n"
        files["enrollments.csv"] += "e12,active,,c-other,sch2,p1,student,false,,\n"
        source = OneRosterSource(write_bundle(tmp_path, files), school_org="sch1")
        assert ("c1", "c-old") == next(source.pupils()).class_ids

    def test_inactive_status_is_read_as_tobedeleted_with_a_warning(self, tmp_path):
        """OneRoster 1.0's 'inactive' is tolerated as tobedeleted, with a warning."""
        files = bundle_files()
        files["users.csv"] = files["users.csv"].replace("p2,active,", "p2,inactive,")
        files["enrollments.csv"] = files["enrollments.csv"].replace("e2,active", "e2,inactive")
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert ["p1"] == [p.id for p in snap.pupils]
        assert any("inactive" in w for w in snap.warnings)


class TestTolerated:
    def test_misspelt_optional_header_is_read_with_did_you_mean(self, tmp_path):
        """A header close to an expected column (prefferedGivenName) is read as that column."""
        files = bundle_files()
        files["users.csv"] = files["users.csv"].replace(
            "password\n", "password,prefferedGivenName\n", 1
        )
        files["users.csv"] = files["users.csv"].replace(
            "amara@oak.example,,,,07,", "amara@oak.example,,,,07,,Amy"
        )
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert "Amy" == snap.pupils[0].preferred_forename
        assert any("did you mean 'preferredGivenName'" in w for w in snap.warnings)

    def test_unknown_column_is_warned(self, tmp_path):
        """An unknown extra column is ignored and named in a warning."""
        files = bundle_files()
        files["classes.csv"] = files["classes.csv"].replace("periods\n", "periods,houseColour\n", 1)
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert any("unknown column 'houseColour'" in w for w in snap.warnings)

    def test_day_month_year_dates_are_warned_once_with_a_count(self, tmp_path):
        """d/m/yyyy dates are read, and one warning names the first row and counts the rest."""
        files = bundle_files()
        files["demographics.csv"] = DEMOGRAPHICS.replace("2013-10-02", "2/10/2013").replace(
            "2020-03-15", "15/3/2020"
        )
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert [date(2013, 10, 2), date(2020, 3, 15)] == [p.date_of_birth for p in snap.pupils]
        dated = [w for w in snap.warnings if "d/m/yyyy" in w]
        assert 1 == len(dated)
        assert "row 2" in dated[0]
        assert "2 rows like this" in dated[0]

    def test_utf8_with_bom_is_read(self, tmp_path):
        """A UTF-8 file with a byte-order mark reads like one without."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = b"\xef\xbb\xbf" + USERS.encode()
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert 2 == len(snap.pupils)

    def test_placeholder_upn_is_none(self, tmp_path):
        """An MIS placeholder (UN1) in userIds means no UPN, not an error."""
        files = bundle_files()
        files["users.csv"] = files["users.csv"].replace("{UPN:C820123424001}", "{UPN:UN1}")
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert snap.pupils[0].upn is None


class TestBadInput:
    def test_missing_required_column(self, tmp_path):
        """A missing required column names the file, row 1 and the column."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = USERS.replace(",familyName,", ",surname_x,")
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("users.csv")
        assert (1, "familyName") == (err.row, err.field)

    def test_bad_birth_date(self, tmp_path):
        """A date that is not a date names file, row and field."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["demographics.csv"] = DEMOGRAPHICS.replace("2020-03-15", "2020-02-30")
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("demographics.csv")
        assert (3, "birthDate", "2020-02-30") == (err.row, err.field, err.value)

    def test_bad_date_last_modified(self, tmp_path):
        """dateLastModified must be a date-time."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["classes.csv"] = CLASSES.replace(
            "c2,active,2024-09-01T08:00:00Z", "c2,active,last week"
        )
        err = read_error(tmp_path, files, school_org="sch1")
        assert (3, "dateLastModified") == (err.row, err.field)

    def test_error_names_the_files_own_misspelt_header(self, tmp_path):
        """A bad value under a misspelt header names the header as the file spells it."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["orgs.csv"] = ORGS.replace("dateLastModified", "dataLastModified").replace(
            "2024-09-01T08:00:00Z,Oak Primary,", "soon,Oak Primary,"
        )
        err = read_error(tmp_path, files, school_org="sch1")
        assert (3, "dataLastModified", "soon") == (err.row, err.field, err.value)

    def test_bad_upn(self, tmp_path):
        """A UPN with a wrong check letter is an error with the census code 1510."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = USERS.replace("C820123424001", "A820123424001")
        err = read_error(tmp_path, files, school_org="sch1")
        assert (2, "userIds", "1510") == (err.row, err.field, err.code)

    def test_duplicate_user_id(self, tmp_path):
        """Two users with one sourcedId is an error naming the second row."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = USERS + USERS.splitlines(keepends=True)[1]
        err = read_error(tmp_path, files, school_org="sch1")
        assert (7, "sourcedId", "p1") == (err.row, err.field, err.value)

    def test_enrolment_of_unknown_user(self, tmp_path):
        """In a bulk bundle, an enrolment naming a user who is not in users.csv is an error."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["enrollments.csv"] = ENROLMENTS + "e6,active,,c1,sch1,ghost,student,false,,\n"
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("enrollments.csv")
        assert (7, "userSourcedId", "ghost") == (err.row, err.field, err.value)

    def test_enrolment_in_unknown_class(self, tmp_path):
        """In a bulk bundle, an enrolment naming a class not in classes.csv is an error."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["enrollments.csv"] = ENROLMENTS + "e6,active,,c-none,sch1,p1,student,false,,\n"
        err = read_error(tmp_path, files, school_org="sch1")
        assert (7, "classSourcedId") == (err.row, err.field)

    def test_utf16_and_windows_1252_files_are_read(self, tmp_path):
        """A users.csv saved as UTF-16 (Excel's "Unicode Text") or Windows-1252 (Excel's plain
        "CSV") is read like UTF-8: the shared detection decides the encoding."""
        for n, encoding in enumerate(("utf-16", "cp1252")):
            files: dict[str, str | bytes] = dict(bundle_files())
            files["users.csv"] = USERS.replace("Tomos", "Tomás").encode(encoding)
            snap = read_oneroster(write_bundle(tmp_path, files, name=f"b{n}"), school_org="sch1")
            assert "Tomás" in [p.forename for p in snap.pupils]

    def test_bytes_that_are_no_known_encoding_are_refused_clearly(self, tmp_path):
        """Bytes Windows-1252 leaves undefined in a non-UTF-8 file: refused, naming the file."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = USERS.replace("Tomos", "Tom\x81s").encode("latin-1")
        err = read_error(tmp_path, files, school_org="sch1")
        assert "neither UTF-8 nor Windows-1252" in str(err)
        assert err.file.endswith("users.csv")

    def test_row_with_too_many_values(self, tmp_path):
        """A row with more values than the header has columns is an error."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["orgs.csv"] = ORGS + "x,active,,X,school,,,surplus\n"
        err = read_error(tmp_path, files, school_org="sch1")
        assert 6 == err.row

    def test_several_schools_need_school_org(self, tmp_path):
        """A bundle with two schools and no school_org names the choices."""
        err = read_error(tmp_path, dict(bundle_files()))
        assert "sch1, sch2" in str(err)
        assert "school_org" in str(err)

    def test_unknown_school_org(self, tmp_path):
        """A school_org that is not in orgs.csv is an error."""
        err = read_error(tmp_path, dict(bundle_files()), school_org="nope")
        assert "nope" == err.value

    def test_missing_manifest(self, tmp_path):
        """A bundle without manifest.csv is refused."""
        files: dict[str, str | bytes] = dict(bundle_files())
        del files["manifest.csv"]
        err = read_error(tmp_path, files)
        assert err.file.endswith("manifest.csv")

    def test_unsupported_version(self, tmp_path):
        """Only OneRoster 1.0 (read as 1.1), 1.1 and 1.2 are read."""
        err = read_error(tmp_path, dict(bundle_files(version="2.0")))
        assert "oneroster.version" == err.field

    def test_file_listed_in_manifest_but_missing(self, tmp_path):
        """A file the manifest sends as bulk must be in the bundle."""
        files: dict[str, str | bytes] = dict(bundle_files())
        del files["classes.csv"]
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("classes.csv")
        assert "bulk" in str(err)

    def test_unknown_role(self, tmp_path):
        """A role outside the OneRoster vocabulary is an error."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = USERS.replace(",teacher,", ",wizard,")
        err = read_error(tmp_path, files, school_org="sch1")
        assert ("role", "wizard") == (err.field, err.value)

    def test_not_a_zip(self, tmp_path):
        """A file that is not a zip (nor a folder) is refused."""
        path = tmp_path / "bundle.zip"
        path.write_bytes(b"not a zip")
        with pytest.raises(FileFormatError):
            OneRosterSource(path)

    @pytest.mark.parametrize(
        ("name", "text", "row", "value"),
        [
            ("orgs.csv", ORGS + "sch2,active,,Again,school,,trust\n", 6, "sch2"),
            ("classes.csv", CLASSES + "c1,active,,Again,07,k,,scheduled,,sch1,t,,,\n", 5, "c1"),
            ("enrollments.csv", ENROLMENTS + "e1,active,,c1,sch1,t1,teacher,,,\n", 7, "e1"),
            ("demographics.csv", DEMOGRAPHICS + "p1,active,,2013-10-02,female\n", 4, "p1"),
        ],
    )
    def test_duplicate_id_in_any_file(self, tmp_path, name, text, row, value):
        """A sourcedId repeated in orgs, classes, enrollments or demographics names the file,
        the second row, the column and the id."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files[name] = text
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith(name)
        assert (row, "sourcedId", value) == (err.row, err.field, err.value)

    def test_blank_required_value(self, tmp_path):
        """A blank sourcedId is an error naming file, row and column."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["classes.csv"] = CLASSES + ",active,,Nameless,07,k,,scheduled,,sch1,t,,,\n"
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("classes.csv")
        assert (5, "sourcedId", "a value is required") == (err.row, err.field, err.reason)

    def test_demographics_of_unknown_user(self, tmp_path):
        """In a bulk bundle, a demographics row of a user not in users.csv is an error."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["demographics.csv"] = DEMOGRAPHICS + "ghost,active,,2013-10-02,male\n"
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("demographics.csv")
        assert (4, "sourcedId", "ghost") == (err.row, err.field, err.value)

    def test_role_of_unknown_user(self, tmp_path):
        """In a bulk 1.2 bundle, a roles.csv row naming a user not in users.csv is an error."""
        files: dict[str, str | bytes] = dict(bundle_files(version="1.2"))
        files["manifest.csv"] = str(files["manifest.csv"]) + "file.roles,bulk\n"
        files["roles.csv"] = (
            "sourcedId,status,dateLastModified,userSourcedId,roleType,role,orgSourcedId\n"
            "r1,active,,p1,primary,student,sch1\nr2,active,,ghost,primary,student,sch1\n"
        )
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("roles.csv")
        assert (3, "userSourcedId", "ghost") == (err.row, err.field, err.value)

    def test_delta_may_name_users_sent_earlier(self, tmp_path):
        """In a delta, demographics of a user sent in an earlier file are not an error."""
        files: dict[str, str | bytes] = dict(bundle_files(mode="delta"))
        files["demographics.csv"] = DEMOGRAPHICS + "earlier,active,,2013-10-02,male\n"
        snap = read_oneroster(write_bundle(tmp_path, files), school_org="sch1")
        assert "earlier" not in {p.id for p in snap.pupils}

    def test_slash_date_that_does_not_exist(self, tmp_path):
        """A d/m/yyyy date that does not exist (31/02) is an error, not a guess."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["demographics.csv"] = DEMOGRAPHICS.replace("2020-03-15", "31/02/2020")
        err = read_error(tmp_path, files, school_org="sch1")
        assert (3, "birthDate", "31/02/2020") == (err.row, err.field, err.value)

    def test_nul_byte_names_the_row(self, tmp_path):
        """A NUL byte (a binary file saved as .csv) is an error naming file and row."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["classes.csv"] = CLASSES.replace("Reception Robins", "Reception\x00Robins")
        err = read_error(tmp_path, files, school_org="sch1")
        assert err.file.endswith("classes.csv")
        assert 3 == err.row

    def test_damaged_zip_member_names_the_member(self, tmp_path):
        """A zip whose users.csv data is damaged names that member, not a zlib error."""
        path = tmp_path / "bundle.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for fname, text in bundle_files().items():
                z.writestr(fname, text * (40 if fname == "users.csv" else 1))
            info = z.getinfo("users.csv")
        raw = bytearray(path.read_bytes())
        start = info.header_offset + 30 + len(info.filename) + 50
        raw[start : start + 40] = b"\xff" * 40
        path.write_bytes(bytes(raw))
        with pytest.raises(FileFormatError) as err:
            read_oneroster(path, school_org="sch1")
        assert "bundle.zip/users.csv" == err.value.file

    def test_streams_raise_instead_of_returning_half(self, tmp_path):
        """A stream that meets a bad row raises; it never ends quietly with part of the data."""
        files: dict[str, str | bytes] = dict(bundle_files())
        files["users.csv"] = USERS.replace("{UPN:C820123424001}", "") + (
            "p9,active,,true,sch1,student,x,{UPN:BAD},X,Y,,,,,,,07,\n"
        )
        source = OneRosterSource(write_bundle(tmp_path, files), school_org="sch1")
        with pytest.raises(SchoolsyncError):
            list(source.pupils())


@needs_fixtures
class TestRealBundles:
    @pytest.mark.parametrize("name", ["Test_full_data_set", "Test_full_data_set.zip"])
    def test_moodle_11_bulk(self, name):
        """The Moodle plugin's 1.1 bundle: a department org is used as the school (warned),
        parents are skipped, the tobedeleted class and its enrolments are left out."""
        source = OneRosterSource(MOODLE / name)
        snap = source.read()
        assert "1.1" == source.version
        assert ["usr-222-66778899", "usr-222-1234561232", "usr-222-567891"] == [
            p.id for p in snap.pupils
        ]
        assert ["usr-222-123456", "usr-222-987654"] == [s.id for s in snap.staff]
        assert ["cls-222-123456"] == [c.id for c in snap.classes]
        assert ("cls-222-123456",) == snap.pupils[1].class_ids
        assert Deletion(kind="class", id="cls-222-123478") in source.deletions()
        assert any("department" in w for w in snap.warnings)

    def test_moodle_minimal_has_blank_optional_values(self):
        """The minimal bundle (blank status, dates and grades) reads without a snapshot time."""
        snap = read_oneroster(MOODLE / "Test_minimal_data_set")
        assert 3 == len(snap.pupils)
        assert 2 == len(snap.classes)
        assert snap.taken_at is None

    def test_moodle_12_full_with_typos_and_dmy_dates(self):
        """The 1.2 bundle: roles.csv gives roles (siteAdministrator is staff), misspelt
        prefferedGivenName/dataLastModified headers are read with warnings, d/m/yyyy dates too."""
        snap = read_oneroster(MOODLE / "v1p2_full_dataset.zip")
        by_id = {p.id: p for p in snap.pupils}
        assert "MJ" == by_id["usr-222-66778899"].preferred_forename
        assert "usr-222-1234561" in [s.id for s in snap.staff]
        text = "\n".join(snap.warnings)
        assert "did you mean 'preferredGivenName'" in text
        assert "'dataLastModified' read as 'dateLastModified'" in text
        assert "d/m/yyyy" in text
        assert datetime(2025, 1, 1, tzinfo=UTC) == snap.taken_at

    def test_moodle_12_delta(self):
        """The 1.2 delta bundle reads its one pupil, with the demographics birth date."""
        source = OneRosterSource(MOODLE / "oneroster_test_data")
        snap = source.read()
        assert source.is_delta
        assert [("USER_0", date(2010, 4, 17), ("CLASS_001",))] == [
            (p.id, p.date_of_birth, p.class_ids) for p in snap.pupils
        ]

    def test_oat_bundle_with_extensions_and_empty_files(self):
        """The TAO 1.1 bundle: two schools need school_org; the child school (12345, under
        54321) is a school of its own, not absorbed into its parent (warned); extension
        columns and 1.0 header names are tolerated."""
        with pytest.raises(FileFormatError, match="school_org"):
            read_oneroster(OAT)
        snap = read_oneroster(OAT, school_org="54321")
        assert {"user2": ("class3",)} == {p.id: p.class_ids for p in snap.pupils}
        assert any("org '12345' is a school under '54321'" in w for w in snap.warnings)
        assert any("vendor extension columns" in w for w in snap.warnings)
        only = read_oneroster(OAT, school_org="12345")
        assert ["user1"] == [p.id for p in only.pupils]
