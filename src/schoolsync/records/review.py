"""The review status of a pair of records (an MIS record, an app record or both).

One enum for matching (:class:`~schoolsync.matching.MatchReview`) and sync planning
(:class:`~schoolsync.sync.Pairing`); ``PairStatus`` is another name for it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MatchStatus", "PairStatus"]


class MatchStatus(StrEnum):
    """The four review statuses, in the order a person should review them."""

    NOT_MATCHED = "not_matched"
    """An app record with no clear MIS match (often a leaver never deleted)."""
    NEW = "new"
    """An MIS record with no clear app match: imported unless matched by hand."""
    MAY_MATCH = "may_match"
    """A very close candidate pair that a person must confirm or unmatch."""
    MATCHED = "matched"
    """The same record with reasonable certainty (still worth a look)."""

    @property
    def review_order(self) -> int:
        """0 for Not matched ... 3 for Matched."""
        return _ORDER[self]

    @property
    def label(self) -> str:
        """The label a person sees ("May match")."""
        return _LABELS[self]


_ORDER = {
    MatchStatus.NOT_MATCHED: 0,
    MatchStatus.NEW: 1,
    MatchStatus.MAY_MATCH: 2,
    MatchStatus.MATCHED: 3,
}
_LABELS = {
    MatchStatus.NOT_MATCHED: "Not matched",
    MatchStatus.NEW: "New",
    MatchStatus.MAY_MATCH: "May match",
    MatchStatus.MATCHED: "Matched",
}

#: The same enum under the name sync planning uses for a review line's status.
PairStatus = MatchStatus
