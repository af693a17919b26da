"""What the app holds for one school, and the rules for editing synced records.

:class:`SchoolRecords` is the app side a plan is computed against (read once, through a unit of
work). :func:`sync_state` tells a record's sync state; :func:`check_app_edit` and
:func:`edit_record` enforce that a synced record is edited only in the MIS (except its email).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeAlias

import attrs

from schoolsync.errors import NotFoundError, SyncedRecordEditError
from schoolsync.ports import Repository, Store, UnitOfWork
from schoolsync.records.decisions import MatchDecision, MatchDecisions
from schoolsync.records.organisations import School
from schoolsync.records.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.records.sync import DeletedRecord, RecordKind, SyncLink, SyncState, Tombstone
from schoolsync.records.tables import MATCH_DECISIONS, SCHOOL_RECORD_TABLES

__all__ = [
    "APP_EDITABLE_FIELDS",
    "Record",
    "SchoolRecords",
    "check_app_edit",
    "committed_unit",
    "edit_record",
    "get_many",
    "kind_of",
    "link_id_for",
    "mis_key",
    "open_unit",
    "record_type",
    "repository",
    "sync_state",
]

#: Any school record a sync handles.
Record: TypeAlias = Pupil | StaffMember | SchoolClass | YearGroup

#: Fields of a synced record the app may still change (the MIS owns the rest).
APP_EDITABLE_FIELDS: Mapping[RecordKind, frozenset[str]] = {
    RecordKind.PUPIL: frozenset({"email"}),
    RecordKind.STAFF: frozenset({"email"}),
    RecordKind.CLASS: frozenset({"description"}),
    RecordKind.YEAR_GROUP: frozenset(),
}


def record_type(kind: RecordKind) -> type[Any]:
    """The attrs class of records of *kind*."""
    return SCHOOL_RECORD_TABLES[kind].record_type


def kind_of(record: Record) -> RecordKind:
    """The :class:`RecordKind` of *record*."""
    for kind, table in SCHOOL_RECORD_TABLES.items():
        if isinstance(record, table.record_type):
            return kind
    raise TypeError(f"not a school record: {type(record).__name__}")


def repository(uow: UnitOfWork, kind: RecordKind) -> Repository[Any]:
    """The unit of work's repository for records of *kind*."""
    return uow.repository(SCHOOL_RECORD_TABLES[kind])


def mis_key(record: Record) -> str:
    """The MIS's identifier of an MIS-side record (its ``mis_id``, else the reader's ``id``)."""
    return record.mis_id or record.id


def link_id_for(kind: RecordKind, app_id: str) -> str:
    """The id of the (single) sync link of app record *app_id*."""
    return f"{kind.value}:{app_id}"


def _decisions(value: Iterable[MatchDecision]) -> MatchDecisions:
    return value if isinstance(value, MatchDecisions) else MatchDecisions(value)


@attrs.frozen(kw_only=True)
class SchoolRecords:
    """The app's records of one school, with their links, soft deletions, tombstones and the
    match decisions a person made (which plans honour).

    Build one with :meth:`load`; it is a read-only value a plan is computed against.
    """

    school: School
    pupils: Mapping[str, Pupil] = attrs.field(factory=dict)
    staff: Mapping[str, StaffMember] = attrs.field(factory=dict)
    classes: Mapping[str, SchoolClass] = attrs.field(factory=dict)
    year_groups: Mapping[str, YearGroup] = attrs.field(factory=dict)
    links: tuple[SyncLink, ...] = ()
    deleted: tuple[DeletedRecord, ...] = ()
    tombstones: tuple[Tombstone, ...] = ()
    decisions: MatchDecisions = attrs.field(factory=MatchDecisions, converter=_decisions)
    _by_app: dict[tuple[RecordKind, str], SyncLink] = attrs.field(init=False, repr=False)
    _by_mis: dict[tuple[RecordKind, str], SyncLink] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_app", {(lk.kind, lk.app_id): lk for lk in self.links})
        object.__setattr__(self, "_by_mis", {(lk.kind, lk.mis_id): lk for lk in self.links})

    @classmethod
    def load(cls, uow: UnitOfWork, school_id: str) -> SchoolRecords:
        """Read one school's records through *uow*.

        Raises:
            NotFoundError: the school does not exist.
        """
        school = uow.schools.get(school_id)
        if school is None:
            raise NotFoundError("school", school_id)
        return cls(
            school=school,
            pupils={r.id: r for r in uow.pupils.list(school_id=school_id)},
            staff={r.id: r for r in uow.staff.list(school_id=school_id)},
            classes={r.id: r for r in uow.classes.list(school_id=school_id)},
            year_groups={r.id: r for r in uow.year_groups.list(school_id=school_id)},
            links=tuple(uow.sync_links.list(school_id=school_id)),
            deleted=tuple(uow.deleted.list(school_id=school_id)),
            tombstones=tuple(uow.tombstones.list(school_id=school_id)),
            decisions=MatchDecisions(uow.repository(MATCH_DECISIONS).list(school_id=school_id)),
        )

    @property
    def school_id(self) -> str:
        """The school's id."""
        return self.school.id

    def records(self, kind: RecordKind) -> Mapping[str, Any]:
        """The app records of *kind*, by id."""
        return {
            RecordKind.PUPIL: self.pupils,
            RecordKind.STAFF: self.staff,
            RecordKind.CLASS: self.classes,
            RecordKind.YEAR_GROUP: self.year_groups,
        }[kind]

    def link_of_app(self, kind: RecordKind, app_id: str) -> SyncLink | None:
        """The link of app record *app_id*, if it has one."""
        return self._by_app.get((kind, app_id))

    def link_of_mis(self, kind: RecordKind, mis_id: str) -> SyncLink | None:
        """The link of MIS record *mis_id*, if it has one."""
        return self._by_mis.get((kind, mis_id))

    def links_of(self, kind: RecordKind) -> Iterable[SyncLink]:
        """Every link of *kind*."""
        return (lk for lk in self.links if lk.kind is kind)

    def synced_ids(self, kind: RecordKind) -> set[str]:
        """App ids of records of *kind* in state Synced."""
        return {lk.app_id for lk in self.links if lk.kind is kind and lk.state is SyncState.SYNCED}


