"""The MIS connection: scopes, authorisation and who may change it.

A school's connection to its MIS (through an integration service) is authorised with the
provider's **required scopes** and any **optional scopes** the school ticks (e.g. uploading
assessment data back). Deauthorising stops all syncing: every sync entry point calls
:func:`require_active` and refuses with :class:`~schoolsync.errors.SyncError`.

Only an account holding :data:`CONFIGURE_PERMISSION` at the school (the Access Co-ordinator in the
seed) may change the connection. schoolsync does not assume how the host decides that: pass a
:class:`PermissionCheck` (for instance a small function over the ``schoolsync.access`` checker).

The connection is a record (:class:`~schoolsync.records.connections.MisConnection`, in the
``mis_connections`` table, one per school); :class:`schoolsync.TrustOffice` keeps it in the
store and reads it inside each sync's unit of work. The functions here are pure: they return
the changed connection. Each change is audited when an ``audit`` log is
given, with an event id from ``ids`` (an :class:`~schoolsync.ports.IdSource`; default: random).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import attrs

from schoolsync.errors import AccessDeniedError, SyncError, ValidationError
from schoolsync.ids import ids_or_random
from schoolsync.ports import AuditLog, IdSource
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.records.connections import ConnectionStatus, DataSharing, MisConnection

__all__ = [
    "CONFIGURE_PERMISSION",
    "ConnectionStatus",
    "DataSharing",
    "MisConnection",
    "PermissionCheck",
    "authorise",
    "deauthorise",
    "require_active",
    "set_data_sharing",
    "shares_result",
]

#: The permission an account needs at a school to change its MIS connection.
CONFIGURE_PERMISSION = "mis_sync.configure"


class PermissionCheck(Protocol):
    """Answers whether *account_id* holds *permission* at *school_id* (the host's access check).

    The result is read as a truth value, so ``schoolsync.access.AccessIndex.check`` (which
    returns a ``Decision``) can be passed as it is, or any function returning ``bool``.
    """

    def __call__(self, account_id: str, permission: str, school_id: str) -> object: ...


def _check_permission(
    connection: MisConnection, actor_id: str, can_configure: PermissionCheck, action: str
) -> None:
    if not bool(can_configure(actor_id, CONFIGURE_PERMISSION, connection.school_id)):
        raise AccessDeniedError(
            f"account {actor_id!r} may not {action} the MIS connection of school "
            f"{connection.school_id!r}: it needs {CONFIGURE_PERMISSION!r}"
        )


def _audit(
    audit: AuditLog | None,
    connection: MisConnection,
    action: AuditAction,
    actor_id: str,
    at: datetime,
    ids: IdSource | None,
) -> None:
    if audit is None:
        return
    audit.append(
        AuditEvent(
            id=ids_or_random(ids).new_id(),
            at=at,
            actor_id=actor_id,
            action=action,
            subject_kind="mis_connection",
            subject_id=connection.school_id,
            school_id=connection.school_id,
            account_id=actor_id,
            after={
                "status": connection.status.value,
                "granted_scopes": sorted(connection.granted_scopes),
            },
        )
    )


def _changed(
    connection: MisConnection,
    action: AuditAction,
    *,
    actor_id: str,
    at: datetime,
    audit: AuditLog | None,
    ids: IdSource | None,
    **changes: Any,
) -> MisConnection:
    """The connection with *changes*, stamped with who changed it and when; audited."""
    result = attrs.evolve(connection, changed_at=at, changed_by=actor_id, **changes)
    _audit(audit, result, action, actor_id, at, ids)
    return result


def authorise(
    connection: MisConnection,
    *,
    actor_id: str,
    granted_scopes: Iterable[str],
    at: datetime,
    can_configure: PermissionCheck,
    audit: AuditLog | None = None,
    ids: IdSource | None = None,
) -> MisConnection:
    """Authorise the connection with *granted_scopes*; returns the authorised connection.

    Raises:
        AccessDeniedError: *actor_id* lacks :data:`CONFIGURE_PERMISSION` at the school.
        ValidationError: a required scope is missing, or a scope is unknown to the provider.
    """
    _check_permission(connection, actor_id, can_configure, "authorise")
    granted = frozenset(granted_scopes)
    missing = sorted(connection.required_scopes - granted)
    if missing:
        raise ValidationError("granted_scopes", missing, "required scope(s) not granted")
    unknown = sorted(granted - connection.required_scopes - connection.optional_scopes)
    if unknown:
        raise ValidationError("granted_scopes", unknown, "scope(s) the provider does not offer")
    sharing = connection.data_sharing
    if connection.sharing_scope is not None and connection.sharing_scope not in granted:
        sharing = DataSharing()
    return _changed(
        connection,
        AuditAction.MIS_CONNECTION_AUTHORISED,
        actor_id=actor_id,
        at=at,
        audit=audit,
        ids=ids,
        granted_scopes=granted,
        status=ConnectionStatus.AUTHORISED,
        data_sharing=sharing,
    )


def deauthorise(
    connection: MisConnection,
    *,
    actor_id: str,
    at: datetime,
    can_configure: PermissionCheck,
    audit: AuditLog | None = None,
    ids: IdSource | None = None,
) -> MisConnection:
    """Deauthorise the connection: every later sync refuses until it is authorised again.

    Raises:
        AccessDeniedError: *actor_id* lacks :data:`CONFIGURE_PERMISSION` at the school.
    """
    _check_permission(connection, actor_id, can_configure, "deauthorise")
    return _changed(
        connection,
        AuditAction.MIS_CONNECTION_DEAUTHORISED,
        actor_id=actor_id,
        at=at,
        audit=audit,
        ids=ids,
        granted_scopes=frozenset(),
        status=ConnectionStatus.DEAUTHORISED,
        data_sharing=DataSharing(),
    )


def set_data_sharing(
    connection: MisConnection,
    sharing: DataSharing,
    *,
    actor_id: str,
    at: datetime,
    can_configure: PermissionCheck,
    audit: AuditLog | None = None,
    ids: IdSource | None = None,
) -> MisConnection:
    """Choose which results are shared back to the MIS.

    Raises:
        AccessDeniedError: *actor_id* lacks :data:`CONFIGURE_PERMISSION` at the school.
        SyncError: sharing is asked for but the connection lacks the optional scope for it.
    """
    _check_permission(connection, actor_id, can_configure, "change data sharing of")
    wants = sharing.share_results or sharing.share_historical
    if wants and connection.sharing_scope is not None:
        if not connection.has_scope(connection.sharing_scope):
            raise SyncError(
                f"sharing results needs the optional scope {connection.sharing_scope!r}; "
                "authorise the connection with it first"
            )
    elif wants and not connection.is_active:
        raise SyncError("the MIS connection is not authorised")
    return _changed(
        connection,
        AuditAction.MIS_CONNECTION_DATA_SHARING_CHANGED,
        actor_id=actor_id,
        at=at,
        audit=audit,
        ids=ids,
        data_sharing=sharing,
    )


def shares_result(connection: MisConnection, *, historical: bool = False) -> bool:
    """True if a result is to be sent back to the MIS now.

    The seed sends a shared result as soon as a paper is marked: the host calls this then.
    Sharing needs an active connection, the optional sharing scope (when the connection names
    one) and ``share_results``; a *historical* result (marked before sharing began) also needs
    ``share_historical``.
    """
    if not connection.is_active or not connection.data_sharing.share_results:
        return False
    if connection.sharing_scope is not None and not connection.has_scope(connection.sharing_scope):
        return False
    return not historical or connection.data_sharing.share_historical


def require_active(connection: MisConnection, school_id: str | None = None) -> None:
    """Raise :class:`~schoolsync.errors.SyncError` unless the connection may sync now.

    Args:
        connection: the school's connection.
        school_id: if given, the school the sync is for (must be the connection's school).
    """
    if school_id is not None and connection.school_id != school_id:
        raise SyncError(
            f"the MIS connection belongs to school {connection.school_id!r}, not {school_id!r}"
        )
    if not connection.is_active:
        raise SyncError(
            f"the MIS connection of school {connection.school_id!r} is "
            f"{connection.status.value.replace('_', ' ')}; syncing is stopped"
        )
