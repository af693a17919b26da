"""Fuzzing the readers with broken files: the only exception they may raise is SchoolsyncError."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from schoolsync.errors import SchoolsyncError
from schoolsync.sources import (
    PupilColumns,
    read_ctf,
    read_oneroster,
    read_sds,
    read_sds_classic,
    read_tabular,
)

BUNDLE = {
    "manifest.csv": "propertyName,value\noneroster.version,{version}\nfile.orgs,{mode}\n"
    "file.users,{mode}\nfile.classes,{mode}\nfile.enrollments,{mode}\nfile.demographics,{mode}\n",
    "orgs.csv": "sourcedId,status,dateLastModified,name,type,parentSourcedId\n"
    "t,active,2024-09-01T08:00:00Z,Trust,district,\nsch1,active,,Oak,school,t\n"
    "sch2,active,,Elm,school,t\n",
    "users.csv": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,"
    "userIds,givenName,familyName,grades,preferredGivenName\n"
    "p1,active,2/9/2024,true,sch1,student,amy,{UPN:C820123424001},Amy,Ng,07,\n"
    "p2,active,,true,sch2,student,zo,,Zo,Li,KG,\n"
    "t1,active,,true,sch1,teacher,jo,,Jo,Ma,,\n",
    "classes.csv": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classType,"
    "schoolSourcedId,termSourcedIds,subjects\n"
    'c1,active,,7A,"07,08",m,scheduled,sch1,y,"Maths, Art"\nc2,active,,R,KG,r,homeroom,sch2,y,\n',
    "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
    "userSourcedId,role\ne1,active,,c1,sch1,p1,student\ne2,active,,c1,sch1,t1,teacher\n"
    "e3,tobedeleted,,c2,sch2,p2,student\n",
    "demographics.csv": "sourcedId,status,dateLastModified,birthDate,sex\n"
    "p1,active,,2013-10-02,female\n",
}


def bundle_files(version: str = "1.1", mode: str = "bulk") -> dict[str, str]:
    """A small valid bundle's files (two schools)."""
    files = dict(BUNDLE)
    files["manifest.csv"] = (
        files["manifest.csv"].replace("{version}", version).replace("{mode}", mode)
    )
    return files


CTF_FILE = Path(__file__).parents[1] / "data" / "ctf" / "8201234_CTF_3802093_001.xml"
INTERESTING = [
    "",
    ",",
    '"',
    "\n",
    "\r",
    "\x00",
    "\ufeff",
    "é",
    "{UPN:",
    "tobedeleted",
    "\\",
    "<",
    ">",
    "&",
    "/",
    "13",
    "0000-00-00",
    ",,,,,,,,",  # a ragged row: more values than the header
    "\nx\n",  # a ragged row: fewer values
    '"\n"',
    "\x00\x00",
    "x" * 140_000,  # larger than the csv module's field limit
    "\udcff",  # written as a lone surrogate byte: not UTF-8
    '<!DOCTYPE x [<!ENTITY a "aa">]>',
    "&a;",
    '<?xml version="1.0" encoding="klingon"?>',
    "]]>",
]

edits = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1),
        st.sampled_from(["insert", "delete", "replace"]),
        st.one_of(st.sampled_from(INTERESTING), st.text(max_size=4)),
    ),
    min_size=1,
    max_size=6,
)


def mutate(text: str, ops: list[tuple[float, str, str]]) -> str:
    """Apply insertions, deletions and replacements at relative positions."""
    for where, op, piece in ops:
        i = int(where * len(text))
        if op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1 + len(piece) :]
        else:
            text = text[:i] + piece + text[i + len(piece) :]
    return text


def must_not_crash(read, *args, **kwargs) -> None:
    """Call a reader; any exception other than SchoolsyncError fails the test."""
    with contextlib.suppress(SchoolsyncError):
        read(*args, **kwargs)


@given(
    name=st.sampled_from(sorted(bundle_files())),
    ops=edits,
    mode=st.sampled_from(["bulk", "delta"]),
    version=st.sampled_from(["1.1", "1.2"]),
)
def test_oneroster_broken_text(name, ops, mode, version):
    """A OneRoster bundle with one file mangled reads or raises SchoolsyncError."""
    files = bundle_files(version=version, mode=mode)
    files[name] = mutate(files[name], ops)
    with tempfile.TemporaryDirectory() as d:
        for fname, text in files.items():
            (Path(d) / fname).write_bytes(text.encode("utf-8", errors="surrogatepass"))
        must_not_crash(read_oneroster, d, school_org="sch1")


