"""School-to-trust grants (records).

A grant is a school's consent that its trust may use ``permissions`` at that school: for the
trust as a whole (``account_ids is None``) or only for the named trust accounts. It is a ceiling:
a trust account may use at a school exactly the permissions of its trust roles that lie inside
that school's live grants.
"""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["Grant"]


def _frozen_str_set(value: object) -> frozenset[str]:
    return frozenset(str(v) for v in value)  # type: ignore[attr-defined]


def _optional_frozen_str_set(value: object) -> frozenset[str] | None:
    return None if value is None else _frozen_str_set(value)


@attrs.frozen(kw_only=True)
class Grant:
    """A school's grant of ``permissions`` to its trust (or to named trust accounts)."""

    id: str
    trust_id: str
    school_id: str
    permissions: frozenset[str] = attrs.field(converter=_frozen_str_set)
    account_ids: frozenset[str] | None = attrs.field(
        default=None, converter=_optional_frozen_str_set
    )
    granted_by: str | None = None
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_live(self, at: datetime) -> bool:
        """True if the grant was given by *at*, is not revoked by *at* and has not expired."""
        if self.granted_at is not None and at < self.granted_at:
            return False
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return not (self.expires_at is not None and self.expires_at <= at)

    def covers(self, account_id: str, permission: str) -> bool:
        """True if the grant's scope includes *permission* for *account_id* (ignoring time)."""
        if permission not in self.permissions:
            return False
        return self.account_ids is None or account_id in self.account_ids
