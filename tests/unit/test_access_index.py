"""AccessIndex: decisions, denial reasons, visibility, lists, history and previews."""

from __future__ import annotations

import gc
import sys
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from schoolsync.access import (
    AccessIndex,
    AccessRecords,
    AccessRequest,
    DenialReason,
    Permission,
    Role,
    RoleCatalogue,
    record_event,
)
from schoolsync.errors import AccessDeniedError, ValidationError
from schoolsync.testing.assertions import assert_allowed, assert_denied
from schoolsync.testing.world import World, world
from schoolsync.trusts import MembershipStatus

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

CATALOGUE = RoleCatalogue.build(
    [
        "users.manage",
        "grants.manage",
        "reports.pupil_level.view",
        Permission(name="reports.school.view", needs_grant=False),
        Permission(name="trust.reports.compare", level="trust"),
    ],
    [
        Role(
            name="Access Coordinator",
            scope="school",
            permissions={"grants.manage", "users.manage", "reports.school.view"},
            exactly_one=True,
        ),
        Role(name="Teacher", scope="school", permissions={"reports.school.view"}),
        Role(
            name="Trust Admin",
            scope="trust",
            permissions={
                "users.manage",
                "reports.school.view",
                "reports.pupil_level.view",
                "trust.reports.compare",
            },
            max_per_trust=2,
        ),
    ],
)


def oak() -> World:
    return (
        world(CATALOGUE, now=NOW)
        .trust("T", name="Oak Trust")
        .school("S1", name="Oakfield Primary", in_trust="T")
        .school("S2", name="Elm Academy", in_trust="T")
        .school("S3", name="Ash School", in_trust="T", status=MembershipStatus.INVITATION_SENT)
        .account("alice")
        .account("bob")
        .account("carol")
        .account("dan", status="pending")
        .role("alice", "Trust Admin")
        .role("bob", "Access Coordinator", at="S1")
        .role("carol", "Teacher", at="S2")
        .role("dan", "Teacher", at="S1")
    )


def test_school_role_allows_at_its_school_only() -> None:
    """A school role gives its permissions at its own school, with the path, and nowhere else."""
    index = oak().index()

    decision = assert_allowed(index, "carol", "reports.school.view", "S2")
    assert_denied(index, "carol", "reports.school.view", "S1", reason="no_role", visible=False)

    assert "school role 'Teacher' at S2" == str(decision.paths[0])


def test_trust_role_needs_the_schools_grant() -> None:
    """A trust role reaches a grant-only permission at a school only through a live grant."""
    index = oak().grant("S1", ["users.manage"], accounts=["alice"], grant_id="g1").index()

    allowed = assert_allowed(index, "alice", "users.manage", "S1")
    denied = assert_denied(index, "alice", "users.manage", "S2", reason=DenialReason.NO_GRANT)

    assert "g1" == allowed.paths[0].grant_id
    assert denied.visible
    assert denied.missing is not None
    assert "grant" == denied.missing.kind
    assert (
        "Elm Academy has not granted trust Oak Trust `users.manage` for alice; "
        "its Access Coordinator can grant it (no one holds that role yet)"
    ) == denied.missing.text


def test_denial_names_who_can_grant() -> None:
    """The missing fact names the school's Access Coordinator account that can supply it."""
    index = oak().index()

    denied = assert_denied(index, "alice", "users.manage", "S1", reason="no_grant")

    assert denied.missing is not None
    assert ("bob",) == denied.missing.accounts
    assert ("Access Coordinator",) == denied.missing.roles
    assert denied.explain().endswith("its Access Coordinator can grant it (bob)")


def test_membership_alone_suffices_for_permissions_without_grant() -> None:
    """A permission that needs no grant is used at every accepted member school, not others."""
    index = oak().index()

    decision = assert_allowed(index, "alice", "reports.school.view", "S2")
    assert_denied(index, "alice", "reports.school.view", "S3", reason="school_not_in_trust")

    assert decision.paths[0].via_membership


