"""``schoolsync decisions`` and ``schoolsync review``: where a person decides about a match.

``decisions`` reads an edited review workbook back (every decision checked, with its row and
column), saves the decisions as JSON and shows the decided review and the sync plan.
``review`` serves the same review as a page on 127.0.0.1 only, behind a per-run secret token
in the URL; its Save writes the same decisions file.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from schoolsync.cli._match import match_files
from schoolsync.clock import SystemClock
from schoolsync.matching import MatchReview, MatchStatus
from schoolsync.ports import MisSnapshot
from schoolsync.review import ReviewDecisions, read_review_workbook
from schoolsync.sync import SchoolRecords, plan
from schoolsync.sync.plans import SyncPlan
from schoolsync.trusts import School

__all__ = ["decisions", "plan_for", "review"]

_KIND = click.option(
    "--kind",
    type=click.Choice(["pupils", "staff"]),
    default="pupils",
    show_default=True,
    help="Which records were matched.",
)
_ORG = click.option(
    "--org",
    "school_org",
    help="For a OneRoster or SDS bundle holding several schools: the school's sourcedId.",
)


def plan_for(review: MatchReview[Any], app: MisSnapshot, *, at: datetime) -> SyncPlan:
    """The sync plan of a decided *review* against the app's export *app* (no links yet)."""
    current = SchoolRecords(
        school=School(id="school", name="school"),
        pupils={p.id: p for p in app.pupils},
        staff={s.id: s for s in app.staff},
    )
    return plan(review, current, at=at)


def _echo_outcome(review: MatchReview[Any], decided: ReviewDecisions, sync: SyncPlan) -> None:
    counts = decided.counts()
    made = ", ".join(f"{n} {c.label.lower()}" for c, n in counts.items() if n) or "none"
    click.echo(f"Decisions: {made}")
    click.echo("The review as decided:")
    review_counts = review.counts()
    for status in sorted(MatchStatus, key=lambda s: s.review_order):
        click.echo(f"  {status.label:<12} {review_counts[status]}")
    click.echo(f"  {'to import':<12} {len(review.to_import())}")
    actions = Counter(c.action.value.replace("_", " ") for c in sync.changes)
    click.echo("The sync plan:")
    for action, n in sorted(actions.items()):
        click.echo(f"  {action:<12} {n}")


@click.command("decisions")
@click.argument("app_file", type=click.Path(exists=True, path_type=Path))
@click.argument("mis_file", type=click.Path(exists=True, path_type=Path))
@click.argument("workbook", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the decisions (JSON; default: beside the workbook, .decisions.json).",
)
@_KIND
@_ORG
def decisions(
    app_file: Path,
    mis_file: Path,
    workbook: Path,
    out: Path | None,
    kind: str,
    school_org: str | None,
) -> None:
    """Read the decisions in WORKBOOK (written by `schoolsync match` from APP_FILE and
    MIS_FILE), check each one, save them as JSON and show the review and the sync plan.

    Every problem is reported with its row and column; nothing is saved then (exit status 1).
    """
    review, app, _mis = match_files(app_file, mis_file, kind=kind, school_org=school_org)
    decided = read_review_workbook(workbook, review)
    target = out or workbook.with_suffix(".decisions.json")
    decided.save(target)
    after = decided.apply(review)
    _echo_outcome(after, decided, plan_for(after, app, at=SystemClock().now()))
    click.echo(f"Wrote {target}")


@click.command("review")
@click.argument("app_file", type=click.Path(exists=True, path_type=Path))
@click.argument("mis_file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--decisions",
    "decisions_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("decisions.json"),
    show_default=True,
    help="The decisions file the page starts from (when it exists) and its Save writes.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port (default: any free).")
@click.option("--open/--no-open", "open_browser", default=True, help="Open a web browser.")
@_KIND
@_ORG
def review(
    app_file: Path,
    mis_file: Path,
    decisions_file: Path,
    port: int,
    open_browser: bool,
    kind: str,
    school_org: str | None,
) -> None:
    """Serve the review of APP_FILE against MIS_FILE as a page on this computer only.

    The page lists Not matched, New, May match and Matched records with a filter box; match,
    unmatch, tick who to import and Save (to --decisions). It listens on 127.0.0.1 with a
    secret token in its address; stop it with Ctrl+C.
    """
    from schoolsync.review.serve import serve_review

    found, _app, _mis = match_files(app_file, mis_file, kind=kind, school_org=school_org)
    start = ReviewDecisions.load(decisions_file) if decisions_file.exists() else None
    serve_review(
        found,
        decisions_file,
        decisions=start,
        port=port,
        open_browser=open_browser,
        title=f"{mis_file.name} against {app_file.name}",
        announce=click.echo,
    )
