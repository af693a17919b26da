"""schoolsync: a correct, fast, well-tested core for software used by school groups.

The most used names are re-exported here; each capability lives in its own module
(``schoolsync.identifiers``, ``schoolsync.calendar``, ``schoolsync.access``,
``schoolsync.matching``, ``schoolsync.sync``, ``schoolsync.bulk``, ``schoolsync.sources``,
``schoolsync.storage``) and ``schoolsync.testing`` supports other projects' tests.
"""

from __future__ import annotations

from schoolsync.errors import SchoolsyncError
from schoolsync.identifiers import Laestab, Postcode, Uln, Upn, Urn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.trusts import Membership, MembershipStatus, School, Trust, TrustKind

__version__ = "0.1.0"

__all__ = [
    "Gender",
    "Laestab",
    "Membership",
    "MembershipStatus",
    "Postcode",
    "Pupil",
    "School",
    "SchoolClass",
    "SchoolsyncError",
    "StaffMember",
    "Trust",
    "TrustKind",
    "Uln",
    "Upn",
    "Urn",
    "YearGroup",
    "__version__",
]
