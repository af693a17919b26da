"""Property: any valid record survives a trip through SqliteStore unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schoolsync.people import Pupil, StaffMember
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing import strategies as ss
from schoolsync.trusts import School

# Any Unicode text a file could decode to (no lone surrogates, which UTF-8 cannot encode).
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    path: Path = tmp_path_factory.mktemp("roundtrip") / "roundtrip.db"
    with SqliteStore(path) as store:
        yield store


@given(pupil=ss.pupils(), staff=ss.staff_members(), school=ss.schools())
def test_generated_records_round_trip(
    store: SqliteStore, pupil: Pupil, staff: StaffMember, school: School
) -> None:
    """Realistic pupils, staff and schools read back equal to what was committed."""
    with store.unit_of_work() as uow:
        uow.pupils.put(pupil)
        uow.staff.put(staff)
        uow.schools.put(school)
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.pupils.get(pupil.id) == pupil
        assert uow.staff.get(staff.id) == staff
        assert uow.schools.get(school.id) == school


@given(id=_text.filter(bool), forename=_text, surname=_text, middle=st.none() | _text)
def test_any_text_round_trips(
    store: SqliteStore, id: str, forename: str, surname: str, middle: str | None
) -> None:
    """Ids and names of any Unicode text (quotes, NULs, emoji, RTL) are stored verbatim."""
    pupil = Pupil(id=id, school_id=id, forename=forename, surname=surname, middle_names=middle)
    with store.unit_of_work() as uow:
        uow.pupils.put(pupil)
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.pupils.get(id) == pupil
        assert uow.pupils.list(school_id=id) == [pupil]