@given(name=st.sampled_from(sorted(bundle_files())), data=st.binary(max_size=300))
def test_oneroster_random_bytes(name, data):
    """A OneRoster file of arbitrary bytes reads or raises SchoolsyncError."""
    files: dict[str, bytes] = {k: v.encode() for k, v in bundle_files().items()}
    files[name] = data
    with tempfile.TemporaryDirectory() as d:
        for fname, raw in files.items():
            (Path(d) / fname).write_bytes(raw)
        must_not_crash(read_oneroster, d, school_org="sch1")


@given(data=st.binary(max_size=400))
def test_oneroster_random_zip(data):
    """A .zip file of arbitrary bytes is refused with SchoolsyncError."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bundle.zip"
        path.write_bytes(b"PK\x03\x04" + data)
        must_not_crash(read_oneroster, path)


SDS21 = {
    "orgs.csv": "sourcedId,name,type,parentSourcedId\no1,Oak,school,\n",
    "users.csv": "sourcedId,username,givenName,familyName,activeDirectoryMatchId\nu1,amy,Amy,Ng,amy@x\nt1,jo,Jo,Li,\n",
    "roles.csv": "userSourcedId,orgSourcedId,role,grade,isPrimary\nu1,o1,student,07,TRUE\nt1,o1,teacher,,TRUE\n",
    "classes.csv": "sourcedId,orgSourcedId,title\nc1,o1,7A\n",
    "enrollments.csv": "classSourcedId,userSourcedId,role\nc1,u1,student\nc1,t1,teacher\n",
    "demographics.csv": "userSourcedId,sex,birthDate\nu1,female,2013-10-02\n",
}
CLASSIC = {
    "School.csv": "DfE Number,Name\n8201234,Oak\n",
    "Section.csv": "ID,School DfE Number,Section Name\nc1,8201234,7A\n",
    "Student.csv": "ID,School DfE Number,Username,First Name,Last Name,Birthdate,Grade\ns1,8201234,amy,Amy,Ng,10/2/2013,7\n",
    "Teacher.csv": "ID,School DfE Number,Username,First Name,Last Name\nt1,8201234,jo,Jo,Li\n",
    "StudentEnrollment.csv": "Section ID,ID\nc1,s1\n",
    "TeacherRoster.csv": "Section ID,ID\nc1,t1\n",
}


@given(name=st.sampled_from(sorted(SDS21)), ops=edits)
def test_sds_broken_text(name, ops):
    """An SDS v2.1 folder with one file mangled reads or raises SchoolsyncError."""
    files = dict(SDS21)
    files[name] = mutate(files[name], ops)
    with tempfile.TemporaryDirectory() as d:
        for fname, text in files.items():
            (Path(d) / fname).write_bytes(text.encode("utf-8", errors="surrogatepass"))
        must_not_crash(read_sds, d)


@given(name=st.sampled_from(sorted(CLASSIC)), ops=edits)
def test_sds_classic_broken_text(name, ops):
    """A classic SDS folder with one file mangled reads or raises SchoolsyncError."""
    files = dict(CLASSIC)
    files[name] = mutate(files[name], ops)
    with tempfile.TemporaryDirectory() as d:
        for fname, text in files.items():
            (Path(d) / fname).write_bytes(text.encode("utf-8", errors="surrogatepass"))
        must_not_crash(read_sds_classic, d)


@given(ops=edits)
def test_ctf_broken_xml(ops):
    """A mangled CTF reads or raises SchoolsyncError."""
    text = mutate(CTF_FILE.read_text(encoding="utf-8"), ops)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ctf.xml"
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        must_not_crash(read_ctf, path)


@given(data=st.binary(max_size=400))
def test_ctf_random_bytes(data):
    """A CTF of arbitrary bytes raises SchoolsyncError (or reads, if it happens to be valid)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ctf.xml"
        path.write_bytes(data)
        must_not_crash(read_ctf, path)


TABLE = "Adno,Forename,Surname,UPN,DOB,Year,Classes\n1,Amy,Ng,C820123424001,2013-10-02,6,6A;Maths\n2,Jo,Li,,1/9/2019,R,Robins\n"
COLUMNS = PupilColumns(
    id="Adno",
    forename="Forename",
    surname="Surname",
    upn="UPN",
    date_of_birth="DOB",
    year="Year",
    classes="Classes",
)


