"""The MIS connection: scopes, authorisation, and who may change it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schoolsync.errors import AccessDeniedError, SyncError, ValidationError
from schoolsync.sync import (
    CONFIGURE_PERMISSION,
    ConnectionStatus,
    DataSharing,
    MisConnection,
    authorise,
    deauthorise,
    require_active,
    set_data_sharing,
    shares_result,
)
from schoolsync.testing.memory import MemoryStore

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def coordinator_only(account_id: str, permission: str, school_id: str) -> bool:
    return account_id == "coordinator" and permission == CONFIGURE_PERMISSION and school_id == "s1"


def connection() -> MisConnection:
    return MisConnection(
        school_id="s1",
        provider="assembly",
        required_scopes={"students.read", "staff.read", "classes.read"},
        optional_scopes={"assessments.write"},
        sharing_scope="assessments.write",
    )


def authorised(scopes: set[str] | None = None) -> MisConnection:
    return authorise(
        connection(),
        actor_id="coordinator",
        granted_scopes=scopes or {"students.read", "staff.read", "classes.read"},
        at=NOW,
        can_configure=coordinator_only,
    )


class TestAuthorise:
    def test_coordinator_authorises_with_required_scopes(self) -> None:
        """The Access Co-ordinator authorises; the connection becomes active."""
        conn = authorised()
        assert ConnectionStatus.AUTHORISED is conn.status
        assert conn.is_active
        assert not conn.has_scope("assessments.write")

    def test_optional_scope_can_be_granted(self) -> None:
        """Optional scopes (sharing results back) may be granted too."""
        conn = authorised({"students.read", "staff.read", "classes.read", "assessments.write"})
        assert conn.has_scope("assessments.write")

    def test_missing_required_scope_is_refused(self) -> None:
        """Authorising without every required scope is refused."""
        with pytest.raises(ValidationError, match="required scope"):
            authorised({"students.read"})

    def test_unknown_scope_is_refused(self) -> None:
        """A scope the provider does not offer is refused."""
        with pytest.raises(ValidationError, match="does not offer"):
            authorised({"students.read", "staff.read", "classes.read", "everything"})

    def test_other_accounts_may_not_change_the_connection(self) -> None:
        """Only an account with mis_sync.configure may authorise or deauthorise."""
        with pytest.raises(AccessDeniedError, match=CONFIGURE_PERMISSION):
            authorise(
                connection(),
                actor_id="teacher",
                granted_scopes={"students.read", "staff.read", "classes.read"},
                at=NOW,
                can_configure=coordinator_only,
            )
        with pytest.raises(AccessDeniedError):
            deauthorise(authorised(), actor_id="teacher", at=NOW, can_configure=coordinator_only)

    def test_changes_are_audited_without_personal_data(self) -> None:
        """Authorising appends an audit event naming the school and scopes only."""
        store = MemoryStore()
        with store.unit_of_work() as uow:
            authorise(
                connection(),
                actor_id="coordinator",
                granted_scopes={"students.read", "staff.read", "classes.read"},
                at=NOW,
                can_configure=coordinator_only,
                audit=uow.audit,
            )
            (event,) = uow.audit.events()
        assert "mis_connection.authorised" == event.action
        assert "s1" == event.subject_id


class TestDeauthorise:
    def test_deauthorising_stops_all_syncing(self) -> None:
        """After deauthorising, require_active refuses with SyncError."""
        conn = deauthorise(
            authorised(), actor_id="coordinator", at=NOW, can_configure=coordinator_only
        )
        assert ConnectionStatus.DEAUTHORISED is conn.status
        assert frozenset() == conn.granted_scopes
        with pytest.raises(SyncError, match="syncing is stopped"):
            require_active(conn)

    def test_never_connected_refuses(self) -> None:
        """A connection never authorised does not sync either."""
        with pytest.raises(SyncError):
            require_active(connection())

    def test_connection_of_another_school_refuses(self) -> None:
        """A connection cannot be used for another school's sync."""
        with pytest.raises(SyncError, match="belongs to school"):
            require_active(authorised(), "s2")


class TestDataSharing:
    def test_sharing_needs_the_optional_scope(self) -> None:
        """Sharing results back is refused unless the optional scope was granted."""
        with pytest.raises(SyncError, match="optional scope"):
            set_data_sharing(
                authorised(),
                DataSharing(share_results=True),
                actor_id="coordinator",
                at=NOW,
                can_configure=coordinator_only,
            )
        conn = set_data_sharing(
            authorised({"students.read", "staff.read", "classes.read", "assessments.write"}),
            DataSharing(share_results=True, share_historical=True),
            actor_id="coordinator",
            at=NOW,
            can_configure=coordinator_only,
        )
        assert conn.data_sharing.share_historical

    def test_a_marked_result_is_shared_only_as_chosen(self) -> None:
        """A result is sent back only while the connection is active, holds the sharing
        scope and shares results; historical results also need share_historical."""
        full = authorised({"students.read", "staff.read", "classes.read", "assessments.write"})

        def sharing(conn: MisConnection, **choice: bool) -> MisConnection:
            return set_data_sharing(
                conn,
                DataSharing(**choice),
                actor_id="coordinator",
                at=NOW,
                can_configure=coordinator_only,
            )

        assert not shares_result(full)
        now_only = sharing(full, share_results=True)
        assert shares_result(now_only)
        assert not shares_result(now_only, historical=True)
        everything = sharing(full, share_results=True, share_historical=True)
        assert shares_result(everything, historical=True)
        stopped = deauthorise(
            everything, actor_id="coordinator", at=NOW, can_configure=coordinator_only
        )
        assert not shares_result(stopped)
        assert not shares_result(authorised())

    def test_connection_round_trips_through_the_converter(self) -> None:
        """Hosts store the connection as JSON through the shared converter."""
        from schoolsync.serialisation import converter

        conn = authorised()
        assert conn == converter.structure(converter.unstructure(conn), MisConnection)


class TestWithAccessIndex:
    def test_access_co_ordinator_role_from_the_hodder_preset(self) -> None:
        """The access index's check plugs in: the Access Co-ordinator may, a Teacher may not."""
        from schoolsync.access.presets import hodder_admin_hub
        from schoolsync.testing.world import world

        index = (
            world(hodder_admin_hub(), now=NOW)
            .trust("T")
            .school("s1", in_trust="T")
            .account("coord")
            .role("coord", "Access Co-ordinator", at="s1")
            .account("teacher")
            .role("teacher", "Teacher", at="s1")
            .index()
        )
        scopes = {"students.read", "staff.read", "classes.read"}
        conn = authorise(
            connection(),
            actor_id="coord",
            granted_scopes=scopes,
            at=NOW,
            can_configure=index.check,
        )
        assert conn.is_active
        with pytest.raises(AccessDeniedError):
            deauthorise(conn, actor_id="teacher", at=NOW, can_configure=index.check)
