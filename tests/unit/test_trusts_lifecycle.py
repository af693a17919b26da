"""The trust lifecycle service: set-up, trust admins, membership, grants, audit and events."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.lifecycle import (
    GrantChangeKind,
    RecordingGrantListener,
    TrustLifecycle,
    narrowed_scope,
    replay_memberships_and_grants,
)
from schoolsync.clock import FixedClock
from schoolsync.errors import (
    AccessDeniedError,
    CapExceededError,
    ConflictError,
    NotFoundError,
    ProblemsError,
    ValidationError,
)
from schoolsync.identifiers import Postcode, Urn
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import (
    Country,
    MembershipStateError,
    MembershipStatus,
    School,
    SchoolUploadRow,
    TrustAdminTokenError,
    TrustKind,
    TrustPolicy,
)


@attrs.define
class World:
    store: MemoryStore
    clock: FixedClock
    notifier: RecordingNotifier
    listener: RecordingGrantListener
    life: TrustLifecycle
    trust_id: str = ""

    def account(self, account_id: str, *, trust_id: str | None = None, active: bool = True) -> str:
        with self.store.unit_of_work() as uow:
            uow.accounts.add(
                Account(
                    id=account_id,
                    trust_id=trust_id or self.trust_id,
                    email=f"{account_id}@example.org",
                    name=account_id,
                    status=AccountStatus.ACTIVE if active else AccountStatus.PENDING,
                )
            )
            uow.commit()
        return account_id

    def school_role(
        self, account_id: str, school_id: str, role: str = "access_coordinator"
    ) -> None:
        with self.store.unit_of_work() as uow:
            uow.assignments.add(
                RoleAssignment(
                    id=f"as-{account_id}-{school_id}-{role}",
                    account_id=account_id,
                    trust_id=self.trust_id,
                    role=role,
                    school_id=school_id,
                )
            )
            uow.commit()

    def member_school(self, school_id: str, urn: str) -> tuple[str, str]:
        """A school with an Access Coordinator, invited and accepted; returns (membership, ac)."""
        school = School(id=school_id, name=f"School {school_id}", urn=Urn.parse(urn))
        membership = self.life.add_school(self.trust_id, school)
        ac = self.account(f"ac-{school_id}")
        self.school_role(ac, school_id)
        self.life.send_invitation(membership.id)
        self.life.accept_invitation(membership.id, actor_id=ac)
        return membership.id, ac


@pytest.fixture
def world() -> World:
    store = MemoryStore()
    clock = FixedClock()
    notifier = RecordingNotifier()
    listener = RecordingGrantListener()
    life = TrustLifecycle(store, clock, notifier, listeners=[listener])
    w = World(store, clock, notifier, listener, life)
    w.trust_id = life.create_trust(name="Oak Trust", designated_academy_trust=True).id
    return w


class TestTrustAdmins:
    def test_nominee_accepts_once_with_the_emailed_token(self, world: World) -> None:
        """A nominee accepts with the token from the email; the token then stops working."""
        alice = world.account("alice")
        world.life.nominate_trust_admin(world.trust_id, alice)
        token = world.notifier.of_kind("trust_admin_nomination")[0].data["token"]

        assert alice == world.life.accept_trust_admin(world.trust_id, token)
        with world.store.unit_of_work() as uow:
            trust = uow.trusts.require(world.trust_id)
            roles = [a.role for a in uow.assignments.list() if a.account_id == alice]
        assert ("alice",) == trust.admin_account_ids()
        assert ["trust_admin"] == roles
        assert token not in str(trust.admin_nominations[0])
        with pytest.raises(TrustAdminTokenError, match="already used"):
            world.life.accept_trust_admin(world.trust_id, token)

    def test_expired_or_wrong_token_is_refused(self, world: World) -> None:
        """A token past its expiry, or one never issued, is refused and changes nothing."""
        token = world.life.nominate_trust_admin(world.trust_id, world.account("alice"))
        world.clock.advance(TrustPolicy().admin_token_valid_for)

        with pytest.raises(TrustAdminTokenError, match="expired"):
            world.life.accept_trust_admin(world.trust_id, token)
        with pytest.raises(TrustAdminTokenError, match="not valid"):
            world.life.accept_trust_admin(world.trust_id, "nonsense")

    def test_cap_counts_admins_and_open_nominations(self, world: World) -> None:
        """The seed's cap of two: a third nomination is refused naming the holders."""
        world.life.nominate_trust_admin(world.trust_id, world.account("alice"))
        world.life.nominate_trust_admin(world.trust_id, world.account("bob"))

        with pytest.raises(CapExceededError) as info:
            world.life.nominate_trust_admin(world.trust_id, world.account("carol"))
        assert ("alice", "bob") == info.value.holders

    def test_expired_nomination_frees_its_place(self, world: World) -> None:
        """A nomination nobody accepted in time no longer counts towards the cap."""
        world.life.nominate_trust_admin(world.trust_id, world.account("alice"))
        world.life.nominate_trust_admin(world.trust_id, world.account("bob"))
        world.clock.advance(timedelta(days=8))

        world.life.nominate_trust_admin(world.trust_id, world.account("carol"))

    def test_account_of_another_trust_cannot_be_nominated(self, world: World) -> None:
        """A trust's admins are its own accounts: another trust's account is refused, unsent."""
        world.account("mallory", trust_id="other-trust")

        with pytest.raises(ValidationError) as info:
            world.life.nominate_trust_admin(world.trust_id, "mallory")

        assert "account_id" == info.value.field
        assert [] == world.notifier.of_kind("trust_admin_nomination")

    def test_nominee_must_be_registered_with_a_school_when_required(self, world: World) -> None:
        """Under the Boost prerequisite, only an account with a school role can be nominated."""
        strict = attrs.evolve(
            world.life, policy=TrustPolicy(admins_must_be_registered_with_a_school=True)
        )
        world.account("alice")

        with pytest.raises(ValidationError):
            strict.nominate_trust_admin(world.trust_id, "alice")
        world.school_role("alice", "s1", role="staff")
        strict.nominate_trust_admin(world.trust_id, "alice")


