"""The records of a sync plan: what a sync will do with each record, and why.

:class:`SyncPlan` holds one :class:`PlannedChange` per record looked at (its :class:`Action`,
the reason, and each overwritten field as a :class:`FieldChange`), the change-size guard per
kind (:class:`GuardCheck`) and school-level notes. :class:`Pairing` is one reviewed line the
plan is made from, :class:`PlanOptions` the knobs of planning. The planning itself is in
:mod:`schoolsync.sync.planning`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from schoolsync.errors import ValidationError
from schoolsync.records.people import YearGroup
from schoolsync.records.review import MatchStatus, PairStatus
from schoolsync.records.sync import RecordKind, SyncLink
from schoolsync.serialisation import converter
from schoolsync.sync.emails import EmailPolicy
from schoolsync.sync.state import Record
from schoolsync.tables import Tabular

__all__ = [
    "MIS_OWNED_FIELDS",
    "WRITING_ACTIONS",
    "Action",
    "FieldChange",
    "GuardCheck",
    "PairStatus",
    "Pairing",
    "PlanOptions",
    "PlannedChange",
    "SyncPlan",
    "is_nursery",
]


class Action(StrEnum):
    """What a sync will do with one record."""

    CREATE = "create"
    LINK = "link"
    UPDATE = "update"
    RESYNC = "resync"
    RESTORE = "restore"
    MARK_OUT_OF_SYNC = "mark_out_of_sync"
    MARK_LEAVER = "mark_leaver"
    NONE = "none"
    SKIP = "skip"
    NEEDS_REVIEW = "needs_review"
    BLOCKED_ERASED = "blocked_erased"


#: Actions that write to the store.
WRITING_ACTIONS = frozenset(
    {
        Action.CREATE,
        Action.LINK,
        Action.UPDATE,
        Action.RESYNC,
        Action.RESTORE,
        Action.MARK_OUT_OF_SYNC,
        Action.MARK_LEAVER,
    }
)

#: Fields the MIS owns, per kind: a sync overwrites the app's values with the MIS's.
MIS_OWNED_FIELDS: Mapping[RecordKind, tuple[str, ...]] = {
    RecordKind.PUPIL: (
        "mis_id",
        "upn",
        "former_upns",
        "forename",
        "middle_names",
        "surname",
        "preferred_forename",
        "preferred_surname",
        "date_of_birth",
        "gender",
        "pupil_premium",
        "intake_year",
        "home_language",
        "year_code",
        "class_ids",
        "postcode",
        "address",
    ),
    RecordKind.STAFF: (
        "mis_id",
        "title",
        "forename",
        "middle_names",
        "surname",
        "preferred_forename",
        "preferred_surname",
        "date_of_birth",
        "gender",
        "staff_code",
        "class_ids",
        "postcode",
        "address",
    ),
    RecordKind.CLASS: ("mis_id", "name", "year_group_ids", "subject"),
    RecordKind.YEAR_GROUP: ("mis_id", "name", "nc_year", "intake_year"),
}

# A blank MIS value never erases an app value for these fields (feeds often omit them).


@attrs.frozen(kw_only=True)
class Pairing:
    """One review line: an MIS record, an app record or both, with a status.

    ``selected`` is the person's choice: for New, whether to import it; for a pair, whether to
    keep the match (an unselected pair is skipped). ``hold_reason`` lists a New record for a
    person instead of importing it (the nightly sync does this for new staff). ``decided`` is
    true for a pair a person matched or accepted (a review's ``confirmed`` pair, or a
    remembered match decision): only such a pair is linked when a person had said "not this
    one" about it before.
    """

    kind: RecordKind
    status: PairStatus = attrs.field(converter=MatchStatus)
    mis: Record | None = None
    app: Record | None = None
    selected: bool = True
    hold_reason: str | None = None
    decided: bool = False

    def __attrs_post_init__(self) -> None:
        needs_mis = self.status is not PairStatus.NOT_MATCHED
        needs_app = self.status not in (PairStatus.NEW,)
        if (self.mis is not None) != needs_mis or (self.app is not None) != needs_app:
            raise ValidationError(
                "status", self.status.value, "does not fit the records given for this pairing"
            )


@attrs.frozen(kw_only=True)
class FieldChange:
    """One field of an app record the sync overwrites: the old value and the MIS's new one."""

    field: str
    old: Any
    new: Any


@attrs.frozen(kw_only=True)
class PlannedChange:
    """What the sync will do with one record, and why.

    ``before`` is the app record as the plan saw it (``None`` for creations), ``after`` the
    record to write; ``link`` the link to write (new or updated).
    """

    kind: RecordKind
    action: Action
    reason: str
    app_id: str | None = None
    mis_id: str | None = None
    label: str = ""
    before: Record | None = None
    after: Record | None = None
    changes: tuple[FieldChange, ...] = ()
    link: SyncLink | None = None
    deleted_id: str | None = None
    welcome: bool = False

    @property
    def writes(self) -> bool:
        """True if applying this change writes to the store."""
        return self.action in WRITING_ACTIONS


@attrs.frozen(kw_only=True)
class GuardCheck:
    """The change-size guard for one kind: how many synced records would go Out of sync."""

    kind: RecordKind
    synced: int
    leaving: int
    max_share: float
    allowance: int = 0

    @property
    def limit(self) -> int:
        """The most records that may leave without forcing."""
        return max(self.allowance, int(self.synced * self.max_share))

    @property
    def exceeded(self) -> bool:
        """True if this sync would mark too many synced records Out of sync."""
        return self.leaving > 0 and self.leaving > self.limit

    def describe(self) -> str:
        """E.g. ``"pupil: 40 of 300 synced records would go Out of sync (limit 30)"``."""
        return (
            f"{self.kind.value}: {self.leaving} of {self.synced} synced records would go "
            f"Out of sync (limit {self.limit})"
        )


