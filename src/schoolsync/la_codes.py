"""Local-authority codes as versioned data (not constants).

The list ships in ``schoolsync/data/la_codes.json`` with one entry per version (each with its
source and the date it was checked). The default, :data:`DEFAULT_VERSION` (``2025-dfe-gias``),
is the DfE census list checked against the DfE's GIAS three-digit LA code table: it adds the
codes of the 2019, 2021 and 2023 reorganisations (838 Dorset, 839 Bournemouth, Christchurch
and Poole, 940 North and 941 West Northamptonshire, 942 Cumberland, 943 Westmorland and
Furness), and keeps the codes of the LAs they replaced (a UPN keeps its issuing LA's code). An unknown LA code is a warning when reading an
MIS (the MIS is the record of truth) and an error only in strict mode.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from schoolsync.errors import NotFoundError

__all__ = [
    "DEFAULT_VERSION",
    "is_known_la_code",
    "la_code_source",
    "la_code_versions",
    "la_codes",
]

DEFAULT_VERSION = "2025-dfe-gias"


@cache
def _data() -> dict[str, object]:
    text = files("schoolsync").joinpath("data/la_codes.json").read_text(encoding="utf-8")
    loaded: dict[str, object] = json.loads(text)
    return loaded


def la_code_versions() -> list[str]:
    """The versions of the LA code list this library ships, oldest first."""
    versions = _data()["versions"]
    assert isinstance(versions, list)
    return [str(v["version"]) for v in versions]


def la_code_source(version: str = DEFAULT_VERSION) -> str:
    """Where one version of the list comes from, and when it was checked.

    Raises:
        NotFoundError: for a version this library does not ship.
    """
    versions = _data()["versions"]
    assert isinstance(versions, list)
    for entry in versions:
        if entry["version"] == version:
            return str(entry["source"])
    raise NotFoundError("LA code list version", version)


@cache
def la_codes(version: str = DEFAULT_VERSION) -> frozenset[str]:
    """The LA codes of one version of the list.

    Raises:
        NotFoundError: (a ``LookupError``) for a version this library does not ship.
    """
    versions = _data()["versions"]
    assert isinstance(versions, list)
    for entry in versions:
        if entry["version"] == version:
            return frozenset(str(c) for c in entry["codes"])
    raise NotFoundError("LA code list version", version)


def is_known_la_code(code: str, version: str = DEFAULT_VERSION) -> bool:
    """True if *code* (3 digits) is on the given version of the LA code list.

    Raises:
        NotFoundError: for an unknown *version*.
    """
    return code in la_codes(version)