class TestMembership:
    def test_invitation_goes_to_the_access_coordinator(self, world: World) -> None:
        """Sending an invitation emails each Access Coordinator through the Notifier port."""
        membership = world.life.add_school(world.trust_id, School(id="s1", name="Oakfield"))
        world.school_role(world.account("ac1"), "s1")

        sent = world.life.send_invitation(membership.id)

        assert MembershipStatus.INVITATION_SENT == sent.status
        [message] = world.notifier.of_kind("trust_invitation")
        assert "ac1@example.org" == message.to
        assert membership.id == message.data["membership_id"]

    def test_no_access_coordinator_means_no_invitation(self, world: World) -> None:
        """Without an Access Coordinator there is nobody to invite; the status stays unsent."""
        membership = world.life.add_school(world.trust_id, School(id="s1", name="Oakfield"))

        with pytest.raises(NotFoundError):
            world.life.send_invitation(membership.id)
        with world.store.unit_of_work() as uow:
            assert (
                MembershipStatus.INVITATION_NOT_SENT
                == uow.memberships.require(membership.id).status
            )

    def test_only_an_acceptor_of_that_school_accepts(self, world: World) -> None:
        """A teacher, or another school's coordinator, cannot accept for the school."""
        membership = world.life.add_school(world.trust_id, School(id="s1", name="Oakfield"))
        world.school_role(world.account("ac1"), "s1")
        world.school_role(world.account("teacher"), "s1", role="staff")
        world.school_role(world.account("ac2"), "s2")
        world.life.send_invitation(membership.id)

        for intruder in ("teacher", "ac2", "nobody"):
            with pytest.raises(AccessDeniedError):
                world.life.accept_invitation(membership.id, actor_id=intruder)
        accepted = world.life.accept_invitation(membership.id, actor_id="ac1")
        assert "ac1" == accepted.accepted_by

    def test_expired_invitation_cannot_be_accepted_but_can_be_resent(self, world: World) -> None:
        """After the expiry the sweep marks it expired; a re-send opens it again."""
        membership = world.life.add_school(world.trust_id, School(id="s1", name="Oakfield"))
        world.school_role(world.account("ac1"), "s1")
        world.life.send_invitation(membership.id)
        world.clock.advance(timedelta(days=15))

        with pytest.raises(MembershipStateError):
            world.life.accept_invitation(membership.id, actor_id="ac1")
        assert [membership.id] == [m.id for m in world.life.expire_invitations()]
        world.life.send_invitation(membership.id)
        assert (
            MembershipStatus.ACCEPTED
            == world.life.accept_invitation(membership.id, actor_id="ac1").status
        )

    def test_declined_school_is_not_a_member(self, world: World) -> None:
        """Declining ends the invitation; granting is then refused."""
        membership = world.life.add_school(world.trust_id, School(id="s1", name="Oakfield"))
        world.school_role(world.account("ac1"), "s1")
        world.life.send_invitation(membership.id)

        world.life.decline_invitation(membership.id, actor_id="ac1")

        with pytest.raises(ConflictError):
            world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id="ac1")

    def test_school_in_another_trust_cannot_be_added(self, world: World) -> None:
        """A school belongs to at most one trust at a time."""
        world.member_school("s1", "100001")
        other = world.life.create_trust(name="Elm Trust")
        with world.store.unit_of_work() as uow:
            school = uow.schools.require("s1")

        with pytest.raises(ConflictError, match="already in trust"):
            world.life.add_school(other.id, school)

    def test_urn_rule_applies_when_the_host_requires_it(self, world: World) -> None:
        """An English state school without a URN is refused under the host's rule; overseas is fine."""
        strict = attrs.evolve(
            world.life, policy=TrustPolicy(require_urn_for_english_state_schools=True)
        )

        with pytest.raises(ValidationError) as info:
            strict.add_school(world.trust_id, School(id="s1", name="Oakfield"))
        assert "urn" == info.value.field
        strict.add_school(
            world.trust_id, School(id="s2", name="British School of Rome", country=Country.OVERSEAS)
        )