def test_grant_scope_revocation_and_expiry_reasons() -> None:
    """Outside the scope, revoked and expired grants each give their own reason."""
    hour = timedelta(hours=1)
    w = (
        oak()
        .at(NOW + hour)
        .grant("S1", ["reports.pupil_level.view"], grant_id="g1")
        .grant("S2", ["users.manage"], grant_id="g2", expires_at=NOW + 2 * hour)
        .at(NOW + 3 * hour)
        .revoke("g1")
    )
    index = w.index(now=NOW + 4 * hour)
    w2 = oak().grant("S1", ["reports.pupil_level.view"], grant_id="g3")

    assert_denied(index, "alice", "reports.pupil_level.view", "S1", reason="grant_revoked")
    assert_denied(index, "alice", "users.manage", "S2", reason="grant_expired")
    assert_denied(w2.index(), "alice", "users.manage", "S1", reason="outside_grant_scope")
    assert_allowed(index, "alice", "reports.pupil_level.view", "S1", at=NOW + 2.5 * hour)
    assert_allowed(index, "alice", "users.manage", "S2", at=NOW + 1.5 * hour)
    assert_denied(index, "alice", "users.manage", "S2", at=NOW, reason="no_grant")


def test_inactive_pending_and_unknown() -> None:
    """Pending and unknown accounts are denied everything; unknown schools are invisible."""
    index = oak().index()

    assert_denied(index, "dan", "reports.school.view", "S1", reason="inactive", visible=False)
    assert_denied(index, "nobody", "reports.school.view", "S1", reason="inactive")
    assert_denied(
        index, "alice", "reports.school.view", "S9", reason="unknown_school", visible=False
    )


def test_unknown_permission_is_an_error() -> None:
    """Asking about an undeclared permission is a mistake, not a denial."""
    index = oak().index()

    with pytest.raises(ValidationError, match=r"did you mean 'users\.manage'"):
        index.check("alice", "users.manag", "S1")


def test_trust_level_permissions() -> None:
    """A trust-level permission is checked with school None and held only through trust roles."""
    index = oak().index()

    assert_allowed(index, "alice", "trust.reports.compare")
    assert_denied(index, "bob", "trust.reports.compare", reason="no_role")
    assert_denied(index, "alice", "trust.reports.compare", "S1", reason="no_role")


def test_check_many_equals_single_checks_with_duplicates() -> None:
    """check_many answers each request in order, duplicates included."""
    index = oak().index()
    requests: list[AccessRequest | tuple[str, str, str | None]] = [
        AccessRequest("alice", "users.manage", "S1"),
        ("carol", "reports.school.view", "S2"),
        AccessRequest("alice", "users.manage", "S1"),
    ]

    many = index.check_many(requests)

    assert [
        index.check("alice", "users.manage", "S1"),
        index.check("carol", "reports.school.view", "S2"),
        index.check("alice", "users.manage", "S1"),
    ] == many


def test_lists_are_exact() -> None:
    """Schools where an account holds a permission, and accounts holding one at a school."""
    index = oak().grant("S2", ["users.manage"]).index()

    assert ("S1", "S2") == index.schools_with("alice", "reports.school.view")
    assert ("S2",) == index.schools_with("alice", "users.manage")
    assert ("bob",) == index.accounts_with("users.manage", "S1")
    assert ("alice",) == index.accounts_with("users.manage", "S2")
    assert ("alice",) == index.accounts_with("trust.reports.compare", None)


def test_access_table_rows() -> None:
    """The access table lists every (school, permission) with the roles behind it."""
    table = oak().index().access_table("carol")

    assert [
        {
            "account": "carol",
            "school": "S2",
            "permission": "reports.school.view",
            "via": "school role 'Teacher' at S2",
        }
    ] == table.to_rows()
    assert "<table" in table._repr_html_()


def test_past_answers_replay_the_audit_log() -> None:
    """at= answers as of a past moment, even after a role was removed."""
    w = oak().at(NOW + timedelta(hours=1)).unrole("carol", "Teacher", at="S2")
    index = w.index(now=NOW + timedelta(hours=2))

    assert_denied(index, "carol", "reports.school.view", "S2", reason="no_role")
    assert_allowed(index, "carol", "reports.school.view", "S2", at=NOW + timedelta(minutes=30))
    assert ("S2",) == index.schools_with("carol", "reports.school.view", at=NOW)
    assert ("alice", "carol") == index.accounts_with("reports.school.view", "S2", at=NOW)
    assert ("alice",) == index.accounts_with("reports.school.view", "S2")


