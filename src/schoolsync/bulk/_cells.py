"""Cell-level rules of the bulk file: formula neutralising, role lists, emails, booleans."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "DANGEROUS_PREFIXES",
    "format_roles",
    "is_valid_email",
    "neutralise",
    "normalise_email",
    "parse_bool",
    "restore",
    "split_roles",
    "with_names",
]

#: First characters a spreadsheet may run as a formula (OWASP "CSV injection" list).
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ROLE_SEPARATORS = re.compile(r"[;,\n]")


def neutralise(value: str) -> str:
    """Make *value* safe to open in a spreadsheet, reversibly.

    A value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a
    leading apostrophe (the spreadsheet convention for "this is text"). A value that already
    starts with an apostrophe gets one more, so :func:`restore` can undo the change exactly.
    """
    if value and (value[0] in DANGEROUS_PREFIXES or value[0] == "'"):
        return "'" + value
    return value


def restore(value: str) -> str:
    """Undo :func:`neutralise`: drop one leading apostrophe."""
    return value[1:] if value.startswith("'") else value


def normalise_email(email: str) -> str:
    """The key an email is compared by: trimmed and lower-cased."""
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    """True if *email* looks like ``local@domain.tld`` (no spaces, one ``@``)."""
    return bool(_EMAIL.match(email.strip()))


def split_roles(cell: str) -> list[str]:
    """The role names in a roles cell: separated by ``;`` (or ``,`` or new lines), blanks dropped."""
    return [part.strip() for part in _ROLE_SEPARATORS.split(cell) if part.strip()]


def format_roles(roles: Iterable[str]) -> str:
    """A roles cell: the role names sorted and joined by ``"; "``."""
    return "; ".join(sorted(set(roles)))


def parse_bool(text: str) -> bool | None:
    """Read ``true``/``false`` (also yes/no, y/n, 1/0); ``None`` if blank or not a boolean."""
    t = text.strip().lower()
    if t in {"true", "yes", "y", "1"}:
        return True
    if t in {"false", "no", "n", "0"}:
        return False
    return None


def with_names(text: str, names: Mapping[str, str]) -> str:
    """*text* with every record id in *names* (account or school ids) replaced by its name.

    For messages shown to people: bulk problems and refusals name records by id ("row 4: grace
    may not ... at oak"), and a person reads "Grace Hopper ... at Oakfield Primary". Only whole
    ids are replaced: an id inside a word, an email address, a ``dotted.permission`` or a quoted
    role name is left alone. For an access decision itself use
    ``decision.explain(names=names)``, which places each name by what it stands for.
    """
    wanted = sorted((k for k in names if k), key=len, reverse=True)
    if not wanted:
        return text
    pattern = re.compile(
        r"(?<![\w.@'`-])(" + "|".join(re.escape(k) for k in wanted) + r")(?![\w@'`-]|\.\w)"
    )
    return pattern.sub(lambda m: names[m.group(1)], text)
