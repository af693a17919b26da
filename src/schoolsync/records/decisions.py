"""Match decisions a person made, remembered: "these two are one", "not this one", "import it".

A :class:`MatchDecision` is about one school's records of one kind, named by ids only: the MIS
record by its MIS identifier (``mis_id``, as sync links name it) and the app record by its
``id``. It says who decided (an account id) and when; never a name.

:class:`MatchDecisions` is the set of a school's decisions as a plain value, with the lookups the
matching review, sync planning and the nightly sync use, and :meth:`MatchDecisions.deciding`,
the rule for which earlier decisions a new one replaces. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum

import attrs

from schoolsync.records.sync import RecordKind

__all__ = ["MatchChoice", "MatchDecision", "MatchDecisions", "decision_id"]


class MatchChoice(StrEnum):
    """What a person decided about an MIS record (and an app record)."""

    MATCH = "match"
    """The MIS record and the app record are the same (matched by hand, or a pair accepted)."""
    NOT_MATCH = "not_match"
    """Not this one: the two are never paired again unless a person matches them."""
    NEW = "new"
    """The MIS record is no app record: import it."""
    LEAVE_OUT = "leave_out"
    """Do not import the MIS record."""

    @property
    def needs_app(self) -> bool:
        """True for the choices about a pair (match, not match)."""
        return self in (MatchChoice.MATCH, MatchChoice.NOT_MATCH)


def decision_id(
    school_id: str, kind: RecordKind, choice: MatchChoice, mis_id: str, app_id: str | None
) -> str:
    """The id of a decision: one row per pair for match and not match, one per MIS record for
    new and leave out (so deciding again replaces the row). A digest of the ids, so ids holding
    any character never collide."""
    slot = {
        MatchChoice.MATCH: "match",
        MatchChoice.NOT_MATCH: "not_match",
        MatchChoice.NEW: "import",
        MatchChoice.LEAVE_OUT: "import",
    }[choice]
    pair_app = app_id if choice.needs_app else ""
    text = "\x1f".join((school_id, kind.value, slot, mis_id, pair_app or ""))
    return "md-" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@attrs.frozen(kw_only=True)
class MatchDecision:
    """One decision a person made about a school's MIS record (and an app record).

    ``mis_id`` is the MIS's identifier of the record (what a sync link holds); ``app_id`` is
    set for :attr:`MatchChoice.MATCH` and :attr:`MatchChoice.NOT_MATCH`. ``decided_by`` is the
    account that decided, ``decided_at`` when. Build one with :meth:`make` for its usual id.
    """

    id: str
    school_id: str
    kind: RecordKind
    choice: MatchChoice
    mis_id: str
    app_id: str | None = None
    decided_at: datetime
    decided_by: str | None = None

    @classmethod
    def make(
        cls,
        *,
        school_id: str,
        kind: RecordKind,
        choice: MatchChoice,
        mis_id: str,
        app_id: str | None = None,
        decided_at: datetime,
        decided_by: str | None = None,
    ) -> MatchDecision:
        """A decision with its usual id (:func:`decision_id`)."""
        return cls(
            id=decision_id(school_id, kind, choice, mis_id, app_id),
            school_id=school_id,
            kind=kind,
            choice=choice,
            mis_id=mis_id,
            app_id=app_id,
            decided_at=decided_at,
            decided_by=decided_by,
        )

    def contradicts(self, other: MatchDecision) -> bool:
        """True when *other*, decided later, replaces this decision.

        A match replaces every decision about its MIS record and its app record except other
        "not this one"s; "not this one" replaces the match of the same pair; new and leave out
        replace each other and a match of the MIS record.
        """
        if self.kind is not other.kind or self.school_id != other.school_id:
            return False
        if self.id == other.id:
            return True
        same_mis = self.mis_id == other.mis_id
        if other.choice is MatchChoice.MATCH:
            if self.choice is MatchChoice.NOT_MATCH:
                return same_mis and self.app_id == other.app_id
            if self.choice is MatchChoice.MATCH:
                return same_mis or self.app_id == other.app_id
            return same_mis
        if other.choice is MatchChoice.NOT_MATCH:
            return self.choice is MatchChoice.MATCH and same_mis and self.app_id == other.app_id
        # new / leave out
        return same_mis and self.choice is not MatchChoice.NOT_MATCH


def _decisions(values: Iterable[MatchDecision]) -> tuple[MatchDecision, ...]:
    return tuple(sorted(values, key=lambda d: (d.decided_at, d.id)))


@attrs.frozen
class MatchDecisions:
    """A school's remembered decisions (any kinds), oldest first, with the lookups that use them.

    Build one from stored rows (``MatchDecisions(rows)``); :meth:`deciding` says what a new
    decision replaces.
    """

    decisions: tuple[MatchDecision, ...] = attrs.field(default=(), converter=_decisions)
    _by_mis: dict[tuple[RecordKind, str], tuple[MatchDecision, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _by_app: dict[tuple[RecordKind, str], str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_mis: dict[tuple[RecordKind, str], list[MatchDecision]] = {}
        by_app: dict[tuple[RecordKind, str], str] = {}
        for d in self.decisions:
            by_mis.setdefault((d.kind, d.mis_id), []).append(d)
            if d.choice is MatchChoice.MATCH and d.app_id is not None:
                by_app[(d.kind, d.app_id)] = d.mis_id
        object.__setattr__(self, "_by_mis", {k: tuple(v) for k, v in by_mis.items()})
        object.__setattr__(self, "_by_app", by_app)

    def __iter__(self) -> Iterator[MatchDecision]:
        return iter(self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)

    def __bool__(self) -> bool:
        return bool(self.decisions)

    def of(self, kind: RecordKind) -> MatchDecisions:
        """The decisions about records of *kind*."""
        return MatchDecisions([d for d in self.decisions if d.kind is kind])

    def about_mis(self, kind: RecordKind, mis_id: str) -> tuple[MatchDecision, ...]:
        """The decisions about MIS record *mis_id*."""
        return self._by_mis.get((kind, mis_id), ())

    def match_of_mis(self, kind: RecordKind, mis_id: str) -> str | None:
        """The app id a person matched MIS record *mis_id* with, if any."""
        for d in self.about_mis(kind, mis_id):
            if d.choice is MatchChoice.MATCH:
                return d.app_id
        return None

    def match_of_app(self, kind: RecordKind, app_id: str) -> str | None:
        """The MIS id a person matched app record *app_id* with, if any."""
        return self._by_app.get((kind, app_id))

    def refused(self, kind: RecordKind, mis_id: str, app_id: str) -> bool:
        """True when a person said the two are not the same ("not this one")."""
        return any(
            d.choice is MatchChoice.NOT_MATCH and d.app_id == app_id
            for d in self.about_mis(kind, mis_id)
        )

    def unmatched_from(self, kind: RecordKind, mis_id: str) -> tuple[str, ...]:
        """The app ids a person said MIS record *mis_id* is not."""
        return tuple(
            d.app_id
            for d in self.about_mis(kind, mis_id)
            if d.choice is MatchChoice.NOT_MATCH and d.app_id is not None
        )

    def import_choice(self, kind: RecordKind, mis_id: str) -> MatchChoice | None:
        """:attr:`MatchChoice.NEW` or :attr:`MatchChoice.LEAVE_OUT` if a person chose, else
        ``None``."""
        for d in self.about_mis(kind, mis_id):
            if d.choice in (MatchChoice.NEW, MatchChoice.LEAVE_OUT):
                return d.choice
        return None

    def deciding(self, new: MatchDecision) -> tuple[MatchDecisions, tuple[MatchDecision, ...]]:
        """The decisions once *new* is made, and the earlier ones it replaced."""
        replaced = tuple(d for d in self.decisions if d.contradicts(new))
        kept = [d for d in self.decisions if d not in replaced]
        return MatchDecisions([*kept, new]), replaced