class TestGrants:
    def test_leaving_ends_every_grant_and_tells_listeners(self, world: World) -> None:
        """A school leaving its trust revokes all its grants at once, with an event per grant."""
        membership_id, ac = world.member_school("s1", "100001")
        g1 = world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)
        g2 = world.life.grant(world.trust_id, "s1", {"users.manage"}, actor_id=ac, account_ids=[ac])
        world.listener.events.clear()

        world.life.leave_trust(membership_id, actor_id=ac)

        with world.store.unit_of_work() as uow:
            grants = uow.grants.list()
        assert all(not g.is_live(world.clock.now()) for g in grants)
        assert {g1.id, g2.id} == {e.grant_id for e in world.listener.events}
        assert {GrantChangeKind.ENDED} == {e.kind for e in world.listener.events}

    def test_removal_by_the_trust_also_ends_grants(self, world: World) -> None:
        """Removing a school ends its grants too."""
        membership_id, ac = world.member_school("s1", "100001")
        world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)

        world.life.remove_school(membership_id)

        with world.store.unit_of_work() as uow:
            assert all(g.revoked_at is not None for g in uow.grants.list())

    def test_narrowing_replaces_the_grant_and_emits_an_event(self, world: World) -> None:
        """Narrowing revokes the old grant and creates a narrower one, immediately."""
        _, ac = world.member_school("s1", "100001")
        grant = world.life.grant(
            world.trust_id, "s1", {"reports.school.view", "users.manage"}, actor_id=ac
        )
        world.clock.advance(timedelta(minutes=1))

        narrower = world.life.narrow_grant(
            grant.id, actor_id=ac, permissions={"reports.school.view"}
        )

        now = world.clock.now()
        with world.store.unit_of_work() as uow:
            assert not uow.grants.require(grant.id).is_live(now)
            assert uow.grants.require(narrower.id).is_live(now)
        event = world.listener.events[-1]
        assert (GrantChangeKind.NARROWED, frozenset({"users.manage"}), narrower.id) == (
            event.kind,
            event.permissions_removed,
            event.replaced_by,
        )

    def test_narrowing_never_widens(self) -> None:
        """A narrowed scope must lie inside the old one."""
        from schoolsync.access.grants import Grant

        grant = Grant(id="g", trust_id="t", school_id="s", permissions={"a"}, account_ids={"x"})

        with pytest.raises(ValidationError):
            narrowed_scope(grant, permissions={"a", "b"})
        with pytest.raises(ValidationError):
            narrowed_scope(grant, account_ids={"x", "y"})
        assert (frozenset({"a"}), frozenset({"x"})) == narrowed_scope(grant)

    def test_only_the_school_gives_or_revokes_grants(self, world: World) -> None:
        """A trust admin cannot grant itself access, nor revoke the school's grant."""
        _, ac = world.member_school("s1", "100001")
        world.account("alice")

        with pytest.raises(AccessDeniedError):
            world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id="alice")
        grant = world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)
        with pytest.raises(AccessDeniedError):
            world.life.revoke_grant(grant.id, actor_id="alice")

    def test_grant_names_only_accounts_of_the_trust(self, world: World) -> None:
        """A grant to named accounts refuses an account of another trust."""
        _, ac = world.member_school("s1", "100001")
        world.account("mallory", trust_id="other-trust")

        with pytest.raises(ValidationError):
            world.life.grant(
                world.trust_id, "s1", {"users.manage"}, actor_id=ac, account_ids=["mallory"]
            )

    def _later_admin_sees(self, world: World, account_id: str) -> tuple[str, ...]:
        """Make *account_id* a trust admin now; the schools it may view reports of."""
        from schoolsync.views import schools_in_view

        world.account(account_id)
        world.life.accept_trust_admin(
            world.trust_id, world.life.nominate_trust_admin(world.trust_id, account_id)
        )
        roles = {"trust_admin": {"reports.school.view"}}
        with world.store.unit_of_work() as uow:
            view = schools_in_view(
                account_id,
                "reports.school.view",
                uow=uow,
                at=world.clock.now(),
                role_permissions=roles,
            )
        return view.school_ids

    def test_whole_trust_grant_covers_an_admin_added_later(self, world: World) -> None:
        """The Schoot model: a grant to the whole trust also covers trust admins added after it."""
        _, ac = world.member_school("s1", "100001")
        world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)

        assert ("s1",) == self._later_admin_sees(world, "newcomer")

    def test_grant_naming_admins_gives_a_later_admin_nothing(self, world: World) -> None:
        """The Boost model: a grant naming admins gives an admin added later nothing, until the
        school grants it too."""
        _, ac = world.member_school("s1", "100001")
        world.account("alice")
        world.life.grant(
            world.trust_id, "s1", {"reports.school.view"}, actor_id=ac, account_ids=["alice"]
        )

        assert () == self._later_admin_sees(world, "newcomer")
        world.life.grant(
            world.trust_id, "s1", {"reports.school.view"}, actor_id=ac, account_ids=["newcomer"]
        )
        with world.store.unit_of_work() as uow:
            [grant] = [g for g in uow.grants.list() if g.account_ids == {"newcomer"}]
        assert grant.is_live(world.clock.now())

    def test_host_can_switch_whole_trust_grants_off(self, world: World) -> None:
        """With ``whole_trust_grants=False`` a grant must name accounts; nothing is written."""
        _, ac = world.member_school("s1", "100001")
        world.account("alice")
        strict = attrs.evolve(world.life, policy=TrustPolicy(whole_trust_grants=False))

        with pytest.raises(ValidationError) as info:
            strict.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)

        assert ("account_ids", "whole_trust_grants_off") == (info.value.field, info.value.code)
        with world.store.unit_of_work() as uow:
            assert 0 == uow.grants.count()
        strict.grant(
            world.trust_id, "s1", {"reports.school.view"}, actor_id=ac, account_ids=["alice"]
        )

    def test_expiry_sweep_reports_each_expired_grant_once(self, world: World) -> None:
        """Expired grants are reported to listeners once, and audited."""
        _, ac = world.member_school("s1", "100001")
        grant = world.life.grant(
            world.trust_id,
            "s1",
            {"reports.school.view"},
            actor_id=ac,
            expires_at=world.clock.now() + timedelta(days=1),
        )
        world.clock.advance(timedelta(days=2))

        first = world.life.expire_grants()
        second = world.life.expire_grants()

        assert [grant.id] == [e.grant_id for e in first]
        assert [] == second


