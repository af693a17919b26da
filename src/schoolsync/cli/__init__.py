"""The ``schoolsync`` command line: thin commands over the library for data officers.

Conventions (``docs/cli.md``): exit status 0 when done, 1 for problems in the data (or a file
that cannot be read), 2 for a usage mistake; ``--json``, ``-q/--quiet`` and ``-v/--verbose``
on every command (:func:`schoolsync.cli._common.output_options`); errors are one
``Error: ...`` line, never a traceback; piping into ``head`` ends quietly.

Subcommands are imported only when run (``_COMMANDS``), so ``--version`` and ``--help`` stay
fast: add a new command as one line there.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click

from schoolsync import __version__
from schoolsync.errors import ProblemsError, SchoolsyncError

__all__ = ["main"]

#: Each command: where it lives (``module:attribute``) and its one-line help for ``--help``.
_COMMANDS: dict[str, tuple[str, str]] = {
    "decisions": (
        "schoolsync.cli._review:decisions",
        "Read the decisions in a review workbook; check and save them.",
    ),
    "demo": ("schoolsync.cli._demo:demo", "Build a sample trust and walk it through each step."),
    "fetch": (
        "schoolsync.cli._fetch:fetch",
        "Fetch a school from a data broker into a OneRoster CSV bundle.",
    ),
    "match": ("schoolsync.cli._match:match", "Match an app export with an MIS export."),
    "nightly": (
        "schoolsync.cli._nightly:nightly",
        "Run the nightly sync of every school (here, a process pool or job engine workers).",
    ),
    "review": (
        "schoolsync.cli._review:review",
        "Serve a review as a page on this computer to decide each match.",
    ),
    "check-upload": (
        "schoolsync.cli._upload:check_upload",
        "Validate a School Upload FILE (.xlsx or .csv: school name, postcode, URN).",
    ),
    "users": ("schoolsync.cli._users:users", "Export a trust's users, or import an edited file."),
}


def error_message(exc: BaseException) -> str:
    """A short, readable message for an error the user can fix."""
    if isinstance(exc, ProblemsError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc.__class__.__name__}{where}"
    return str(exc) or exc.__class__.__name__


#: ``ctx.meta`` key: whether ``--json`` was among the arguments (before any ``--``).
_JSON_WANTED = "schoolsync.json"


def _json_requested(args: Sequence[str]) -> bool:
    """Whether *args* ask for ``--json`` (an argument after ``--`` is a value, not an option)."""
    options = list(args)
    if "--" in options:
        options = options[: options.index("--")]
    return "--json" in options


def _emit_usage_json(
    ctx: click.Context, exc: click.ClickException, where: click.Context | None = None
) -> None:
    """Under ``--json``, print the failed run's JSON object for an error click raised while
    parsing the arguments (before the command ran, so before its own ``--json`` handling):
    the shape of every other error (``docs/cli.md``), ``exit_code`` 2 for a usage mistake."""
    if not ctx.meta.get(_JSON_WANTED) or getattr(exc, "json_shown", False):
        return
    from schoolsync.cli._common import Output

    if where is None:
        where = exc.ctx if isinstance(exc, click.UsageError) and exc.ctx is not None else ctx
    command = " ".join(where.command_path.split()[1:]) or ctx.invoked_subcommand or "schoolsync"
    Output(command, as_json=True).emit_json(error=exc.format_message(), exit_code=exc.exit_code)
    exc.json_shown = True  # type: ignore[attr-defined]


class _Group(click.Group):
    """A click group that loads its commands lazily and reports schoolsync and file errors as
    one-line messages (exit status 1), usage mistakes with the usage line (exit status 2).
    Under ``--json``, click's own parsing errors (a missing argument, an unknown option, a bad
    choice) are JSON objects too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_JSON_WANTED] = _json_requested(args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _emit_usage_json(ctx, exc)
            raise

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in _COMMANDS:
            return found
        module, _, attribute = _COMMANDS[cmd_name][0].partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``_COMMANDS`` (no subcommand is imported for ``--help``)."""
        rows = [(name, help_text) for name, (_, help_text) in sorted(_COMMANDS.items())]
        rows += [
            (name, command.get_short_help_str(limit=formatter.width))
            for name, command in sorted(self.commands.items())
            if name not in _COMMANDS and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # `| head` closed the pipe: click ends quietly
        except click.MissingParameter as exc:
            _emit_usage_json(ctx, exc)
            raise  # a usage mistake: click shows the usage line with it (exit status 2)
        except click.BadParameter as exc:
            if not isinstance(exc.param and exc.param.type, click.Path):
                _emit_usage_json(ctx, exc)
                raise  # a bad option value: a usage mistake (exit status 2)
            # A missing file, a folder for a file...: one line, not the usage text.
            one_line = click.ClickException(exc.format_message())
            _emit_usage_json(ctx, one_line, exc.ctx)
            raise one_line from None
        except click.UsageError as exc:
            _emit_usage_json(ctx, exc)
            raise
        except (SchoolsyncError, OSError) as exc:
            raise click.ClickException(error_message(exc)) from None


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="schoolsync")
def main() -> None:
    """schoolsync: roles, grants, MIS sync and bulk round-trips for school groups.

    Exit status: 0 done, 1 problems in the data, 2 a usage mistake.
    """
