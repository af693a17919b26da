"""Permissions, roles and the validated :class:`RoleCatalogue`.

A host declares its role model as data (Python, TOML or JSON). :meth:`RoleCatalogue.build`
checks the whole declaration and reports **every** problem at once as a
:class:`~schoolsync.errors.CatalogueError`: unknown names (with "did you mean" suggestions),
implication cycles, impossible caps, a school role reaching a trust-level permission.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any

import attrs
import cattrs
from rapidfuzz import process

from schoolsync.errors import CatalogueError, ValidationError
from schoolsync.serialisation import make_converter

__all__ = [
    "ADMIN_EDITABLE_FIELDS",
    "Permission",
    "PermissionLevel",
    "Role",
    "RoleCatalogue",
    "RoleScope",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

#: The account fields a catalogue may let administrators edit on another user
#: (``RoleCatalogue.admin_editable_fields``). Job role and status are always theirs to change.
ADMIN_EDITABLE_FIELDS: frozenset[str] = frozenset({"name", "email"})


class PermissionLevel(StrEnum):
    """Where a permission is exercised: at a school, or at the trust itself (no school)."""

    SCHOOL = "school"
    TRUST = "trust"


class RoleScope(StrEnum):
    """Where a role is held: at one school, or across a trust."""

    SCHOOL = "school"
    TRUST = "trust"


def _frozen_names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(str(v) for v in value)


@attrs.frozen(kw_only=True)
class Permission:
    """A namespaced permission such as ``reports.school.view``.

    ``needs_grant`` decides how a *trust* role may use it at a school: only through the
    school's live grant (``True``, the default) or by the school's membership alone.
    ``level`` is ``TRUST`` for permissions exercised at the trust itself (checked with
    ``school=None``); school roles may never hold those.
    """

    name: str
    description: str = ""
    needs_grant: bool = True
    level: PermissionLevel = attrs.field(default=PermissionLevel.SCHOOL, converter=PermissionLevel)


@attrs.frozen(kw_only=True)
class Role:
    """A named bundle of permissions held at a school or across a trust.

    ``implies`` names roles whose permissions this role also carries (an admin implies
    "manage data"); ``requires`` names roles the holder must already hold at the same scope.
    ``max_per_school`` / ``max_per_trust`` cap the holders (holders include those who hold
    the role through an implying role); ``exactly_one`` means one holder per school (school
    roles) or per trust (trust roles), no more, and the last one cannot simply be removed.
    """

    name: str
    scope: RoleScope = attrs.field(converter=RoleScope)
    permissions: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen_names)
    implies: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen_names)
    requires: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen_names)
    max_per_school: int | None = None
    max_per_trust: int | None = None
    exactly_one: bool = False
    description: str = ""

    def cap_at(self, level: RoleScope) -> int | None:
        """The cap on holders per school (``SCHOOL``) or per trust (``TRUST``), if any."""
        cap = self.max_per_school if level is RoleScope.SCHOOL else self.max_per_trust
        if self.exactly_one and level is self.scope:
            cap = 1 if cap is None else min(cap, 1)
        return cap


def _cap_problems(role: Role) -> list[Exception]:
    where = f"roles[{role.name!r}]"
    found: list[Exception] = []
    if role.scope is RoleScope.TRUST and role.max_per_school is not None:
        found.append(
            ValidationError(
                f"{where}.max_per_school", role.max_per_school, "a trust role has no per-school cap"
            )
        )
    for field, cap in (
        ("max_per_school", role.max_per_school),
        ("max_per_trust", role.max_per_trust),
    ):
        if cap is not None and cap < 1:
            found.append(
                ValidationError(
                    f"{where}.{field}", cap, "impossible cap: no one could hold the role"
                )
            )
    own = role.max_per_school if role.scope is RoleScope.SCHOOL else role.max_per_trust
    if role.exactly_one and own is not None and own > 1:
        found.append(
            ValidationError(
                f"{where}.exactly_one",
                own,
                "impossible cap: 'exactly one' conflicts with a cap above 1",
            )
        )
    if (
        role.scope is RoleScope.SCHOOL
        and role.max_per_school is not None
        and role.max_per_trust is not None
        and role.max_per_trust < role.max_per_school
    ):
        found.append(
            ValidationError(
                f"{where}.max_per_trust",
                role.max_per_trust,
                f"impossible cap: below the per-school cap of {role.max_per_school}",
            )
        )
    return found


@attrs.frozen(kw_only=True)
class _CatalogueSpec:
    permissions: tuple[Permission, ...] = ()
    roles: tuple[Role, ...] = ()
    manage_permission: str | None = "users.manage"
    grant_permission: str | None = "grants.manage"
    name: str = ""
    requires_designated_trust: bool = False
    admin_editable_fields: tuple[str, ...] = ()
    trust_admin_role: str = ""


def _suggest(name: str, choices: Iterable[str]) -> str:
    found = process.extractOne(name, list(choices), score_cutoff=60)
    return "" if found is None else f"; did you mean {found[0]!r}?"


class _NotAList(ValueError):
    """A bare string where a list of names belongs (``permissions = "users.manage"``)."""


def _names(value: Any, kind: type[Any]) -> Any:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise _NotAList(value)
    names = list(value)
    if not all(isinstance(v, str) for v in names):
        raise _NotAList(value)
    return frozenset(names) if kind == frozenset[str] else tuple(names)


def _format_problem(exc: BaseException, kind: type[Any] | None) -> str:
    if isinstance(exc, _NotAList):
        return 'expected a list of names, e.g. ["users.manage"]'
    return cattrs.v.format_exception(exc, kind)


def _data_problem(data: Mapping[str, Any], line: str) -> ValidationError:
    """One cattrs problem (``"reason @ .roles[0].scope"``) as a ValidationError naming the
    field (``roles[0].scope``) and the value found there."""
    reason, _, where = line.rpartition(" @ ")
    if not reason:
        return ValidationError("catalogue", None, line)
    field = where.lstrip(".") or "catalogue"
    value: Any = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field):
        try:
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            value = None
            break
    return ValidationError(field, value, reason)


@attrs.frozen(kw_only=True, eq=False)
class RoleCatalogue:
    """A validated set of permissions and roles. Create it with :meth:`build` (never directly).

    ``manage_permission`` is the permission that lets an account give roles at a scope
    (``users.manage``); ``grant_permission`` the school permission held by whoever can grant
    the trust access (the Access Coordinator), used to say who can fix a denial. With
    ``requires_designated_trust``, trust roles reach schools only while the trust is
    designated as an academy trust (``Trust.designated_academy_trust``; the Schoot rule).

    ``admin_editable_fields`` names the fields of *another* user's account (``"name"``,
    ``"email"``) that an account holding ``manage_permission`` over it may change. The default,
    none, is the FFT Aspire rule (the user changes them in their own profile); Progress
    Teaching lets its admins edit both.

    ``trust_admin_role`` names the trust role an accepted trust admin is given (Boost
    Insights' ``"Group Admin"``, Progress Teaching's ``"Trust Admin"``), so a host using the
    catalogue never names it again: the trust lifecycle and the service take it from here.
    ``None`` for a catalogue without trust admins (FFT Aspire).
    """

    name: str
    permissions: Mapping[str, Permission]
    roles: Mapping[str, Role]
    manage_permission: str | None
    grant_permission: str | None
    requires_designated_trust: bool
    admin_editable_fields: frozenset[str] = frozenset()
    trust_admin_role: str | None = None
    _effective: Mapping[str, frozenset[str]]
    _implied_roles: Mapping[str, frozenset[str]]

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        permissions: Iterable[Permission | str],
        roles: Iterable[Role],
        *,
        manage_permission: str | None = "users.manage",
        grant_permission: str | None = "grants.manage",
        name: str = "",
        requires_designated_trust: bool = False,
        admin_editable_fields: Iterable[str] = (),
        trust_admin_role: str | None = None,
    ) -> RoleCatalogue:
        """Validate a declaration; raise :class:`~schoolsync.errors.CatalogueError` listing every problem.

        A permission may be given as a bare name (a school permission that needs a grant).
        ``admin_editable_fields`` is a subset of :data:`ADMIN_EDITABLE_FIELDS`;
        ``trust_admin_role``, if given, names a trust role of the catalogue.
        """
        perms = [p if isinstance(p, Permission) else Permission(name=p) for p in permissions]
        problems: list[Exception] = []
        perm_map = _permission_map(perms, problems)
        role_list = list(roles)
        role_map = _role_map(role_list, problems)
        for role in role_list:
            problems.extend(_reference_problems(role, perm_map, role_map))
            problems.extend(_cap_problems(role))
        problems.extend(
            _setting_problems(
                perm_map,
                manage_permission=manage_permission,
                grant_permission=grant_permission,
            )
        )
        editable = _frozen_names(admin_editable_fields)
        problems.extend(_editable_field_problems(editable))
        problems.extend(_trust_admin_role_problems(trust_admin_role, role_map))
        problems.extend(_cycle_problems(role_map))
        graph = _Implication(role_map, perm_map)
        implied = _ImpliedRoles(role_map)
        problems.extend(_implied_trust_permission_problems(role_map, perm_map, graph, implied))
        problems.extend(_nesting_cap_problems(role_map, graph, implied))
        if problems:
            raise CatalogueError(
                f"role catalogue {name!r} is invalid" if name else "role catalogue is invalid",
                problems,
            )
        return cls(
            name=name,
            permissions=perm_map,
            roles=role_map,
            manage_permission=manage_permission,
            grant_permission=grant_permission,
            effective={rname: graph.effective[rname] for rname in role_map},
            implied_roles=implied,
            requires_designated_trust=requires_designated_trust,
            admin_editable_fields=editable,
            trust_admin_role=trust_admin_role,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoleCatalogue:
        """Build from plain data (``permissions`` and ``roles`` lists, as in TOML or JSON).

        An empty ``manage_permission`` or ``grant_permission`` means "none".
        """
        converter = make_converter()
        converter.register_structure_hook_func(
            lambda kind: kind in (frozenset[str], tuple[str, ...]), _names
        )
        try:
            spec = converter.structure(dict(data), _CatalogueSpec)
        except cattrs.BaseValidationError as exc:
            lines = cattrs.transform_error(exc, path="", format_exception=_format_problem)
            raise CatalogueError(
                "role catalogue data is malformed", [_data_problem(data, line) for line in lines]
            ) from None
        return cls.build(
            spec.permissions,
            spec.roles,
            manage_permission=spec.manage_permission or None,
            grant_permission=spec.grant_permission or None,
            name=spec.name,
            requires_designated_trust=spec.requires_designated_trust,
            admin_editable_fields=spec.admin_editable_fields,
            trust_admin_role=spec.trust_admin_role or None,
        )

    @classmethod
    def from_toml(cls, text: str) -> RoleCatalogue:
        """Build from TOML text with ``[[permissions]]`` and ``[[roles]]`` tables.

        Text that is not TOML is a :class:`~schoolsync.errors.CatalogueError` too (field
        ``toml``, the reason naming the line and column).
        """
        try:
            data = tomllib.loads(text)
        except RecursionError:
            raise CatalogueError(
                "role catalogue is not valid TOML",
                [ValidationError("toml", None, "nested too deeply to read")],
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(
                "role catalogue is not valid TOML", [ValidationError("toml", None, str(exc))]
            ) from None
        return cls.from_dict(data)

    @classmethod
    def from_json(cls, text: str) -> RoleCatalogue:
        """Build from JSON text (the shape :meth:`to_dict` writes); bad JSON is a
        :class:`~schoolsync.errors.CatalogueError` (field ``json``)."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise CatalogueError(
                "role catalogue is not valid JSON",
                [ValidationError("json", None, "nested too deeply to read")],
            ) from None
        except json.JSONDecodeError as exc:
            raise CatalogueError(
                "role catalogue is not valid JSON", [ValidationError("json", None, str(exc))]
            ) from None
        if not isinstance(data, Mapping):
            raise CatalogueError(
                "role catalogue data is malformed",
                [ValidationError("json", None, "expected an object with permissions and roles")],
            )
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The declaration as plain data (round-trips through :meth:`from_dict`)."""
        converter = make_converter()
        spec = _CatalogueSpec(
            permissions=tuple(self.permissions[n] for n in sorted(self.permissions)),
            roles=tuple(self.roles[n] for n in sorted(self.roles)),
            manage_permission=self.manage_permission or "",
            grant_permission=self.grant_permission or "",
            name=self.name,
            requires_designated_trust=self.requires_designated_trust,
            admin_editable_fields=tuple(sorted(self.admin_editable_fields)),
            trust_admin_role=self.trust_admin_role or "",
        )
        result: dict[str, Any] = converter.unstructure(spec)
        for role in result["roles"]:
            for key in ("permissions", "implies", "requires"):
                role[key] = sorted(role[key])
        return result

    # -- queries ------------------------------------------------------------------------

    def role(self, name: str) -> Role:
        """The role called *name*; raises :class:`~schoolsync.errors.ValidationError` if unknown."""
        try:
            return self.roles[name]
        except KeyError:
            raise ValidationError(
                "role", name, "unknown role" + _suggest(name, self.roles)
            ) from None

    def permission(self, name: str) -> Permission:
        """The permission called *name*; raises :class:`~schoolsync.errors.ValidationError` if unknown."""
        try:
            return self.permissions[name]
        except KeyError:
            raise ValidationError(
                "permission", name, "unknown permission" + _suggest(name, self.permissions)
            ) from None

    def effective_permissions(self, role: str) -> frozenset[str]:
        """Every permission *role* carries, its own and its implied roles'."""
        self.role(role)
        return self._effective[role]

    def implied_roles(self, role: str) -> frozenset[str]:
        """Every role *role* implies, directly or transitively (not itself)."""
        self.role(role)
        return self._implied_roles[role]

    def roles_granting(self, permission: str, scope: RoleScope | None = None) -> tuple[str, ...]:
        """Roles (of *scope*, if given) whose effective permissions include *permission*, smallest first."""
        found = [
            n
            for n, r in self.roles.items()
            if permission in self._effective[n] and (scope is None or r.scope is scope)
        ]
        return tuple(sorted(found, key=lambda n: (len(self._effective[n]), n)))

    def holders_of(self, role: str, held: Iterable[str]) -> bool:
        """True if someone holding the roles *held* (at one scope) counts as a holder of *role*."""
        return any(h == role or role in self._implied_roles.get(h, ()) for h in held)


