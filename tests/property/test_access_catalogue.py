"""Property tests of RoleCatalogue.build over random role graphs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.access import Role, RoleCatalogue
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
