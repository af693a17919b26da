"""Property tests of RoleCatalogue.build over random role graphs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.access import Permission, Role, RoleCatalogue, RoleScope
from schoolsync.errors import CatalogueError

PERMS = ["a.read", "a.write", "b.read", "b.write", "users.manage", "grants.manage"]
NAMES = ["R0", "R1", "R2", "R3", "R4"]


@st.composite
def role_sets(draw: st.DrawFn) -> list[Role]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    return [
        Role(
            name=n,
            scope="school",
            permissions=draw(st.frozensets(st.sampled_from(PERMS), max_size=3)),
            implies=draw(st.frozensets(st.sampled_from(names), max_size=2)),
            max_per_school=draw(st.none() | st.integers(1, 6)),
        )
        for n in names
    ]


def has_cycle(roles: list[Role]) -> bool:
    graph = {r.name: set(r.implies) for r in roles}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == target:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, target, seen):
                    return True
        return False

    return any(reaches(n, n, set()) for n in graph)


@given(role_sets())
def test_build_accepts_exactly_the_acyclic_well_capped_graphs(roles: list[Role]) -> None:
    """Build fails with a cycle problem iff the implication graph has a cycle; on success,
    effective permissions are closed under implication."""
    problems: list[str] = []
    try:
        cat = RoleCatalogue.build(PERMS, roles)
    except CatalogueError as error:
        problems = error.problems()
    if problems:
        cyclic = any("cycle" in p for p in problems)
        assert cyclic == has_cycle(roles)
        assert cyclic or any("impossible cap" in p for p in problems)
        return

    assert not has_cycle(roles)
    for role in roles:
        for implied in role.implies:
            assert cat.effective_permissions(implied) <= cat.effective_permissions(role.name)
            cap, theirs = role.max_per_school, cat.roles[implied].max_per_school
            assert cap is None or theirs is None or cap <= theirs


# -- the linear build answers as the closure of every role would ------------------------------

GRAPH_PERMS = ["a.read", "b.read", "t.compare", "u.compare"]  # the last two: trust-level
GRAPH_NAMES = [f"R{n}" for n in range(7)]


@st.composite
def role_graphs(draw: st.DrawFn) -> list[Role]:
    """Roles of both scopes implying each other at random (cycles, self-loops, unknown names
    included), with caps and trust-level permissions anywhere."""
    names = draw(st.lists(st.sampled_from(GRAPH_NAMES), min_size=1, max_size=7, unique=True))
    return [
        Role(
            name=n,
            scope=draw(st.sampled_from(["school", "school", "trust"])),
            permissions=draw(st.frozensets(st.sampled_from(GRAPH_PERMS), max_size=2)),
            implies=draw(st.frozensets(st.sampled_from([*names, "Ghost"]), max_size=3)),
            max_per_school=draw(st.none() | st.integers(1, 4)),
            max_per_trust=draw(st.none() | st.integers(1, 4)),
            exactly_one=draw(st.booleans()),
        )
        for n in names
    ]


def _closure(roles: dict[str, Role], name: str) -> set[str]:
    """The reference: every role *name* reaches by implication, itself left out."""
    found: set[str] = set()
    todo = [name]
    while todo:
        for nxt in roles[todo.pop()].implies:
            if nxt in roles and nxt not in found:
                found.add(nxt)
                todo.append(nxt)
    found.discard(name)
    return found


def _expected_problems(roles: dict[str, Role]) -> list[str]:
    """The trust-permission and nesting-cap problems, worked out from each role's closure."""
    trust = {"t.compare", "u.compare"}
    found = []
    for name, role in sorted(roles.items()):
        if role.scope == "school":
            bad = sorted(p for n in _closure(roles, name) for p in roles[n].permissions if p in trust)
            found += [f"roles[{name!r}].implies {p!r}" for p in bad]
    for name, role in sorted(roles.items()):
        for other in sorted(_closure(roles, name)):
            for scope in (RoleScope.SCHOOL, RoleScope.TRUST):
                mine, theirs = role.cap_at(scope), roles[other].cap_at(scope)
                if theirs is not None and mine is not None and mine > theirs:
                    found.append(f"roles[{name!r}] {mine!r}: impossible cap: it implies {other!r}")
    return found


@given(role_graphs())
def test_the_linear_build_agrees_with_every_roles_closure(roles: list[Role]) -> None:
    """Effective permissions, implied roles, and every trust-permission and cap problem (in
    order, duplicates included) are those the closure of each role gives."""
    perms = [
        "a.read",
        "b.read",
        Permission(name="t.compare", level="trust"),
        Permission(name="u.compare", level="trust"),
    ]
    by_name = {r.name: r for r in roles}
    expected = _expected_problems(by_name)
    try:
        cat = RoleCatalogue.build(perms, roles, manage_permission=None, grant_permission=None)
    except CatalogueError as error:
        shown = [
            str(p)
            for p in error.exceptions
            if "through implication" in str(p) or "impossible cap: it implies" in str(p)
        ]
        assert len(expected) == len(shown), (expected, shown)
        assert all(s.startswith(e) for s, e in zip(shown, expected, strict=True)), shown
        return
    assert expected == []
    for name in by_name:
        closure = _closure(by_name, name)
        assert cat.implied_roles(name) == closure
        assert cat.effective_permissions(name) == {
            p for n in (name, *closure) for p in by_name[n].permissions
        }
        assert cat.holders_of(name, [name])
        assert all(cat.holders_of(other, [name]) for other in closure)