def _default_new_id(school_id: str, kind: RecordKind, key: str) -> str:
    digest = hashlib.sha256(f"{school_id}|{kind.value}|{key}".encode()).hexdigest()[:16]
    return f"{kind.value}-{digest}"


@attrs.frozen(kw_only=True)
class PlanOptions:
    """Knobs of planning.

    Args:
        guard_share: the largest share of a kind's synced records a sync may mark Out of sync
            without being forced (default 10 %).
        guard_allowance: that many records may always leave, whatever the share (default 0).
        link_may_match: May match pairs are linked unless a person unmatched them (the seed's
            behaviour); ``False`` holds them back as needing review.
        generate_emails: make addresses for new staff without one from ``email_pattern``.
        email_pattern: defaults to the school's ``email_pattern``.
        email_policy: how names are normalised into addresses.
        tombstone_key: the host's secret for erasure tombstones (needed once any exist).
        reimport_erased: MIS ids of erased people the host decided to import again.
        new_id: makes the app id of a created record from (school id, kind, MIS id).
        started_this_year: the year-group set-up question "did the pupils in the MIS start
            their school year this calendar year or last year?". When given, each synced year
            group's ``intake_year`` (its cohort) is computed from it and the plan's date;
            when ``None``, the MIS's own ``intake_year`` is used.
        replace_app_classes: by default a synced person keeps their app-only (unlinked)
            classes and the MIS's classes replace only synced ones; ``True`` makes the MIS's
            classes their only classes (the seed's mixed-year-class procedure: pupils move
            from "1Swans"/"2Swans" to the class mirroring the MIS's "Swans").
    """

    guard_share: float = 0.10
    guard_allowance: int = 0
    link_may_match: bool = True
    generate_emails: bool = True
    email_pattern: str | None = None
    email_policy: EmailPolicy = attrs.field(factory=EmailPolicy)
    tombstone_key: bytes | None = attrs.field(default=None, repr=False)
    reimport_erased: frozenset[str] = frozenset()
    new_id: Callable[[str, RecordKind, str], str] = _default_new_id
    started_this_year: bool | None = None
    replace_app_classes: bool = False

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.guard_share <= 1.0:
            raise ValidationError("guard_share", self.guard_share, "must be between 0 and 1")
        if self.guard_allowance < 0:
            raise ValidationError("guard_allowance", self.guard_allowance, "must be >= 0")


@attrs.frozen(kw_only=True)
class SyncPlan(Tabular):
    """Everything a sync would do at one school, readable before anything changes.

    ``changes`` holds one :class:`PlannedChange` per record looked at; ``guard`` the change-size
    guard per kind; ``notes`` school-level remarks.
    """

    sync_id: str
    school_id: str
    mode: str
    planned_at: datetime
    changes: tuple[PlannedChange, ...] = ()
    guard: tuple[GuardCheck, ...] = ()
    notes: tuple[str, ...] = ()

    def of(self, action: Action, kind: RecordKind | None = None) -> list[PlannedChange]:
        """The planned changes with *action* (and *kind*, if given)."""
        return [c for c in self.changes if c.action is action and (kind is None or c.kind is kind)]

    @property
    def creates(self) -> list[PlannedChange]:
        """Records to create."""
        return self.of(Action.CREATE)

    @property
    def links(self) -> list[PlannedChange]:
        """Links to make (matched pairs)."""
        return self.of(Action.LINK)

    @property
    def updates(self) -> list[PlannedChange]:
        """Field updates of already-linked records (including Out of sync ones coming back)."""
        return self.of(Action.UPDATE) + self.of(Action.RESYNC)

    @property
    def writes(self) -> list[PlannedChange]:
        """Every change that writes to the store."""
        return [c for c in self.changes if c.writes]

    @property
    def is_empty(self) -> bool:
        """True if applying the plan would change nothing."""
        return not self.writes

    @property
    def guard_exceeded(self) -> bool:
        """True if the change-size guard refuses this plan unless forced."""
        return any(g.exceeded for g in self.guard)

    def for_app(self, app_id: str) -> PlannedChange | None:
        """The planned change of app record *app_id*, if any."""
        return next((c for c in self.changes if c.app_id == app_id), None)

    def for_mis(self, mis_id: str) -> PlannedChange | None:
        """The planned change of MIS record *mis_id*, if any."""
        return next((c for c in self.changes if c.mis_id == mis_id), None)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per overwritten field (``old`` is the value struck out), or per record."""
        rows: list[dict[str, Any]] = []
        for c in self.changes:
            base = {
                "kind": c.kind.value,
                "action": c.action.value,
                "app_id": c.app_id,
                "mis_id": c.mis_id,
                "name": c.label,
            }
            if c.changes:
                for fc in c.changes:
                    rows.append(
                        {
                            **base,
                            "field": fc.field,
                            "old": converter.unstructure(fc.old),
                            "new": converter.unstructure(fc.new),
                            "reason": c.reason,
                        }
                    )
            else:
                rows.append({**base, "field": None, "old": None, "new": None, "reason": c.reason})
        return rows

    def table_caption(self) -> str | None:
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.action.value] = counts.get(c.action.value, 0) + 1
        text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to do"
        return f"Sync plan for school {self.school_id}: {text}"


def is_nursery(year_group: YearGroup) -> bool:
    """True for Nursery year groups (excluded from sync, as in the seed)."""
    return year_group.nc_year.upper() in {"N1", "N2", "N"} or "nursery" in year_group.name.lower()
