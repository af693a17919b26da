"""Turning a trust's users into bulk rows, and an edited file into a :class:`ChangeSet` (pure)."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import attrs

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.bulk._cells import (
    format_roles,
    is_valid_email,
    normalise_email,
    parse_bool,
    split_roles,
)
from schoolsync.bulk._changes import Change, ChangeKind, ChangeSet, ProblemCode, ProblemList
from schoolsync.bulk._files import BulkSheet
from schoolsync.bulk._rules import AssignmentChecks, RoleScope, TransferChecks
from schoolsync.ports import UnitOfWork
from schoolsync.trusts import School

__all__ = [
    "EDITED",
    "EMAIL",
    "INACTIVE",
    "NAME",
    "TRUST_ROLES",
    "TrustUsers",
    "bulk_rows",
    "pair_transfers",
    "plan_import",
    "plan_selection",
]

EMAIL = "Email"
NAME = "Name"
EDITED = "Edited"
TRUST_ROLES = "Trust Roles"
#: schoolsync's addition to the seed's columns: ``true`` for an inactive account.
INACTIVE = "Inactive"
_FIXED = (EMAIL, NAME, EDITED, TRUST_ROLES, INACTIVE)


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@attrs.frozen(kw_only=True)
class TrustUsers:
    """A trust's accounts, their role assignments and its member schools, as read at one moment.

    ``schools`` are the trust's accepted member schools in column order (by name).
    """

    trust_id: str
    schools: tuple[School, ...]
    accounts: tuple[Account, ...]
    assignments: tuple[RoleAssignment, ...]

    @classmethod
    def load(cls, uow: UnitOfWork, trust_id: str) -> TrustUsers:
        """Read the trust's users from a unit of work.

        Raises:
            NotFoundError: there is no trust with this id.
        """
        uow.trusts.require(trust_id)
        member_ids = {
            m.school_id for m in uow.memberships.list() if m.trust_id == trust_id and m.is_member
        }
        schools = sorted(
            (s for s in uow.schools.list() if s.id in member_ids), key=lambda s: (s.name, s.id)
        )
        accounts = tuple(a for a in uow.accounts.list() if a.trust_id == trust_id)
        assignments = tuple(a for a in uow.assignments.list() if a.trust_id == trust_id)
        return cls(
            trust_id=trust_id, schools=tuple(schools), accounts=accounts, assignments=assignments
        )

    def school_labels(self) -> dict[str, str]:
        """Each school's column heading: its name, with its URN (or id) if names clash."""
        counts: dict[str, int] = defaultdict(int)
        for s in self.schools:
            counts[_key(s.name)] += 1
        labels: dict[str, str] = {}
        for s in self.schools:
            clash = counts[_key(s.name)] > 1 or _key(s.name) in {_key(f) for f in _FIXED}
            labels[s.id] = f"{s.name} ({s.urn or s.id})" if clash else s.name
        return labels

    def roles_by_account(self) -> dict[str, dict[str | None, set[str]]]:
        """``{account_id: {school_id or None: {role, ...}}}`` for the member schools and the trust."""
        schools = {s.id for s in self.schools}
        result: dict[str, dict[str | None, set[str]]] = defaultdict(lambda: defaultdict(set))
        for a in self.assignments:
            if a.school_id is None or a.school_id in schools:
                result[a.account_id][a.school_id].add(a.role)
        return result


def bulk_rows(users: TrustUsers) -> tuple[list[str], list[list[str]]]:
    """The bulk-user-data header and rows for *users* (plain text, not yet neutralised).

    Columns: Email, Name, Edited, one per member school (its roles), Trust Roles, Inactive.
    Rows are ordered by name, then email.
    """
    labels = users.school_labels()
    header = [EMAIL, NAME, EDITED, *(labels[s.id] for s in users.schools), TRUST_ROLES, INACTIVE]
    roles = users.roles_by_account()
    rows: list[list[str]] = []
    for account in sorted(users.accounts, key=lambda a: (a.name, normalise_email(a.email), a.id)):
        held = roles.get(account.id, {})
        rows.append(
            [
                account.email,
                account.name,
                "true" if account.edited_after_sync else "false",
                *(format_roles(held.get(s.id, ())) for s in users.schools),
                format_roles(held.get(None, ())),
                "true" if account.status is AccountStatus.INACTIVE else "false",
            ]
        )
    return header, rows


