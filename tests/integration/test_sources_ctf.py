"""The DfE Common Transfer File reader, on test files written from the DfE specification."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from schoolsync.errors import FileFormatError
from schoolsync.identifiers import Upn
from schoolsync.people import Gender
from schoolsync.sources import CtfSchool, CtfSource, read_ctf

DATA = Path(__file__).parents[1] / "data" / "ctf"
FULL = DATA / "8201234_CTF_3802093_001.xml"

PUPIL = """<Pupil>
      <UPN>{upn}</UPN>
      <Surname>Hughes</Surname>
      <Forename>Tomos</Forename>
      <DOB>{dob}</DOB>
      <Gender>M</Gender>
      <BasicDetails><NCyearActual>{year}</NCyearActual>{former}</BasicDetails>
    </Pupil>"""


def ctf(tmp_path: Path, *pupils: str, header: str | None = None) -> Path:
    """Write a CTF with the given pupil elements; return its path."""
    head = header or (
        "<Header><DocumentName>Common Transfer File</DocumentName><CTFversion>25.0</CTFversion>"
        "<DateTime>2025-07-18T14:05:00</DateTime><DocumentQualifier>partial</DocumentQualifier>"
        "<SourceSchool><LEA>820</LEA><Estab>1234</Estab><URN>100123</URN>"
        "<AcademicYear>2024</AcademicYear></SourceSchool></Header>"
    )
    path = tmp_path / "test.xml"
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><CTfile>{head}'
        f"<CTFpupilData>{''.join(pupils)}</CTFpupilData></CTfile>"
    )
    return path


def pupil(
    upn: str = "R820123424002", dob: str = "2014-08-31", year: str = "6", former: str = ""
) -> str:
    """One Pupil element."""
    return PUPIL.format(upn=upn, dob=dob, year=year, former=former)


class TestSpecFile:
    def test_header(self):
        """The header gives version, time, qualifier, academic year and both schools."""
        header = CtfSource(FULL).header()
        assert ("25.0", "full", "2024") == (
            header.ctf_version,
            header.document_qualifier,
            header.academic_year,
        )
        assert datetime(2025, 7, 18, 14, 5, tzinfo=UTC) == header.date_time
        assert CtfSchool(
            lea="820", estab="1234", urn="100123", name="Riverside Primary School"
        ) == (header.source)
        assert header.destination is not None
        assert ("3802093", "107258") == (header.destination.laestab, header.destination.urn)

    def test_pupils(self):
        """Pupils carry UPN (as id), former UPNs, legal and preferred names, DOB, gender, year."""
        snap = read_ctf(FULL)
        assert ["C820123424001", "R820123424002", "F820123424003"] == [p.id for p in snap.pupils]
        amara = snap.pupils[0]
        assert (Upn.parse("C820123424001"), (Upn.parse("N82012342400A"),)) == (
            amara.upn,
            amara.former_upns,
        )
        assert ("Amara", "Okafor", "Amy", "Chidinma Grace") == (
            amara.forename,
            amara.surname,
            amara.preferred_forename,
            amara.middle_names,
        )
        assert (date(2013, 10, 2), Gender.FEMALE, "6") == (
            amara.date_of_birth,
            amara.gender,
            amara.year_code,
        )
        assert "100123" == snap.school_id
        assert ["Reception", "Year 6"] == [y.name for y in snap.year_groups]

    def test_school_id_given_by_the_importing_school(self):
        """school_id= names the school the pupils are read for (e.g. the destination)."""
        snap = read_ctf(FULL, school_id="107258")
        assert {"107258"} == {p.school_id for p in snap.pupils}

    def test_streams_and_has_no_staff_or_classes(self):
        """A CTF source streams pupils and has no staff or classes."""
        source = CtfSource(FULL)
        assert "C820123424001" == next(source.pupils()).id
        assert [] == list(source.staff())
        assert [] == list(source.classes())
        assert ["R", "6"] == [y.nc_year for y in source.year_groups()]


class TestHostileXml:
    @pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
    def test_entities_are_refused(self, name):
        """Entity expansion and external entities are refused, never expanded or fetched."""
        with pytest.raises(FileFormatError, match="hostile XML refused") as info:
            read_ctf(DATA / name)
        assert name == info.value.file

    def test_broken_xml_names_the_line(self, tmp_path):
        """Not well-formed XML is a FileFormatError with the line number."""
        path = tmp_path / "broken.xml"
        path.write_text("<CTfile>\n<Header>\n</CTfile>\n")
        with pytest.raises(FileFormatError) as info:
            read_ctf(path)
        assert 3 == info.value.row

    def test_wrong_root(self, tmp_path):
        """A document whose root is not CTfile is refused."""
        path = tmp_path / "other.xml"
        path.write_text("<Message><Header/></Message>")
        with pytest.raises(FileFormatError, match="CTfile"):
            read_ctf(path)


class TestBadPupils:
    def test_bad_upn_names_the_xml_path(self, tmp_path):
        """A UPN with a wrong check letter names the pupil's XML path and code 1510."""
        path = ctf(tmp_path, pupil(), pupil(upn="A820123424001"))
        with pytest.raises(FileFormatError) as info:
            read_ctf(path)
        assert ("CTfile/CTFpupilData/Pupil[2]/UPN", "1510") == (info.value.path, info.value.code)

    def test_missing_upn(self, tmp_path):
        """A pupil without a UPN is refused (census code 1500)."""
        with pytest.raises(FileFormatError) as info:
            read_ctf(ctf(tmp_path, pupil(), pupil(upn="")))
        err = info.value
        assert ("test.xml", "CTfile/CTFpupilData/Pupil[2]/UPN", "UPN", "1500") == (
            err.file,
            err.path,
            err.field,
            err.code,
        )

    def test_duplicate_upn(self, tmp_path):
        """Two pupils with one UPN are refused (census code 1520)."""
        with pytest.raises(FileFormatError) as info:
            read_ctf(ctf(tmp_path, pupil(), pupil()))
        assert ("1520", "CTfile/CTFpupilData/Pupil[2]/UPN") == (info.value.code, info.value.path)

    def test_bad_date_of_birth(self, tmp_path):
        """A date of birth that is not a date names the path and value."""
        with pytest.raises(FileFormatError) as info:
            read_ctf(ctf(tmp_path, pupil(dob="2014-02-30")))
        assert ("CTfile/CTFpupilData/Pupil[1]/DOB", "2014-02-30") == (
            info.value.path,
            info.value.value,
        )

    def test_bad_former_upn_and_year_are_warnings(self, tmp_path):
        """A malformed former UPN and a year code outside the list are dropped with warnings."""
        path = ctf(tmp_path, pupil(year="M", former="<FormerUPN>NOT-A-UPN</FormerUPN>"))
        snap = read_ctf(path)
        assert ((), None) == (snap.pupils[0].former_upns, snap.pupils[0].year_code)
        assert 2 == len(snap.warnings)

    def test_no_header(self, tmp_path):
        """A CTF without a header is refused when the header is needed."""
        path = tmp_path / "h.xml"
        path.write_text("<CTfile><CTFpupilData/></CTfile>")
        with pytest.raises(FileFormatError, match="no header"):
            read_ctf(path)