def test_apply_and_advance_follow_time() -> None:
    """Applied events take effect at once; advancing past an expiry removes access."""
    index = oak().index()
    grant = oak().grant("S2", ["users.manage"], grant_id="g9", expires_at=NOW + timedelta(hours=1))
    event = grant.events[-1]

    index.apply(event)
    assert_allowed(index, "alice", "users.manage", "S2")
    index.advance(NOW + timedelta(hours=2))

    assert_denied(index, "alice", "users.manage", "S2", reason="grant_expired")
    assert () == index.schools_with("alice", "users.manage")


def test_preview_shows_who_loses_what() -> None:
    """preview returns the access diff of a change without applying it."""
    w = oak().grant("S1", ["users.manage"], grant_id="g1")
    index = w.index()
    grant = index.records.grants["g1"]
    revoke = record_event(
        "grant", grant, attrs.evolve(grant, revoked_at=NOW), at=NOW, actor_id="bob"
    )

    diff = index.preview(revoke)

    assert [("alice", "S1", "users.manage")] == [
        (c.account_id, c.school_id, c.permission) for c in diff.lost
    ]
    assert () == diff.gained
    assert_allowed(index, "alice", "users.manage", "S1")


def test_raise_if_denied_carries_decision() -> None:
    """raise_if_denied raises AccessDeniedError holding the decision."""
    decision = oak().index().check("carol", "users.manage", "S2")

    with pytest.raises(AccessDeniedError) as info:
        decision.raise_if_denied()

    assert decision is info.value.decision


def test_index_from_store_answers_like_the_live_one() -> None:
    """An index rebuilt from a MemoryStore answers exactly like the one built in memory."""
    w = oak().grant("S1", ["users.manage"], accounts=["alice"])
    live = w.index()
    with w.store().unit_of_work() as uow:
        rebuilt = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=NOW)

    for account in ("alice", "bob", "carol", "dan"):
        for school in ("S1", "S2", "S3", None):
            for perm in CATALOGUE.permissions:
                assert live.check(account, perm, school) == rebuilt.check(account, perm, school)


def test_records_hold_no_personal_data_in_events() -> None:
    """Account audit events leave out names and emails."""
    w = oak()

    account_events = [e for e in w.events if e.subject_kind == "account"]

    assert account_events
    assert all("email" not in e.after and "name" not in e.after for e in account_events)


def test_empty_records_build() -> None:
    """An index over no records denies everything without error."""
    index = AccessIndex.build(CATALOGUE, AccessRecords(), now=NOW)

    assert_denied(index, "x", "users.manage", None, reason="inactive")


def test_expiry_takes_effect_at_the_exact_moment() -> None:
    """A grant expiring at T is live just before T and gone at T (advance and Clock alike)."""
    from schoolsync.clock import FixedClock

    w = oak().grant("S2", ["users.manage"], grant_id="g9", expires_at=NOW + timedelta(hours=1))
    index = w.index()
    clock = FixedClock(NOW)
    ticking = AccessIndex.build(CATALOGUE, w.records.copy(), now=NOW, clock=clock)

    index.advance(NOW + timedelta(hours=1) - timedelta(microseconds=1))
    assert_allowed(index, "alice", "users.manage", "S2")
    index.advance(NOW + timedelta(hours=1))
    assert_denied(index, "alice", "users.manage", "S2", reason="grant_expired")
    assert_allowed(ticking, "alice", "users.manage", "S2")
    clock.set(NOW + timedelta(hours=1))
    assert_denied(ticking, "alice", "users.manage", "S2", reason="grant_expired")
    assert () == ticking.schools_with("alice", "users.manage")


