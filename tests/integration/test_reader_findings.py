"""Findings from reading real files, each fixed and kept: CTF warnings say where they are,
the ULN placeholder 9999999999 means "not yet known", and a Northern Ireland child of
pre-school age is reported as not yet in school."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from schoolsync.calendar import (
    Jurisdiction,
    NotYetInSchool,
    YearGroupStatus,
    check_year_group,
    school_stage_for,
    year_group_for,
)
from schoolsync.errors import InvalidDateError, InvalidIdentifierError
from schoolsync.identifiers import ULN_PLACEHOLDER, Uln
from schoolsync.sources import read_ctf

CTF = Path(__file__).parents[1] / "data" / "ctf" / "8201234_CTF_3802093_001.xml"


def test_ctf_warnings_carry_their_xpath(tmp_path: Path) -> None:
    """A bad former UPN, a bad ULN and an unknown NCyearActual are warnings naming the pupil's
    element, as errors do; the placeholder ULN reads as no ULN, without a warning."""
    text = CTF.read_text(encoding="utf-8")
    text = text.replace(
        "<FormerUPN>B820123423007</FormerUPN>", "<FormerUPN>B82012342300</FormerUPN>"
    )
    text = text.replace(
        "<UniqueLearnerNumber>1234567890</UniqueLearnerNumber>",
        f"<UniqueLearnerNumber>{ULN_PLACEHOLDER}</UniqueLearnerNumber>",
    )
    text = text.replace(
        "<UPN>R820123424002</UPN>",
        "<UPN>R820123424002</UPN>\n      <UniqueLearnerNumber>1234567890</UniqueLearnerNumber>",
    )
    text = text.replace("<NCyearActual>R</NCyearActual>", "<NCyearActual>Q</NCyearActual>")
    path = tmp_path / CTF.name
    path.write_text(text, encoding="utf-8")
    snap = read_ctf(path)
    pupils = {p.forename: p for p in snap.pupils}
    assert pupils["Amara"].uln is None  # 9999999999: not yet known
    joined = "\n".join(snap.warnings)
    assert "at CTfile/CTFpupilData/Pupil[3]/BasicDetails/FormerUPN, field 'FormerUPN'" in joined
    assert "at CTfile/CTFpupilData/Pupil[2]/UniqueLearnerNumber, field 'ULN'" in joined
    assert "at CTfile/CTFpupilData/Pupil[3]/BasicDetails/NCyearActual" in joined
    assert "9999999999" not in joined


def test_a_valid_ctf_uln_is_read(tmp_path: Path) -> None:
    """A ULN with a good check digit is kept on the pupil."""
    path = tmp_path / CTF.name
    path.write_text(CTF.read_text(encoding="utf-8").replace("1234567890", "9276308686"))
    pupils = {p.forename: p for p in read_ctf(path).pupils}
    assert "9276308686" == str(pupils["Amara"].uln)


def test_the_uln_placeholder_is_not_yet_known_not_a_bad_check_digit() -> None:
    """9999999999 fails the check digit by design: parse_optional reads it as no ULN, parse
    says what it is."""
    assert Uln.is_placeholder(ULN_PLACEHOLDER)
    assert Uln.parse_optional(" 9999999999 ") is None
    with pytest.raises(InvalidIdentifierError, match="placeholder for a ULN not yet known"):
        Uln.parse(ULN_PLACEHOLDER)
    with pytest.raises(InvalidIdentifierError, match="check digit is wrong"):
        Uln.parse_optional("9999999997")


def test_a_northern_ireland_pre_school_child_is_not_yet_in_school() -> None:
    """A three-year-old in Northern Ireland (nursery) has no year group yet: reported, with the
    year they start Year 1, not raised; the year-group check says the same."""
    dob, on = date(2022, 3, 1), date(2025, 10, 1)
    stage = school_stage_for(dob, on, jurisdiction=Jurisdiction.NORTHERN_IRELAND)
    assert isinstance(stage, NotYetInSchool)
    assert "not yet in school (pre-school age; Year 1 from 2026/27)" == str(stage)
    check = check_year_group(dob, None, on, jurisdiction=Jurisdiction.NORTHERN_IRELAND)
    assert YearGroupStatus.NOT_COMPARABLE == check.status
    assert check.reason == str(stage)
    school_age = school_stage_for(date(2018, 3, 1), on, jurisdiction=Jurisdiction.NORTHERN_IRELAND)
    assert "Y4" == str(school_age)
    with pytest.raises(InvalidDateError, match="not yet in school"):
        year_group_for(dob, on, jurisdiction=Jurisdiction.NORTHERN_IRELAND)