class TestAuditAndReplay:
    def test_every_change_is_audited_with_ids_only(self, world: World) -> None:
        """Membership and grant events name ids and hold no names or emails."""
        _membership_id, ac = world.member_school("s1", "100001")
        grant = world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)
        world.life.revoke_grant(grant.id, actor_id=ac)

        with world.store.unit_of_work() as uow:
            events = uow.audit.events(school_id="s1")
        actions = [e.action for e in events]
        assert [
            "membership.invitation_sent",
            "membership.accepted",
            "grant.created",
            "grant.revoked",
        ] == [a for a in actions if a.startswith(("membership.inv", "membership.acc", "grant."))]
        assert "example.org" not in repr(events)

    def test_every_grant_change_is_an_audit_event(self, world: World) -> None:
        """Creating, narrowing, revoking, expiring and ending grants each leave an audit event
        on the grant, written with the change, naming the acting account (or none for sweeps)."""
        membership_id, ac = world.member_school("s1", "100001")
        world.account("alice")
        wide = world.life.grant(
            world.trust_id, "s1", {"reports.school.view", "users.manage"}, actor_id=ac
        )
        narrower = world.life.narrow_grant(wide.id, actor_id=ac, account_ids=["alice"])
        world.life.revoke_grant(narrower.id, actor_id=ac)
        short = world.life.grant(
            world.trust_id,
            "s1",
            {"reports.school.view"},
            actor_id=ac,
            expires_at=world.clock.now() + timedelta(days=1),
        )
        world.clock.advance(timedelta(days=2))
        world.life.expire_grants()
        last = world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)
        world.life.leave_trust(membership_id, actor_id=ac)

        with world.store.unit_of_work() as uow:
            events = [e for e in uow.audit.events() if e.subject_kind == "grant"]
        assert [
            ("grant.created", wide.id, ac),
            ("grant.narrowed", wide.id, ac),
            ("grant.created", narrower.id, ac),
            ("grant.revoked", narrower.id, ac),
            ("grant.created", short.id, ac),
            ("grant.expired", short.id, None),
            ("grant.created", last.id, ac),
        ] == [(e.action, e.subject_id, e.actor_id) for e in events[:-2]]
        # leaving ends every unrevoked grant, the expired one included, in one unit of work
        assert {("grant.ended", short.id, ac), ("grant.ended", last.id, ac)} == {
            (e.action, e.subject_id, e.actor_id) for e in events[-2:]
        }
        assert all(e.trust_id == world.trust_id and e.school_id == "s1" for e in events)

    def test_access_index_reads_the_lifecycle_history(self, world: World) -> None:
        """The roles issue's AccessIndex answers at= questions from these audit events."""
        from schoolsync.access import AccessIndex, Role, RoleCatalogue

        catalogue = RoleCatalogue.build(
            ["reports.school.view", "grants.manage", "users.manage"],
            [
                Role(name="trust_admin", scope="trust", permissions={"reports.school.view"}),
                Role(name="access_coordinator", scope="school", permissions={"grants.manage"}),
            ],
        )
        alice = world.account("alice")
        world.life.accept_trust_admin(
            world.trust_id, world.life.nominate_trust_admin(world.trust_id, alice)
        )
        _, ac = world.member_school("s1", "100001")
        before_grant = world.clock.now()
        world.clock.advance(timedelta(hours=1))
        grant = world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)
        granted = world.clock.advance(timedelta(hours=1))
        world.life.record_urn_change("s1", Urn.parse("140001"))
        world.clock.advance(timedelta(hours=1))
        world.life.revoke_grant(grant.id, actor_id=ac)

        with world.store.unit_of_work() as uow:
            index = AccessIndex.from_unit_of_work(catalogue, uow, now=world.clock.now())

        assert not index.check(alice, "reports.school.view", "s1")
        assert index.check(alice, "reports.school.view", "s1", at=granted)
        assert not index.check(alice, "reports.school.view", "s1", at=before_grant)

    def test_replay_reproduces_memberships_and_grants(self, world: World) -> None:
        """Folding the audit log from empty gives exactly the stored memberships and grants."""
        membership_id, ac = world.member_school("s1", "100001")
        world.member_school("s2", "100002")
        grant = world.life.grant(world.trust_id, "s1", {"a", "b"}, actor_id=ac)
        world.life.narrow_grant(grant.id, actor_id=ac, permissions={"a"})
        world.life.leave_trust(membership_id, actor_id=ac)

        with world.store.unit_of_work() as uow:
            state = replay_memberships_and_grants(uow.audit.events())
            assert {m.id: m for m in uow.memberships.list()} == state.memberships
            assert {g.id: g for g in uow.grants.list()} == state.grants