def test_past_answers_from_a_stores_append_only_audit_log() -> None:
    """An index read from a store answers at= from the store's audit log, not from the
    records it was built with (which only hold the present)."""
    hour = timedelta(hours=1)
    w = oak().grant("S2", ["users.manage"], grant_id="g1").at(NOW + hour).revoke("g1")
    w = w.unrole("carol", "Teacher", at="S2")
    index = AccessIndex.from_store(CATALOGUE, w.store(), now=NOW + 2 * hour)

    assert_denied(index, "carol", "reports.school.view", "S2", reason="no_role")
    assert_denied(index, "alice", "users.manage", "S2", reason="grant_revoked")
    assert_allowed(index, "carol", "reports.school.view", "S2", at=NOW + hour / 2)
    assert_allowed(index, "alice", "users.manage", "S2", at=NOW + hour / 2)
    assert_denied(index, "alice", "users.manage", "S2", at=NOW + hour, reason="grant_revoked")
    assert ("S2",) == index.schools_with("alice", "users.manage", at=NOW)


def test_audit_is_queryable_by_account_school_and_time() -> None:
    """Every change is an event (actor, time, subject, before, after) found by account,
    school and time, in the index and in the store alike."""
    hour = timedelta(hours=1)
    w = oak().at(NOW + hour).unrole("carol", "Teacher", at="S2").at(NOW + 2 * hour)
    w = w.role("carol", "Teacher", at="S1")
    index = w.index(now=NOW + 3 * hour)
    store = w.store()

    carol = index.events(account_id="carol")
    at_s2 = index.events(school_id="S2", since=NOW + hour, until=NOW + 2 * hour)
    with store.unit_of_work() as uow:
        stored = uow.audit.events(account_id="carol", since=NOW + hour)

    assert ["account.added", "assignment.added", "assignment.removed", "assignment.added"] == [
        e.action for e in carol
    ]
    assert [("assignment.removed", NOW + hour)] == [(e.action, e.at) for e in at_s2]
    assert at_s2[0].before is not None
    assert at_s2[0].after is None
    assert "Teacher" == at_s2[0].before["role"]
    assert [e.id for e in carol[2:]] == [e.id for e in stored]


def test_check_many_answers_duplicates_and_denials_like_single_checks() -> None:
    """Denied and allowed requests, repeated, get the same decisions (reason, visibility,
    missing fact) from check_many as from one check each."""
    index = oak().grant("S1", ["users.manage"], accounts=["alice"]).index()
    requests: list[AccessRequest | tuple[str, str, str | None]] = [
        ("alice", "users.manage", "S2"),
        ("carol", "users.manage", "S1"),
        AccessRequest("alice", "users.manage", "S1"),
        ("alice", "users.manage", "S2"),
        ("dan", "reports.school.view", "S1"),
        ("carol", "users.manage", "S1"),
        ("alice", "reports.school.view", "S9"),
    ]

    many = index.check_many(requests)
    single = [
        index.check(*(r if isinstance(r, tuple) else (r.account_id, r.permission, r.school_id)))
        for r in requests
    ]

    assert single == many
    assert [d.missing for d in single] == [d.missing for d in many]
    assert ["no_grant", "no_role", None, "no_grant", "inactive", "no_role", "unknown_school"] == [
        None if d.reason is None else d.reason.value for d in many
    ]


def test_check_many_runs_no_garbage_collection_and_restores_the_collector() -> None:
    """A batch pauses the cyclic collector (its decisions would otherwise make the collector
    pass over the whole index again and again) and leaves it as it found it: running, or
    paused by the host, also when a request fails."""
    index = oak().grant("S1", ["users.manage"], accounts=["alice"]).index()
    requests = [
        (account, permission, school)
        for account in ("alice", "bob", "carol", "dan", "nobody")
        for permission in sorted(CATALOGUE.permissions)
        for school in ("S1", "S2", "S3", "S9", None)
    ] * 40  # 5,000 requests, most of them denials (a new decision each)
    collections: list[str] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe()
        while frame is not None and phase == "start":  # a collection inside check_many?
            if frame.f_code.co_name == "check_many":
                collections.append(phase)
                return
            frame = frame.f_back

    assert gc.isenabled()
    gc.callbacks.append(seen)
    try:
        many = index.check_many(requests)
        assert gc.isenabled()
        with pytest.raises(ValidationError):
            index.check_many([("alice", "users.manage", "S1"), ("alice", "no.such", "S1")])
        assert gc.isenabled()
        gc.disable()
        index.check_many(requests[:10])
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.callbacks.remove(seen)

    # At most the one pass when the collector resumes (over the batch's own new objects);
    # without the pause, six passes ran inside this batch.
    assert len(collections) <= 1, collections
    assert [index.check(*r) for r in requests] == many


