"""Helpers shared by the ``schoolsync`` commands: stores, trusts, role models, output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.presets import PRESETS
from schoolsync.errors import NotFoundError, ValidationError
from schoolsync.ports import UnitOfWork
from schoolsync.storage.sqlite import SqliteStore

__all__ = [
    "ROLE_MODELS",
    "echo_table",
    "load_catalogue",
    "open_store",
    "pick_trust",
    "run_steps",
]

#: Preset role models by the names the command line accepts (``progress-teaching``...).
ROLE_MODELS = {name.replace("_", "-"): factory for name, factory in PRESETS.items()}


def open_store(path: Path) -> SqliteStore:
    """Open an existing SQLite store (a missing file is an error, not a new database)."""
    if not path.is_file():
        raise NotFoundError("SQLite store", str(path))
    return SqliteStore(path)


def pick_trust(uow: UnitOfWork, trust_id: str | None) -> str:
    """The trust to work on: *trust_id*, or the store's only trust."""
    if trust_id is not None:
        return uow.trusts.require(trust_id).id
    trusts = uow.trusts.list()
    if len(trusts) == 1:
        return trusts[0].id
    if not trusts:
        raise NotFoundError("trust", "(the store holds none)")
    names = ", ".join(f"{t.id} ({t.name})" for t in trusts[:5])
    raise ValidationError("--trust", None, f"the store holds several trusts; pick one of {names}")


def load_catalogue(spec: str) -> RoleCatalogue:
    """A preset name (``progress-teaching``...) or a ``.toml``/``.json`` role model file."""
    factory = ROLE_MODELS.get(spec.strip().lower().replace("_", "-"))
    if factory is not None:
        return factory()
    path = Path(spec)
    if not path.is_file():
        presets = ", ".join(sorted(ROLE_MODELS))
        raise ValidationError("--roles", spec, f"not a preset ({presets}) nor a .toml/.json file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return RoleCatalogue.from_json(text)
    return RoleCatalogue.from_toml(text)


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
