"""Helpers shared by the ``schoolsync`` commands: output conventions, stores, trusts, role models.

Every command follows the same conventions (``docs/cli.md``), built here so a new command gets
them by using these helpers:

- :func:`output_options` gives a command ``--json``, ``-q/--quiet`` and ``-v/--verbose`` and an
  :class:`Output` to write through: human text on standard output, warnings on standard error
  (ten, then "and N more"), one JSON object on standard output under ``--json``, progress by
  rows on standard error (a terminal only), library logging shown by ``-v``.
- Exit codes: :data:`EXIT_OK` (0, done), :data:`EXIT_DATA` (1, problems in the data or a file
  that cannot be read: raise :class:`_DataProblems` or let a
  :class:`~schoolsync.errors.SchoolsyncError` through), :data:`EXIT_USAGE` (2, a usage
  mistake: raise :class:`click.UsageError`).
- :func:`refuse_overwrite` keeps an output file from replacing an input.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import click

from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.presets import PRESETS
from schoolsync.bulk._files import NOT_A_WORKBOOK, check_suffix
from schoolsync.cli import error_message
from schoolsync.errors import (
    CatalogueError,
    FileFormatError,
    NotFoundError,
    ProblemsError,
    SchoolsyncError,
    ValidationError,
)
from schoolsync.ports import UnitOfWork
from schoolsync.sources._text import CsvLayout, detect_csv
from schoolsync.storage.sqlite import SqliteStore

__all__ = [
    "EXIT_DATA",
    "EXIT_OK",
    "EXIT_USAGE",
    "ROLE_MODELS",
    "WARNINGS_SHOWN",
    "Output",
    "Progress",
    "_DataProblems",
    "catalogue_file_error",
    "check_table_file",
    "echo_table",
    "load_catalogue",
    "open_store",
    "output_options",
    "pick_trust",
    "refuse_overwrite",
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


def check_table_file(path: Path, *, expected: Iterable[str] = ()) -> CsvLayout | None:
    """Refuse, with a one-line reason, a spreadsheet the readers would misread: a name that is
    not a table's (``.pdf``), an ``.xlsx`` holding text (a renamed CSV), or CSV text in no
    encoding schoolsync reads. For a CSV file, the layout the shared detection found
    (encoding, delimiter, header row; *expected* headers help find it); ``None`` for XLSX.

    Raises:
        FileFormatError: the file is one of these.
    """
    check_suffix(path, path.name)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK\x03\x04"):
        return None
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise FileFormatError(path.name, NOT_A_WORKBOOK)
    return detect_csv(lambda: path.open("rb"), path.name, expected=expected)


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


def run_steps(
    label: str, steps: Sequence[tuple[str, Callable[[], None]]], *, out: Output | None = None
) -> None:
    """Run *steps* in order, naming each on one progress line on standard error (a terminal
    only; never under ``--quiet`` or ``--json``)."""
    progress = out.progress(label) if out is not None else Progress(label)
    with progress:
        for name, step in steps:
            progress.stage(name)
            step()


# ---------------------------------------------------------------------------------------------
# Conventions: exit codes, output, warnings, progress, logging

#: Exit status: the command did what was asked.
EXIT_OK = 0
#: Exit status: problems in the data (or a file that cannot be read); nothing was changed.
EXIT_DATA = 1
#: Exit status: a usage mistake (an unknown option, a missing argument, a bad option value).
EXIT_USAGE = 2
#: How many warnings are printed before "and N more".
WARNINGS_SHOWN = 10


class _DataProblems(click.ClickException):
    """Problems in the data: every problem is listed on standard output, then ``Error: message``
    on standard error; exit status 1.

    Under ``--json`` the problems are the JSON object's ``problems`` list.
    """

    exit_code = EXIT_DATA

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class Progress:
    """One line of progress on standard error, at most 79 characters wide (it never wraps in
    an 80-column terminal): the stage, the rows done, the seconds taken.

    Drawn only when *enabled* and standard error is a terminal; redrawn at most ten times a
    second, and cleared when the context ends.
    """

    WIDTH = 79

    def __init__(self, label: str, *, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.label = label
        self.rows = 0
        self._stage = ""
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled and self._stream.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._shown:
            self._stream.write("\r" + " " * self.WIDTH + "\r")
            self._stream.flush()

    def line(self) -> str:
        """The progress line as drawn (without the carriage return)."""
        parts = [self.label]
        if self._stage:
            parts.append(self._stage)
        if self.rows:
            parts.append(f"{self.rows:,} rows")
        parts.append(f"{time.monotonic() - self._started:.0f}s")
        text = " · ".join(parts)
        if len(text) > self.WIDTH:
            text = text[: self.WIDTH - 1] + "…"
        return text.ljust(self.WIDTH)

    def stage(self, name: str) -> None:
        """Start a named stage (``"reading mis.csv"``)."""
        self._stage = name
        self._draw(force=True)

    def advance(self, rows: int = 1) -> None:
        """Count *rows* more rows done."""
        self.rows += rows
        self._draw()

    def _draw(self, *, force: bool = False) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        self._shown = True
        self._stream.write("\r" + self.line())
        self._stream.flush()


class Output:
    """Where a command writes: text, warnings, its JSON result, progress (see the module doc).

    Args:
        command: the command's name as typed (``"match"``, ``"users import"``).
        as_json: print one JSON object on standard output at the end, and no other text there.
        quiet: print no text but errors (and the JSON object under ``--json``).
        verbose: 1 shows the library's INFO log lines on standard error, 2 its DEBUG ones.
    """

    def __init__(
        self, command: str, *, as_json: bool = False, quiet: bool = False, verbose: int = 0
    ) -> None:
        self.command = command
        self.as_json = as_json
        self.quiet = quiet
        self.verbose = verbose
        self.payload: dict[str, Any] = {"command": command, "ok": True, "warnings": []}

    def echo(self, text: str = "") -> None:
        """A line of human text on standard output (not under ``--quiet`` or ``--json``)."""
        if not (self.quiet or self.as_json):
            click.echo(text)

    def warn(self, messages: Iterable[object], *, shown: int = WARNINGS_SHOWN) -> None:
        """Warnings on standard error, the first *shown* of them then ``and N more``; under
        ``--json`` every one goes into the ``warnings`` list."""
        texts = list(dict.fromkeys(str(m) for m in messages))  # a file read twice
        self.payload["warnings"].extend(texts)
        if self.quiet or self.as_json or not texts:
            return
        for text in texts[:shown]:
            click.echo(f"warning: {text}", err=True)
        if len(texts) > shown:
            more = len(texts) - shown
            click.echo(
                f"warning: ... and {more} more warning{'s' if more > 1 else ''} "
                "(--json lists them all)",
                err=True,
            )

    def result(self, **fields: Any) -> None:
        """Add *fields* to the ``--json`` object (JSON-able values)."""
        self.payload.update(fields)

    def progress(self, label: str) -> Progress:
        """A :class:`Progress` line (drawn on a terminal, never under ``--quiet``/``--json``)."""
        return Progress(label, enabled=not (self.quiet or self.as_json))

    def emit_json(self, *, error: str | None = None, exit_code: int = EXIT_OK) -> None:
        """Print the JSON object (under ``--json``); with *error*, as a failed run."""
        if not self.as_json:
            return
        if error is not None:
            self.payload.update(ok=False, error=error, exit_code=exit_code)
        else:
            self.payload.setdefault("exit_code", exit_code)
        click.echo(json.dumps(self.payload, indent=2, default=str, ensure_ascii=False))


_F = TypeVar("_F", bound=Callable[..., Any])


def configure_logging(verbose: int, *, stream: IO[str] | None = None) -> None:
    """Show the library's log lines (``schoolsync.*`` loggers) on standard error: INFO for
    ``-v``, DEBUG for ``-vv``; nothing otherwise (the library's own handler is a
    :class:`logging.NullHandler`)."""
    logger = logging.getLogger("schoolsync")
    for handler in list(logger.handlers):
        if getattr(handler, "_schoolsync_cli", False):
            logger.removeHandler(handler)
    if verbose <= 0:
        return
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("log: %(name)s: %(message)s"))
    handler._schoolsync_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def error_text(exc: BaseException) -> str:
    """A short, readable message for an error the user can fix."""
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    return error_message(exc)


def output_options(func: _F) -> _F:
    """Give a click command ``--json``, ``-q/--quiet`` and ``-v/--verbose``, and call it with
    ``output=Output(...)``. Errors become one ``Error:`` line with the conventional exit status
    (and, under ``--json``, a JSON object with ``ok: false``, ``error`` and ``exit_code``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, as_json: bool, quiet: bool, verbose: int, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        name = " ".join(ctx.command_path.split()[1:]) or ctx.info_name or "schoolsync"
        out = Output(name, as_json=as_json, quiet=quiet, verbose=verbose)
        configure_logging(verbose)
        try:
            value = func(*args, output=out, **kwargs)
        except BrokenPipeError:
            raise
        except _DataProblems as exc:
            out.result(problems=exc.problems)
            out.emit_json(error=exc.format_message(), exit_code=EXIT_DATA)
            if not out.as_json and exc.problems:
                click.echo(f"Problems ({len(exc.problems)}):")
                for problem in exc.problems:
                    click.echo(f"  {problem}")
            raise
        except click.UsageError as exc:
            out.emit_json(error=exc.format_message(), exit_code=EXIT_USAGE)
            exc.json_shown = out.as_json  # type: ignore[attr-defined]
            raise
        except click.ClickException as exc:
            out.emit_json(error=exc.format_message(), exit_code=exc.exit_code)
            exc.json_shown = out.as_json  # type: ignore[attr-defined]
            raise
        except (SchoolsyncError, OSError) as exc:
            if isinstance(exc, ProblemsError):
                out.result(problems=exc.problems())
            out.emit_json(error=error_text(exc), exit_code=EXIT_DATA)
            raise click.ClickException(error_text(exc)) from None
        out.emit_json()
        return value

    options = [
        click.option(
            "--json", "as_json", is_flag=True, help="Print one JSON object for scripts, no text."
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
        click.option(
            "-v",
            "--verbose",
            count=True,
            help="Show what the library does (its log lines); -vv for more.",
        ),
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def refuse_overwrite(
    path: Path,
    inputs: Iterable[Path],
    *,
    option: str = "--out",
    suffixes: Sequence[str] = (".xlsx",),
) -> None:
    """Refuse an output *path* that is one of the *inputs* (the same file, by any name) or
    lacks one of *suffixes*: a usage mistake, exit status 2.

    Raises:
        click.UsageError: the output would replace an input, or has the wrong suffix.
    """
    if suffixes and path.suffix.lower() not in suffixes:
        wanted = " or ".join(suffixes)
        raise click.UsageError(f"{option} {path.name}: the output must be a {wanted} file")
    if not path.exists():
        return
    for source in inputs:
        try:
            same = source.exists() and path.samefile(source)
        except OSError:
            same = False
        if same:
            raise click.UsageError(
                f"{option} {path.name}: that is an input file; it would be overwritten "
                "(choose another name)"
            )