def get_many(repo: Repository[Any], ids: Iterable[str]) -> dict[str, Any]:
    """The records of *repo* with these ids, by id (absent ones left out): in one query per
    500 ids where the repository has ``get_many`` (the bundled stores), else one ``get`` each
    (a host's own adapter)."""
    many = getattr(repo, "get_many", None)
    if callable(many):
        found: dict[str, Any] = many(ids)
        return found
    pairs = ((id, repo.get(id)) for id in dict.fromkeys(ids))
    return {id: record for id, record in pairs if record is not None}


def sync_state(uow: UnitOfWork, kind: RecordKind, app_id: str) -> SyncState | None:
    """The sync state of app record *app_id*: Synced, Out of sync, or ``None`` (app-only)."""
    link = uow.sync_links.get(link_id_for(kind, app_id))
    return None if link is None else link.state


def check_app_edit(
    uow: UnitOfWork, before: Record, after: Record, *, kind: RecordKind | None = None
) -> None:
    """Refuse an app-side edit of a synced record that touches more than its email.

    Out-of-sync and app-only records may be edited freely.

    Raises:
        SyncedRecordEditError: *before* is Synced and *after* changes a field the MIS owns.
    """
    kind = kind or kind_of(before)
    if sync_state(uow, kind, before.id) is not SyncState.SYNCED:
        return
    allowed = APP_EDITABLE_FIELDS[kind]
    for field in attrs.fields(type(before)):
        if field.name in allowed:
            continue
        if getattr(before, field.name) != getattr(after, field.name):
            raise SyncedRecordEditError(
                field.name,
                before.id,
                "this record is synced with the MIS; change it in the MIS "
                f"(only {', '.join(sorted(allowed)) or 'nothing'} may be changed in the app)",
            )


def edit_record(uow: UnitOfWork, record: Record) -> None:
    """Save an app-side edit of *record* after :func:`check_app_edit` (does not commit).

    Raises:
        NotFoundError: there is no such record.
        SyncedRecordEditError: the edit touches a field the MIS owns.
    """
    kind = kind_of(record)
    repo = repository(uow, kind)
    before = repo.require(record.id)
    check_app_edit(uow, before, record, kind=kind)
    repo.put(record)


@contextmanager
def open_unit(target: Store | UnitOfWork) -> Iterator[UnitOfWork]:
    """A unit of work from *target*: a new one for a :class:`Store`, else *target* itself.

    A unit of work the caller passed in is used as it is (the caller's ``with`` block owns its
    end); a new one is closed (and rolled back unless committed) when the block ends.
    """
    if hasattr(target, "unit_of_work"):
        with target.unit_of_work() as uow:
            yield uow
    else:
        uow_: UnitOfWork = target
        yield uow_


@contextmanager
def committed_unit(target: Store | UnitOfWork) -> Iterator[UnitOfWork]:
    """:func:`open_unit`, committed when the block ends and rolled back on any error."""
    with open_unit(target) as uow:
        try:
            yield uow
            uow.commit()
        except BaseException:
            uow.rollback()
            raise