def test_unknown_xml_encoding_is_a_file_format_error(tmp_path: Path) -> None:
    """An XML declaration naming an encoding Python does not know is a clear FileFormatError."""
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<?xml version="1.0" encoding="UT-8"?><CTfile><Header/></CTfile>')
    with pytest.raises(FileFormatError, match="encoding"):
        read_ctf(bad)


class TestEncodings:
    def test_utf8_with_byte_order_mark(self, tmp_path):
        """A CTF saved as UTF-8 with a byte-order mark reads like one without."""
        path = ctf(tmp_path, pupil())
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        assert ["R820123424002"] == [p.id for p in read_ctf(path).pupils]

    def test_bytes_not_in_the_declared_encoding(self, tmp_path):
        """A CTF declared UTF-8 but holding Latin-1 bytes is refused, naming the line."""
        path = ctf(tmp_path, pupil())
        text = path.read_text().replace("<CTFpupilData>", "\n<CTFpupilData>")
        path.write_bytes(text.replace("Header>", "Header><!-- caf\u00e9 -->", 1).encode("latin-1"))
        with pytest.raises(FileFormatError, match="not well-formed") as info:
            read_ctf(path)
        assert ("test.xml", 1) == (info.value.file, info.value.row)


class TestHomeAddress:
    """A pupil's ``Address`` (BS7666 or address lines, with the postcode) becomes its
    ``postcode`` and one-line ``address``, used by matching and overwritten by a sync."""

    def test_bs7666_address(self, tmp_path: Path) -> None:
        address = (
            "<Address><BS7666Address><SAON>Flat 2</SAON><PAON>14</PAON><Street>Mill Lane"
            "</Street><Locality>Canton</Locality><Town>Cardiff</Town></BS7666Address>"
            "<PostCode>CF5 1AB</PostCode><Country>GBR</Country></Address>"
        )
        (p,) = CtfSource(ctf(tmp_path, pupil().replace("</Pupil>", address + "</Pupil>"))).pupils()
        assert ("CF5 1AB", "Flat 2, 14 Mill Lane, Canton, Cardiff") == (p.postcode, p.address)

    def test_address_lines(self, tmp_path: Path) -> None:
        address = (
            "<Address><AddressLines><AddressLine1>The Old Forge</AddressLine1><AddressLine2>"
            "High Street</AddressLine2><AddressLine3/></AddressLines><County>Powys</County>"
            "<PostCode>LD3 7AA</PostCode></Address>"
        )
        (p,) = CtfSource(ctf(tmp_path, pupil().replace("</Pupil>", address + "</Pupil>"))).pupils()
        assert ("LD3 7AA", "The Old Forge, High Street, Powys") == (p.postcode, p.address)

    def test_no_address(self, tmp_path: Path) -> None:
        (p,) = CtfSource(ctf(tmp_path, pupil())).pupils()
        assert (None, None) == (p.postcode, p.address)
