"""schoolsync.testing: public support for other projects' test suites.

- :class:`MemoryStore` (``schoolsync.testing.memory``): the in-memory store, a real
  implementation of the storage contract.
- :class:`RecordingNotifier` (``schoolsync.testing.notifier``): keeps outbound messages.
- :class:`SequentialIds` / :class:`SeededTokens` (``schoolsync.testing.ids``): deterministic
  :class:`~schoolsync.ports.IdSource` and :class:`~schoolsync.ports.TokenSource` to inject.
- :func:`world` / :class:`World` (``schoolsync.testing.world``): a fluent trust builder;
  :func:`assert_allowed` / :func:`assert_denied` (``schoolsync.testing.assertions``).
- ``schoolsync.testing.scenarios``: access scenario tables (YAML, XLSX) as pytest cases.
- ``schoolsync.testing.strategies``: hypothesis strategies (UPNs, schools, pupils, staff, twins).
- ``schoolsync.testing.populations``: MIS/app population pairs with ground truth for matching.
- ``schoolsync.testing.contracts``: :class:`StoreContract`, the storage contract suite.
- ``schoolsync.testing.sync``: :func:`import_snapshot`, a school whose MIS records are all
  synced (imported as New), for tests of the nightly sync, rollover and leavers.
- ``schoolsync.testing.faults``: :class:`FaultyStore` and :func:`fails_cleanly_at_every_write`,
  which prove an operation on a store is all-or-nothing by failing each of its writes in turn.

The strategies and contracts need the ``testing`` extra (hypothesis, pytest); they are imported
only when asked for, so ``import schoolsync.testing`` never needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schoolsync import _lazy

if TYPE_CHECKING:
    from schoolsync.testing.assertions import assert_allowed, assert_denied
    from schoolsync.testing.contracts import StoreContract
    from schoolsync.testing.faults import (
        FaultReport,
        FaultyStore,
        InjectedFailure,
        NotAllOrNothingError,
        StoreSnapshot,
        fails_cleanly_at_every_write,
        whole_store,
    )
    from schoolsync.testing.ids import SeededTokens, SequentialIds
    from schoolsync.testing.memory import MemoryStore
    from schoolsync.testing.notifier import RecordingNotifier
    from schoolsync.testing.world import World, world

_LAZY = {
    "MemoryStore": "schoolsync.testing.memory",
    "RecordingNotifier": "schoolsync.testing.notifier",
    "World": "schoolsync.testing.world",
    "world": "schoolsync.testing.world",
    "assert_allowed": "schoolsync.testing.assertions",
    "assert_denied": "schoolsync.testing.assertions",
    "StoreContract": "schoolsync.testing.contracts",
    "FaultReport": "schoolsync.testing.faults",
    "FaultyStore": "schoolsync.testing.faults",
    "InjectedFailure": "schoolsync.testing.faults",
    "NotAllOrNothingError": "schoolsync.testing.faults",
    "StoreSnapshot": "schoolsync.testing.faults",
    "fails_cleanly_at_every_write": "schoolsync.testing.faults",
    "whole_store": "schoolsync.testing.faults",
    "SeededTokens": "schoolsync.testing.ids",
    "SequentialIds": "schoolsync.testing.ids",
}

__all__ = [
    "FaultReport",
    "FaultyStore",
    "InjectedFailure",
    "MemoryStore",
    "NotAllOrNothingError",
    "RecordingNotifier",
    "SeededTokens",
    "SequentialIds",
    "StoreContract",
    "StoreSnapshot",
    "World",
    "assert_allowed",
    "assert_denied",
    "fails_cleanly_at_every_write",
    "whole_store",
    "world",
]


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _LAZY, name)
