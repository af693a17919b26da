"""The records layer at the bottom: plain records, light imports, one status enum, audit actions."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import schoolsync.records
from schoolsync.records import AuditAction, AuditEvent, MatchStatus, PairStatus
from schoolsync.serialisation import converter
from schoolsync.testing.memory import MemoryStore

RECORDS = Path(schoolsync.records.__file__).parent
NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def _imported_modules(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            out.add(node.module)
    return out


@pytest.mark.parametrize("path", sorted(RECORDS.glob("*.py")), ids=lambda p: p.name)
def test_records_import_only_attrs_the_standard_library_and_identifiers(path: Path) -> None:
    """A records module imports attrs, the standard library, identifiers or other records."""
    for module in _imported_modules(path):
        top = module.split(".")[0]
        allowed = (
            top in sys.stdlib_module_names
            or top == "attrs"
            or module == "schoolsync.identifiers"
            or module.startswith("schoolsync.records")
        )
        assert allowed, f"{path.name} imports {module}"


def test_importing_the_ports_loads_no_services_or_dependencies() -> None:
    """``import schoolsync.ports`` loads the records, not access, sync, cattrs or rapidfuzz."""
    code = (
        "import sys, schoolsync; before = set(sys.modules); import schoolsync.ports; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] in ('cattrs', 'rapidfuzz', 'secrets')"
        " or m.startswith(('schoolsync.access', 'schoolsync.sync', 'schoolsync.matching'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_old_import_paths_give_the_same_classes() -> None:
    """Every module the records moved out of still offers them (the very same classes)."""
    from schoolsync import audit, people, trusts
    from schoolsync.access import accounts, grants
    from schoolsync.matching import MatchStatus as MatchingStatus
    from schoolsync.sync import PairStatus as SyncPairStatus
    from schoolsync.sync import records as sync_records

    assert people.Pupil is schoolsync.records.Pupil
    assert trusts.Country is schoolsync.records.Country
    assert trusts.Trust is schoolsync.records.Trust
    assert accounts.RoleAssignment is schoolsync.records.RoleAssignment
    assert grants.Grant is schoolsync.records.Grant
    assert sync_records.SyncLink is schoolsync.records.SyncLink
    assert audit.AuditEvent is AuditEvent
    assert MatchingStatus is SyncPairStatus is MatchStatus is PairStatus


def _event(action: str) -> AuditEvent:
    return AuditEvent(
        id="e1", at=NOW, actor_id="ac", action=action, subject_kind="grant", subject_id="g1"
    )


def test_an_action_string_that_names_a_member_becomes_that_member() -> None:
    """``"grant.created"`` (as stored by earlier versions) loads as ``AuditAction.GRANT_CREATED``."""
    event = _event("grant.created")
    assert event.action is AuditAction.GRANT_CREATED
    assert _event(AuditAction.GRANT_REVOKED).action == "grant.revoked"


def test_a_string_that_names_no_member_is_kept_as_given() -> None:
    """A host's own action (or an old one) is kept as the plain string."""
    event = _event("pupil.update")
    assert event.action == "pupil.update"
    assert not isinstance(event.action, AuditAction)


def test_an_action_is_stored_as_its_string_value_and_loads_back() -> None:
    """The store keeps the value; reading the event back gives the member again."""
    data = converter.unstructure(_event(AuditAction.ROLE_ASSIGNED))
    assert json.loads(json.dumps(data))["action"] == "assignment.added"
    assert converter.structure(data, AuditEvent).action is AuditAction.ROLE_ASSIGNED
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.audit.append(_event(AuditAction.ROLE_ASSIGNED))
        uow.audit.append(_event("pupil.update"))
        uow.commit()
    with store.unit_of_work() as uow:
        assert [e.action for e in uow.audit.events()] == [AuditAction.ROLE_ASSIGNED, "pupil.update"]


@pytest.mark.parametrize(
    ("stored", "member"),
    [
        ("assignment.created", AuditAction.ROLE_ASSIGNED),
        ("role.assigned", AuditAction.ROLE_ASSIGNED),
        ("assignment.added", AuditAction.ROLE_ASSIGNED),
        ("role.removed", AuditAction.ROLE_REMOVED),
        ("account.created", AuditAction.ACCOUNT_ADDED),
    ],
)
def test_a_role_assignment_is_one_action_however_it_was_stored(
    stored: str, member: AuditAction
) -> None:
    """The three names a role assignment had ("assignment.added", "assignment.created",
    "role.assigned") all load as :attr:`AuditAction.ROLE_ASSIGNED`."""
    assert _event(stored).action is member
    assert converter.structure({**converter.unstructure(_event(stored))}, AuditEvent).action is (
        member
    )


def test_the_library_names_every_audit_action_by_its_member() -> None:
    """No module outside ``schoolsync.testing`` passes an action as a bare string: each change
    is audited as an :class:`AuditAction` member (the one place a host's sync ``mode`` label
    becomes an action, ``sync.applying._sync_action``, goes through ``action_named``)."""
    src = RECORDS.parent
    literals: list[str] = []
    for path in sorted(src.rglob("*.py")):
        if "testing" in path.relative_to(src).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "action" and isinstance(
                    keyword.value, ast.Constant | ast.JoinedStr
                ):
                    if isinstance(keyword.value, ast.Constant) and not isinstance(
                        keyword.value.value, str
                    ):
                        continue
                    literals.append(f"{path.relative_to(src)}:{node.lineno}")
    assert literals == []
