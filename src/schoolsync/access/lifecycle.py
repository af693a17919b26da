"""The trust lifecycle service: set-up, trust admins, school membership and school-to-trust grants.

Every operation is one unit of work on a :class:`~schoolsync.ports.Store`: it reads the records,
applies the pure rules of :mod:`schoolsync.trusts`, writes the changed records and an
:class:`~schoolsync.audit.AuditEvent` per membership, grant and trust change (identifiers only;
``before``/``after`` are records unstructured by :data:`schoolsync.serialisation.converter`),
and commits. Only after the commit are :class:`GrantChanged` events published to the
:class:`GrantListener` objects the host registered, so a host drops a cached view only once the
change is visible to everyone.

What revocation does, and does not do: revoking or narrowing a grant (and a school leaving or
being removed from its trust) takes effect at once for every decision made through schoolsync
afterwards, and a :class:`GrantChanged` event tells the host to drop cached views and reports.
It cannot reach data already shown or downloaded: a report a trust admin downloaded before the
revocation stays on their computer.

Consent comes from the school: accepting or declining an invitation, leaving a trust and giving,
narrowing or revoking a grant must be done by an active account holding one of
:attr:`TrustPolicy.acceptor_roles` at that school (its Access Coordinator or Administrator),
or, when the service has the host's role catalogue, a school role holding the catalogue's
``grant_permission``.
Trust-side steps (creating a trust, nominating admins, adding schools, sending invitations,
removing a school) are recorded with the acting account, and are the host's to authorise.
"""

from __future__ import annotations

import attrs

from schoolsync.access._lifecycle_admins import TrustAdmins
from schoolsync.access._lifecycle_base import (
    GrantChanged,
    GrantChangeKind,
    GrantListener,
    RecordingGrantListener,
)
from schoolsync.access._lifecycle_grants import (
    Grants,
    ReplayedState,
    narrowed_scope,
    replay_memberships_and_grants,
)
from schoolsync.access._lifecycle_memberships import Memberships, SchoolUploadResult
from schoolsync.access._lifecycle_urns import UrnMoves

__all__ = [
    "GrantChangeKind",
    "GrantChanged",
    "GrantListener",
    "RecordingGrantListener",
    "ReplayedState",
    "SchoolUploadResult",
    "TrustLifecycle",
    "narrowed_scope",
    "replay_memberships_and_grants",
]


@attrs.define
class TrustLifecycle(TrustAdmins, Memberships, Grants, UrnMoves):
    """Trust set-up, trust admins, memberships and grants as one consistent, audited service.

    Args:
        store: where records live; each operation is one unit of work.
        clock: the time source (``now`` is read once per operation).
        notifier: delivers invitations and admin nominations (the library sends no email).
        policy: the host's switches (:class:`~schoolsync.trusts.TrustPolicy`).
        listeners: told about every committed :class:`GrantChanged`.
        trust_admin_role: the trust role an accepted trust admin is assigned; by default the
            catalogue's (a preset names it: ``"Group Admin"`` with Boost Insights), or
            ``"trust_admin"`` without a catalogue.
        catalogue: the host's role catalogue, if any: every school role holding its
            ``grant_permission`` may then also accept invitations and give grants.
        new_id: makes record ids, given the record kind.
        new_token: makes acceptance tokens (256 random bits by default).

    The service is built from one part per concern, over one audited operation per call
    (:class:`~schoolsync.access.operation.AuditedOperation`): trust admins
    (``_lifecycle_admins``), memberships (``_lifecycle_memberships``), grants
    (``_lifecycle_grants``) and URN moves (``_lifecycle_urns``).
    """