# -- the steps of RoleCatalogue.build: each returns (or appends) the problems it finds ---------


def _permission_map(perms: list[Permission], problems: list[Exception]) -> dict[str, Permission]:
    """Permissions by name; badly formed and repeated names are problems."""
    perm_map: dict[str, Permission] = {}
    for p in perms:
        if not _NAME.match(p.name):
            problems.append(
                ValidationError(
                    "permissions",
                    p.name,
                    "a permission name is dotted lower-case words, e.g. 'reports.school.view'",
                )
            )
        if p.name in perm_map:
            problems.append(ValidationError("permissions", p.name, "declared twice"))
        perm_map[p.name] = p
    return perm_map


def _role_map(roles: list[Role], problems: list[Exception]) -> dict[str, Role]:
    """Roles by name; a repeated name is a problem."""
    role_map: dict[str, Role] = {}
    for r in roles:
        if r.name in role_map:
            problems.append(ValidationError("roles", r.name, "declared twice"))
        role_map[r.name] = r
    return role_map


def _reference_problems(
    role: Role, perm_map: Mapping[str, Permission], role_map: Mapping[str, Role]
) -> list[Exception]:
    """Unknown permissions and roles a role names, and names beyond its scope."""
    where = f"roles[{role.name!r}]"
    found: list[Exception] = []
    for pname in sorted(role.permissions):
        if pname not in perm_map:
            found.append(
                ValidationError(
                    f"{where}.permissions", pname, "unknown permission" + _suggest(pname, perm_map)
                )
            )
        elif role.scope is RoleScope.SCHOOL and perm_map[pname].level is PermissionLevel.TRUST:
            found.append(
                ValidationError(
                    f"{where}.permissions",
                    pname,
                    "a school role cannot hold a trust-level permission",
                )
            )
    for field, names in (("implies", role.implies), ("requires", role.requires)):
        for rname in sorted(names):
            if rname not in role_map:
                reason = "unknown role" + _suggest(rname, role_map)
            elif role.scope is RoleScope.SCHOOL and role_map[rname].scope is RoleScope.TRUST:
                reason = "a school role cannot imply or require a trust role"
            elif field == "requires" and role_map[rname].scope is not role.scope:
                reason = "a role can only require roles of its own scope"
            else:
                continue
            found.append(ValidationError(f"{where}.{field}", rname, reason))
    return found


