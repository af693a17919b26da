"""A school's MIS connection (record): its scopes, status and what it shares back.

The rules that change it (authorise, deauthorise, data sharing, who may) are in
:mod:`schoolsync.sync.connection`; it is stored one per school in the ``mis_connections``
table (its ``id`` is the school's id).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

import attrs

__all__ = ["ConnectionStatus", "DataSharing", "MisConnection"]


class ConnectionStatus(StrEnum):
    """Where a connection is in its life."""

    NOT_CONNECTED = "not_connected"
    AUTHORISED = "authorised"
    DEAUTHORISED = "deauthorised"


@attrs.frozen(kw_only=True)
class DataSharing:
    """What the school shares back to the MIS (needs the optional scope that allows it)."""

    share_results: bool = False
    share_historical: bool = False


def _frozen(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _school_id(connection: MisConnection) -> str:
    return connection.school_id


@attrs.frozen(kw_only=True)
class MisConnection:
    """One school's connection to its MIS.

    ``required_scopes`` must all be granted to authorise; ``optional_scopes`` may be.
    ``granted_scopes`` holds what the school granted at the last authorisation. ``id`` is the
    school's id (a school has one connection; the store keeps it under that id).
    """

    school_id: str
    provider: str
    required_scopes: frozenset[str] = attrs.field(converter=_frozen)
    optional_scopes: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    granted_scopes: frozenset[str] = attrs.field(default=frozenset(), converter=_frozen)
    status: ConnectionStatus = ConnectionStatus.NOT_CONNECTED
    changed_at: datetime | None = None
    changed_by: str | None = None
    data_sharing: DataSharing = DataSharing()
    sharing_scope: str | None = None
    id: str = attrs.field(default=attrs.Factory(_school_id, takes_self=True))

    @property
    def is_active(self) -> bool:
        """True while the connection is authorised (syncing may run)."""
        return self.status is ConnectionStatus.AUTHORISED

    def has_scope(self, scope: str) -> bool:
        """True if the connection is active and *scope* was granted."""
        return self.is_active and scope in self.granted_scopes