class TestUploadAndUrns:
    def test_upload_is_all_or_nothing(self, world: World) -> None:
        """One bad row means nothing is created, and every bad row is reported."""
        rows = [
            SchoolUploadRow(row=2, name="Oakfield", postcode="SW1A 1AA", urn="100001"),
            SchoolUploadRow(row=3, name="", postcode="SW1A 1AA", urn="100002"),
            SchoolUploadRow(row=4, name="Elm", postcode="NOT A CODE", urn="12"),
        ]

        with pytest.raises(ProblemsError) as info:
            world.life.add_schools_from_upload(world.trust_id, rows, file="up.xlsx")
        assert 3 == len(info.value.exceptions)
        with world.store.unit_of_work() as uow:
            assert 0 == uow.schools.count()

    def test_upload_accepting_valid_rows_adds_only_those(self, world: World) -> None:
        """With accept_valid_rows the good rows are added and the bad ones reported back."""
        rows = [
            SchoolUploadRow(row=2, name="Oakfield", postcode="SW1A 1AA", urn="100001"),
            SchoolUploadRow(row=3, name="", postcode="SW1A 1AA", urn="100002"),
        ]

        result = world.life.add_schools_from_upload(world.trust_id, rows, accept_valid_rows=True)

        assert ["Oakfield"] == [s.name for s in result.schools]
        assert [3] == [p.row for p in result.plan.problems]
        assert [MembershipStatus.INVITATION_NOT_SENT] == [m.status for m in result.memberships]

    def test_a_fresh_upload_skips_schools_already_in_the_trust(self, world: World) -> None:
        """Re-uploading the sheet with one new school adds just the new school."""
        first = [SchoolUploadRow(row=2, name="Oakfield", postcode="SW1A 1AA", urn="100001")]
        world.life.add_schools_from_upload(world.trust_id, first)

        result = world.life.add_schools_from_upload(
            world.trust_id,
            [*first, SchoolUploadRow(row=3, name="Elm", postcode="M1 1AE", urn="100002")],
        )

        assert ["Elm"] == [s.name for s in result.schools]
        assert [2] == [p.row for p in result.skipped]

    def test_urn_change_keeps_memberships_and_grants(self, world: World) -> None:
        """An academy conversion gives a new URN; the grant still applies to the same school."""
        _, ac = world.member_school("s1", "100001")
        grant = world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)

        school = world.life.record_urn_change("s1", Urn.parse("140001"))

        assert (Urn.parse("140001"), (Urn.parse("100001"),)) == (school.urn, school.former_urns)
        with world.store.unit_of_work() as uow:
            assert uow.grants.require(grant.id).is_live(world.clock.now())
            assert "s1" == uow.grants.require(grant.id).school_id

    def test_follow_urn_changes_moves_schools_to_successor_urns(self, world: World) -> None:
        """A host follows successor URNs from a mapping (e.g. GIAS links)."""
        world.life.add_school(
            world.trust_id,
            School(
                id="s1", name="Oak", urn=Urn.parse("100001"), postcode=Postcode.parse("SW1A1AA")
            ),
        )
        successor = {"100001": "140001"}

        changed = world.life.follow_urn_changes(
            lambda u: Urn.parse(successor.get(u.value, u.value))
        )

        assert ["140001"] == [str(s.urn) for s in changed]

    def test_urn_held_by_another_school_is_refused(self, world: World) -> None:
        """Two schools never share a current URN."""
        world.member_school("s1", "100001")
        world.member_school("s2", "100002")

        with pytest.raises(ConflictError, match="held by school 's2'"):
            world.life.record_urn_change("s1", Urn.parse("100002"))

    def test_clashing_moves_change_nothing_and_are_all_listed(self, world: World) -> None:
        """A merge (two URNs, one successor) is left for a person: nothing moves."""
        world.member_school("s1", "100001")
        world.member_school("s2", "100002")
        world.member_school("s3", "100003")
        successor = {"100001": "140001", "100002": "140001", "100003": "140003"}

        with pytest.raises(ProblemsError) as info:
            world.life.follow_urn_changes(lambda u: Urn.parse(successor[u.value]))

        assert 1 == len(info.value.exceptions)
        with world.store.unit_of_work() as uow:
            assert ["100001", "100002", "100003"] == [str(s.urn) for s in uow.schools.list()]

    def test_schools_may_swap_urns_in_one_batch(self, world: World) -> None:
        """A school moving onto a URN another school is leaving at the same time is fine."""
        world.member_school("s1", "100001")
        world.member_school("s2", "100002")
        successor = {"100001": "100002", "100002": "140002"}

        changed = world.life.follow_urn_changes(lambda u: Urn.parse(successor[u.value]))

        assert ["100002", "140002"] == [str(s.urn) for s in changed]