def _setting_problems(
    perm_map: Mapping[str, Permission],
    *,
    manage_permission: str | None,
    grant_permission: str | None,
) -> list[Exception]:
    """``manage_permission`` and ``grant_permission`` must name declared permissions."""
    return [
        ValidationError(key, value, "unknown permission" + _suggest(value, perm_map))
        for key, value in (
            ("manage_permission", manage_permission),
            ("grant_permission", grant_permission),
        )
        if value is not None and value not in perm_map
    ]


def _editable_field_problems(editable: frozenset[str]) -> list[Exception]:
    """``admin_editable_fields`` must be drawn from :data:`ADMIN_EDITABLE_FIELDS`."""
    return [
        ValidationError(
            "admin_editable_fields",
            field_name,
            "not an account field administrators may be allowed to edit "
            f"(choose from {', '.join(sorted(ADMIN_EDITABLE_FIELDS))})"
            + _suggest(field_name, ADMIN_EDITABLE_FIELDS),
        )
        for field_name in sorted(editable - ADMIN_EDITABLE_FIELDS)
    ]


def _trust_admin_role_problems(
    trust_admin_role: str | None, role_map: Mapping[str, Role]
) -> list[Exception]:
    """``trust_admin_role`` must name a declared trust role."""
    if trust_admin_role is None:
        return []
    role = role_map.get(trust_admin_role)
    if role is None:
        reason = "unknown role" + _suggest(trust_admin_role, role_map)
    elif role.scope is not RoleScope.TRUST:
        reason = 'the trust admin role must be a trust role (scope = "trust")'
    else:
        return []
    return [ValidationError("trust_admin_role", trust_admin_role, reason)]


