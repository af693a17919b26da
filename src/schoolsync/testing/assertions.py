"""Test assertions for access decisions: :func:`assert_allowed` and :func:`assert_denied`."""

from __future__ import annotations

from datetime import datetime

from schoolsync.access.decision import Decision, DenialReason
from schoolsync.access.index import AccessIndex

__all__ = ["assert_allowed", "assert_denied"]


def assert_allowed(
    index: AccessIndex,
    account_id: str,
    permission: str,
    school_id: str | None = None,
    *,
    at: datetime | None = None,
) -> Decision:
    """Assert the check is allowed; the failure message explains the denial. Returns the decision."""
    decision = index.check(account_id, permission, school_id, at)
    if not decision:
        raise AssertionError(f"expected allowed, but {decision.explain()}")
    return decision


def assert_denied(
    index: AccessIndex,
    account_id: str,
    permission: str,
    school_id: str | None = None,
    *,
    reason: DenialReason | str | None = None,
    visible: bool | None = None,
    at: datetime | None = None,
) -> Decision:
    """Assert the check is denied (for *reason*, and with *visible*, when given). Returns the decision."""
    decision = index.check(account_id, permission, school_id, at)
    if decision:
        raise AssertionError(f"expected denied, but {decision.explain()}")
    if reason is not None and decision.reason is not DenialReason(reason):
        raise AssertionError(
            f"expected denial for {DenialReason(reason).value}, got: {decision.explain()}"
        )
    if visible is not None and decision.visible is not visible:
        raise AssertionError(
            f"expected visible={visible}, got visible={decision.visible}: {decision.explain()}"
        )
    return decision
