"""The ``schoolsync`` command line: thin commands over the library for data officers.

Every command turns bad input (a :class:`~schoolsync.errors.SchoolsyncError`, an
:class:`OSError`, or a bad argument such as a missing file or a folder given for a file) into a
one-line ``Error: ...`` message and exit status 1, never a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from schoolsync import __version__
from schoolsync.errors import ProblemsError, SchoolsyncError

__all__ = ["main"]


def error_message(exc: BaseException) -> str:
    """A short, readable message for an error the user can fix."""
    if isinstance(exc, ProblemsError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc.__class__.__name__}{where}"
    return str(exc) or exc.__class__.__name__


class _Group(click.Group):
    """A click group that reports schoolsync and file errors as one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.MissingParameter:
            raise  # a usage mistake: click shows the usage line with it (exit status 2)
        except click.BadParameter as exc:
            # A missing file, a folder for a file...: one line, not the usage text.
            raise click.ClickException(exc.format_message()) from None
        except (SchoolsyncError, OSError) as exc:
            raise click.ClickException(error_message(exc)) from None


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="schoolsync")
def main() -> None:
    """schoolsync: roles, grants, MIS sync and bulk round-trips for school groups."""


def _register() -> None:
    from schoolsync.cli._demo import demo
    from schoolsync.cli._match import match
    from schoolsync.cli._review import decisions, review
    from schoolsync.cli._upload import check_upload
    from schoolsync.cli._users import users

    for command in (demo, match, decisions, review, check_upload, users):
        main.add_command(command)


_register()
