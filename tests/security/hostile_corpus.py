"""A hostile-input corpus: one generator per attack class, each parameterised by size.

Every generator returns the bytes of one file (``size`` is roughly how large the compressed or
plain input is, in bytes). ``tests/security/test_bombs.py`` runs each reader on each file in a
subprocess under a memory limit; the fuzz session in ``noxfile.py`` starts from these files.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)


def workbook(
    sheet_data: bytes, shared: bytes | None = None, *, sheet_name: str = "Sheet1"
) -> bytes:
    """A minimal valid XLSX whose first sheet's ``<sheetData>`` is *sheet_data*."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            f'<sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>",
        )
        with z.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(
                f'<worksheet xmlns="{_MAIN}"><dimension ref="A1:XFD1048576"/><sheetData>'.encode()
            )
            part.write(sheet_data)
            part.write(b"</sheetData></worksheet>")
        if shared is not None:
            with z.open("xl/sharedStrings.xml", "w") as part:
                part.write(f'<sst xmlns="{_MAIN}">'.encode())
                part.write(shared)
                part.write(b"</sst>")
    return out.getvalue()


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


_HEADER = (
    '<row r="1">'
    + _inline("A1", "Email")
    + _inline("B1", "School name")
    + _inline("C1", "Postcode")
    + _inline("D1", "URN")
    + "</row>"
)


def xlsx_xfd(size: int) -> bytes:
    """One cell at column XFD on every row (the reader must not pad rows to 16,384 cells)."""
    rows = size * 4  # compressed, each row costs a few bytes
    body = b"".join(
        f'<row r="{n}"><c r="XFD{n}" t="s"><v>0</v></c></row>'.encode() for n in range(2, rows + 2)
    )
    return workbook(_HEADER.encode() + body, b"<si><t>x</t></si>")