class TestListeners:
    def test_a_failing_listener_does_not_stop_the_others(self, world: World) -> None:
        """Every listener hears about a committed change; the failure is raised afterwards."""

        class Broken:
            def grant_changed(self, event: object) -> None:
                raise RuntimeError("cache server down")

        _, ac = world.member_school("s1", "100001")
        world.life.listeners.insert(0, Broken())

        with pytest.raises(RuntimeError, match="cache server down"):
            world.life.grant(world.trust_id, "s1", {"reports.school.view"}, actor_id=ac)

        assert [GrantChangeKind.GRANTED] == [e.kind for e in world.listener.events]
        with world.store.unit_of_work() as uow:
            assert 1 == uow.grants.count()


def boost_group(
    accounts: tuple[str, ...], max_trust_admins: int = 2
) -> tuple[TrustLifecycle, MemoryStore, str]:
    """A Boost Insights group (Group Admin as the trust admin role) with active *accounts*."""
    from schoolsync.access.presets import boost_insights

    store, clock = MemoryStore(), FixedClock()
    life = TrustLifecycle(
        store,
        clock,
        RecordingNotifier(),
        catalogue=boost_insights(),
        trust_admin_role="Group Admin",
    )
    trust = life.create_trust(
        name="Group", kind=TrustKind.SCHOOL_GROUP, max_trust_admins=max_trust_admins
    )
    with store.unit_of_work() as uow:
        for account_id in accounts:
            uow.accounts.add(
                Account(
                    id=account_id,
                    trust_id=trust.id,
                    email=f"{account_id}@x.org",
                    name=account_id,
                    status=AccountStatus.ACTIVE,
                )
            )
        uow.commit()
    return life, store, trust.id


