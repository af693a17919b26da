"""The storage contract run against the in-memory store."""

from __future__ import annotations

import pytest

from schoolsync.ports import Store
from schoolsync.testing.contracts import StoreContract
from schoolsync.testing.memory import MemoryStore


class TestMemoryStore(StoreContract):
    """MemoryStore refuses a second writer to the same school."""

    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()
