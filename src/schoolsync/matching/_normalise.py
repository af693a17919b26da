"""Name normalisation for matching (domain rules R5.5) and the preferred-name table.

The compare key only: stored names are never changed. ``normalise_name`` casefolds, strips
diacritics (with ``ø→o``, ``æ→ae``, ``ß→ss``), drops apostrophes, turns hyphens, dots and other
punctuation into token separators and collapses whitespace.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from importlib import resources

import attrs

__all__ = ["NicknameTable", "default_nicknames", "name_tokens", "normalise_name"]

_SPECIAL = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ß": "ss",
        "đ": "d",
        "ł": "l",
        "þ": "th",
        "ð": "d",
        "ı": "i",
    }
)
_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc`\u00b4]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def normalise_name(text: str | None) -> str:
    """The compare key of a name: lower-case ASCII tokens separated by single spaces.

    >>> normalise_name("  Ren-'e  O’Brien-Søren ")
    'rene obrien soren'
    """
    if not text:
        return ""
    if text.isascii():  # most names: nothing to fold, decompose or strip but case
        return _SEPARATORS.sub(" ", _APOSTROPHES.sub("", text.lower())).strip()
    return _normalise_any(text)


def _normalise_any(text: str) -> str:
    """:func:`normalise_name` for any text (the ASCII shortcut's reference)."""
    folded = text.casefold().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", folded)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    no_apostrophes = _APOSTROPHES.sub("", stripped)
    return _SEPARATORS.sub(" ", no_apostrophes).strip()


def name_tokens(text: str | None) -> tuple[str, ...]:
    """The tokens of ``normalise_name(text)`` (parts of a double-barrelled name, several forenames)."""
    key = normalise_name(text)
    return tuple(key.split()) if key else ()


@attrs.frozen
class NicknameTable:
    """Preferred (short) forms of given names: ``groups_of("alex")`` gives the full names.

    Every full name is its own group; a short form can belong to several groups (``alex`` is
    short for ``alexander``, ``alexandra`` and ``alexis``). Names are compared normalised.
    """

    groups: Mapping[str, frozenset[str]] = attrs.field(factory=dict)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> NicknameTable:
        """Read lines of ``full: short, short`` (``#`` starts a comment)."""
        groups: dict[str, set[str]] = {}
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line or ":" not in line:
                continue
            full, shorts = line.split(":", 1)
            full_key = normalise_name(full)
            if not full_key:
                continue
            groups.setdefault(full_key, set()).add(full_key)
            for short in shorts.split(","):
                short_key = normalise_name(short)
                if short_key:
                    groups.setdefault(short_key, set()).add(full_key)
        return cls({k: frozenset(v) for k, v in groups.items()})

    def groups_of(self, name: str) -> frozenset[str]:
        """The full names *name* (already normalised) may stand for; empty when unknown."""
        return self.groups.get(name, frozenset())

    def same_person_name(self, a: str, b: str) -> bool:
        """True when normalised given names *a* and *b* can be forms of the same name."""
        if not a or not b:
            return False
        if a == b:
            return True
        return bool(self.groups_of(a) & self.groups_of(b))


@functools.cache
def default_nicknames() -> NicknameTable:
    """The table shipped with schoolsync (``schoolsync/matching/data/nicknames.txt``)."""
    text = (
        resources.files("schoolsync.matching")
        .joinpath("data/nicknames.txt")
        .read_text(encoding="utf-8")
    )
    return NicknameTable.from_lines(text.splitlines())
