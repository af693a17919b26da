"""The storage contract run against the in-memory store."""

from __future__ import annotations

import pytest

from schoolsync.errors import DuplicateRecordError
from schoolsync.people import Pupil
from schoolsync.ports import Store
from schoolsync.testing.contracts import StoreContract
from schoolsync.testing.memory import MemoryStore


class TestMemoryStore(StoreContract):
    """MemoryStore refuses a second writer to the same school."""

    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()


def test_an_id_added_by_two_units_of_work_is_committed_once() -> None:
    """If another unit of work commits an id this one add()ed meanwhile, commit raises
    DuplicateRecordError and changes nothing (the SQL stores refuse the second insert too)."""
    store = MemoryStore()
    first, second = store.unit_of_work(), store.unit_of_work()
    first.pupils.add(Pupil(id="p1", school_id="s1", forename="A", surname="First"))
    first.pupils.put(Pupil(id="p2", school_id="s1", forename="B", surname="First"))
    second.pupils.add(Pupil(id="p1", school_id="s1", forename="A", surname="Second"))
    second.commit()
    with pytest.raises(DuplicateRecordError):
        first.commit()
    first.rollback()
    with store.unit_of_work() as uow:
        assert [(p.id, p.surname) for p in uow.pupils.list()] == [("p1", "Second")]
        uow.pupils.remove("p1")
        uow.pupils.add(Pupil(id="p1", school_id="s1", forename="A", surname="Again"))
        uow.commit()  # re-adding an id removed in the same unit of work is no conflict
    with store.unit_of_work() as uow:
        assert uow.pupils.require("p1").surname == "Again"
