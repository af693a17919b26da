"""Access decisions that explain themselves: :class:`Decision`, :class:`DenialReason`, paths and diffs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import attrs

from schoolsync.errors import AccessDeniedError
from schoolsync.tables import Tabular

__all__ = [
    "AccessChange",
    "AccessDiff",
    "AccessPath",
    "AccessTable",
    "Decision",
    "DenialReason",
    "MissingFact",
    "Namer",
]


#: "Not worked out yet" for a decision's lazily explained missing fact.
_UNSET: object = object()

#: Renders a record id for a person: ``name(record_id, default)`` -> the text to show.
Namer = Callable[[str, str], str]


def _as_given(_record_id: str, default: str) -> str:
    """The default rendering: schools and trusts by name, accounts by id."""
    return default


def _namer(names: Mapping[str, str] | None) -> Namer:
    """A namer showing the ids in *names* by their display names (others as by default)."""
    if not names:
        return _as_given
    return lambda record_id, default: names.get(record_id) or default


class DenialReason(StrEnum):
    """Why a check was denied (a closed set: hosts may switch on it).

    ``NOT_DESIGNATED``: the catalogue lets trust roles reach schools only in organisations
    designated as academy trusts (``RoleCatalogue.requires_designated_trust``, the Schoot
    rule) and the account's trust is not designated; no grant would help.
    """

    INACTIVE = "inactive"
    NO_ROLE = "no_role"
    NO_GRANT = "no_grant"
    NOT_DESIGNATED = "not_designated"
    GRANT_REVOKED = "grant_revoked"
    GRANT_EXPIRED = "grant_expired"
    OUTSIDE_GRANT_SCOPE = "outside_grant_scope"
    SCHOOL_NOT_IN_TRUST = "school_not_in_trust"
    UNKNOWN_SCHOOL = "unknown_school"


@attrs.frozen(kw_only=True)
class AccessPath:
    """One derivation of an allowed permission: role -> (trust -> grant or membership) -> school.

    ``grant_id`` is set when a trust role reached the school through that school's grant;
    ``via_membership`` when the permission needs no grant and the school's membership sufficed.
    """

    role: str
    scope: str
    assignment_id: str
    school_id: str | None
    trust_id: str | None = None
    grant_id: str | None = None
    via_membership: bool = False

    def __str__(self) -> str:
        return self.describe()

    def describe(self, name: Namer = _as_given) -> str:
        """The path in words; *name* renders the school and trust ids (``str()``: ids)."""
        school = "" if self.school_id is None else name(self.school_id, self.school_id)
        if self.scope == "school":
            return f"school role {self.role!r} at {school}"
        trust = "" if self.trust_id is None else name(self.trust_id, self.trust_id)
        head = f"trust role {self.role!r} in {trust}"
        if self.school_id is None:
            return head
        if self.grant_id is not None:
            return f"{head} -> grant {self.grant_id} -> {school}"
        return f"{head} -> membership -> {school}"


@attrs.frozen(kw_only=True)
class MissingFact:
    """The smallest fact that would flip a denial, and who can supply it.

    ``kind`` is ``"role"``, ``"grant"``, ``"membership"``, ``"designation"`` or
    ``"activation"``; ``roles`` names
    the roles that could supply it and ``accounts`` the accounts holding them now.
    ``text`` names schools and trusts by name and accounts by id (no personal data);
    :meth:`describe` shows display names the host passes.
    """

    kind: str
    text: str
    roles: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    #: Renders the text with a namer (``text`` is its rendering with the default namer).
    _render: Callable[[Namer], str] | None = attrs.field(
        default=None, alias="render", eq=False, repr=False
    )

    def __str__(self) -> str:
        return self.text

    def describe(self, names: Mapping[str, str] | None = None) -> str:
        """The text with every id in *names* (accounts, schools, trusts) shown by its display
        name, e.g. ``{"alice": "Alice Khan"}``; ids not in *names* read as in :attr:`text`.

        For a person reading it: the result may hold personal data, so do not log it.
        """
        if not names or self._render is None:
            return self.text
        return self._render(_namer(names))

    @classmethod
    def rendered(
        cls,
        kind: str,
        render: Callable[[Namer], str],
        roles: tuple[str, ...] = (),
        accounts: tuple[str, ...] = (),
    ) -> MissingFact:
        """A fact whose text *render* builds (``text`` is its default rendering)."""
        return cls(kind=kind, text=render(_as_given), roles=roles, accounts=accounts, render=render)


@attrs.frozen(kw_only=True)
class Decision:
    """The answer to ``check(account, permission, school)``; truthy when allowed.

    On allow, ``paths`` lists every derivation; on deny, ``reason`` and ``missing`` say why and
    what would change it. ``visible`` says whether the school may be revealed to the account
    (``False``: answer 404 rather than 403).
    """

    allowed: bool
    account_id: str
    permission: str
    school_id: str | None
    reason: DenialReason | None = None
    paths: tuple[AccessPath, ...] = ()
    visible: bool = True
    _given_missing: MissingFact | None = attrs.field(default=None, alias="missing", eq=False)
    _explainer: Callable[[Decision], MissingFact | None] | None = attrs.field(
        default=None, alias="explainer", eq=False, repr=False
    )
    _memo: object = attrs.field(default=_UNSET, init=False, eq=False, repr=False)

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def missing(self) -> MissingFact | None:
        """On deny, the smallest missing fact and who can supply it (worked out once, on first
        read, from the records as they are then)."""
        if self._given_missing is not None or self._explainer is None:
            return self._given_missing
        memo = self._memo
        if memo is _UNSET:
            memo = self._explainer(self)
            object.__setattr__(self, "_memo", memo)
        assert memo is None or isinstance(memo, MissingFact)
        return memo

    def explain(self, names: Mapping[str, str] | None = None) -> str:
        """One readable paragraph: the paths of an allow, or the reason and fix of a denial.

        Schools and trusts read by their names (from the records the decision was made from);
        accounts by id, unless *names* maps ids (accounts, schools or trusts) to display names,
        e.g. ``{"alice": "Alice Khan"}``. Without *names* the text holds no personal data (it
        is also the message of :meth:`raise_if_denied`); with them, show it, don't log it.
        """
        given = _namer(names)
        # The index's explainer also knows the school and trust names of its records.
        place_name: Callable[[str], str | None] | None = getattr(
            self._explainer, "place_name", None
        )

        def name(record_id: str, default: str) -> str:
            if place_name is not None:
                default = place_name(record_id) or default
            return given(record_id, default)

        who = given(self.account_id, self.account_id)
        where = "the trust" if self.school_id is None else name(self.school_id, self.school_id)
        if self.allowed:
            lines = "; ".join(p.describe(name) for p in self.paths)
            return f"{who} may use {self.permission} at {where}: {lines}"
        assert self.reason is not None
        text = f"{who} may not use {self.permission} at {where} ({self.reason.value})"
        missing = self.missing
        if missing is not None:
            text += f": {missing.describe(names)}"
        return text

    def raise_if_denied(self) -> None:
        """Raise :class:`~schoolsync.errors.AccessDeniedError` carrying this decision if denied."""
        if not self.allowed:
            raise AccessDeniedError(self.explain(), self)


@attrs.frozen(kw_only=True)
class AccessChange:
    """One (account, school, permission) triple gained or lost; ``school_id`` ``None`` is the trust."""

    account_id: str
    school_id: str | None
    permission: str


def _named(rows: list[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """*rows* with the ``account`` and ``school`` ids replaced by names where *names* has them."""
    return [
        {
            **row,
            "account": names.get(row["account"], row["account"]),
            "school": names.get(row["school"], row["school"]),
        }
        for row in rows
    ]


@attrs.frozen(kw_only=True)
class AccessDiff(Tabular):
    """Who gains and who loses what if a change is made (see ``AccessIndex.preview``)."""

    gained: tuple[AccessChange, ...] = ()
    lost: tuple[AccessChange, ...] = ()
    #: Account and school id -> name, for the HTML table a person reads (never logged).
    names: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    def display_rows(self) -> list[dict[str, Any]]:
        """:meth:`to_rows` with account and school names in place of ids, where known."""
        return _named(self.to_rows(), self.names)

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost)

    def by_account(self) -> Mapping[str, Mapping[str, tuple[AccessChange, ...]]]:
        """``{account: {"gained": (...), "lost": (...)}}`` for accounts that change."""
        out: dict[str, dict[str, list[AccessChange]]] = {}
        for label, items in (("gained", self.gained), ("lost", self.lost)):
            for c in items:
                out.setdefault(c.account_id, {"gained": [], "lost": []})[label].append(c)
        return {a: {k: tuple(v) for k, v in d.items()} for a, d in out.items()}

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per change: change (gained/lost), account, school, permission."""
        return [
            {
                "change": label,
                "account": c.account_id,
                "school": c.school_id or "(trust)",
                "permission": c.permission,
            }
            for label, items in (("gained", self.gained), ("lost", self.lost))
            for c in items
        ]

    def table_caption(self) -> str | None:
        """A caption counting gains and losses."""
        return f"{len(self.gained)} gained, {len(self.lost)} lost"


