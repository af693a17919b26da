"""One write path for role assignments: every path audits a role given as ROLE_ASSIGNED and
passes the one cap rule (``schoolsync.access.caps``)."""

from __future__ import annotations

from schoolsync.access import AccessAdmin, AccessIndex, write_events
from schoolsync.access.presets import boost_insights
from schoolsync.bulk import CatalogueChecks, ProblemCode, apply_change_set, edit_selection
from schoolsync.clock import FixedClock
from schoolsync.identifiers import Urn
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.trusts import School

from .test_trusts_lifecycle import boost_group


def _assignment_actions(events: list[AuditEvent]) -> list[str]:
    return [e.action for e in events if e.subject_kind == "assignment"]


def test_lifecycle_bulk_and_single_edit_audit_a_role_given_alike() -> None:
    """The trust lifecycle, a bulk change set and AccessAdmin each write ROLE_ASSIGNED."""
    catalogue = boost_insights()
    life, store, trust_id = boost_group(("ga1", "ga2", "ga3"))
    life.add_school(trust_id, School(id="s1", name="Oak", urn=Urn("100001")))
    at = life.clock.now()
    checks = CatalogueChecks(catalogue)

    life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, "ga1"))
    bulk = edit_selection(
        store, trust_id, ["ga2"], checks=checks, at=at, add=[("Group Admin", None)]
    )
    apply_change_set(store, bulk, checks=checks, at=at)
    index = AccessIndex.from_store(catalogue, store, now=at)
    single = AccessAdmin(index).assign(
        actor_id=None, account_id="ga3", role="Teacher", school_id="s1", at=at
    )
    with store.unit_of_work() as uow:
        write_events(uow, single, index.records)
        uow.commit()

    with store.unit_of_work() as uow:
        actions = _assignment_actions(uow.audit.events())
        holders = sorted((a.account_id, a.role) for a in uow.assignments.list())
    assert [AuditAction.ROLE_ASSIGNED] * 3 == actions
    assert [("ga1", "Group Admin"), ("ga2", "Group Admin"), ("ga3", "Teacher")] == holders


def test_bulk_change_set_meets_the_same_cap_as_the_lifecycle() -> None:
    """Two Group Admins through the lifecycle: a bulk change set cannot add a third."""
    catalogue = boost_insights()
    life, store, trust_id = boost_group(("ga1", "ga2", "ga3"), max_trust_admins=3)
    for account_id in ("ga1", "ga2"):
        life.accept_trust_admin(trust_id, life.nominate_trust_admin(trust_id, account_id))

    change_set = edit_selection(
        store,
        trust_id,
        ["ga3"],
        checks=CatalogueChecks(catalogue),
        at=life.clock.now(),
        add=[("Group Admin", None)],
    )

    assert [ProblemCode.CAP_EXCEEDED] == [p.code for p in change_set.problems]
    assert "'Group Admin' allows at most 2" in change_set.problems[0].message


def test_older_stored_actions_load_as_the_one_action() -> None:
    """Events stored as "assignment.created" (lifecycle) or "role.assigned" (bulk) by earlier
    versions load as ROLE_ASSIGNED."""
    for stored in ("assignment.created", "role.assigned", "assignment.added"):
        event = AuditEvent(
            id="e",
            at=FixedClock().now(),
            actor_id=None,
            action=stored,
            subject_kind="assignment",
            subject_id="a",
        )
        assert AuditAction.ROLE_ASSIGNED is event.action


def test_the_acting_account_is_actor_id_everywhere() -> None:
    """No function in src names the account that acts anything but ``actor_id``."""
    import ast
    from pathlib import Path

    import schoolsync

    other_names = {"by", "actor", "admin_id", "acting_account", "acting_account_id", "done_by"}
    found = []
    for path in sorted(Path(schoolsync.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                    if arg.arg in other_names or arg.arg.startswith("acting_"):
                        found.append(f"{path.name}:{node.lineno} {node.name}({arg.arg})")
    assert [] == found


def test_the_write_path_takes_the_trust_lock_before_its_check() -> None:
    """``AuditedOperation.assign_role`` locks the trust (then the school) before it checks, so
    a host writing through it directly counts a cap's holders under the lock: while another
    writer holds the trust, the memory store refuses it and the check never runs."""
    import pytest

    from schoolsync.access.operation import run_operation
    from schoolsync.errors import ConcurrentWriteError

    _, store, trust_id = boost_group(("ga1",))
    checked: list[str] = []
    at = FixedClock().now()
    with store.unit_of_work() as other:
        other.lock_trust(trust_id)
        with (
            pytest.raises(ConcurrentWriteError, match="trust"),
            run_operation(store, at=at, actor_id=None, new_event_id=lambda: "e1") as op,
        ):
            op.assign_role(
                account_id="ga1",
                trust_id=trust_id,
                role="Group Admin",
                school_id=None,
                new_id=lambda: "as1",
                assigned_by=None,
                check=lambda: checked.append("checked"),
            )
    assert [] == checked
    with run_operation(store, at=at, actor_id=None, new_event_id=lambda: "e2") as op:
        op.assign_role(
            account_id="ga1",
            trust_id=trust_id,
            role="Teacher",
            school_id="s1",
            new_id=lambda: "as2",
            assigned_by=None,
            check=lambda: checked.append("checked"),
        )
        assert ({trust_id}, {"s1"}) == (op.trusts_locked, op.schools_locked)
    assert ["checked"] == checked
