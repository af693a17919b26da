"""Local-authority codes as versioned data (not constants).

The list ships in ``schoolsync/data/la_codes.json`` with one entry per published version (each
with its source); the default, :data:`DEFAULT_VERSION`, adds the codes believed to come from the
2021 and 2023 LA reorganisations (940-943, unverified) to the DfE census list, so that real
pupils from those LAs do not raise warnings. An unknown LA code is a warning when reading an
MIS (the MIS is the record of truth) and an error only in strict mode.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from schoolsync.errors import NotFoundError

__all__ = ["DEFAULT_VERSION", "is_known_la_code", "la_code_versions", "la_codes"]

DEFAULT_VERSION = "2024-dfe-census+reorganisations"


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