@attrs.frozen(kw_only=True)
class AccessTable(Tabular):
    """An account's whole access: one row per (school, permission) with the roles behind it."""

    account_id: str
    entries: tuple[tuple[str | None, str, tuple[AccessPath, ...]], ...]
    #: Account and school id -> name, for the HTML table a person reads (never logged).
    names: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    def __len__(self) -> int:
        return len(self.entries)

    def display_rows(self) -> list[dict[str, Any]]:
        """:meth:`to_rows` with the account's and each school's name in place of the id, where
        known."""
        return _named(self.to_rows(), self.names)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per school and permission: school, permission, via (the paths)."""
        return [
            {
                "account": self.account_id,
                "school": school or "(trust)",
                "permission": perm,
                "via": "; ".join(str(p) for p in paths),
            }
            for school, perm, paths in self.entries
        ]

    def table_caption(self) -> str | None:
        """A caption naming the account."""
        return f"Access of {self.account_id}"


_new = object.__new__
_slots: Any = Decision  # the slot descriptors of the frozen class set fields directly
_set_allowed = _slots.allowed.__set__
_set_account = _slots.account_id.__set__
_set_permission = _slots.permission.__set__
_set_school = _slots.school_id.__set__
_set_reason = _slots.reason.__set__
_set_paths = _slots.paths.__set__
_set_visible = _slots.visible.__set__
_set_given = _slots._given_missing.__set__
_set_explainer = _slots._explainer.__set__
_set_memo = _slots._memo.__set__


def _denial(
    account_id: str,
    permission: str,
    school_id: str | None,
    reason: DenialReason,
    visible: bool,
    explainer: Callable[[Decision], MissingFact | None],
) -> Decision:
    """A denial, built without the attrs ``__init__`` (the hot path of ``AccessIndex.check``).

    Equal, field for field, to ``Decision(allowed=False, ..., explainer=explainer)``.
    """
    d = _new(Decision)
    _set_allowed(d, False)
    _set_account(d, account_id)
    _set_permission(d, permission)
    _set_school(d, school_id)
    _set_reason(d, reason)
    _set_paths(d, ())
    _set_visible(d, visible)
    _set_given(d, None)
    _set_explainer(d, explainer)
    _set_memo(d, _UNSET)
    return d
