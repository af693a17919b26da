"""Which of another user's fields an administrator may edit is catalogue data
(``RoleCatalogue.admin_editable_fields``): Progress Teaching edits names and emails, FFT Aspire
never does, and delegation (``users.manage`` over the account) applies either way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schoolsync.access import AccessAdmin, RoleCatalogue
from schoolsync.access.presets import PRESETS, fft_aspire, progress_teaching
from schoolsync.errors import AccessDeniedError, CatalogueError, ValidationError
from schoolsync.testing.world import world

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def progress_trust() -> AccessAdmin:
    """A Progress Teaching trust: a Trust Admin, a school Admin at S1, Staff at S1 and S2."""
    w = (
        world(progress_teaching(), now=NOW)
        .trust("T")
        .school("S1", in_trust="T")
        .school("S2", in_trust="T")
        .account("trust_admin")
        .account("s1_admin")
        .account("s2_admin")
        .account("ann")
        .account("bob")
        .role("trust_admin", "Trust Admin")
        .role("s1_admin", "Admin", at="S1")
        .role("s2_admin", "Admin", at="S2")
        .role("ann", "Staff", at="S1")
        .role("bob", "Staff", at="S2")
    )
    return AccessAdmin(w.index())


class TestProgressTeaching:
    def test_trust_admin_renames_and_re_emails_a_user(self) -> None:
        """A Progress Teaching Trust Admin edits another user's display name and email; the
        audit event records the change without the personal data."""
        admin = progress_trust()

        events = admin.edit_account(
            actor_id="trust_admin",
            account_id="ann",
            name="Ann Other",
            email="ann.other@example.org",
            at=NOW,
        )

        ann = admin.index.records.accounts["ann"]
        assert ("Ann Other", "ann.other@example.org") == (ann.name, ann.email)
        assert 1 == len(events)
        assert "trust_admin" == events[0].actor_id
        assert "Ann Other" not in repr(events)
        assert "ann.other@example.org" not in repr(events)

    def test_school_admin_renames_only_accounts_at_their_school(self) -> None:
        """A school Admin renames a user of their own school, not one of another school."""
        admin = progress_trust()

        admin.edit_account(actor_id="s1_admin", account_id="ann", name="Ann Other", at=NOW)
        with pytest.raises(AccessDeniedError, match="s1_admin cannot manage account bob"):
            admin.edit_account(actor_id="s1_admin", account_id="bob", name="Robert", at=NOW)

        assert "Ann Other" == admin.index.records.accounts["ann"].name
        assert "bob" == admin.index.records.accounts["bob"].name

    def test_staff_without_users_manage_cannot_rename_anyone(self) -> None:
        """Delegation still applies: an account without users.manage over the user is refused."""
        admin = progress_trust()

        with pytest.raises(AccessDeniedError, match="ann cannot manage account bob"):
            admin.edit_account(actor_id="ann", account_id="bob", name="Robert", at=NOW)
        with pytest.raises(AccessDeniedError, match="bob cannot manage account ann"):
            admin.edit_account(actor_id="bob", account_id="ann", email="x@example.org", at=NOW)

        assert "bob" == admin.index.records.accounts["bob"].name
        assert "ann@example.org" == admin.index.records.accounts["ann"].email


class TestFftAspire:
    def fft(self) -> AccessAdmin:
        w = (
            world(fft_aspire(), now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("boss")
            .account("ann")
            .role("boss", "School setup & Pupil Tracking", at="S1")
            .role("ann", "Manage data", at="S1")
        )
        return AccessAdmin(w.index())

    @pytest.mark.parametrize("field", ["name", "email"])
    def test_admin_is_refused_naming_the_field(self, field: str) -> None:
        """FFT Aspire admins may not change another user's name or email: the error names the
        field and the account is unchanged."""
        admin = self.fft()
        before = admin.index.records.accounts["ann"]
        change = {field: "changed@example.org" if field == "email" else "Changed"}

        with pytest.raises(
            AccessDeniedError, match=f"cannot change another user's {field} in this role model"
        ) as info:
            admin.edit_account(actor_id="boss", account_id="ann", at=NOW, **change)

        assert f"field {field!r} is not in the catalogue's admin_editable_fields" in str(info.value)
        assert before == admin.index.records.accounts["ann"]

    def test_job_role_and_own_details_stay_editable(self) -> None:
        """The admin still changes the job role; the user changes their own name and email."""
        admin = self.fft()

        admin.edit_account(actor_id="boss", account_id="ann", job_role="Head of maths", at=NOW)
        admin.edit_account(actor_id="ann", account_id="ann", name="Ann Other", at=NOW)

        ann = admin.index.records.accounts["ann"]
        assert ("Ann Other", "Head of maths") == (ann.name, ann.job_role)


def test_presets_follow_their_documentation() -> None:
    """Progress Teaching lets admins edit name and email; every other preset is strict."""
    editable = {key: make().admin_editable_fields for key, make in PRESETS.items()}

    assert {
        "progress_teaching": frozenset({"name", "email"}),
        "fft_aspire": frozenset(),
        "boost_insights": frozenset(),
        "schoot": frozenset(),
        "hodder_admin_hub": frozenset(),
    } == editable


TOML = """
name = "email only"
grant_permission = ""
admin_editable_fields = ["email"]
[[permissions]]
name = "users.manage"
[[permissions]]
name = "reports.school.view"
[[roles]]
name = "Admin"
scope = "school"
permissions = ["users.manage", "reports.school.view"]
[[roles]]
name = "Teacher"
scope = "school"
permissions = ["reports.school.view"]
"""


class TestFromToml:
    def admin(self, catalogue: RoleCatalogue) -> AccessAdmin:
        w = (
            world(catalogue, now=NOW)
            .trust("T")
            .school("S1", in_trust="T")
            .account("adm")
            .account("tim")
            .account("tess")
            .role("adm", "Admin", at="S1")
            .role("tim", "Teacher", at="S1")
            .role("tess", "Teacher", at="S1")
        )
        return AccessAdmin(w.index())

    def test_the_switch_loaded_from_toml_allows_only_the_listed_field(self) -> None:
        """A catalogue listing only "email" lets an admin change the email, not the name."""
        admin = self.admin(RoleCatalogue.from_toml(TOML))

        admin.edit_account(actor_id="adm", account_id="tim", email="t@example.org", at=NOW)
        with pytest.raises(AccessDeniedError, match="another user's name"):
            admin.edit_account(actor_id="adm", account_id="tim", name="Timothy", at=NOW)

        tim = admin.index.records.accounts["tim"]
        assert ("t@example.org", "tim") == (tim.email, tim.name)

    def test_delegation_applies_to_a_loaded_catalogue(self) -> None:
        """A Teacher (no users.manage) cannot change a colleague's email even where the
        catalogue allows admins to."""
        admin = self.admin(RoleCatalogue.from_toml(TOML))

        with pytest.raises(AccessDeniedError, match="tim cannot manage account tess"):
            admin.edit_account(actor_id="tim", account_id="tess", email="t@example.org", at=NOW)

    def test_the_default_is_strict(self) -> None:
        """A catalogue that does not mention the switch keeps the FFT rule: neither field."""
        catalogue = RoleCatalogue.from_toml(TOML.replace('admin_editable_fields = ["email"]', ""))
        admin = self.admin(catalogue)

        assert frozenset() == catalogue.admin_editable_fields
        with pytest.raises(AccessDeniedError, match="another user's email"):
            admin.edit_account(actor_id="adm", account_id="tim", email="t@example.org", at=NOW)

    def test_the_switch_survives_a_json_round_trip(self) -> None:
        """to_dict writes the switch (sorted) and from_json reads it back."""
        catalogue = RoleCatalogue.from_toml(TOML.replace('["email"]', '["name", "email"]'))
        again = RoleCatalogue.from_json(json.dumps(catalogue.to_dict()))

        assert ["email", "name"] == catalogue.to_dict()["admin_editable_fields"]
        assert frozenset({"name", "email"}) == again.admin_editable_fields

    def test_an_unknown_field_is_a_catalogue_error_with_a_suggestion(self) -> None:
        """Only name and email can be switched on; a misspelling is reported with a suggestion."""
        with pytest.raises(CatalogueError) as info:
            RoleCatalogue.from_toml(TOML.replace('["email"]', '["emial", "job_role"]'))

        problems = [p for p in info.value.exceptions if isinstance(p, ValidationError)]
        assert [("admin_editable_fields", "emial"), ("admin_editable_fields", "job_role")] == [
            (p.field, p.value) for p in problems
        ]
        assert "did you mean 'email'?" in str(problems[0])


def test_a_bare_string_where_a_list_belongs_is_one_clear_problem() -> None:
    """``admin_editable_fields = "email"`` (or ``permissions = "users.manage"``) is reported once,
    naming the field and asking for a list, not split into letters."""
    text = TOML.replace('["email"]', '"email"').replace(
        'permissions = ["reports.school.view"]', 'permissions = "reports.school.view"'
    )

    with pytest.raises(CatalogueError) as info:
        RoleCatalogue.from_toml(text)

    problems = [p for p in info.value.exceptions if isinstance(p, ValidationError)]
    assert [
        ("roles[1].permissions", "reports.school.view"),
        ("admin_editable_fields", "email"),
    ] == [(p.field, p.value) for p in problems]
    assert all("expected a list of names" in str(p) for p in problems)
