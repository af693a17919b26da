"""Where people decide: the review workbook and the review page.

A :class:`~schoolsync.matching.MatchReview` is written as a workbook a person works in
(:func:`write_review_workbook`) or served as a page (:func:`create_review_app`, needs the
``review`` extra); both give back the same :class:`ReviewDecisions`, a plain value saved as
JSON. :func:`read_review_workbook` reads an edited workbook back and checks every decision
with its row and column; ``decisions.apply(review)`` is the decided review, which
:func:`schoolsync.sync.plan` turns into a sync plan::

    write_review_workbook(review, "review.xlsx")
    decisions = read_review_workbook("review.xlsx", review)   # after a person edited it
    plan = schoolsync.sync.plan(decisions.apply(review), current, at=now)

:func:`record_review_decisions` remembers them in the store, so later reviews
(``match_pupils(..., decisions=)``), plans and the nightly sync keep them. See docs/review.md.
"""

from __future__ import annotations

from typing import Any

from schoolsync.review._view import (
    RULE_LABELS,
    STATUS_HELP,
    Column,
    ReviewLine,
    columns_for,
    review_fingerprint,
    review_lines,
)
from schoolsync.review.decisions import (
    DECISION_COLUMN,
    DECISION_LABELS,
    MATCH_COLUMN,
    Choice,
    Decision,
    ReviewDecisions,
    RowEntry,
    apply_decisions,
    decisions_from_rows,
    prefilled,
)
from schoolsync.review.storing import REMEMBERED_AS, record_review_decisions
from schoolsync.review.workbook import (
    REVIEW_SHEET,
    SUMMARY_SHEET,
    read_review_workbook,
    write_review_workbook,
)

__all__ = [
    "DECISION_COLUMN",
    "DECISION_LABELS",
    "MATCH_COLUMN",
    "REMEMBERED_AS",
    "REVIEW_SHEET",
    "RULE_LABELS",
    "STATUS_HELP",
    "SUMMARY_SHEET",
    "Choice",
    "Column",
    "Decision",
    "ReviewDecisions",
    "ReviewLine",
    "ReviewPage",
    "RowEntry",
    "apply_decisions",
    "columns_for",
    "create_review_app",
    "decisions_from_rows",
    "prefilled",
    "read_review_workbook",
    "record_review_decisions",
    "review_fingerprint",
    "review_lines",
    "write_review_workbook",
]

_PAGE = {"ReviewPage", "create_review_app"}


def __getattr__(name: str) -> Any:
    # The page needs Starlette and Jinja2 (the ``review`` extra): imported on first use.
    if name in _PAGE:
        from schoolsync.review import page

        return getattr(page, name)
    raise AttributeError(f"module 'schoolsync.review' has no attribute {name!r}")