@given(ops=edits)
def test_tabular_broken_csv(ops):
    """A mangled mapped CSV reads or raises SchoolsyncError."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pupils.csv"
        path.write_bytes(mutate(TABLE, ops).encode("utf-8", errors="surrogatepass"))
        must_not_crash(read_tabular, school_id="s", pupils=path, pupil_columns=COLUMNS)


@given(data=st.binary(max_size=400))
def test_tabular_random_xlsx(data):
    """An .xlsx file of arbitrary bytes raises SchoolsyncError."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pupils.xlsx"
        path.write_bytes(b"PK\x03\x04" + data)
        must_not_crash(read_tabular, school_id="s", pupils=path, pupil_columns=COLUMNS)


@given(where=st.floats(min_value=0.3, max_value=0.9), junk=st.binary(min_size=1, max_size=8))
def test_oneroster_corrupt_zip_member(where, junk):
    """A zip whose compressed data is damaged raises SchoolsyncError, never zlib/zipfile errors."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for fname, text in bundle_files().items():
            z.writestr(fname, text * 20)
    raw = bytearray(buf.getvalue())
    i = int(where * len(raw))
    raw[i : i + len(junk)] = junk
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bundle.zip"
        path.write_bytes(bytes(raw))
        must_not_crash(read_oneroster, path, school_org="sch1")


@given(where=st.floats(min_value=0.0, max_value=1.0), junk=st.binary(min_size=1, max_size=8))
def test_sds_classic_corrupt_zip(where, junk):
    """A damaged zip of classic SDS files raises SchoolsyncError only."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for fname, text in CLASSIC.items():
            z.writestr(fname, text * 10)
    raw = bytearray(buf.getvalue())
    i = int(where * len(raw))
    raw[i : i + len(junk)] = junk
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sds.zip"
        path.write_bytes(bytes(raw))
        must_not_crash(read_sds_classic, path)


@given(st.text(max_size=30))
def test_grade_mapping_never_raises(text):
    """Any grade text maps to an NC year code or None, under both mappings."""
    from schoolsync.sources import GradeMapping, nc_year_for_grade

    for mapping in GradeMapping:
        got = nc_year_for_grade(text, mapping)
        assert got is None or got in {"E1", "E2", "N1", "N2", "R", "X", *map(str, range(1, 15))}


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12
).filter(lambda s: s.strip() == s and s.strip())


@st.composite
def rosters(draw):
    """A random valid roster: pupils, teachers, classes and enrolments of one school."""
    n_pupils = draw(st.integers(min_value=0, max_value=8))
    n_teachers = draw(st.integers(min_value=0, max_value=3))
    n_classes = draw(st.integers(min_value=0, max_value=4))
    people = [
        (f"u{i}", "student" if i < n_pupils else "teacher", draw(names), draw(names))
        for i in range(n_pupils + n_teachers)
    ]
    classes = [
        (f"c{i}", draw(names), draw(st.sampled_from(["KG", "01", "06", "07", "11"])))
        for i in range(n_classes)
    ]
    pairs = set()
    if people and classes:
        pairs = draw(
            st.sets(
                st.tuples(
                    st.sampled_from([p[0] for p in people]),
                    st.sampled_from([c[0] for c in classes]),
                ),
                max_size=12,
            )
        )
    return people, classes, sorted(pairs)