def _cycle_problems(role_map: Mapping[str, Role]) -> list[Exception]:
    """Implication cycles: a depth-first search, each cycle reported once.

    Iterative (an explicit stack), so a chain of thousands of roles each implying the next
    cannot exhaust Python's recursion limit.
    """
    cycles: list[tuple[str, ...]] = []
    seen_cycles: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    done = object()
    for root in sorted(role_map):
        if root in state:
            continue
        state[root] = 1
        stack = [root]
        pending = [iter(sorted(role_map[root].implies))]
        while pending:
            nxt = next(pending[-1], done)
            if nxt is done:
                state[stack.pop()] = 2
                pending.pop()
                continue
            assert isinstance(nxt, str)
            if nxt not in role_map:
                continue
            if state.get(nxt) == 1:
                cycle = (*stack[stack.index(nxt) :], nxt)
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    cycles.append(cycle)
            elif nxt not in state:
                state[nxt] = 1
                stack.append(nxt)
                pending.append(iter(sorted(role_map[nxt].implies)))
    return [
        ValidationError(
            f"roles[{cycle[0]!r}].implies", " -> ".join(cycle), "roles imply each other in a cycle"
        )
        for cycle in cycles
    ]


class _Implication:
    """The implication graph folded over its strongly connected components, in one pass.

    Every role of a component (the roles of a cycle, or one role) reaches the same roles: the
    component and everything below it. Folding each component's facts into those of the
    components it implies, children first, gives every role's effective permissions and
    tells which roles could break the trust-permission and cap rules, in time linear in the
    roles and implications (times the permissions a role reaches), where a closure per role
    is quadratic in the length of a chain of roles.
    """

    def __init__(self, role_map: Mapping[str, Role], perm_map: Mapping[str, Permission]) -> None:
        self.component: dict[str, int] = {}
        self.members: list[list[str]] = []
        #: Role -> its own and its implied roles' permissions (declared ones only).
        self.effective: dict[str, frozenset[str]] = {}
        #: Component -> the trust-level permissions of the roles it implies outside itself.
        self.trust_below: list[frozenset[str]] = []
        #: Component -> per scope, the lowest cap of the roles it implies outside itself.
        self.cap_below: list[dict[RoleScope, int | None]] = []
        reach_trust: list[frozenset[str]] = []
        reach_cap: list[dict[RoleScope, int | None]] = []
        for members in _components(role_map):  # each after every component it implies
            c = len(self.members)
            self.members.append(members)
            for rname in members:
                self.component[rname] = c
            below = {
                self.component[nxt]
                for rname in members
                for nxt in role_map[rname].implies
                if nxt in role_map and self.component[nxt] != c
            }
            own = [p for rname in members for p in role_map[rname].permissions if p in perm_map]
            effective = frozenset(own).union(*(self.effective[self.members[b][0]] for b in below))
            for rname in members:
                self.effective[rname] = effective
            trust_below = frozenset[str]().union(*(reach_trust[b] for b in below))
            self.trust_below.append(trust_below)
            reach_trust.append(
                trust_below.union(p for p in own if perm_map[p].level is PermissionLevel.TRUST)
            )
            cap_below = {scope: _lowest(reach_cap[b][scope] for b in below) for scope in RoleScope}
            self.cap_below.append(cap_below)
            reach_cap.append(
                {
                    scope: _lowest(
                        [cap_below[scope], *(role_map[rname].cap_at(scope) for rname in members)]
                    )
                    for scope in RoleScope
                }
            )

    def in_cycle(self, rname: str) -> bool:
        """True if *rname* is one of several roles implying each other."""
        return len(self.members[self.component[rname]]) > 1