def xlsx_shared_strings(size: int) -> bytes:
    """A long shared string referenced by every cell (text multiplies by reference)."""
    cells = size * 8
    long_text = "A" * 32_000
    per_row = 16
    body = io.BytesIO()
    body.write(_HEADER.encode())
    for n in range(2, cells // per_row + 2):
        body.write(f'<row r="{n}">'.encode())
        body.write(b'<c t="s"><v>0</v></c>' * per_row)
        body.write(b"</row>")
    return workbook(body.getvalue(), f"<si><t>{long_text}</t></si>".encode())


def xlsx_many_shared_strings(size: int) -> bytes:
    """Millions of tiny shared strings (the table itself grows without bound)."""
    count = size * 40
    return workbook(_HEADER.encode(), b"<si><t>a</t></si>" * count)


def xlsx_rich_text_runs(size: int) -> bytes:
    """One shared string made of a huge number of rich-text runs, referenced by a cell."""
    runs = size * 60
    shared = b"<si>" + b"<r><t>a</t></r>" * runs + b"</si>"
    row = b'<row r="2">' + b'<c r="A2" t="s"><v>0</v></c>' + b"</row>"
    return workbook(_HEADER.encode() + row, shared)


def xlsx_deep_nesting(size: int) -> bytes:
    """Deeply nested unknown elements inside a row."""
    depth = size * 10
    return workbook(
        _HEADER.encode() + b'<row r="2">' + b"<x>" * depth + b"</x>" * depth + b"</row>"
    )


def xlsx_empty_cells(size: int) -> bytes:
    """Rows of a thousand empty cells compressed a thousand times (each empty cell still costs
    the parser a start and an end event)."""
    row = b"<row>" + b"<c/>" * 1_000 + b"</row>"
    return workbook(_HEADER.encode() + row * max(1, size // 4))


def xlsx_dense_cells(size: int) -> bytes:
    """As many XML events per compressed byte as a reader allows (six): runs of empty cells
    broken by a cell of random text, so deflate cannot squeeze them further."""
    rng = random.Random(size)
    rows = []
    for n in range(2, 2 + size // 6):
        rows.append(
            f'<row r="{n}">' + "<c/>" * 18 + f'<c t="inlineStr"><is><t>{rng.getrandbits(32):08x}'
            "</t></is></c></row>"
        )
    return workbook(_HEADER.encode() + "".join(rows).encode())


def xlsx_empty_rows(size: int) -> bytes:
    """Rows with nothing in them, up to Excel's row limit (each is still a row to yield)."""
    rows = min(size * 40, 1_048_570)
    return workbook(_HEADER.encode() + b"<row/>" * rows)


def xlsx_row_claim(size: int) -> bytes:
    """A row numbered beyond Excel's 1,048,576 rows."""
    del size
    return workbook(
        _HEADER.encode() + b'<row r="99999999">' + _inline("A99999999", "x").encode() + b"</row>"
    )


def xlsx_malformed(size: int) -> bytes:
    """Sheet XML cut off in the middle."""
    data = workbook(
        _HEADER.encode() + b'<row r="2"><c r="A2" t="inlineStr"><is><t>x' * max(1, size // 64)
    )
    return data


def xlsx_damaged_lzma(size: int) -> bytes:
    """A workbook whose sheet is an LZMA member with its stream damaged."""
    good = workbook(_HEADER.encode() + b"<row/>" * max(1, size // 8))
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            compression = (
                zipfile.ZIP_LZMA if info.filename.endswith("sheet1.xml") else zipfile.ZIP_DEFLATED
            )
            z.writestr(info.filename, src.read(info.filename), compress_type=compression)
    data = bytearray(out.getvalue())
    start = data.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml") + 40
    for i in range(start, min(start + 64, len(data))):
        data[i] ^= 0x5A
    return bytes(data)


_BUNDLE_MEMBERS = (
    "manifest.csv",
    "orgs.csv",
    "users.csv",
    "roles.csv",
    "classes.csv",
    "enrollments.csv",
    "School.csv",
    "Student.csv",
    "Teacher.csv",
    "Section.csv",
    "StudentEnrollment.csv",
    "TeacherRoster.csv",
)


def _bundle(member: Callable[[zipfile.ZipFile, str], None]) -> bytes:
    """A zip holding one hostile member under every name a OneRoster or SDS reader opens."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in _BUNDLE_MEMBERS:
            member(z, name)
    return out.getvalue()


def _inflating(
    size: int, header: bytes, unit: bytes, valid: dict[str, bytes] | None = None
) -> bytes:
    """Members of *header* then *unit* repeated: each inflates about 1,000 times its size
    (the *valid* members hold what is given instead)."""
    target = size * 1000 // len(_BUNDLE_MEMBERS)
    chunk = unit * (1024 * 1024 // len(unit))

    def member(z: zipfile.ZipFile, name: str) -> None:
        if valid and name in valid:
            z.writestr(name, valid[name])
            return
        with z.open(name, "w", force_zip64=True) as part:
            part.write(header)
            written = 0
            while written < target:
                part.write(chunk)
                written += len(chunk)

    return _bundle(member)


def bundle_commas(size: int) -> bytes:
    """Bundle members that are one endless line of commas (64 KiB read at 1.2 GiB before)."""
    return _inflating(size, b"", b",")  # the header line itself never ends


_VALID_MEMBERS = {
    "manifest.csv": (
        b"propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\n"
        b"file.users,bulk\nfile.classes,absent\nfile.enrollments,absent\n"
        b"file.demographics,absent\nfile.academicSessions,absent\n"
    ),
    "orgs.csv": (
        b"sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        b"sch1,active,2024-09-01T08:00:00Z,Oak Primary,school,8201234,\n"
    ),
    "School.csv": b"SIS ID,Name\nsch1,Oak Primary\n",
}
#: One header every people, class and enrolment member of OneRoster and SDS accepts.
_PEOPLE_HEADER = (
    b"sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,"
    b"familyName,schoolSourcedId,title,classSourcedId,userSourcedId,SIS ID,School SIS ID,"
    b"Section Name,Section ID,Student SIS ID,Teacher SIS ID,Username,First Name,Last Name\n"
)


def bundle_blank_lines(size: int) -> bytes:
    """A valid manifest and school, then people members of endless blank lines after their
    header (32 KiB of them took 18 s of CPU before: each blank line was a row to skip)."""
    return _inflating(size, _PEOPLE_HEADER, b"\n", _VALID_MEMBERS)


def bundle_long_line(size: int) -> bytes:
    """Bundle members with one endless line of letters (510 KiB made one 512 MiB line)."""
    return _inflating(size, b"", b"a")


def bundle_damaged_lzma(size: int) -> bytes:
    """Bundle members compressed with LZMA whose streams are damaged."""
    body = b"sourcedId,status\n" + b"x1,active\n" * max(1, size // 10)

    def member(z: zipfile.ZipFile, name: str) -> None:
        z.writestr(name, body, compress_type=zipfile.ZIP_LZMA)

    data = bytearray(_bundle(member))
    for name in _BUNDLE_MEMBERS:
        at = data.find(name.encode()) + len(name) + 24
        for i in range(at, min(at + 16, len(data))):
            data[i] ^= 0x5A
    return bytes(data)


def csv_single_line(size: int) -> bytes:
    """One header then one line with no line break and a giant field."""
    return b"Email,School name,Postcode,URN\n" + b"a" * size


def csv_many_commas(size: int) -> bytes:
    """A line of nothing but commas (many empty fields)."""
    return b"Email,School name,Postcode,URN\n" + b"," * size


def csv_quoted_field(size: int) -> bytes:
    """A quoted field that never closes, spanning many short lines."""
    return b'Email,School name,Postcode,URN\n"' + b"a\n" * (size // 2)


def gias_big_field(size: int) -> bytes:
    """A GIAS links file whose LinkName field is larger than csv's 128 KiB field limit."""
    return b'URN,LinkURN,LinkType,LinkName\n100001,100002,Successor,"' + b"a" * size + b'"\n'


_CTF_HEADER = (
    b"<Header><DocumentName>Common Transfer File</DocumentName><SourceSchool><LEA>820</LEA>"
    b"<Estab>1234</Estab><URN>100001</URN></SourceSchool></Header>"
)
_CTF_PUPIL = (
    b"<Pupil><UPN>C820123424001</UPN><Surname>Okafor</Surname><Forename>Amara</Forename>"
    b"<DOB>2012-05-01</DOB><Gender>F</Gender></Pupil>"
)


def ctf_deep(size: int) -> bytes:
    """A CTF whose body nests unknown elements deeply."""
    depth = size // 7
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><CTfile>'
        + _CTF_HEADER
        + b"<x>" * depth
        + b"</x>" * depth
        + b"<CTFpupilData>"
        + _CTF_PUPIL
        + b"</CTFpupilData></CTfile>"
    )


def ctf_wide(size: int) -> bytes:
    """A CTF with a huge number of elements outside the pupil data."""
    count = size // 4
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><CTfile>'
        + _CTF_HEADER
        + b"<a/>" * count
        + b"<CTFpupilData>"
        + _CTF_PUPIL
        + b"</CTFpupilData></CTfile>"
    )


def ctf_encoding(encoding: str) -> bytes:
    """A CTF declaring an encoding the reader does not accept."""
    return f'<?xml version="1.0" encoding="{encoding}"?><CTfile></CTfile>'.encode("ascii")


#: The zipped bundle classes (OneRoster, SDS) by name.
BUNDLE: dict[str, Callable[[int], bytes]] = {
    "commas": bundle_commas,
    "blank_lines": bundle_blank_lines,
    "long_line": bundle_long_line,
    "damaged_lzma": bundle_damaged_lzma,
}

#: The plain CSV classes by name.
CSV: dict[str, Callable[[int], bytes]] = {
    "single_line": csv_single_line,
    "many_commas": csv_many_commas,
    "quoted_field": csv_quoted_field,
}

#: The XLSX classes by name (each returns workbook bytes for a size).
XLSX: dict[str, Callable[[int], bytes]] = {
    "xfd": xlsx_xfd,
    "shared_strings": xlsx_shared_strings,
    "many_shared_strings": xlsx_many_shared_strings,
    "rich_text_runs": xlsx_rich_text_runs,
    "deep_nesting": xlsx_deep_nesting,
    "empty_cells": xlsx_empty_cells,
    "dense_cells": xlsx_dense_cells,
    "empty_rows": xlsx_empty_rows,
    "row_claim": xlsx_row_claim,
    "malformed": xlsx_malformed,
    "damaged_lzma": xlsx_damaged_lzma,
}