class TestWithPresets:
    def test_boost_insights_flow(self) -> None:
        """Boost: the Access Coordinator accepts and ticks a group admin's user management;
        a group admin added later holds nothing until the school ticks them too."""
        from schoolsync.access import AccessIndex
        from schoolsync.access.presets import boost_insights
        from schoolsync.views import schools_in_view

        catalogue = boost_insights()
        life, store, trust_id = boost_group(("ga1", "ga2", "coord"))
        clock = life.clock
        with store.unit_of_work() as uow:
            uow.assignments.add(
                RoleAssignment(
                    id="ra",
                    account_id="coord",
                    trust_id=trust_id,
                    role="Access Coordinator",
                    school_id="s1",
                )
            )
            uow.commit()
        life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, "ga1"))
        membership = life.add_school(trust_id, School(id="s1", name="Oak", urn=Urn("100001")))
        life.send_invitation(membership.id)
        life.accept_invitation(membership.id, actor_id="coord")
        life.grant(trust_id, "s1", {"users.manage"}, account_ids={"ga1"}, actor_id="coord")
        life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, "ga2"))

        def may_manage_users() -> list[str]:
            with store.unit_of_work() as uow:
                index = AccessIndex.from_unit_of_work(catalogue, uow, now=clock.now())
                view = schools_in_view(
                    "ga2", "users.manage", uow=uow, at=clock.now(), catalogue=catalogue
                )
                assert index.check("ga2", "reports.school.view", "s1")  # membership is enough
                assert index.check("ga1", "users.manage", "s1")
                allowed = [a for a in ("ga1", "ga2") if index.check(a, "users.manage", "s1")]
            assert ("s1" in view.school_ids) == ("ga2" in allowed)  # views agree with check
            return allowed

        assert ["ga1"] == may_manage_users()  # the later group admin holds nothing yet
        life.grant(trust_id, "s1", {"users.manage"}, account_ids={"ga2"}, actor_id="coord")
        assert ["ga1", "ga2"] == may_manage_users()  # once the coordinator repeats the step