class _RoleReader:
    """Resolves role names in cells against the catalogue, collecting problems."""

    def __init__(self, checks: AssignmentChecks) -> None:
        self._checks = checks
        self._names = list(checks.role_names())
        self._by_key = {_key(n): n for n in self._names}

    def read(
        self,
        cell: str,
        scope: RoleScope,
        *,
        held: set[str],
        row: int | None,
        column: str | None,
        problems: ProblemList,
    ) -> set[str]:
        wanted: set[str] = set()
        for raw in split_roles(cell):
            if raw in held:
                wanted.add(raw)
                continue
            name = self._by_key.get(_key(raw))
            if name is None:
                close = difflib.get_close_matches(raw, self._names, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.add(
                    ProblemCode.UNKNOWN_ROLE, f"unknown role {raw!r}{hint}", row=row, column=column
                )
                continue
            actual = self._checks.role_scope(name)
            if name not in held and actual is not scope:
                where = (
                    f"the {TRUST_ROLES!r} column"
                    if actual is RoleScope.TRUST
                    else "a school's column"
                )
                problems.add(
                    ProblemCode.WRONG_SCOPE,
                    f"{name!r} is a {actual} role; put it in {where}",
                    row=row,
                    column=column,
                )
                continue
            wanted.add(name)
        return wanted


def _role_diff(
    *,
    email: str,
    account_id: str | None,
    school_id: str | None,
    held: set[str],
    wanted: set[str],
    row: int | None,
    column: str | None,
) -> list[Change]:
    by_kind = ((ChangeKind.REMOVE_ROLE, held - wanted), (ChangeKind.ADD_ROLE, wanted - held))
    return [
        Change(
            kind=kind,
            email=email,
            account_id=account_id,
            role=role,
            school_id=school_id,
            row=row,
            column=column,
        )
        for kind, roles in by_kind
        for role in sorted(roles)
    ]


def pair_transfers(changes: Sequence[Change], checks: AssignmentChecks) -> list[Change]:
    """Pair each removal of an "exactly one" role with its addition to another account.

    Per school (and trust-wide), when a change set takes an "exactly one" role from one account
    and gives it to one other account, the two changes become one ``TRANSFER``: the role
    changes hands instead of having two holders, or none, in between. Anything else (an
    addition without a removal, a removal without an addition, several of either) is left as
    it is, for the checks to refuse. Needs *checks* to implement
    :class:`~schoolsync.bulk.TransferChecks`; otherwise *changes* are returned unchanged.
    """
    if not isinstance(checks, TransferChecks):
        return list(changes)
    found: dict[tuple[str, str | None], dict[ChangeKind, list[Change]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for change in changes:
        pairable = change.kind in (ChangeKind.REMOVE_ROLE, ChangeKind.ADD_ROLE)
        if pairable and change.role and checks.is_exactly_one(change.role):
            found[(change.role, change.school_id)][change.kind].append(change)
    paired: set[int] = set()
    result: list[Change] = []
    for (role, school_id), by_kind in found.items():
        removals = by_kind[ChangeKind.REMOVE_ROLE]
        additions = by_kind[ChangeKind.ADD_ROLE]
        if len(removals) != 1 or len(additions) != 1:
            continue
        (old,), (new,) = removals, additions
        if normalise_email(old.email) == normalise_email(new.email):
            continue
        paired.update((id(old), id(new)))
        result.append(
            Change(
                kind=ChangeKind.TRANSFER,
                email=new.email,
                account_id=new.account_id,
                role=role,
                school_id=school_id,
                row=new.row,
                column=new.column,
                from_email=old.email,
                from_account_id=old.account_id,
                from_row=old.row,
                from_column=old.column,
            )
        )
    result += [c for c in changes if id(c) not in paired]
    return result


def _read_header(
    sheet: BulkSheet,
    labels: Mapping[str, str],
    urns: Mapping[str, str],
    problems: ProblemList,
) -> dict[str, int] | None:
    """Column positions: fixed names and school ids. ``None`` if the file cannot be read on."""
    by_label = {_key(label): school_id for school_id, label in labels.items()}
    by_urn_or_name: dict[str, str] = {}
    for school_id in labels:
        by_urn_or_name[_key(school_id)] = school_id
    for school_id, urn in urns.items():
        by_urn_or_name[_key(urn)] = school_id
    positions: dict[str, int] = {}
    seen: dict[str, int] = {}
    fixed = {_key(f): f for f in _FIXED}
    for index, heading in enumerate(sheet.header):
        k = _key(heading)
        if not k:
            if any(row[index].strip() for row in sheet.rows):
                problems.add(
                    ProblemCode.UNKNOWN_SCHOOL_COLUMN,
                    f"column {index + 1} has values but no heading",
                    row=1,
                )
            continue
        if k in seen:
            problems.add(
                ProblemCode.DUPLICATE_COLUMN,
                f"the same column appears twice (also column {seen[k] + 1})",
                row=1,
                column=heading,
            )
            continue
        seen[k] = index
        if k in fixed:
            positions[fixed[k]] = index
        elif k in by_label:
            positions[by_label[k]] = index
        elif k in by_urn_or_name:
            positions[by_urn_or_name[k]] = index
        else:
            close = difflib.get_close_matches(heading, list(labels.values()), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.add(
                ProblemCode.UNKNOWN_SCHOOL_COLUMN,
                f"no school of this trust is called {heading!r}{hint}",
                row=1,
                column=heading,
            )
    for required in (EMAIL, NAME):
        if required not in positions:
            problems.add(
                ProblemCode.MISSING_COLUMN,
                f"the file has no {required!r} column",
                row=1,
                column=required,
            )
    return positions if EMAIL in positions and NAME in positions else None


def plan_import(
    sheet: BulkSheet,
    users: TrustUsers,
    *,
    checks: AssignmentChecks,
    actor_id: str | None = None,
) -> ChangeSet:
    """Compare an edited bulk file with the trust's users and list the changes it asks for.

    Pure: reads nothing and changes nothing. The result holds the changes and every problem
    found in the file itself (columns, emails, role names, role scopes); caps and delegation
    are checked by :func:`schoolsync.bulk.check_change_set`, which
    :func:`schoolsync.bulk.import_users` calls for you.

    Rows are matched to accounts by email, ignoring case. A row whose email is not in the trust
    creates a user. A blank cell in a school's column removes that school's roles; a school
    with no column in the file is left alone, as are accounts with no row (leaving a row out
    never makes anyone inactive: use the Inactive column). A blank Name keeps the name.
    """
    labels = users.school_labels()
    problems = ProblemList()
    urns = {s.id: str(s.urn) for s in users.schools if s.urn is not None}
    positions = _read_header(sheet, labels, urns, problems)
    if positions is None:
        return ChangeSet(
            trust_id=users.trust_id,
            actor_id=actor_id,
            changes=(),
            problems=problems,
            source=sheet.name,
            school_names=labels,
        )
    by_email: dict[str, list[Account]] = defaultdict(list)
    for known in users.accounts:
        by_email[normalise_email(known.email)].append(known)
    held_by_account = users.roles_by_account()
    roles = _RoleReader(checks)
    school_columns = [(s.id, labels[s.id]) for s in users.schools if s.id in positions]
    places: list[tuple[str | None, str, RoleScope, int]] = [
        (school_id, label, RoleScope.SCHOOL, positions[school_id])
        for school_id, label in school_columns
    ]
    if TRUST_ROLES in positions:
        places.append((None, TRUST_ROLES, RoleScope.TRUST, positions[TRUST_ROLES]))
    changes: list[Change] = []
    first_row: dict[str, int] = {}

    for index, cells in enumerate(sheet.rows):
        if not any(c.strip() for c in cells):
            continue
        row = sheet.row_number(index)
        email = cells[positions[EMAIL]].strip()
        name = cells[positions[NAME]].strip()
        key = normalise_email(email)
        matches = by_email.get(key, [])
        if not matches and not is_valid_email(email):
            problems.add(
                ProblemCode.MALFORMED_EMAIL,
                "the email is blank" if not email else "not a valid email address",
                row=row,
                column=EMAIL,
            )
            continue
        if key in first_row:
            problems.add(
                ProblemCode.DUPLICATE_EMAIL,
                f"the same email as row {first_row[key]}",
                row=row,
                column=EMAIL,
            )
            continue
        first_row[key] = row
        if len(matches) > 1:
            problems.add(
                ProblemCode.DUPLICATE_EMAIL,
                f"{len(matches)} accounts in the trust have this email; fix them one by one",
                row=row,
                column=EMAIL,
            )
            continue
        account = matches[0] if matches else None
        account_id = account.id if account else None
        inactive: bool | None = None
        if INACTIVE in positions:
            text = cells[positions[INACTIVE]]
            inactive = parse_bool(text)
            if inactive is None and text.strip():
                problems.add(
                    ProblemCode.BAD_VALUE,
                    f"expected true or false, found {text.strip()!r}",
                    row=row,
                    column=INACTIVE,
                )
        row_changes: list[Change] = []
        if account is None:
            if not name:
                problems.add(
                    ProblemCode.MISSING_NAME, "a new user needs a name", row=row, column=NAME
                )
                continue
            if inactive:
                problems.add(
                    ProblemCode.BAD_VALUE,
                    "a new user cannot be created inactive; leave the cell blank",
                    row=row,
                    column=INACTIVE,
                )
            row_changes.append(
                Change(kind=ChangeKind.CREATE_USER, email=email, name=name, row=row, column=EMAIL)
            )
            held: dict[str | None, set[str]] = {}
        else:
            held = held_by_account.get(account.id, {})
            edits: list[tuple[ChangeKind, str, str | None]] = []
            if name and name != account.name.strip():
                edits.append((ChangeKind.RENAME, NAME, name))
            if inactive is True and account.status is not AccountStatus.INACTIVE:
                edits.append((ChangeKind.DEACTIVATE, INACTIVE, None))
            elif inactive is False and account.status is AccountStatus.INACTIVE:
                edits.append((ChangeKind.REACTIVATE, INACTIVE, None))
            row_changes += [
                Change(
                    kind=kind,
                    email=account.email,
                    account_id=account.id,
                    name=new_name,
                    row=row,
                    column=column,
                )
                for kind, column, new_name in edits
            ]
        shown_email = account.email if account else email
        for school_id, label, scope, position in places:
            cell = cells[position]
            found = held.get(school_id)
            if not found:
                if not cell or cell.isspace():
                    continue  # nothing held, nothing asked: the common case in a wide trust
                current: set[str] = set()
            else:
                if cell == format_roles(found):
                    continue  # the cell as exported: unchanged
                current = set(found)
            wanted = roles.read(cell, scope, held=current, row=row, column=label, problems=problems)
            row_changes += _role_diff(
                email=shown_email,
                account_id=account_id,
                school_id=school_id,
                held=current,
                wanted=wanted,
                row=row,
                column=label,
            )
        changes += row_changes

    return ChangeSet(
        trust_id=users.trust_id,
        actor_id=actor_id,
        changes=sorted(pair_transfers(changes, checks), key=Change.sort_key),
        problems=problems,
        source=sheet.name,
        school_names=labels,
    )


def plan_selection(
    users: TrustUsers,
    account_ids: Iterable[str],
    *,
    checks: AssignmentChecks,
    add: Sequence[tuple[str, str | None]] = (),
    remove: Sequence[tuple[str, str | None]] = (),
    make_inactive: bool = False,
    actor_id: str | None = None,
) -> ChangeSet:
    """The change set of an "Edit Selected" action on several accounts (pure).

    *add* and *remove* are ``(role, school_id)`` pairs (``school_id`` ``None``: trust-wide).
    Roles an account already holds (or lacks, for removal) are skipped, so the result lists only
    real changes. Caps and delegation are checked by :func:`schoolsync.bulk.check_change_set`.
    Removing an "exactly one" role from one selected account and adding it to another is one
    ``TRANSFER`` change (see :func:`pair_transfers`).
    """
    labels = users.school_labels()
    problems = ProblemList()
    accounts = {a.id: a for a in users.accounts}
    roles = _RoleReader(checks)
    held_by_account = users.roles_by_account()

    def resolve(pairs: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        resolved: list[tuple[str, str | None]] = []
        for role, school_id in pairs:
            if school_id is not None and school_id not in labels:
                problems.add(
                    ProblemCode.UNKNOWN_SCHOOL,
                    f"school {school_id!r} is not a member of this trust",
                )
                continue
            scope = RoleScope.TRUST if school_id is None else RoleScope.SCHOOL
            column = TRUST_ROLES if school_id is None else labels[school_id]
            found = roles.read(role, scope, held=set(), row=None, column=column, problems=problems)
            resolved += [(r, school_id) for r in sorted(found)]
        return resolved

    to_add = resolve(add)
    to_remove = resolve(remove)
    changes: list[Change] = []
    for account_id in dict.fromkeys(account_ids):
        account = accounts.get(account_id)
        if account is None:
            problems.add(ProblemCode.UNKNOWN_ACCOUNT, f"no account {account_id!r} in this trust")
            continue
        held = held_by_account.get(account_id, {})
        asked = [(ChangeKind.REMOVE_ROLE, r, s) for r, s in to_remove if r in held.get(s, ())]
        asked += [(ChangeKind.ADD_ROLE, r, s) for r, s in to_add if r not in held.get(s, ())]
        changes += [
            Change(kind=k, email=account.email, account_id=account_id, role=r, school_id=s)
            for k, r, s in asked
        ]
        if make_inactive and account.status is not AccountStatus.INACTIVE:
            changes.append(
                Change(kind=ChangeKind.DEACTIVATE, email=account.email, account_id=account_id)
            )
    return ChangeSet(
        trust_id=users.trust_id,
        actor_id=actor_id,
        changes=sorted(pair_transfers(changes, checks), key=Change.sort_key),
        problems=problems,
        source="selection",
        school_names=labels,
    )
