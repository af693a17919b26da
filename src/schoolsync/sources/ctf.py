"""The DfE Common Transfer File (CTF): the XML a school sends when a pupil moves school.

:class:`CtfSource` reads the header (document qualifier, academic year, source and destination
schools with LEA, establishment number and URN) and the pupils (UPN, former UPNs, names, date of
birth, gender, ``NCyearActual``). Pupils are streamed with ``iterparse`` and each element is
freed once read, so memory does not grow with the file.

The XML is parsed with :mod:`defusedxml` only: a document type declaration, entity expansion
("billion laughs") or an external entity is refused with a
:class:`~schoolsync.errors.FileFormatError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import attrs
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from schoolsync.errors import FileFormatError, InvalidIdentifierError
from schoolsync.identifiers import Uln, Upn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot
from schoolsync.sources._csv import SourceWarning, Warnings, parse_date, parse_datetime
from schoolsync.sources._years import pupils_year_groups

__all__ = ["CtfHeader", "CtfSchool", "CtfSource", "read_ctf"]

#: NCyearActual codes valid for a pupil (``M``, mixed, is for classes only).
NC_YEAR_ACTUAL = frozenset({"E1", "E2", "N1", "N2", "R", "X", *(str(n) for n in range(1, 15))})


@attrs.frozen(kw_only=True)
class CtfSchool:
    """A school named in a CTF header: LA number (``LEA``), establishment number, URN, name."""

    lea: str | None = None
    estab: str | None = None
    urn: str | None = None
    name: str | None = None

    @property
    def laestab(self) -> str | None:
        """The 7-digit LA + establishment number (the "DfE number"), when both are given."""
        if self.lea and self.estab:
            return f"{self.lea}{self.estab}"
        return None


@attrs.frozen(kw_only=True)
class CtfHeader:
    """The ``CTfile/Header`` of a CTF."""

    document_name: str | None = None
    ctf_version: str | None = None
    date_time: datetime | None = None
    document_qualifier: str | None = None
    data_descriptor: str | None = None
    supplier_id: str | None = None
    academic_year: str | None = None
    source: CtfSchool = CtfSchool()
    destination: CtfSchool | None = None


#: The most elements one Header or pupil may hold (a real pupil holds a few thousand).
MAX_RECORD_ELEMENTS = 100_000


def _in_record(names: list[str]) -> bool:
    """Whether the element at the end of *names* is inside the Header or a pupil."""
    return len(names) >= 2 and (
        names[1] == "Header" or (len(names) >= 3 and names[1] == "CTFpupilData")
    )


def _where(names: list[str]) -> str:
    """The element path for an error message (its first levels, for a deeply nested one)."""
    shown = "/".join(names[:8]) or "CTfile"
    return shown + ("/..." if len(names) > 8 else "")


def _local(tag: object) -> str:
    t = str(tag)
    return t.rsplit("}", 1)[-1]


def _text(el: Element | None) -> str:
    if el is None or el.text is None:
        return ""
    return el.text.strip()


def _child(el: Element, *names: str) -> Element | None:
    for c in el:
        if _local(c.tag) in names:
            return c
    return None


def _address(pupil: Element) -> tuple[str | None, str | None]:
    """The pupil's home ``postcode`` and ``address`` (one line, parts joined by ", ") from its
    ``Address``: a ``BS7666Address`` (SAON, PAON and Street, Locality, Town, AdministrativeArea)
    or ``AddressLines`` (AddressLine1-5), with the ``PostCode``; None where absent."""
    el = _child(pupil, "Address")
    if el is None:
        return None, None
    parts: list[str] = []
    bs = _child(el, "BS7666Address")
    lines = _child(el, "AddressLines")
    if bs is not None:
        first = " ".join(t for t in (_text(_child(bs, "PAON")), _text(_child(bs, "Street"))) if t)
        town = _text(_child(bs, "Town")) or _text(_child(bs, "PostTown"))
        parts = [_text(_child(bs, "SAON")), first, _text(_child(bs, "Locality")), town]
        parts.append(_text(_child(bs, "AdministrativeArea")))
    elif lines is not None:
        parts = [_text(c) for c in lines if _local(c.tag).startswith("AddressLine")]
    parts.append(_text(_child(el, "County")))
    address = ", ".join(dict.fromkeys(p for p in parts if p))
    return _text(_child(el, "PostCode")) or None, address or None


class CtfSource:
    """A CTF XML file, read as pupils of one school (``MisSource``; no staff or classes).

    Args:
        path: the CTF file.
        school_id: the ``school_id`` on every pupil (default: the source school's URN, else its
            LA + establishment number). Pass the importing school's id for a CTF received from
            another school.
        taken_at: overrides the header's ``DateTime`` as the snapshot time.

    Pupil ``id`` and ``mis_id`` are the UPN (the CTF's key). Decisions (the MIS is the record
    of truth, but the UPN is the key matching relies on): a missing, malformed or duplicated
    UPN, a missing name or a bad date of birth is an error; an unknown LA code in a UPN is
    accepted; a malformed former UPN, or an ``NCyearActual`` outside the DfE code list, is
    dropped with a warning.
    """

    def __init__(
        self, path: str | Path, *, school_id: str | None = None, taken_at: datetime | None = None
    ) -> None:
        self.path = Path(path)
        self._name = self.path.name
        self._school_id_arg = school_id
        self._taken_at = taken_at
        self._w = Warnings()
        self._header: CtfHeader | None = None

    # -- parsing -------------------------------------------------------------------------------

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except (OSError, ValueError) as e:  # ValueError: a NUL in the path
            raise FileFormatError(
                str(self.path), f"cannot be read: {getattr(e, 'strerror', None) or e}"
            ) from None

    def _elements(self, stop_after_header: bool = False) -> Iterator[tuple[str, Element]]:
        """(path, element) for the Header and each Pupil, at their end tags.

        Time and memory follow the content read: the element path is built only for what is
        yielded (not at every end tag, which made deep nesting quadratic), every element outside
        the Header and the pupils is dropped from the tree as soon as it ends, and a Header or
        pupil holding more than :data:`MAX_RECORD_ELEMENTS` elements is refused.
        """
        names: list[str] = []
        elements: list[Element] = []
        pupil_count = 0
        inside = 0  # elements in the Header or pupil being read
        with self._open() as f:
            try:
                for event, el in iterparse(f, events=("start", "end"), forbid_dtd=True):
                    name = _local(el.tag)
                    if event == "start":
                        if not names and name != "CTfile":
                            raise FileFormatError(
                                self._name, "the root element must be CTfile", path=name
                            )
                        if len(names) == 2 and name == "Pupil" and names[1] == "CTFpupilData":
                            pupil_count += 1
                            name = f"Pupil[{pupil_count}]"
                        names.append(name)
                        elements.append(el)
                        if _in_record(names):
                            inside += 1
                            if inside > MAX_RECORD_ELEMENTS:
                                raise FileFormatError(
                                    self._name,
                                    f"more than {MAX_RECORD_ELEMENTS:,} elements in one record",
                                    path="/".join(names[:3]),
                                )
                        continue
                    record = (len(names) == 2 and name == "Header") or (
                        len(names) == 3 and name == "Pupil" and names[1] == "CTFpupilData"
                    )
                    if record:
                        path = "/".join(names)
                    in_record = _in_record(names)
                    names.pop()
                    elements.pop()
                    if record:
                        inside = 0
                        yield path, el
                        if stop_after_header and name == "Header":
                            return
                    if (record or not in_record) and elements:
                        el.clear()
                        elements[-1].remove(el)  # the last child: nothing else is kept
            except FileFormatError:
                raise
            except DefusedXmlException as e:
                raise FileFormatError(
                    self._name, f"hostile XML refused ({type(e).__name__})", path=_where(names)
                ) from None
            except ParseError as e:
                line = getattr(e, "position", (None, None))[0]
                raise FileFormatError(self._name, f"not well-formed XML ({e})", row=line) from None
            except (LookupError, ValueError) as e:  # multi-byte encodings (UTF-7, Shift_JIS...)
                raise FileFormatError(
                    self._name,
                    f"unsupported or wrong character encoding ({e}); a CTF is UTF-8",
                    path=_where(names),
                    code="encoding",
                ) from None

    def header(self) -> CtfHeader:
        """The file's header (read once, from the start of the file).

        Raises:
            FileFormatError: no header, a bad ``DateTime``, or broken or hostile XML.
        """
        if self._header is None:
            for path, el in self._elements(stop_after_header=True):
                self._header = self._read_header(path, el)
            if self._header is None:
                raise FileFormatError(self._name, "the file has no header", path="CTfile/Header")
        return self._header

    def _school(self, el: Element | None) -> CtfSchool | None:
        if el is None:
            return None
        return CtfSchool(
            lea=_text(_child(el, "LEA")) or None,
            estab=_text(_child(el, "Estab")) or None,
            urn=_text(_child(el, "URN")) or None,
            name=_text(_child(el, "SchoolName")) or None,
        )

    def _read_header(self, path: str, el: Element) -> CtfHeader:
        stamp = _text(_child(el, "DateTime"))
        when = (
            parse_datetime(
                stamp, file=self._name, field="DateTime", warnings=self._w, path=f"{path}/DateTime"
            )
            if stamp
            else None
        )
        source_el = _child(el, "SourceSchool")
        source = self._school(source_el) or CtfSchool()
        year = _text(_child(source_el, "AcademicYear")) if source_el is not None else ""
        return CtfHeader(
            document_name=_text(_child(el, "DocumentName")) or None,
            ctf_version=_text(_child(el, "CTFversion")) or None,
            date_time=when,
            document_qualifier=_text(_child(el, "DocumentQualifier")) or None,
            data_descriptor=_text(_child(el, "DataDescriptor")) or None,
            supplier_id=_text(_child(el, "SupplierID")) or None,
            academic_year=year or None,
            source=source,
            destination=self._school(_child(el, "DestSchool")),
        )

    @property
    def school_id(self) -> str:
        """The ``school_id`` given to each pupil."""
        if self._school_id_arg is not None:
            return self._school_id_arg
        src = self.header().source
        found = src.urn or src.laestab
        if found is None:
            raise FileFormatError(
                self._name,
                "the source school has no URN or LEA/Estab; pass school_id=",
                path="CTfile/Header/SourceSchool",
            )
        return found

    def _pupil(self, path: str, el: Element, school: str, seen: set[str]) -> Pupil:
        basic = _child(el, "BasicDetails")

        def field(*names: str) -> tuple[str, str]:
            for parent in (el, basic):
                if parent is None:
                    continue
                c = _child(parent, *names)
                if c is not None and _text(c):
                    where = path if parent is el else f"{path}/BasicDetails"
                    return _text(c), f"{where}/{_local(c.tag)}"
            return "", f"{path}/{names[0]}"

        upn_text, upn_path = field("UPN")
        if not upn_text:
            raise FileFormatError(
                self._name, "a pupil needs a UPN", path=upn_path, field="UPN", code="1500"
            )
        try:
            upn = Upn.parse(upn_text)
        except InvalidIdentifierError as e:
            raise FileFormatError(
                self._name, e.reason, path=upn_path, field="UPN", value=upn_text, code=e.code
            ) from None
        if upn.value in seen:
            raise FileFormatError(
                self._name,
                "two pupils have the same UPN",
                path=upn_path,
                field="UPN",
                value=upn.value,
                code="1520",
            )
        seen.add(upn.value)
        former: list[Upn] = []
        for parent in (el, basic):
            if parent is None:
                continue
            where = path if parent is el else f"{path}/BasicDetails"
            for c in parent:
                if _local(c.tag) == "FormerUPN" and _text(c):
                    try:
                        former.append(Upn.parse(_text(c)))
                    except InvalidIdentifierError as e:
                        self._w.add(
                            self._name,
                            f"former UPN dropped: {e.reason}",
                            field="FormerUPN",
                            kind="former upn",
                            path=f"{where}/FormerUPN",
                        )
        surname, s_path = field("Surname", "LegalSurname")
        forename, f_path = field("Forename", "LegalForename")
        if not surname:
            raise FileFormatError(
                self._name, "a pupil needs a surname", path=s_path, field="Surname"
            )
        if not forename:
            raise FileFormatError(
                self._name, "a pupil needs a forename", path=f_path, field="Forename"
            )
        dob_text, dob_path = field("DOB")
        dob: date | None = None
        if dob_text:
            dob = parse_date(
                dob_text, file=self._name, field="DOB", warnings=self._w, path=dob_path
            )
        else:
            self._w.add(
                self._name,
                "a pupil has no date of birth",
                field="DOB",
                kind="no dob",
                path=dob_path,
            )
        gender_text, _ = field("Gender", "Sex")
        nc, nc_path = field("NCyearActual")
        year: str | None = nc.upper() or None
        if year is not None and year not in NC_YEAR_ACTUAL:
            self._w.add(
                self._name,
                f"NCyearActual {nc!r} is not a pupil year code; left blank",
                field="NCyearActual",
                kind=f"nc {nc}",
                path=nc_path,
            )
            year = None
        uln_text, uln_path = field("UniqueLearnerNumber", "ULN")
        uln: Uln | None = None
        try:
            uln = Uln.parse_optional(uln_text)
        except InvalidIdentifierError as e:
            self._w.add(
                self._name,
                f"ULN left blank: {e.reason}",
                field="ULN",
                kind="bad uln",
                path=uln_path,
            )
        postcode, address = _address(el)
        return Pupil(
            id=upn.value,
            school_id=school,
            forename=forename,
            surname=surname,
            mis_id=upn.value,
            upn=upn,
            former_upns=tuple(dict.fromkeys(u for u in former if u != upn)),
            preferred_forename=field("PreferredForename")[0] or None,
            preferred_surname=field("PreferredSurname")[0] or None,
            middle_names=field("MiddleNames")[0] or None,
            date_of_birth=dob,
            gender=Gender.parse(gender_text),
            year_code=year,
            uln=uln,
            postcode=postcode,
            address=address,
        )

    # -- MisSource -----------------------------------------------------------------------------

    def pupils(self) -> Iterator[Pupil]:
        """The file's pupils, streamed (raises at the first bad pupil)."""
        school = self.school_id
        seen: set[str] = set()
        for path, el in self._elements():
            if path.endswith("Header"):
                continue
            yield self._pupil(path, el, school, seen)

    def staff(self) -> Iterator[StaffMember]:
        """A CTF holds no staff: always empty."""
        return iter(())

    def classes(self) -> Iterator[SchoolClass]:
        """A CTF holds no classes: always empty."""
        return iter(())

    def year_groups(self) -> Iterator[YearGroup]:
        """One year group per ``NCyearActual`` the pupils have (a pass over the file)."""
        yield from pupils_year_groups(self.school_id, self.pupils())

    def snapshot_time(self) -> datetime | None:
        """``taken_at`` if given, else the header's ``DateTime`` (UTC when it has no offset)."""
        if self._taken_at is not None:
            return self._taken_at
        t = self.header().date_time
        return t if t is None or t.tzinfo is not None else t.replace(tzinfo=UTC)

    def warnings(self) -> list[str]:
        """Everything tolerated so far."""
        return self._w.messages()

    def warning_details(self) -> list[SourceWarning]:
        """The warnings as structured records."""
        return self._w.details()

    def read(self) -> MisSnapshot:
        """Read the whole file into a snapshot (raises on any problem; never half-read)."""
        pupils = list(self.pupils())
        return MisSnapshot(
            school_id=self.school_id,
            taken_at=self.snapshot_time(),
            pupils=pupils,
            staff=(),
            classes=(),
            year_groups=pupils_year_groups(self.school_id, pupils),
            warnings=tuple(self.warnings()),
        )


def read_ctf(
    path: str | Path, *, school_id: str | None = None, taken_at: datetime | None = None
) -> MisSnapshot:
    """Read a whole CTF into a snapshot (see :class:`CtfSource`)."""
    return CtfSource(path, school_id=school_id, taken_at=taken_at).read()
