"""A fluent builder for access test worlds: trusts, schools, accounts, roles and grants.

>>> from datetime import UTC, datetime
>>> from schoolsync.access.presets import boost_insights
>>> w = (
...     world(boost_insights(), now=datetime(2026, 1, 5, tzinfo=UTC))
...     .trust("T", name="Oak Trust")
...     .school("S1", name="Oakfield Primary", in_trust="T")
...     .account("ana")
...     .role("ana", "Group Admin")
... )
>>> bool(w.index().check("ana", "reports.school.view", "S1"))
True
>>> w.index().check("ana", "users.manage", "S1").reason.value
'no_grant'

Every step is recorded as an audit event at the builder's current time (:meth:`World.at`), so
an index built from the world can answer ``at=`` questions about earlier steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.grants import Grant
from schoolsync.access.index import AccessIndex
from schoolsync.access.records import AccessRecords, record_event, write_events
from schoolsync.audit import AuditEvent
from schoolsync.errors import SchoolsyncError, ValidationError
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

__all__ = ["World", "world"]


class World:
    """A mutable test world; each method returns the world so calls chain."""

    def __init__(self, catalogue: RoleCatalogue, *, now: datetime) -> None:
        self.catalogue = catalogue
        self.now = now
        self._at = now
        self.records = AccessRecords()
        self.events: list[AuditEvent] = []
        self._counter = 0

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def _put(self, kind: str, record: Any) -> None:
        before = self.records.table(kind).get(record.id)
        self.events.append(record_event(kind, before, record, at=self._at, actor_id=None))
        self.records.table(kind)[record.id] = record

    def _remove(self, kind: str, record_id: str) -> None:
        before = self.records.table(kind).pop(record_id)
        self.events.append(record_event(kind, before, None, at=self._at, actor_id=None))

    def _default_trust(self, trust: str | None) -> str:
        if trust is not None:
            return trust
        if len(self.records.trusts) != 1:
            raise ValueError("name the trust: the world has none or several")
        return next(iter(self.records.trusts))

    # -- steps --------------------------------------------------------------------------

    def at(self, moment: datetime) -> World:
        """Record the following steps at *moment* (for ``at=`` tests)."""
        self._at = moment
        return self

    def trust(self, trust_id: str, *, name: str | None = None, designated: bool = False) -> World:
        """Add a trust."""
        self._put(
            "trust",
            Trust(id=trust_id, name=name or trust_id, designated_academy_trust=designated),
        )
        return self

    def school(
        self,
        school_id: str,
        *,
        name: str | None = None,
        in_trust: str | None = None,
        status: MembershipStatus | str = MembershipStatus.ACCEPTED,
    ) -> World:
        """Add a school; with *in_trust*, also its membership (accepted unless *status* says)."""
        self._put("school", School(id=school_id, name=name or school_id))
        if in_trust is not None:
            self.membership(school_id, in_trust, status=status)
        return self

    def membership(
        self,
        school_id: str,
        trust_id: str | None = None,
        *,
        status: MembershipStatus | str = MembershipStatus.ACCEPTED,
    ) -> World:
        """Set the school's membership status in the trust (one membership per pair)."""
        trust_id = self._default_trust(trust_id)
        existing = next(
            (
                m
                for m in self.records.memberships.values()
                if m.school_id == school_id and m.trust_id == trust_id
            ),
            None,
        )
        mid = existing.id if existing is not None else f"m-{trust_id}-{school_id}"
        self._put(
            "membership",
            Membership(
                id=mid, trust_id=trust_id, school_id=school_id, status=MembershipStatus(status)
            ),
        )
        return self

    def leave(self, school_id: str, trust_id: str | None = None) -> World:
        """The school leaves the trust: its membership ends and every grant it gave is revoked."""
        trust_id = self._default_trust(trust_id)
        self.membership(school_id, trust_id, status=MembershipStatus.LEFT)
        for g in list(self.records.grants.values()):
            if g.school_id == school_id and g.trust_id == trust_id and g.revoked_at is None:
                self._put("grant", attrs.evolve(g, revoked_at=self._at))
        return self

    def account(
        self,
        account_id: str,
        *,
        trust: str | None = None,
        status: AccountStatus | str = AccountStatus.ACTIVE,
    ) -> World:
        """Add an account (active unless *status* says otherwise)."""
        self._put(
            "account",
            Account(
                id=account_id,
                trust_id=self._default_trust(trust),
                email=f"{account_id}@example.org",
                name=account_id,
                status=AccountStatus(status),
            ),
        )
        return self

    def status(self, account_id: str, status: AccountStatus | str) -> World:
        """Change an account's status."""
        acct = self.records.accounts[account_id]
        self._put("account", attrs.evolve(acct, status=AccountStatus(status)))
        return self

    def role(
        self, account_id: str, role: str, *, at: str | None = None, assignment_id: str | None = None
    ) -> World:
        """Give *account_id* the *role* at school *at* (``None``: a trust role). No checks."""
        self.catalogue.role(role)
        acct = self.records.accounts[account_id]
        self._put(
            "assignment",
            RoleAssignment(
                id=assignment_id or self._id("r"),
                account_id=account_id,
                trust_id=acct.trust_id,
                role=role,
                school_id=at,
                assigned_at=self._at,
            ),
        )
        return self

    def unrole(self, account_id: str, role: str, *, at: str | None = None) -> World:
        """Remove the account's *role* at school *at* (``None``: its trust role)."""
        for a in list(self.records.assignments.values()):
            if a.account_id == account_id and a.role == role and a.school_id == at:
                self._remove("assignment", a.id)
        return self

    def grant(
        self,
        school_id: str,
        permissions: Iterable[str],
        *,
        trust: str | None = None,
        accounts: Iterable[str] | None = None,
        expires_at: datetime | None = None,
        grant_id: str | None = None,
    ) -> World:
        """The school grants its trust (or the named trust *accounts*) the *permissions*."""
        self._put(
            "grant",
            Grant(
                id=grant_id or self._id("g"),
                trust_id=self._default_trust(trust),
                school_id=school_id,
                permissions=frozenset(permissions),
                account_ids=None if accounts is None else frozenset(accounts),
                granted_at=self._at,
                expires_at=expires_at,
            ),
        )
        return self

    def revoke(self, grant_id: str) -> World:
        """Revoke a grant now (at the builder's current time)."""
        self._put("grant", attrs.evolve(self.records.grants[grant_id], revoked_at=self._at))
        return self

    # -- results ------------------------------------------------------------------------

    def index(self, *, now: datetime | None = None) -> AccessIndex:
        """An :class:`~schoolsync.access.AccessIndex` over a copy of the world (with its history)."""
        return AccessIndex.build(
            self.catalogue, self.records.copy(), now=now or self.now, history=self.events
        )

    def store(self) -> MemoryStore:
        """A :class:`~schoolsync.testing.memory.MemoryStore` holding the world and its audit log."""
        store = MemoryStore()
        with store.unit_of_work() as uow:
            write_events(uow, self.events, self.records)
            uow.commit()
        return store

    # -- data -----------------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls, catalogue: RoleCatalogue, data: Mapping[str, Any], *, now: datetime
    ) -> World:
        """A world from plain data (the ``world:`` section of a scenario YAML file).

        Keys: ``trusts`` (id, name), ``schools`` (id, name, trust, status), ``accounts`` (id,
        trust, status), ``roles`` (account, role, school), ``grants`` (id, school, trust,
        permissions, accounts, expires_at, revoked). A missing or bad value raises
        :class:`~schoolsync.errors.ValidationError` naming it (``world.schools[2].id``).
        """
        w = cls(catalogue, now=now)
        steps: dict[str, Callable[[Mapping[str, Any]], object]] = {
            "trusts": lambda t: w.trust(_req(t, "id"), name=t.get("name")),
            "schools": lambda s: w.school(
                _req(s, "id"),
                name=s.get("name"),
                in_trust=s.get("trust"),
                status=MembershipStatus(s.get("status", "accepted")),
            ),
            "accounts": lambda a: w.account(
                _req(a, "id"), trust=a.get("trust"), status=a.get("status", "active")
            ),
            "roles": lambda r: w.role(_req(r, "account"), _req(r, "role"), at=r.get("school")),
            "grants": lambda g: _grant_from_dict(w, g),
        }
        for section, step in steps.items():
            for i, entry in enumerate(data.get(section) or (), start=1):
                where = f"world.{section}[{i}]"
                if not isinstance(entry, Mapping):
                    raise ValidationError(where, entry, "expected a mapping of fields")
                try:
                    step(entry)
                except _MissingField as missing:
                    raise ValidationError(
                        f"{where}.{missing.args[0]}", None, "a value is required"
                    ) from None
                except (ValueError, TypeError, SchoolsyncError) as exc:
                    raise ValidationError(where, None, str(exc)) from None
        return w


class _MissingField(Exception):
    """A required key is absent from one entry of a world mapping (carries the key)."""


def _req(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if value is None or str(value).strip() == "":
        raise _MissingField(key)
    return str(value)


def _grant_from_dict(w: World, g: Mapping[str, Any]) -> World:
    expires = g.get("expires_at")
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires)
    permissions = g.get("permissions")
    if not permissions:
        raise _MissingField("permissions")
    w.grant(
        _req(g, "school"),
        [str(p) for p in permissions],
        trust=g.get("trust"),
        accounts=g.get("accounts"),
        expires_at=expires,
        grant_id=g.get("id"),
    )
    if g.get("revoked"):
        w.revoke(list(w.records.grants)[-1] if g.get("id") is None else str(g["id"]))
    return w


def world(catalogue: RoleCatalogue, *, now: datetime) -> World:
    """Start a :class:`World` using *catalogue*, evaluated at *now*."""
    return World(catalogue, now=now)