def _lowest(caps: Iterable[int | None]) -> int | None:
    """The lowest of the caps given (``None``: no cap)."""
    found = [cap for cap in caps if cap is not None]
    return min(found) if found else None


def _components(role_map: Mapping[str, Role]) -> list[list[str]]:
    """The strongly connected components of the implication graph (Tarjan's algorithm with an
    explicit stack, so no chain exhausts the recursion limit), each listed after every
    component it implies."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in role_map:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(role_map[root].implies))]
        while work:
            rname, todo = work[-1]
            for nxt in todo:
                if nxt not in role_map:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(role_map[nxt].implies)))
                    break
                if nxt in on_stack:
                    low[rname] = min(low[rname], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[rname])
                if low[rname] == index[rname]:
                    members: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == rname:
                            break
                    found.append(members)
    return found


def _implied_closure(role_map: Mapping[str, Role], rname: str) -> frozenset[str]:
    """Every role *rname* implies, directly or transitively, itself left out (cycle-safe)."""
    todo = [rname]
    found: set[str] = set()
    while todo:
        cur = todo.pop()
        for nxt in role_map[cur].implies:
            if nxt in role_map and nxt not in found:
                found.add(nxt)
                todo.append(nxt)
    found.discard(rname)
    return frozenset(found)


class _ImpliedRoles(Mapping[str, frozenset[str]]):
    """Role -> every role it implies, worked out for a role when first asked (a closure for
    every role at once is quadratic in the length of a chain of roles)."""

    def __init__(self, role_map: Mapping[str, Role]) -> None:
        self._roles = role_map
        self._found: dict[str, frozenset[str]] = {}

    def __getitem__(self, rname: str) -> frozenset[str]:
        found = self._found.get(rname)
        if found is None:
            if rname not in self._roles:
                raise KeyError(rname)
            found = self._found[rname] = _implied_closure(self._roles, rname)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._roles)

    def __len__(self) -> int:
        return len(self._roles)


def _implied_trust_permission_problems(
    role_map: Mapping[str, Role],
    perm_map: Mapping[str, Permission],
    graph: _Implication,
    implied: Mapping[str, frozenset[str]],
) -> list[Exception]:
    """A school role may not reach a trust-level permission through the roles it implies."""
    found: list[Exception] = []
    for rname, role in sorted(role_map.items()):
        if role.scope is not RoleScope.SCHOOL:
            continue
        if not graph.in_cycle(rname) and not graph.trust_below[graph.component[rname]]:
            continue  # none below it: no need to list the roles it implies
        bad = sorted(
            p
            for n in implied[rname]
            for p in role_map[n].permissions
            if p in perm_map and perm_map[p].level is PermissionLevel.TRUST
        )
        found.extend(
            ValidationError(
                f"roles[{rname!r}].implies",
                bad_name,
                "a school role cannot reach a trust-level permission through implication",
            )
            for bad_name in bad
        )
    return found


def _nesting_cap_problems(
    role_map: Mapping[str, Role], graph: _Implication, implied: Mapping[str, frozenset[str]]
) -> list[Exception]:
    """An implying role's holders hold the implied role too, so caps must nest."""
    found: list[Exception] = []
    for rname, role in sorted(role_map.items()):
        below = graph.cap_below[graph.component[rname]]
        if not graph.in_cycle(rname) and not any(
            (mine := role.cap_at(scope)) is not None
            and (theirs := below[scope]) is not None
            and mine > theirs
            for scope in RoleScope
        ):
            continue  # no cap below it is lower than its own: no need to list them
        for other in sorted(implied[rname]):
            for scope in (RoleScope.SCHOOL, RoleScope.TRUST):
                mine, theirs = role.cap_at(scope), role_map[other].cap_at(scope)
                if theirs is not None and mine is not None and mine > theirs:
                    found.append(
                        ValidationError(
                            f"roles[{rname!r}]",
                            mine,
                            f"impossible cap: it implies {other!r}, capped at {theirs} per "
                            f"{scope.value}, but allows {mine} holders",
                        )
                    )
    return found