@given(rosters())
def test_oneroster_round_trip(roster):
    """Records written as a OneRoster bundle (names with commas, quotes, any script) read back
    exactly: names, roles, and every enrolment in the person's class ids."""
    import csv
    import io

    people, classes, pairs = roster

    def table(header, rows):
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(header)
        w.writerows(rows)
        return out.getvalue()

    files = {
        "manifest.csv": "propertyName,value\noneroster.version,1.1\nfile.orgs,bulk\nfile.users,bulk\n"
        "file.classes,bulk\nfile.enrollments,bulk\n",
        "orgs.csv": "sourcedId,status,dateLastModified,name,type\nsch,active,,S,school\n",
        "users.csv": table(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "enabledUser",
                "orgSourcedIds",
                "role",
                "username",
                "givenName",
                "familyName",
            ],
            [
                [u, "active", "", "true", "sch", role, u, given, family]
                for u, role, given, family in people
            ],
        ),
        "classes.csv": table(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "grades",
                "courseSourcedId",
                "classType",
                "schoolSourcedId",
                "termSourcedIds",
            ],
            [
                [c, "active", "", title, grade, "k", "scheduled", "sch", "t"]
                for c, title, grade in classes
            ],
        ),
        "enrollments.csv": table(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
            ],
            [[f"e{i}", "active", "", c, "sch", u, "student"] for i, (u, c) in enumerate(pairs)],
        ),
    }
    with tempfile.TemporaryDirectory() as d:
        for fname, text in files.items():
            (Path(d) / fname).write_text(text, encoding="utf-8", newline="")
        snap = read_oneroster(d)
    read_people = {p.id: ("student", p.forename, p.surname, p.class_ids) for p in snap.pupils}
    read_people |= {s.id: ("teacher", s.forename, s.surname, s.class_ids) for s in snap.staff}
    expected = {
        u: (role, given, family, tuple(c for uu, c in pairs if uu == u))
        for u, role, given, family in people
    }
    assert expected == read_people
    assert [(c, t) for c, t, _ in classes] == [(c.id, c.name) for c in snap.classes]


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """Write a zip file of *members*; return its path."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for fname, raw in members.items():
            z.writestr(fname, raw)
    return path


@given(name=st.sampled_from(sorted(bundle_files())), ops=edits, nested=st.booleans())
def test_oneroster_zip_broken_text(name, ops, nested):
    """A zipped OneRoster bundle (at the root or in a folder) with one member mangled reads or
    raises SchoolsyncError."""
    files = bundle_files()
    files[name] = mutate(files[name], ops)
    prefix = "export/" if nested else ""
    members = {prefix + k: v.encode("utf-8", errors="surrogatepass") for k, v in files.items()}
    with tempfile.TemporaryDirectory() as d:
        path = write_zip(Path(d) / "bundle.zip", members)
        must_not_crash(read_oneroster, path, school_org="sch1")


@given(
    drop=st.sets(st.sampled_from(sorted(bundle_files()))),
    extra=st.dictionaries(
        st.sampled_from(["USERS.CSV", "a/users.csv", "__MACOSX/users.csv", "x/"]),
        st.binary(max_size=40),
        max_size=2,
    ),
)
def test_oneroster_zip_wrong_members(drop, extra):
    """A zip with members missing, doubled under other case or folders, or junk, reads or
    raises SchoolsyncError."""
    members = {k: v.encode() for k, v in bundle_files().items() if k not in drop}
    members.update(extra)
    with tempfile.TemporaryDirectory() as d:
        path = write_zip(Path(d) / "bundle.zip", members)
        must_not_crash(read_oneroster, path, school_org="sch1")


SDS2 = {
    "orgs.csv": "sourcedId,name,type\no1,Oak,school\n",
    "users.csv": "sourcedId,orgSourcedIds,givenName,familyName,username,role,grade\n"
    "u1,o1,Amy,Ng,amy,student,07\nt1,o1,Jo,Li,jo,teacher,\n",
    "classes.csv": "sourcedId,schoolSourcedId,title\nc1,o1,7A\n",
    "enrollments.csv": "classSourcedId,userSourcedId,role\nc1,u1,student\nc1,t1,teacher\n",
}


@given(name=st.sampled_from(sorted(SDS2)), ops=edits)
def test_sds_v2_broken_text(name, ops):
    """An SDS v2 folder with one file mangled reads or raises SchoolsyncError."""
    files = dict(SDS2)
    files[name] = mutate(files[name], ops)
    with tempfile.TemporaryDirectory() as d:
        for fname, text in files.items():
            (Path(d) / fname).write_bytes(text.encode("utf-8", errors="surrogatepass"))
        must_not_crash(read_sds, d)


@given(
    family=st.sampled_from(["v2.1", "v2", "classic"]),
    data=st.data(),
    raw=st.binary(max_size=300),
    zipped=st.booleans(),
)
def test_sds_random_bytes(family, data, raw, zipped):
    """Any SDS file replaced by arbitrary bytes (NUL, non-UTF-8, UTF-16), in a folder or a zip,
    reads or raises SchoolsyncError."""
    files = {"v2.1": SDS21, "v2": SDS2, "classic": CLASSIC}[family]
    members = {k: v.encode() for k, v in files.items()}
    members[data.draw(st.sampled_from(sorted(members)))] = raw
    read = read_sds_classic if family == "classic" else read_sds
    with tempfile.TemporaryDirectory() as d:
        if zipped:
            path = write_zip(Path(d) / "sds.zip", members)
        else:
            path = Path(d)
            for fname, content in members.items():
                (path / fname).write_bytes(content)
        must_not_crash(read, path)


PROLOGS = [
    "",
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<?xml version="1.0" encoding="klingon"?>',
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<?xml version="1.0" encoding="ISO-8859-1"?>',
    '<!DOCTYPE CTfile [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>',
    '<!DOCTYPE CTfile SYSTEM "http://example.invalid/ctf.dtd">',
    '<!DOCTYPE CTfile [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<?xml-stylesheet href="x"?>',
    "\ufeff",
]


@given(
    prolog=st.sampled_from(PROLOGS),
    ops=edits,
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_ctf_hostile_prolog(prolog, ops, encoding):
    """A CTF with any declaration, DTD or entity before its root, in any byte encoding, reads
    or raises SchoolsyncError."""
    body = CTF_FILE.read_text(encoding="utf-8").split("?>", 1)[-1]
    text = mutate(prolog, ops) + body
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ctf.xml"
        path.write_bytes(text.encode(encoding, errors="replace"))
        must_not_crash(read_ctf, path)


@given(data=st.binary(max_size=400))
def test_tabular_random_csv_bytes(data):
    """A mapped CSV of arbitrary bytes reads or raises SchoolsyncError."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pupils.csv"
        path.write_bytes(data)
        must_not_crash(read_tabular, school_id="s", pupils=path, pupil_columns=COLUMNS)


