"""The ``schoolsync`` command line: thin commands over the library for data officers."""

from __future__ import annotations

import click

from schoolsync import __version__

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="schoolsync")
def main() -> None:
    """schoolsync: roles, grants, MIS sync and bulk round-trips for school groups."""
