"""RoleCatalogue: declaration, validation (every problem at once) and TOML/JSON loading."""

from __future__ import annotations

import json

import pytest

from schoolsync.access import Permission, PermissionLevel, Role, RoleCatalogue, RoleScope
from schoolsync.errors import CatalogueError, ProblemsError, ValidationError

PERMS: list[Permission | str] = [
    "users.manage",
    "grants.manage",
    "reports.school.view",
    "reports.pupil_level.view",
    Permission(name="trust.settings.edit", level=PermissionLevel.TRUST),
]


def test_valid_catalogue_resolves_implied_permissions() -> None:
    """A role carries its own permissions and those of every role it implies, transitively."""
    cat = RoleCatalogue.build(
        PERMS,
        [
            Role(
                name="Admin", scope=RoleScope.SCHOOL, permissions={"users.manage"}, implies={"Data"}
            ),
            Role(
                name="Data",
                scope=RoleScope.SCHOOL,
                permissions={"grants.manage"},
                implies={"Viewer"},
            ),
            Role(name="Viewer", scope=RoleScope.SCHOOL, permissions={"reports.school.view"}),
        ],
    )

    assert {"users.manage", "grants.manage", "reports.school.view"} == cat.effective_permissions(
        "Admin"
    )
    assert {"Data", "Viewer"} == cat.implied_roles("Admin")
    assert ("Viewer", "Data", "Admin") == cat.roles_granting("reports.school.view")


def test_every_problem_is_reported_at_once_with_suggestions() -> None:
    """Unknown names (with did-you-mean), cycles, impossible caps and scope errors come together."""
    with pytest.raises(CatalogueError) as info:
        RoleCatalogue.build(
            PERMS,
            [
                Role(
                    name="Admin",
                    scope="school",
                    permissions={"users.manag", "trust.settings.edit"},
                    implies={"Data", "Viewr"},
                    max_per_school=4,
                ),
                Role(name="Data", scope="school", implies={"Admin"}, max_per_school=2),
                Role(name="Viewer", scope="school", max_per_school=0),
                Role(name="Boss", scope="trust", max_per_school=3),
                Role(name="AC", scope="school", exactly_one=True, max_per_school=2),
            ],
        )

    problems = "\n".join(info.value.problems())
    assert isinstance(info.value, ProblemsError)
    assert "'users.manag': unknown permission; did you mean 'users.manage'?" in problems
    assert "'Viewr': unknown role; did you mean 'Viewer'?" in problems
    assert "Admin -> Data -> Admin" in problems
    assert "a school role cannot hold a trust-level permission" in problems
    assert "no one could hold the role" in problems
    assert "a trust role has no per-school cap" in problems
    assert "'exactly one' conflicts" in problems
    assert "impossible cap: it implies 'Data', capped at 2" in problems
    assert len(info.value.exceptions) >= 8


def test_school_role_may_not_imply_trust_role() -> None:
    """A school role implying a trust role (and so a trust permission) is refused."""
    with pytest.raises(CatalogueError) as info:
        RoleCatalogue.build(
            PERMS,
            [
                Role(name="T", scope="trust", permissions={"trust.settings.edit"}),
                Role(name="S", scope="school", implies={"T"}),
            ],
        )

    assert any("cannot imply or require a trust role" in p for p in info.value.problems())


def test_toml_and_json_round_trip() -> None:
    """A catalogue loads from TOML and survives a JSON round trip unchanged."""
    text = """
name = "demo"
[[permissions]]
name = "users.manage"
[[permissions]]
name = "grants.manage"
needs_grant = false
[[roles]]
name = "Admin"
scope = "school"
permissions = ["users.manage", "grants.manage"]
max_per_school = 4
"""
    cat = RoleCatalogue.from_toml(text)
    again = RoleCatalogue.from_json(json.dumps(cat.to_dict()))

    assert 4 == cat.role("Admin").max_per_school
    assert cat.permissions["grants.manage"].needs_grant is False
    assert cat.to_dict() == again.to_dict()


def fields(error: CatalogueError) -> list[tuple[str, object]]:
    """(field, value) of each problem in a CatalogueError."""
    return [(p.field, p.value) for p in error.exceptions if isinstance(p, ValidationError)]


def test_malformed_data_is_a_catalogue_error() -> None:
    """Data of the wrong shape is reported as a CatalogueError naming the field."""
    with pytest.raises(CatalogueError) as info:
        RoleCatalogue.from_dict({"roles": [{"name": "X"}]})
    with pytest.raises(CatalogueError) as bad_value:
        RoleCatalogue.from_toml(
            '[[roles]]\nname = "A"\nscope = "school"\nmax_per_school = "four"\n'
        )

    assert [("roles[0].scope", None)] == fields(info.value)
    assert [("roles[0].max_per_school", "four")] == fields(bad_value.value)


def test_text_that_is_not_toml_or_json_is_a_catalogue_error() -> None:
    """A syntax error in the TOML or JSON text is a CatalogueError saying where, not a
    parser's own exception."""
    with pytest.raises(CatalogueError) as toml_error:
        RoleCatalogue.from_toml('[[roles]]\nname = "A\n')
    with pytest.raises(CatalogueError) as json_error:
        RoleCatalogue.from_json('{"roles": [}')
    with pytest.raises(CatalogueError) as not_object:
        RoleCatalogue.from_json("[1, 2]")

    assert "toml" == fields(toml_error.value)[0][0]
    assert "line 2" in str(toml_error.value)
    assert "json" == fields(json_error.value)[0][0]
    assert "column" in str(json_error.value)
    assert "expected an object" in str(not_object.value)


def test_unknown_role_lookup_suggests() -> None:
    """Asking for an unknown role names the nearest one."""
    cat = RoleCatalogue.build(PERMS, [Role(name="Admin", scope="school")])

    with pytest.raises(ValueError, match="did you mean 'Admin'"):
        cat.role("Admn")