class TestOneCapRule:
    """Every path that gives a role goes through the one cap rule (``access/caps.py``)."""

    def test_trust_with_more_places_still_gets_at_most_two_group_admins(self) -> None:
        """Regression: a trust created with ``max_trust_admins=3`` ended with three Group
        Admins, above the Boost Insights cap of two; the third acceptance is now refused."""
        life, store, trust_id = boost_group(("ga1", "ga2", "ga3"), max_trust_admins=3)
        tokens = [life.nominate_trust_admin(trust_id, a) for a in ("ga1", "ga2", "ga3")]
        life.accept_trust_admin(trust_id, tokens[0])
        life.accept_trust_admin(trust_id, tokens[1])

        with pytest.raises(CapExceededError) as info:
            life.accept_trust_admin(trust_id, tokens[2])

        assert ("Group Admin", 2, ("ga1", "ga2")) == (
            info.value.role,
            info.value.cap,
            info.value.holders,
        )
        with store.unit_of_work() as uow:
            holders = sorted(
                a.account_id for a in uow.assignments.list() if a.role == "Group Admin"
            )
            trust = uow.trusts.require(trust_id)
        assert ["ga1", "ga2"] == holders
        assert ("ga1", "ga2") == trust.admin_account_ids()  # nothing changed for ga3

    def test_nomination_that_could_never_be_accepted_is_refused(self) -> None:
        """Once two Group Admins hold the role, a third nomination is refused up front."""
        life, _, trust_id = boost_group(("ga1", "ga2", "ga3"), max_trust_admins=3)
        for account_id in ("ga1", "ga2"):
            life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, account_id))

        with pytest.raises(CapExceededError, match="'Group Admin'"):
            life.nominate_trust_admin(trust_id, "ga3")

    def test_single_edit_and_lifecycle_refuse_alike(self) -> None:
        """AccessAdmin.assign refuses the third Group Admin with the same error."""
        from schoolsync.access import AccessAdmin, AccessIndex
        from schoolsync.access.presets import boost_insights

        life, store, trust_id = boost_group(("ga1", "ga2", "ga3"), max_trust_admins=3)
        for account_id in ("ga1", "ga2"):
            life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, account_id))
        index = AccessIndex.from_store(boost_insights(), store, now=life.clock.now())

        with pytest.raises(CapExceededError) as info:
            AccessAdmin(index).assign(
                actor_id=None, account_id="ga3", role="Group Admin", at=life.clock.now()
            )
        assert ("ga1", "ga2") == info.value.holders

    def test_trust_admin_role_must_be_a_trust_role_of_the_catalogue(self) -> None:
        """A lifecycle whose trust admin role its catalogue does not know is a setup error."""
        from schoolsync.access.presets import boost_insights

        with pytest.raises(ValueError, match="trust_admin"):
            TrustLifecycle(
                MemoryStore(),
                FixedClock(),
                RecordingNotifier(),
                catalogue=boost_insights(),
                trust_admin_role="Teacher",  # a school role
            )
