"""Helpers shared by the ``schoolsync`` commands: stores, trusts, role models, output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.presets import PRESETS
from schoolsync.bulk._files import NOT_A_WORKBOOK, check_suffix, decode_text
from schoolsync.errors import CatalogueError, FileFormatError, NotFoundError, ValidationError
from schoolsync.ports import UnitOfWork
from schoolsync.storage.sqlite import SqliteStore

__all__ = [
    "ROLE_MODELS",
    "catalogue_file_error",
    "check_table_file",
    "echo_table",
    "load_catalogue",
    "open_store",
    "pick_trust",
    "run_steps",
]

#: Preset role models by the names the command line accepts (``progress-teaching``...).
ROLE_MODELS = {name.replace("_", "-"): factory for name, factory in PRESETS.items()}


_SQLITE_MAGIC = b"SQLite format 3\x00"


def open_store(path: Path) -> SqliteStore:
    """Open an existing SQLite store (a missing file is an error, not a new database).

    Raises:
        FileFormatError: *path* is missing, a folder, or not an SQLite database.
    """
    if path.is_dir():
        raise FileFormatError(str(path), "a folder; expected a schoolsync SQLite store file")
    if not path.is_file():
        raise FileFormatError(
            str(path), "no such file; expected a schoolsync SQLite store (try `schoolsync demo`)"
        )
    with path.open("rb") as handle:
        head = handle.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise FileFormatError(str(path), "not an SQLite database; expected a schoolsync store")
    return SqliteStore(path)


def check_table_file(path: Path) -> None:
    """Refuse, with a one-line reason, a spreadsheet the readers would misread: a name that is
    not a table's (``.pdf``), an ``.xlsx`` holding text (a renamed CSV), or CSV text in an
    encoding that is not UTF-8 or Windows-1252.

    Raises:
        FileFormatError: the file is one of these.
    """
    check_suffix(path, path.name)
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        return
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise FileFormatError(path.name, NOT_A_WORKBOOK)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # The MIS and School Upload readers take UTF-8 or Windows-1252 text only.
        raise FileFormatError(path.name, "UTF-16 text (Unicode Text); save it as CSV UTF-8")
    decode_text(data, path.name)


def pick_trust(uow: UnitOfWork, trust_id: str | None) -> str:
    """The trust to work on: *trust_id*, or the store's only trust."""
    if trust_id is not None:
        if uow.trusts.get(trust_id) is None:
            known = ", ".join(f"{t.id} ({t.name})" for t in uow.trusts.list()[:5])
            raise ValidationError("--trust", trust_id, f"no such trust; the store holds {known}")
        return trust_id
    trusts = uow.trusts.list()
    if len(trusts) == 1:
        return trusts[0].id
    if not trusts:
        raise NotFoundError("trust", "(the store holds none)")
    names = ", ".join(f"{t.id} ({t.name})" for t in trusts[:5])
    raise ValidationError("--trust", None, f"the store holds several trusts; pick one of {names}")


def load_catalogue(spec: str) -> RoleCatalogue:
    """A preset name (``progress-teaching``...) or a ``.toml``/``.json`` role model file.

    Raises:
        ValidationError: *spec* is neither a preset nor a file.
        FileFormatError: the file is not UTF-8 text, or not a valid role model: one line naming
            the file and each problem's field (the :class:`CatalogueError` is its cause).
    """
    factory = ROLE_MODELS.get(spec.strip().lower().replace("_", "-"))
    if factory is not None:
        return factory()
    path = Path(spec)
    if not path.is_file():
        presets = ", ".join(sorted(ROLE_MODELS))
        raise ValidationError("--roles", spec, f"not a preset ({presets}) nor a .toml/.json file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FileFormatError(path.name, "not UTF-8 text; save the role model as UTF-8") from None
    try:
        if path.suffix.lower() == ".json":
            return RoleCatalogue.from_json(text)
        return RoleCatalogue.from_toml(text)
    except CatalogueError as exc:
        raise catalogue_file_error(path.name, exc) from exc


#: The "fields" :meth:`RoleCatalogue.from_toml` / ``from_json`` give a file that does not parse.
_SYNTAX_FIELDS = frozenset({"toml", "json"})


def catalogue_file_error(file: str, error: CatalogueError, *, shown: int = 5) -> FileFormatError:
    """*error* as one line naming *file* and each problem's field (at most *shown* problems).

    One problem keeps its field and value on the error (``.field``, ``.value``); several are
    listed after the catalogue's message, separated by `` | ``.
    """
    problems = list(error.exceptions)
    if len(problems) == 1:
        only = problems[0]
        field = getattr(only, "field", "")
        reason = _one_line(getattr(only, "reason", None) or str(only))
        if not isinstance(field, str) or field in _SYNTAX_FIELDS:
            field = ""
        return FileFormatError(
            file, f"{error.message}: {reason}", field=field, value=getattr(only, "value", None)
        )
    parts = [_problem_text(p) for p in problems[:shown]]
    if len(problems) > shown:
        parts.append(f"and {len(problems) - shown} more")
    return FileFormatError(
        file, f"{error.message} ({len(problems)} problems): " + " | ".join(parts)
    )


def _problem_text(problem: Exception) -> str:
    """One catalogue problem as ``field 'x' (value 'v'): reason`` on one line."""
    field = getattr(problem, "field", "")
    reason = getattr(problem, "reason", None)
    if not isinstance(field, str) or not field or reason is None:
        return _one_line(str(problem))
    value = getattr(problem, "value", None)
    shown = "" if value is None else f" (value {value!r})"
    where = "" if field in _SYNTAX_FIELDS else f"field {field!r}{shown}: "
    return where + _one_line(str(reason))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def echo_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, limit: int = 40, indent: int = 2
) -> None:
    """Print *rows* as aligned plain-text columns (at most *limit* rows, then a count)."""
    if not rows:
        return
    shown = [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in rows[:limit]]
    widths = [min(40, max(len(c), *(len(row[i]) for row in shown))) for i, c in enumerate(columns)]
    pad = " " * indent
    click.echo(pad + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in shown:
        cells = [
            (v if len(v) <= w else v[: w - 1] + "…").ljust(w)
            for v, w in zip(row, widths, strict=True)
        ]
        click.echo(pad + "  ".join(cells).rstrip())
    if len(rows) > limit:
        click.echo(f"{pad}... and {len(rows) - limit} more")


def run_steps(label: str, steps: Sequence[tuple[str, Callable[[], None]]]) -> None:
    """Run *steps* in order under a progress bar on standard error (when it is a terminal)."""
    if not sys.stderr.isatty():
        for _name, step in steps:
            step()
        return
    with click.progressbar(
        steps,
        label=label,
        item_show_func=lambda s: s[0] if s else None,
        file=sys.stderr,
    ) as bar:
        for _name, step in bar:
            step()