def xlsx_members() -> dict[str, bytes]:
    """The parts of a small valid XLSX with the TABLE rows."""
    import csv
    import io
    import zipfile

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for row in csv.reader(io.StringIO(TABLE)):
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as z:
        return {n: z.read(n) for n in z.namelist()}


XLSX_MEMBERS = xlsx_members()
HOSTILE_XML = [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><x>&a;</x>',
    b'<?xml version="1.0" encoding="klingon"?><x/>',
    b"<x>",
    b"",
    b"\x00\xff\xfe",
]


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(
    member=st.sampled_from(sorted(XLSX_MEMBERS)),
    how=st.sampled_from(["drop", "hostile", "mangle"]),
    hostile=st.sampled_from(HOSTILE_XML),
    ops=edits,
)
def test_tabular_xlsx_wrong_members(member, how, hostile, ops):
    """An XLSX with a part missing, replaced by hostile XML (entities, external entities, an
    unknown encoding) or mangled, reads or raises SchoolsyncError."""
    members = dict(XLSX_MEMBERS)
    if how == "drop":
        del members[member]
    elif how == "hostile":
        members[member] = hostile
    else:
        text = members[member].decode("utf-8", errors="replace")
        members[member] = mutate(text, ops).encode("utf-8", errors="surrogatepass")
    with tempfile.TemporaryDirectory() as d:
        path = write_zip(Path(d) / "pupils.xlsx", members)
        must_not_crash(read_tabular, school_id="s", pupils=path, pupil_columns=COLUMNS)


cells = st.one_of(
    st.none(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
    st.sampled_from(INTERESTING[:17]),
)


#: Writing a workbook per example is slow: a quarter of the profile's examples (the heavier
#: local runs scale with it).
XLSX_EXAMPLES = settings(max_examples=max(10, settings.default.max_examples // 4))


@XLSX_EXAMPLES
@given(rows=st.lists(st.lists(cells, max_size=9), max_size=5))
def test_tabular_xlsx_any_cells(rows):
    """An XLSX whose data rows hold any cell values (numbers, dates, booleans, ragged rows)
    reads or raises SchoolsyncError."""
    import openpyxl
    from openpyxl.utils.exceptions import IllegalCharacterError

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Adno", "Forename", "Surname", "UPN", "DOB", "Year", "Classes"])
    for row in rows:
        try:
            ws.append(row)
        except (ValueError, TypeError, IllegalCharacterError):  # openpyxl cannot write it
            continue
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pupils.xlsx"
        wb.save(path)
        must_not_crash(read_tabular, school_id="s", pupils=path, pupil_columns=COLUMNS)


@given(
    name=st.one_of(
        st.sampled_from(["a\x00b", "x" * 5000, "", ".", "/dev/null", "/nonexistent/dir/f"]),
        st.text(max_size=20),
    ),
    suffix=st.sampled_from(["", ".zip", ".xml", ".csv", ".xlsx"]),
)
def test_any_path_is_refused_with_schoolsync_error(name, suffix):
    """A path that is missing, too long, holds a NUL byte or is not a file of the format makes
    every reader raise SchoolsyncError (never ValueError or OSError)."""
    path = name + suffix
    must_not_crash(read_oneroster, path)
    must_not_crash(read_sds, path)
    must_not_crash(read_sds_classic, path)
    must_not_crash(read_ctf, path)
    must_not_crash(read_tabular, school_id="s", pupils=path, pupil_columns=COLUMNS)
