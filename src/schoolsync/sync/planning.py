"""Turn a reviewed match into a :class:`SyncPlan` a person reads before anything changes.

The functional core of MIS sync: :func:`plan_pairings` is pure. It takes the reviewed pairs
(:class:`Pairing`, one per review line) and the app's current records (:class:`SchoolRecords`)
and decides, per record, what a sync would do and why:

* **create** an app record for a New MIS record selected for import (staff get an email from
  the school's pattern when the MIS has none);
* **link** a matched pair, overwriting the app's fields with the MIS's (the MIS is the master
  record: names, classes, year groups, birth dates...) and showing each old value;
* **update** an already-linked record whose MIS fields changed (Out of sync records that
  reappear become Synced again);
* **restore** a soft-deleted record whose MIS id or UPN reappears within the retention period
  instead of importing a duplicate;
* refuse to re-import an **erased** person (a tombstone matches) and say so;
* mark a synced app record with no MIS counterpart **Out of sync** (or a **leaver** at rollover),
  subject to the change-size guard.

:func:`plan` is the thin adapter from a :class:`schoolsync.matching.MatchReview`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from schoolsync.calendar import Jurisdiction, YearCode, intake_cohort
from schoolsync.errors import SyncError, ValidationError
from schoolsync.people import Gender, Pupil, StaffMember, YearGroup
from schoolsync.serialisation import converter
from schoolsync.sync.emails import generate_emails, is_valid_email
from schoolsync.sync.identity import identity_hashes
from schoolsync.sync.plans import (
    MIS_OWNED_FIELDS,
    Action,
    FieldChange,
    GuardCheck,
    Pairing,
    PairStatus,
    PlannedChange,
    PlanOptions,
    SyncPlan,
    is_nursery,
)
from schoolsync.sync.records import DeletedRecord, RecordKind, SyncLink, SyncState
from schoolsync.sync.state import Record, SchoolRecords, kind_of, link_id_for, mis_key, record_type

# The plan's records (SyncPlan, PlannedChange, Pairing, PlanOptions...) are in
# schoolsync.sync.plans; both are public through schoolsync.sync.
__all__ = ["pairings_from_review", "plan", "plan_id", "plan_pairings"]

# A blank MIS value never erases an app value for these fields (feeds often omit them).
_KEEP_WHEN_BLANK = frozenset(
    {"date_of_birth", "home_language", "intake_year", "staff_code", "title", "upn", "subject"}
    | {"postcode", "address"}  # only CTF and some brokers carry a home address
)
_KIND_ORDER = (RecordKind.YEAR_GROUP, RecordKind.CLASS, RecordKind.STAFF, RecordKind.PUPIL)


def _label(record: Record | None) -> str:
    if record is None:
        return ""
    if isinstance(record, (Pupil, StaffMember)):
        return record.display_name
    return record.name


def _is_blank(field: str, value: Any) -> bool:
    if value is None or value == "" or value == ():
        return True
    return field == "gender" and value is Gender.UNKNOWN


class _Planner:
    """One planning run (mutable working state; the result is an immutable SyncPlan)."""

    def __init__(
        self,
        current: SchoolRecords,
        *,
        at: datetime,
        options: PlanOptions,
        expected_leavers: Collection[str],
        guard_exempt: Collection[RecordKind] = (),
        complete: bool = True,
    ) -> None:
        self.cur = current
        self.complete = complete
        self.guard_exempt = frozenset(guard_exempt)
        self.at = at
        self.opt = options
        self.expected_leavers = set(expected_leavers)
        self.changes: list[PlannedChange] = []
        self.notes: list[str] = []
        # MIS reference (record id or MIS id) -> app id, for classes and year groups.
        self.ref_map: dict[RecordKind, dict[str, str]] = {
            RecordKind.CLASS: {},
            RecordKind.YEAR_GROUP: {},
        }
        # App ids of classes / year groups the MIS owns (linked, or being linked now).
        self.owned: dict[RecordKind, set[str]] = {
            RecordKind.CLASS: set(),
            RecordKind.YEAR_GROUP: set(),
        }
        for kind in (RecordKind.CLASS, RecordKind.YEAR_GROUP):
            for link in current.links_of(kind):
                self.ref_map[kind][link.mis_id] = link.app_id
                self.owned[kind].add(link.app_id)
        self.used_ids: dict[RecordKind, set[str]] = {
            k: set(current.records(k)) | {d.record_id for d in current.deleted if d.kind is k}
            for k in RecordKind
        }
        self.linked_mis: set[tuple[RecordKind, str]] = set()
        self.linked_app: set[tuple[RecordKind, str]] = set()
        self.erased = {t.key_hash for t in current.tombstones}
        self.deleted_by_key: dict[tuple[RecordKind, str], DeletedRecord] = {}
        for d in sorted(current.deleted, key=lambda d: d.deleted_at):
            if d.purge_after <= at:
                continue
            if d.mis_id:
                self.deleted_by_key[(d.kind, f"mis:{d.mis_id}")] = d
            if d.upn:
                self.deleted_by_key[(d.kind, f"upn:{d.upn}")] = d
        self.taken_emails = {s.email.lower() for s in current.staff.values() if s.email}
        self.pending_staff: list[tuple[Pairing, StaffMember, str]] = []

    # -- helpers ---------------------------------------------------------------------------
    def new_id(self, kind: RecordKind, key: str) -> str:
        base = self.opt.new_id(self.cur.school_id, kind, key)
        candidate, n = base, 1
        while candidate in self.used_ids[kind]:
            n += 1
            candidate = f"{base}-{n}"
        self.used_ids[kind].add(candidate)
        return candidate

    def map_refs(self, kind: RecordKind, refs: Iterable[str]) -> set[str]:
        table = self.ref_map[kind]
        return {table[r] for r in refs if r in table}

    def mis_values(self, kind: RecordKind, mis: Record, app: Record | None) -> dict[str, Any]:
        """The values the MIS dictates for the app record (the MIS wins)."""
        values: dict[str, Any] = {}
        for field in MIS_OWNED_FIELDS[kind]:
            if field == "mis_id":
                values[field] = mis_key(mis)
                continue
            if field in ("class_ids", "year_group_ids"):
                ref_kind = RecordKind.CLASS if field == "class_ids" else RecordKind.YEAR_GROUP
                mapped = self.map_refs(ref_kind, getattr(mis, field))
                old: tuple[str, ...] = getattr(app, field) if app is not None else ()
                replace_all = self.opt.replace_app_classes and field == "class_ids"
                kept = set() if replace_all else {i for i in old if i not in self.owned[ref_kind]}
                new_set = kept | mapped
                values[field] = old if set(old) == new_set else tuple(sorted(new_set))
                continue
            value = getattr(mis, field)
            if (
                app is not None
                and field in _KEEP_WHEN_BLANK | {"gender"}
                and _is_blank(field, value)
            ):
                continue
            values[field] = value
        if kind in (RecordKind.PUPIL, RecordKind.STAFF):
            app_email = getattr(app, "email", None) if app is not None else None
            mis_email = getattr(mis, "email", None)
            if not app_email and mis_email and is_valid_email(mis_email):
                values["email"] = mis_email
        if isinstance(mis, YearGroup) and self.opt.started_this_year is not None:
            jurisdiction = Jurisdiction.for_country(self.cur.school.country)
            code = YearCode.parse_optional(mis.nc_year, jurisdiction)
            if code is not None:
                cohort = intake_cohort(
                    code, self.at.date(), started_this_year=self.opt.started_this_year
                )
                values["intake_year"] = cohort.intake_year
        if kind is RecordKind.CLASS and (app is None or not getattr(app, "description", None)):
            desc = getattr(mis, "description", None)
            if desc:
                values["description"] = desc
        return values

    @staticmethod
    def diff(before: Record, after: Record) -> tuple[FieldChange, ...]:
        return tuple(
            FieldChange(field=f.name, old=getattr(before, f.name), new=getattr(after, f.name))
            for f in attrs.fields(type(before))
            if getattr(before, f.name) != getattr(after, f.name)
        )

    def add(self, change: PlannedChange) -> None:
        self.changes.append(change)

    def note(
        self,
        kind: RecordKind,
        action: Action,
        reason: str,
        *,
        app_id: str | None = None,
        mis_id: str | None = None,
        label: str = "",
    ) -> None:
        """Record a decision that writes nothing (skip, hold for review, leave as it is)."""
        self.add(
            PlannedChange(
                kind=kind, action=action, reason=reason, app_id=app_id, mis_id=mis_id, label=label
            )
        )

    # -- per line ---------------------------------------------------------------------------
    def handle(self, p: Pairing) -> None:
        if p.status is PairStatus.NOT_MATCHED:
            assert p.app is not None
            self.not_matched(p.kind, p.app)
        elif p.status is PairStatus.NEW:
            assert p.mis is not None
            self.new(p)
        else:
            assert p.mis is not None
            assert p.app is not None
            self.pair(p)

    def not_matched(self, kind: RecordKind, app: Record) -> None:
        link = self.cur.link_of_app(kind, app.id)
        label = _label(app)
        if link is None:
            reason = "app-only record with no MIS match: left as it is (unsynced)"
            self.note(kind, Action.NONE, reason, app_id=app.id, label=label)
        elif link.state is SyncState.OUT_OF_SYNC:
            reason = "already Out of sync: no longer in the MIS"
            self.note(kind, Action.NONE, reason, app_id=app.id, mis_id=link.mis_id, label=label)
        elif not self.complete:
            reason = (
                "synced, but its MIS record is not in this review (a review may cover "
                "part of the school): left Synced; the nightly sync marks records gone "
                "from the MIS Out of sync"
            )
            self.note(kind, Action.NONE, reason, app_id=app.id, mis_id=link.mis_id, label=label)
        else:
            leaver = app.id in self.expected_leavers
            self.add(
                PlannedChange(
                    kind=kind,
                    action=Action.MARK_LEAVER if leaver else Action.MARK_OUT_OF_SYNC,
                    app_id=app.id,
                    mis_id=link.mis_id,
                    label=label,
                    link=attrs.evolve(link, state=SyncState.OUT_OF_SYNC),
                    reason=(
                        "left the school at the end of the top year: kept, marked Out of sync"
                        if leaver
                        else "no longer in the MIS: kept, marked Out of sync"
                    ),
                )
            )

    def new(self, p: Pairing) -> None:
        mis = p.mis
        assert mis is not None
        kind, key = p.kind, mis_key(mis)
        link = self.cur.link_of_mis(kind, key)
        if link is not None and link.app_id in self.cur.records(kind):
            # Already linked: this is an update of the linked record, not an import.
            app = self.cur.records(kind)[link.app_id]
            self.linked_update(kind, mis, app, link, "already linked to this MIS record")
            return
        held = self.not_imported(p, mis, key)
        if held is not None:
            action, reason = held
            self.note(kind, action, reason, mis_id=key, label=_label(mis))
            return
        if kind in (RecordKind.PUPIL, RecordKind.STAFF):
            deleted = self.find_deleted(kind, mis)
            if deleted is not None:
                self.restore(kind, mis, deleted)
                return
        if isinstance(mis, StaffMember):
            email = mis.email if mis.email and is_valid_email(mis.email) else None
            if email is None or email.lower() in self.taken_emails:
                self.pending_staff.append((p, mis, key))
                return
            self.taken_emails.add(email.lower())
        self.create(kind, mis, key)

    def not_imported(self, p: Pairing, mis: Record, key: str) -> tuple[Action, str] | None:
        """Why a New MIS record is not imported (action and reason), or None to import it."""
        if isinstance(mis, YearGroup) and is_nursery(mis):
            return Action.SKIP, "Nursery year groups are excluded from sync"
        if (
            p.kind in (RecordKind.PUPIL, RecordKind.STAFF)
            and self.is_erased(p.kind, mis)
            and key not in self.opt.reimport_erased
        ):
            return Action.BLOCKED_ERASED, (
                "this person was erased at the school's request; not imported. "
                "The host decides (PlanOptions.reimport_erased)"
            )
        if p.hold_reason is not None:
            return Action.NEEDS_REVIEW, p.hold_reason
        if not p.selected:
            return Action.SKIP, "not selected for import"
        return None

    def is_erased(self, kind: RecordKind, mis: Record) -> bool:
        if not self.erased:
            return False
        if self.opt.tombstone_key is None:
            raise SyncError(
                "the school has erasure tombstones; pass PlanOptions(tombstone_key=...) so the "
                "sync can recognise erased people"
            )
        keyed = attrs.evolve(mis, mis_id=mis_key(mis))
        return any(h in self.erased for h in identity_hashes(kind, keyed, self.opt.tombstone_key))

    def find_deleted(self, kind: RecordKind, mis: Record) -> DeletedRecord | None:
        keys = [f"mis:{mis_key(mis)}"]
        upn = getattr(mis, "upn", None)
        if upn is not None:
            keys.append(f"upn:{upn}")
        for k in keys:
            d = self.deleted_by_key.get((kind, k))
            if (
                d is not None
                and (kind, d.record_id) not in self.linked_app
                and not self.cur.decisions.refused(kind, mis_key(mis), d.record_id)
            ):
                return d
        return None

    def register_ref(self, kind: RecordKind, mis: Record, app_id: str) -> None:
        if kind in self.ref_map:
            self.ref_map[kind][mis.id] = app_id
            self.ref_map[kind][mis_key(mis)] = app_id
            self.owned[kind].add(app_id)

    def new_link(self, kind: RecordKind, app_id: str, mis: Record) -> SyncLink:
        upn = getattr(mis, "upn", None)
        self.linked_app.add((kind, app_id))
        self.linked_mis.add((kind, mis_key(mis)))
        return SyncLink(
            id=link_id_for(kind, app_id),
            school_id=self.cur.school_id,
            kind=kind,
            app_id=app_id,
            mis_id=mis_key(mis),
            state=SyncState.SYNCED,
            upn=None if upn is None else str(upn),
        )

    def create(self, kind: RecordKind, mis: Record, key: str, *, email: str | None = None) -> None:
        app_id = self.new_id(kind, key)
        self.register_ref(kind, mis, app_id)
        values = self.mis_values(kind, mis, None)
        if email is not None:
            values["email"] = email
        base = attrs.evolve(mis, id=app_id, school_id=self.cur.school_id)
        after = attrs.evolve(base, **values)
        self.add(
            PlannedChange(
                kind=kind,
                action=Action.CREATE,
                app_id=app_id,
                mis_id=key,
                label=_label(mis),
                after=after,
                link=self.new_link(kind, app_id, mis),
                welcome=kind is RecordKind.STAFF,
                reason="new in the MIS and selected for import",
            )
        )

    def restore(self, kind: RecordKind, mis: Record, deleted: DeletedRecord) -> None:
        old = converter.structure(deleted.data, record_type(kind))
        self.register_ref(kind, mis, old.id)
        after = attrs.evolve(old, **self.mis_values(kind, mis, old))
        self.add(
            PlannedChange(
                kind=kind,
                action=Action.RESTORE,
                app_id=old.id,
                mis_id=mis_key(mis),
                label=_label(mis),
                before=old,
                after=after,
                changes=self.diff(old, after),
                link=self.new_link(kind, old.id, mis),
                deleted_id=deleted.id,
                reason=(
                    "was deleted in the app and reappeared in the MIS within the retention "
                    "period: restored, not duplicated"
                ),
            )
        )

    def pair(self, p: Pairing) -> None:
        mis, app = p.mis, p.app
        assert mis is not None
        assert app is not None
        kind, key = p.kind, mis_key(mis)
        label = _label(mis)
        if not p.selected:
            self.note(
                kind, Action.SKIP, "match not selected", app_id=app.id, mis_id=key, label=label
            )
            return
        if not p.decided and self.cur.decisions.refused(kind, key, app.id):
            linked = self.cur.link_of_app(kind, app.id)
            if linked is None or linked.mis_id != key:
                reason = (
                    "a person unmatched these two records (not this one): they are linked "
                    "only when a person matches them again"
                )
                self.note(kind, Action.NEEDS_REVIEW, reason, app_id=app.id, mis_id=key, label=label)
                return
        if p.status is PairStatus.MAY_MATCH and not self.opt.link_may_match:
            reason = "May match: a person must confirm it"
            self.note(kind, Action.NEEDS_REVIEW, reason, app_id=app.id, mis_id=key, label=label)
            return
        current_app = self.cur.records(kind).get(app.id, app)
        app_link = self.cur.link_of_app(kind, app.id)
        mis_link = self.cur.link_of_mis(kind, key)
        if mis_link is not None and mis_link.app_id != app.id:
            reason = (
                f"the MIS record is already linked to app record {mis_link.app_id!r}; "
                "unmatch that first"
            )
            self.note(kind, Action.NEEDS_REVIEW, reason, app_id=app.id, mis_id=key, label=label)
            return
        if app_link is not None:
            reason = "linked record"
            if app_link.mis_id != key:
                reason = (
                    "relinked to the MIS record's new identifier (was "
                    f"{app_link.mis_id!r}; e.g. the school changed MIS)"
                )
            self.linked_update(kind, mis, current_app, app_link, reason)
            return
        self.register_ref(kind, mis, app.id)
        after = attrs.evolve(current_app, **self.mis_values(kind, mis, current_app))
        may = p.status is PairStatus.MAY_MATCH
        self.add(
            PlannedChange(
                kind=kind,
                action=Action.LINK,
                app_id=app.id,
                mis_id=key,
                label=label,
                before=current_app,
                after=after,
                changes=self.diff(current_app, after),
                link=self.new_link(kind, app.id, mis),
                reason=(
                    "May match (not unmatched by a person): linked; the MIS wins"
                    if may
                    else "Matched: linked; the MIS wins"
                ),
            )
        )

    def linked_update(
        self, kind: RecordKind, mis: Record, app: Record, link: SyncLink, why: str
    ) -> None:
        key = mis_key(mis)
        self.register_ref(kind, mis, app.id)
        self.linked_app.add((kind, app.id))
        self.linked_mis.add((kind, key))
        after = attrs.evolve(app, **self.mis_values(kind, mis, app))
        changes = self.diff(app, after)
        new_link = link
        upn = getattr(mis, "upn", None)
        upn_s = None if upn is None else str(upn)
        if link.mis_id != key or link.upn != upn_s or link.state is not SyncState.SYNCED:
            new_link = attrs.evolve(link, mis_id=key, upn=upn_s, state=SyncState.SYNCED)
        if link.state is SyncState.OUT_OF_SYNC:
            action, reason = Action.RESYNC, "was Out of sync and is back in the MIS: Synced again"
        elif changes or new_link != link:
            action, reason = Action.UPDATE, f"{why}: MIS fields changed, the MIS wins"
        else:
            action, reason = Action.NONE, f"{why}: already up to date"
        self.add(
            PlannedChange(
                kind=kind,
                action=action,
                app_id=app.id,
                mis_id=key,
                label=_label(mis),
                before=app,
                after=after,
                changes=changes,
                link=new_link if action is not Action.NONE else None,
                reason=reason,
            )
        )

    def finish_staff(self) -> None:
        if not self.pending_staff:
            return
        pattern = self.opt.email_pattern or self.cur.school.email_pattern
        generated: Mapping[str, str] = {}
        reasons: dict[str, str] = {}
        if self.opt.generate_emails and pattern:
            batch = generate_emails(
                [m for _, m, _ in self.pending_staff],
                pattern,
                taken=self.taken_emails,
                policy=self.opt.email_policy,
            )
            generated = batch.generated
            reasons = {f.staff_id: f.reason for f in batch.failures}
        for _p, mis, key in self.pending_staff:
            email = generated.get(mis.id)
            if email is not None:
                self.taken_emails.add(email.lower())
                self.create(RecordKind.STAFF, mis, key, email=email)
                continue
            if not pattern or not self.opt.generate_emails:
                why = "needs an email address: set one, or give the school an email pattern"
            else:
                why = f"no email address could be generated ({reasons.get(mis.id, 'invalid')})"
            self.note(RecordKind.STAFF, Action.SKIP, why, mis_id=key, label=_label(mis))
        self.pending_staff.clear()

    def guard(self) -> tuple[GuardCheck, ...]:
        checks = []
        for kind in (RecordKind.PUPIL, RecordKind.STAFF, RecordKind.CLASS, RecordKind.YEAR_GROUP):
            synced = len(self.cur.synced_ids(kind))
            leaving = sum(
                1 for c in self.changes if c.kind is kind and c.action is Action.MARK_OUT_OF_SYNC
            )
            if kind in self.guard_exempt:
                leaving = 0
            if synced or leaving:
                checks.append(
                    GuardCheck(
                        kind=kind,
                        synced=synced,
                        leaving=leaving,
                        max_share=self.opt.guard_share,
                        allowance=self.opt.guard_allowance,
                    )
                )
        return tuple(checks)


def _by_kind(pairings: Iterable[Pairing]) -> dict[RecordKind, list[Pairing]]:
    """The pairings grouped by kind, refusing an MIS or app record on two lines."""
    by_kind: dict[RecordKind, list[Pairing]] = {k: [] for k in RecordKind}
    seen_mis: set[tuple[RecordKind, str]] = set()
    seen_app: set[tuple[RecordKind, str]] = set()
    for p in pairings:
        record = p.mis if p.mis is not None else p.app
        assert record is not None
        if kind_of(record) is not p.kind:
            raise ValidationError("kind", p.kind.value, "does not fit the records' type")
        if p.mis is not None:
            key = (p.kind, mis_key(p.mis))
            if key in seen_mis:
                raise ValidationError(
                    "mis_id", key[1], f"two MIS {p.kind.value} records share this id"
                )
            seen_mis.add(key)
        if p.app is not None:
            key = (p.kind, p.app.id)
            if key in seen_app:
                raise ValidationError("id", key[1], f"app {p.kind.value} appears in two lines")
            seen_app.add(key)
        by_kind[p.kind].append(p)
    return by_kind


def _stable(value: object) -> str:
    """A text form of a field value that does not vary between runs (sets are sorted)."""
    if isinstance(value, set | frozenset):
        return repr(sorted(_stable(v) for v in value))
    return repr(value)


def plan_id(school_id: str, mode: str, at: datetime, changes: Iterable[PlannedChange]) -> str:
    """The default id of a plan: a digest of its school, mode, time and changes (32 hex digits).

    Two plans share an id only when they are the same plan; applying a plan twice is refused
    as stale once the first application wrote anything, so backups keyed by the id never
    collide. Pass ``sync_id=`` (for example from an :class:`~schoolsync.ports.IdSource`) to
    choose the id instead.
    """
    digest = hashlib.blake2b(f"{school_id}\x1f{mode}\x1f{at.isoformat()}".encode(), digest_size=16)
    for c in changes:
        digest.update(
            f"\x1e{c.kind.value}\x1f{c.action.value}\x1f{c.app_id}\x1f{c.mis_id}"
            f"\x1f{c.deleted_id}".encode()
        )
        for fc in c.changes:
            digest.update(f"\x1d{fc.field}\x1f{_stable(fc.old)}\x1f{_stable(fc.new)}".encode())
    return digest.hexdigest()


def plan_pairings(
    pairings: Iterable[Pairing],
    current: SchoolRecords,
    *,
    at: datetime,
    options: PlanOptions | None = None,
    mode: str = "apply",
    sync_id: str | None = None,
    expected_leavers: Collection[str] = (),
    guard_exempt: Collection[RecordKind] = (),
    notes: Sequence[str] = (),
    complete: bool = True,
) -> SyncPlan:
    """Plan a sync of *pairings* against the app's *current* records (pure).

    Args:
        pairings: one per review line; year groups, classes, staff and pupils in any order.
        current: the app's records of the school (:meth:`SchoolRecords.load`).
        at: when the plan is made (decides which soft deletions are still restorable).
        options: :class:`PlanOptions`.
        mode: a label carried into the report (``"apply"``, ``"incremental"``, ``"rollover"``).
        sync_id: the id of this sync (default: :func:`plan_id`, derived from the plan, so
            planning stays pure: the same inputs give the same plan, id included).
        expected_leavers: app ids of pupils expected to leave (top year at rollover); they are
            marked leavers and do not count towards the change-size guard.
        guard_exempt: kinds whose departures the guard ignores (classes and year groups at
            the start of a new academic year).
        notes: school-level remarks to carry.
        complete: the pairings cover the school's whole MIS feed, so a synced app record
            paired with nothing (Not matched) is gone from the MIS and is marked Out of sync.
            With ``False`` (a review of part of the school) such records are left Synced.

    Raises:
        SyncError: tombstones exist but no ``tombstone_key`` was given.
        ValidationError: two lines hold the same MIS record (a broken feed) or the same app
            record.
    """
    options = options or PlanOptions()
    planner = _Planner(
        current,
        at=at,
        options=options,
        expected_leavers=expected_leavers,
        guard_exempt=guard_exempt,
        complete=complete,
    )
    by_kind = _by_kind(pairings)
    for kind in _KIND_ORDER:
        # Pairs first, so that New records never take an id or email a pair needs.
        lines = sorted(by_kind[kind], key=lambda p: p.status is PairStatus.NEW)
        for p in lines:
            planner.handle(p)
        if kind is RecordKind.STAFF:
            planner.finish_staff()
    changes = tuple(planner.changes)
    return SyncPlan(
        sync_id=sync_id or plan_id(current.school_id, mode, at, changes),
        school_id=current.school_id,
        mode=mode,
        planned_at=at,
        changes=changes,
        guard=planner.guard(),
        notes=tuple(notes) + tuple(planner.notes),
    )


def _review_pairings(review: Any) -> list[Pairing]:
    results = getattr(review, "results", review)
    selector = getattr(review, "is_selected", None)
    out: list[Pairing] = []
    for r in results:
        record = r.mis if r.mis is not None else r.app
        status = PairStatus(str(getattr(r.status, "value", r.status)))
        selected = True
        if status is PairStatus.NEW and callable(selector):
            selected = bool(selector(r.mis))
        out.append(
            Pairing(
                kind=kind_of(record),
                status=status,
                mis=r.mis,
                app=r.app,
                selected=selected,
                decided=status is not PairStatus.NEW
                and status is not PairStatus.NOT_MATCHED
                and bool(getattr(r, "confirmed", False)),
            )
        )
    return out


def pairings_from_review(review: Any) -> list[Pairing]:
    """Read match reviews as pairings.

    *review* is a ``schoolsync.matching.MatchReview``, a sequence of them (year groups, classes,
    staff, pupils: one review per kind), or a sequence of :class:`Pairing` (returned as is).
    Each result needs ``status``, ``mis`` and ``app``; the review's ``is_selected(mis)`` says
    whether a New record is to be imported.
    """
    if hasattr(review, "results"):
        return _review_pairings(review)
    out: list[Pairing] = []
    for item in review:
        if isinstance(item, Pairing):
            out.append(item)
        elif hasattr(item, "results"):
            out.extend(_review_pairings(item))
        else:
            raise ValidationError("review", type(item).__name__, "is not a review or a pairing")
    return out


def plan(
    review: Any,
    current: SchoolRecords,
    *,
    at: datetime,
    options: PlanOptions | None = None,
    sync_id: str | None = None,
    complete: bool = False,
) -> SyncPlan:
    """Plan the sync a person reviewed: a thin adapter over :func:`plan_pairings`.

    Args:
        review: a ``schoolsync.matching.MatchReview``, a list of them (one per kind), or a
            list of :class:`Pairing`.
        current: the app's records of the school (:meth:`SchoolRecords.load`).
        at: when the plan is made.
        options: :class:`PlanOptions`.
        sync_id: the id of this sync (default: :func:`plan_id`, derived from the plan).
        complete: the reviews cover the school's whole MIS feed, so synced records they list
            as Not matched are gone from the MIS and marked Out of sync (subject to the
            change-size guard). By default a review may cover part of the school (the seed
            lets a person review a few year groups or classes at a time) and such records are
            left Synced for the nightly sync to judge.
    """
    pairings = pairings_from_review(review)
    return plan_pairings(
        pairings, current, at=at, options=options, sync_id=sync_id, complete=complete
    )
