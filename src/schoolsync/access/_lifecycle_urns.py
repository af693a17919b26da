"""Schools changing identity: a new URN (an academy conversion) recorded, keeping the old ones;
memberships and grants carry on, hanging on the school's id."""

from __future__ import annotations

from collections.abc import Callable

from schoolsync.access._lifecycle_base import (
    LifecycleBase,
)
from schoolsync.errors import (
    ConflictError,
    NotFoundError,
    ProblemsError,
)
from schoolsync.identifiers import Urn
from schoolsync.records.audit import AuditAction
from schoolsync.trusts import (
    School,
    record_urn_change,
)


class UrnMoves(LifecycleBase):
    """Record URN changes, one school or many at once."""

    __slots__ = ()

    def record_urn_change(
        self, school_id: str, new_urn: Urn, *, actor_id: str | None = None
    ) -> School:
        """Record a school's new URN (e.g. an academy conversion), keeping its former URNs.

        Memberships and grants hang on the school's id, so they carry on unchanged.

        Raises:
            ConflictError: another school already holds *new_urn* as its current URN.
        """
        [school] = self._move_urns({school_id: new_urn}, actor_id=actor_id, return_all=True)
        return school

    def follow_urn_changes(
        self, current_urn: Callable[[Urn], Urn], *, actor_id: str | None = None
    ) -> list[School]:
        """Move every school whose URN has a successor to that successor (e.g. from GIAS links).

        *current_urn* maps a URN to the URN the establishment holds now (itself if unchanged),
        e.g. :meth:`schoolsync.sources.gias.GiasLinks.current_urn`. All moves are one unit of
        work. Returns the changed schools.

        Raises:
            ProblemsError: some moves clash (two schools would share a URN, or another school
                holds it); every clash is listed and nothing changes.
        """
        with self.store.unit_of_work() as uow:
            moves = {
                s.id: current_urn(s.urn)
                for s in uow.schools.list()
                if s.urn is not None and current_urn(s.urn) != s.urn
            }
        return self._move_urns(moves, actor_id=actor_id, return_all=False)

    def _move_urns(
        self, moves: dict[str, Urn], *, actor_id: str | None, return_all: bool
    ) -> list[School]:
        changed: list[School] = []
        with self._operation(actor_id, school_ids=moves) as op:
            schools = {s.id: s for s in op.uow.schools.list()}
            for school_id in moves:
                if school_id not in schools:
                    raise NotFoundError("school", school_id)
            _check_urn_moves(moves, schools)
            for school_id, urn in sorted(moves.items()):
                school = schools[school_id]
                updated = record_urn_change(school, urn)
                if updated != school:
                    op.write(school, updated, action=AuditAction.SCHOOL_URN_CHANGED)
                    changed.append(updated)
                elif return_all:
                    changed.append(school)
        return changed


def _check_urn_moves(moves: dict[str, Urn], schools: dict[str, School]) -> None:
    """Refuse moves that would leave two schools holding one current URN.

    Raises:
        ConflictError: the only move clashes.
        ProblemsError: every clash, when there are several moves.
    """
    holder = {s.urn.value: s.id for s in schools.values() if s.urn is not None}
    clashes: list[ConflictError] = []
    claimed: dict[str, str] = {}
    for school_id, urn in sorted(moves.items()):
        other = holder.get(urn.value)
        if other is not None and other != school_id and other not in moves:
            clashes.append(ConflictError(f"URN {urn} is held by school {other!r}"))
        elif urn.value in claimed:
            clashes.append(
                ConflictError(
                    f"URN {urn} would be held by schools {claimed[urn.value]!r} and {school_id!r}"
                )
            )
        claimed.setdefault(urn.value, school_id)
    if len(clashes) == 1 and len(moves) == 1:
        raise clashes[0]
    if clashes:
        raise ProblemsError("URN changes clash", clashes)
