"""``schoolsync users export|import``: the bulk-user-data round trip against an SQLite store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from schoolsync.bulk import (
    CatalogueChecks,
    ChangeSet,
    ProblemCode,
    TrustUsers,
    apply_change_set,
    check_change_set,
    export_users,
    normalise_email,
    plan_import,
    read_sheet,
    with_names,
)
from schoolsync.bulk._files import check_suffix
from schoolsync.cli._common import (
    Output,
    _DataProblems,
    echo_table,
    load_catalogue,
    open_store,
    output_options,
    pick_trust,
    refuse_overwrite,
    run_steps,
)
from schoolsync.clock import SystemClock
from schoolsync.errors import ValidationError
from schoolsync.ports import Store

__all__ = ["show_change_set", "users"]

_STORE = click.argument(
    "store", type=click.Path(dir_okay=False, path_type=Path), metavar="STORE.sqlite"
)
_TRUST = click.option(
    "--trust", "trust_id", help="The trust's id (default: the store's only trust)."
)


@click.group()
def users() -> None:
    """Export a trust's users to a bulk file, or import an edited one."""


@users.command("export")
@_STORE
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@_TRUST
@output_options
def export_command(store: Path, out: Path, trust_id: str | None, *, output: Output) -> None:
    """Write the trust's users to OUT (.csv or .xlsx) in the bulk-user-data shape."""
    check_suffix(out, out.name)
    refuse_overwrite(out, [store], option="OUT", suffixes=())
    db = open_store(store)
    try:
        with db.unit_of_work() as uow:
            trust = pick_trust(uow, trust_id)
            count = sum(1 for a in uow.accounts.list() if a.trust_id == trust)
        path = export_users(db, trust, out)
    finally:
        db.close()
    output.echo(f"Wrote {count} users to {path}")
    output.result(trust=trust, users=count, out=str(path))


def show_change_set(
    change_set: ChangeSet,
    *,
    names: Mapping[str, str] | None = None,
    limit: int = 40,
    output: Output | None = None,
) -> None:
    """Print a change set: the one-line summary, the changes and every problem.

    *names* maps account and school ids to names: refusals name records by id, and the person
    reading them sees names instead (:func:`schoolsync.bulk.with_names`).
    """
    if output is not None and (output.quiet or output.as_json):
        return
    click.echo(f"Change set: {change_set.describe()}")
    changes = [r for r in change_set.to_rows() if r["change"] != "problem"]
    columns = ["change", "email", "name", "role", "where", "row"]
    if any(r.get("from") for r in changes):  # a transfer names the account giving up the role
        columns.insert(2, "from")
    echo_table(changes, columns, limit=limit)
    if change_set.problems:
        click.echo(f"Problems ({len(change_set.problems)}):")
        for problem in change_set.problems[:limit]:
            click.echo(f"  {with_names(str(problem), names or {})}")
        if len(change_set.problems) > limit:
            click.echo(f"  ... and {len(change_set.problems) - limit} more")


def _preview(
    db: Store,
    trust: str,
    file: Path,
    *,
    checks: CatalogueChecks,
    at: datetime,
    actor_id: str | None,
    output: Output | None = None,
) -> tuple[ChangeSet, dict[str, str]]:
    """:func:`schoolsync.bulk.import_users`, step by step under a progress bar; also the names
    of the trust's accounts and schools by id."""
    state: dict[str, Any] = {}

    def read() -> None:
        state["sheet"] = read_sheet(file)

    def load() -> None:
        with db.unit_of_work() as uow:
            state["users"] = TrustUsers.load(uow, trust)

    def compare() -> None:
        state["planned"] = plan_import(
            state["sheet"], state["users"], checks=checks, actor_id=actor_id
        )

    def check() -> None:
        state["checked"] = check_change_set(db, state["planned"], checks=checks, at=at)

    steps = [
        ("reading", read),
        ("loading users", load),
        ("comparing", compare),
        ("checking", check),
    ]
    run_steps(f"Importing {file.name}", steps, out=output)
    result: ChangeSet = state["checked"]
    users: TrustUsers = state["users"]
    names = {s.id: s.name for s in users.schools}
    names |= {a.id: a.name for a in users.accounts if a.name.strip()}
    return result, names


@users.command("import")
@_STORE
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_TRUST
@click.option(
    "--roles",
    default="progress-teaching",
    show_default=True,
    help="The role model: a preset name or a .toml/.json catalogue file.",
)
@click.option("--as", "actor_email", help="Import as this account (its rights apply).")
@click.option("--apply", "do_apply", is_flag=True, help="Make the changes (default: preview only).")
@output_options
def import_command(
    store: Path,
    file: Path,
    trust_id: str | None,
    roles: str,
    actor_email: str | None,
    do_apply: bool,
    *,
    output: Output,
) -> None:
    """Preview (or with --apply, make) the changes an edited bulk FILE asks for.

    Exits with status 1 if the file has problems; nothing is changed then.
    """
    checks = CatalogueChecks(load_catalogue(roles))
    db = open_store(store)
    try:
        with db.unit_of_work() as uow:
            trust = pick_trust(uow, trust_id)
            actor_id = None
            if actor_email is not None:
                wanted = normalise_email(actor_email)
                found = [
                    a
                    for a in uow.accounts.list()
                    if a.trust_id == trust and normalise_email(a.email) == wanted
                ]
                if not found:
                    raise ValidationError(
                        "--as", actor_email, "no account of this trust has this email"
                    )
                actor_id = found[0].id
        now = SystemClock().now()
        change_set, names = _preview(
            db, trust, file, checks=checks, at=now, actor_id=actor_id, output=output
        )
        if any(p.code is ProblemCode.MISSING_COLUMN for p in change_set.problems):
            raise click.ClickException(
                f"{file.name}: not a bulk-user-data file (it needs Email and Name columns); "
                "start from the file `schoolsync users export` writes"
            )
        show_change_set(change_set, names=names, output=output)
        output.result(
            trust=trust,
            summary=change_set.describe(),
            changes=[r for r in change_set.to_rows() if r["change"] != "problem"],
            applied=False,
        )
        if change_set.problems:
            problems = [with_names(str(p), names) for p in change_set.problems]
            if output.as_json:
                raise _DataProblems(
                    f"{file.name} has {len(problems)} problem(s); nothing was changed", problems
                )
            raise click.ClickException(
                f"{file.name} has {len(problems)} problem(s); nothing was changed"
            )
        if not do_apply:
            if change_set.changes:
                output.echo("Preview only: run again with --apply to make these changes.")
            return
        result = apply_change_set(db, change_set, checks=checks, at=now)
        output.echo(
            f"Applied {result.changes_applied} change(s); "
            f"{len(result.created_account_ids)} account(s) created."
        )
        output.result(
            applied=True,
            changes_applied=result.changes_applied,
            created_account_ids=list(result.created_account_ids),
        )
    finally:
        db.close()
