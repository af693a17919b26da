"""People and groups in a school: pupils, staff, classes and year groups.

The records live in :mod:`schoolsync.records.people` (re-exported here); this module adds the
pure rule :func:`change_upn`.
"""

from __future__ import annotations

import attrs

from schoolsync.identifiers import Upn
from schoolsync.records.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup

__all__ = [
    "Gender",
    "Pupil",
    "SchoolClass",
    "StaffMember",
    "YearGroup",
    "change_upn",
]


def change_upn(pupil: Pupil, new_upn: Upn | None) -> Pupil:
    """A copy of *pupil* holding *new_upn*, with the UPN it replaces kept in ``former_upns``.

    A UPN change from the MIS is a correction or a merge of the same pupil, never a new pupil
    (e.g. a temporary UPN replaced by the permanent one from the previous school). The
    replaced UPN is appended to the history once; a UPN that becomes current again leaves the
    history. Passing the current UPN returns *pupil* unchanged; passing ``None`` (the MIS lost
    the UPN) keeps the old one in the history.
    """
    if new_upn == pupil.upn:
        return pupil
    history = [u for u in pupil.former_upns if u != new_upn]
    if pupil.upn is not None and pupil.upn not in history:
        history.append(pupil.upn)
    return attrs.evolve(pupil, upn=new_upn, former_upns=tuple(history))
