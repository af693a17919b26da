"""Decisions explained by name: schools and trusts by default, accounts only when the host asks."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from schoolsync.access import AccessIndex, DenialReason, Permission, Role, RoleCatalogue
from schoolsync.bulk import with_names
from schoolsync.errors import AccessDeniedError
from schoolsync.testing.assertions import assert_allowed, assert_denied
from schoolsync.testing.world import World, world

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

CATALOGUE = RoleCatalogue.build(
    [
        "users.manage",
        "grants.manage",
        Permission(name="reports.school.view", needs_grant=False),
        Permission(name="trust.reports.compare", level="trust"),
    ],
    [
        Role(
            name="Access Coordinator",
            scope="school",
            permissions={"grants.manage", "users.manage", "reports.school.view"},
        ),
        Role(name="Teacher", scope="school", permissions={"reports.school.view"}),
        Role(
            name="Trust Admin",
            scope="trust",
            permissions={"users.manage", "reports.school.view", "trust.reports.compare"},
        ),
    ],
    manage_permission="users.manage",
    grant_permission="grants.manage",
)

PEOPLE = {"alice": "Alice Khan", "bob": "Bob Osei", "carol": "Carol Ng"}


def oak() -> World:
    return (
        world(CATALOGUE, now=NOW)
        .trust("T", name="Oak Trust")
        .school("S1", name="Oakfield Primary", in_trust="T")
        .school("S2", name="Elm Academy", in_trust="T")
        .account("alice")
        .account("bob")
        .account("carol")
        .role("alice", "Trust Admin")
        .role("bob", "Access Coordinator", at="S1")
        .role("carol", "Teacher", at="S2")
        .grant("S1", ["users.manage"], grant_id="g1")
    )


def named_index() -> AccessIndex:
    """The oak world with the accounts' real names in their records."""
    w = oak()
    for account_id, name in PEOPLE.items():
        w.records.accounts[account_id] = attrs.evolve(w.records.accounts[account_id], name=name)
    return w.index()


def test_explain_names_schools_and_trusts_but_not_people_by_default() -> None:
    """Without names, a denial reads schools and trusts by name and accounts by id: no personal
    data reaches the text (nor the AccessDeniedError message that carries it)."""
    index = named_index()
    denied = assert_denied(index, "alice", "users.manage", "S2", reason=DenialReason.NO_GRANT)

    assert (
        "alice may not use users.manage at Elm Academy (no_grant): Elm Academy has not granted "
        "trust Oak Trust `users.manage` for alice; its Access Coordinator can grant it "
        "(no one holds that role yet)"
    ) == denied.explain()
    with pytest.raises(AccessDeniedError) as raised:
        denied.raise_if_denied()
    assert not any(name in str(raised.value) for name in PEOPLE.values())


def test_explain_with_account_names_names_every_account() -> None:
    """``explain(names=index.account_names)`` names the account asking and the accounts that
    can supply the missing fact; the decision's ids stay as they were."""
    index = named_index()
    denied = assert_denied(index, "carol", "users.manage", "S1", reason="no_role")

    assert (
        "Carol Ng may not use users.manage at Oakfield Primary (no_role): Carol Ng holds no role "
        "with `users.manage` at Oakfield Primary; the role 'Access Coordinator' gives it; an "
        "account with `users.manage` at the school can assign it (Alice Khan, Bob Osei)"
    ) == denied.explain(names=index.account_names)
    assert denied.missing is not None
    assert ("carol", ("alice", "bob")) == (denied.account_id, denied.missing.accounts)
    assert "carol holds no role" in denied.missing.text


def test_host_names_override_the_records_names_and_unknown_ids_stay() -> None:
    """A host's display name wins over the school's recorded name; ids it does not map (and
    blank names) read as by default."""
    index = oak().index()
    denied = index.check("alice", "users.manage", "S2")

    text = denied.explain(names={"S2": "Elm (Year 7 site)", "alice": "", "T": "Oak MAT"})

    assert text.startswith("alice may not use users.manage at Elm (Year 7 site) (no_grant): ")
    assert "Elm (Year 7 site) has not granted trust Oak MAT `users.manage` for alice" in text


def test_allow_paths_are_explained_by_name() -> None:
    """An allow's explanation names the trust and school on each path; ``str(path)`` keeps ids."""
    index = oak().index()
    allowed = assert_allowed(index, "alice", "users.manage", "S1")

    assert (
        "Alice Khan may use users.manage at Oakfield Primary: "
        "trust role 'Trust Admin' in Oak Trust -> grant g1 -> Oakfield Primary"
    ) == allowed.explain(names=PEOPLE)
    assert "trust role 'Trust Admin' in T -> grant g1 -> S1" == str(allowed.paths[0])


def test_missing_fact_describe_matches_with_names_of_its_text() -> None:
    """``MissingFact.describe(names)`` equals :func:`with_names` of its text for every denial
    of the world (the structured rendering and the text substitution agree)."""
    index = oak().index()
    names = {**PEOPLE, "S1": "Oakfield", "S2": "Elm", "T": "Oak MAT"}
    seen = 0
    for account_id in ("alice", "bob", "carol", "nobody"):
        for permission in ("users.manage", "grants.manage", "trust.reports.compare"):
            for school_id in ("S1", "S2", None):
                d = index.check(account_id, permission, school_id)
                if d or d.missing is None:
                    continue
                seen += 1
                by_id = d.missing.describe({})
                assert by_id == d.missing.text
                renamed = with_names(
                    by_id.replace("Oakfield Primary", "S1")
                    .replace("Elm Academy", "S2")
                    .replace("Oak Trust", "T"),
                    names,
                )
                assert renamed == d.missing.describe(names)
    assert seen >= 10


def test_past_and_fresh_decisions_read_names_from_their_records() -> None:
    """Decisions computed from the records (``at=``) also explain by school name."""
    index = oak().index()
    past = index.check("carol", "users.manage", "S2", at=NOW)

    assert past.explain().startswith("carol may not use users.manage at Elm Academy (no_role)")


def test_account_names_is_a_live_mapping_without_blank_names() -> None:
    """``AccessIndex.account_names`` maps ids to the records' names, leaving out blank ones."""
    w = oak()
    w.records.accounts["bob"] = attrs.evolve(w.records.accounts["bob"], name=" ")
    w.records.accounts["alice"] = attrs.evolve(w.records.accounts["alice"], name="Alice Khan")
    names = w.index().account_names

    assert {"alice": "Alice Khan", "carol": "carol"} == dict(names)
    assert "bob" not in names
    assert 2 == len(names)