def test_check_many_follows_a_clock_like_check() -> None:
    """An index following a clock answers a batch for the clock's time, as check does."""
    from schoolsync.clock import FixedClock

    w = oak().grant("S2", ["users.manage"], grant_id="g9", expires_at=NOW + timedelta(hours=1))
    clock = FixedClock(NOW)
    ticking = AccessIndex.build(CATALOGUE, w.records.copy(), now=NOW, clock=clock)
    request = [("alice", "users.manage", "S2")]

    assert [True] == [bool(d) for d in ticking.check_many(request)]
    clock.set(NOW + timedelta(hours=1))
    [expired] = ticking.check_many(request)
    assert DenialReason.GRANT_EXPIRED == expired.reason
    assert [ticking.check(*request[0])] == [expired]


def test_fast_denials_equal_the_full_evaluation() -> None:
    """A denial from the precomputed index equals, field for field, the one evaluated from
    the records (at= now), including its missing fact, which is worked out once."""
    index = oak().grant("S1", ["reports.pupil_level.view"], grant_id="g1").index()

    for account in ("alice", "bob", "carol", "dan", "nobody"):
        for school in ("S1", "S2", "S3", "S9", None):
            for perm in CATALOGUE.permissions:
                fast = index.check(account, perm, school)
                full = index.check(account, perm, school, at=NOW)
                assert full == fast
                assert repr(full) == repr(fast)
                assert full.missing == fast.missing
                assert fast.missing is fast.missing
                # Every field is set (a field added to Decision must be set by the fast path).
                assert all(hasattr(fast, f.name) for f in attrs.fields(type(fast)))


def test_no_role_denial_names_the_role_and_who_can_assign_it() -> None:
    """A missing role names the smallest role giving the permission and the accounts that
    hold the manage permission where it would be assigned (school or trust)."""
    index = oak().index()

    at_school = index.check("carol", "users.manage", "S1").missing
    at_trust = index.check("bob", "trust.reports.compare").missing

    assert at_school is not None
    assert at_trust is not None
    assert (
        "carol holds no role with `users.manage` at Oakfield Primary; the role "
        "'Access Coordinator' gives it; an account with `users.manage` at the school can "
        "assign it (bob)"
    ) == at_school.text
    assert ("role", ("Access Coordinator",), ("bob",)) == (
        at_school.kind,
        at_school.roles,
        at_school.accounts,
    )
    assert (
        "bob holds no trust role with `trust.reports.compare`; a trust role such as "
        "'Trust Admin' gives it; an account with `users.manage` at the trust can assign it "
        "(alice)"
    ) == at_trust.text
    assert ("alice",) == at_trust.accounts


def test_an_allow_lists_every_path() -> None:
    """An allow names every derivation: each live grant a trust role reaches the school
    through, and each school role giving the permission there."""
    w = (
        oak()
        .grant("S1", ["users.manage"], grant_id="g1")
        .grant("S1", ["users.manage", "grants.manage"], accounts=["alice"], grant_id="g2")
        .role("alice", "Access Coordinator", at="S2")
    )
    index = w.index()

    at_s1 = assert_allowed(index, "alice", "users.manage", "S1")
    at_s2 = assert_allowed(index, "alice", "reports.school.view", "S2")

    assert [
        "trust role 'Trust Admin' in T -> grant g1 -> S1",
        "trust role 'Trust Admin' in T -> grant g2 -> S1",
    ] == [str(p) for p in at_s1.paths]
    assert {
        "school role 'Access Coordinator' at S2",
        "trust role 'Trust Admin' in T -> membership -> S2",
    } == {str(p) for p in at_s2.paths}
