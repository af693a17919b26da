"""The schoolsync exception tree.

Every exception schoolsync raises on purpose derives from :class:`SchoolsyncError`, and every
one is defined here (other modules re-export the ones they raise)::

    SchoolsyncError
    ├── ValidationError (ValueError)          bad input; names the field and the value
    │   ├── InvalidIdentifierError            UPN, ULN, URN, LAESTAB, postcode
    │   ├── InvalidDateError                  academic years, birth dates out of range
    │   ├── FileFormatError                   a file read by a reader or an importer;
    │   │                                     names the file, row (or XML path) and field
    │   ├── TrustAdminTokenError              a wrong, used or expired trust-admin token
    │   └── BulkRowError                      one bulk problem, with its row and column
    ├── ProblemsError (ExceptionGroup)        many problems reported at once
    │   ├── CatalogueError                    a role catalogue with mistakes
    │   ├── BulkImportError                   a bulk change set with problems
    │   └── DecisionsError                    review decisions (a workbook, the page, a file)
    │                                         that cannot be used; each names row and column
    ├── NotFoundError (LookupError)           a record that does not exist
    ├── ConflictError                         a change that clashes with stored state
    │   ├── DuplicateRecordError
    │   ├── CapExceededError                  a role cap would be exceeded
    │   ├── ConcurrentWriteError              another writer holds the same school
    │   ├── RoleRequirementError              a role's requirement or "exactly one" rule
    │   └── MembershipStateError              a membership change its status forbids
    ├── AccessDeniedError (PermissionError)   carries the denying ``Decision``
    ├── StorageError                          a store could not be used
    │   ├── SchemaVersionError                the database is newer than this library
    │   └── CorruptRecordError                a stored row is invalid; names table and key
    ├── DeliveryError                         a message could not be delivered; says whether
    │                                         a later attempt may succeed (``transient``)
    ├── SyncError                             a sync refused to run or could not finish
    │   ├── SyncGuardError                    the change-size guard refused a sync
    │   ├── StaleFetchError                   another sync committed the school after this
    │   │                                     one's fetch began: nothing written
    │   ├── SyncedRecordEditError (ValidationError)  an app edit to a synced record
    │   ├── NightlyJobError                   a school's nightly job failed; says whether
    │   │                                     another attempt may succeed (``transient``)
    │   └── BrokerError                       a data broker (Wonde, Assembly, Xporter,
    │       │                                 OneRoster REST) fetch or write failed; names
    │       │                                 the provider, school and endpoint
    │       └── BrokerAuthError               credentials refused or a token not refreshed
    └── MissingExtraError (ImportError)       an optional part needs an extra installed

The test doubles of :mod:`schoolsync.testing.faults` raise two exceptions of their own, on
purpose outside this tree: ``InjectedFailure`` (a simulated crash, which no handler of bad
data may mistake for a ``SchoolsyncError``) and ``NotAllOrNothingError`` (an
``AssertionError`` for test suites). ``tests/unit/test_errors_tree.py`` checks that this
drawing is the real class tree.

Errors never echo more personal data than needed to find the problem: a field name, a row
number and the offending value of an identifier, not whole records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schoolsync.bulk._changes import BulkProblem
    from schoolsync.records.organisations import MembershipStatus

__all__ = [
    "AccessDeniedError",
    "BrokerAuthError",
    "BrokerError",
    "BulkImportError",
    "BulkRowError",
    "CapExceededError",
    "CatalogueError",
    "ConcurrentWriteError",
    "ConflictError",
    "CorruptRecordError",
    "DecisionsError",
    "DeliveryError",
    "DuplicateRecordError",
    "FileFormatError",
    "InvalidDateError",
    "InvalidIdentifierError",
    "MembershipStateError",
    "MissingExtraError",
    "NightlyJobError",
    "NotFoundError",
    "ProblemsError",
    "RoleRequirementError",
    "SchemaVersionError",
    "SchoolsyncError",
    "StaleFetchError",
    "StorageError",
    "SyncError",
    "SyncGuardError",
    "SyncedRecordEditError",
    "TrustAdminTokenError",
    "ValidationError",
]


class SchoolsyncError(Exception):
    """Base class of every exception raised by schoolsync."""


class ValidationError(SchoolsyncError, ValueError):
    """A value was refused.

    Attributes:
        field: the name of the field that was refused (e.g. ``"upn"``).
        value: the refused value, as given (identifiers only; never whole records).
        reason: a short human reason.
        code: an optional machine-readable reason (e.g. a DfE census error code).
    """

    def __init__(self, field: str, value: object, reason: str, *, code: str | None = None) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.code = code
        super().__init__(f"{field} {value!r}: {reason}")


class InvalidIdentifierError(ValidationError):
    """An identifier (UPN, ULN, URN, LAESTAB, postcode) failed validation."""


class InvalidDateError(ValidationError):
    """A date was missing, malformed or out of range."""


class FileFormatError(ValidationError):
    """A file could not be read as the format it claims to be.

    Attributes:
        file: the file's name or path (as given).
        row: the 1-based row number (header is row 1), or ``None``.
        path: an XML path (for XML input), or ``None``.
    """

    def __init__(
        self,
        file: str,
        reason: str,
        *,
        row: int | None = None,
        field: str = "",
        value: object = None,
        path: str | None = None,
        code: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.path = path
        where = file
        if row is not None:
            where += f", row {row}"
        if path is not None:
            where += f", at {path}"
        if field:
            where += f", field {field!r}"
        ValidationError.__init__(self, field, value, reason, code=code)
        # Replace the generic message with one that names the place first.
        shown = "" if value is None else f" (value {value!r})"
        self.args = (f"{where}: {reason}{shown}",)

    def __str__(self) -> str:
        return str(self.args[0])


class ProblemsError(SchoolsyncError, ExceptionGroup[Exception]):
    """Many problems reported together, e.g. by a catalogue build or a sheet validation.

    ``exceptions`` holds one :class:`SchoolsyncError` per problem; :meth:`problems` lists them
    as strings.
    """

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> ProblemsError:
        return super().__new__(cls, message, list(exceptions))

    def derive(self, excs: Sequence[Exception]) -> ProblemsError:  # type: ignore[override]
        return type(self)(self.message, excs)

    def problems(self) -> list[str]:
        """Every problem as one line of text, in order."""
        return [str(e) for e in self.exceptions]

    def __str__(self) -> str:
        lines = self.problems()
        head = f"{self.message} ({len(lines)} problem{'s' if len(lines) != 1 else ''})"
        return head + "".join(f"\n  - {line}" for line in lines)


class NotFoundError(SchoolsyncError, LookupError):
    """A record that was asked for does not exist.

    Attributes:
        kind: what was looked for (``"school"``, ``"account"``...).
        key: the key that was looked up.
    """

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} with key {key!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class ConflictError(SchoolsyncError):
    """A change clashes with what is already stored."""


class DuplicateRecordError(ConflictError):
    """A record with the same key already exists."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"a {kind} with key {key!r} already exists")


class CapExceededError(ConflictError):
    """Assigning a role would exceed its cap; ``holders`` names the current holders."""

    def __init__(self, role: str, cap: int, scope: str, holders: Sequence[str]) -> None:
        self.role = role
        self.cap = cap
        self.scope = scope
        self.holders = tuple(holders)
        super().__init__(
            f"role {role!r} allows at most {cap} holder(s) at {scope}; "
            f"current holders: {', '.join(self.holders) or 'none'}"
        )


class ConcurrentWriteError(ConflictError):
    """Another writer is changing the same school; try again later."""


class AccessDeniedError(SchoolsyncError, PermissionError):
    """An action was refused by an access decision; ``decision`` explains why."""

    def __init__(self, message: str, decision: Any = None) -> None:
        self.decision = decision
        super().__init__(message)


class StorageError(SchoolsyncError):
    """A store could not be opened or used."""


class SchemaVersionError(StorageError):
    """The database schema is newer than this version of schoolsync understands."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this library supports "
            f"({supported}); upgrade schoolsync"
        )


class CorruptRecordError(StorageError):
    """A stored record is invalid; names the table and key, never the record's contents."""

    def __init__(self, table: str, key: object, reason: str) -> None:
        self.table = table
        self.key = key
        self.reason = reason
        super().__init__(f"table {table!r}, key {key!r}: {reason}")


class DeliveryError(SchoolsyncError):
    """A message could not be delivered.

    ``transient`` is true when a later attempt may succeed (a 4xx reply, a lost connection);
    ``code`` is the server's reply code, if it gave one. The text never holds the recipient's
    address, the message or any credential.
    """

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class SyncError(SchoolsyncError):
    """A sync refused to run or could not finish; nothing was changed."""


class SyncGuardError(SyncError):
    """The change-size guard refused a sync that would remove too many synced records."""


class SyncedRecordEditError(SyncError, ValidationError):
    """An app-side edit to a field of a synced record (the MIS is the master record)."""


class CatalogueError(ProblemsError):
    """A role catalogue could not be built; ``exceptions`` holds one problem per mistake."""


class RoleRequirementError(ConflictError):
    """A role change would break a role's requirement (``requires``) or its "exactly one" rule."""


class BrokerError(SyncError):
    """A data broker fetch or write-back failed; nothing reached planning or the store.

    Attributes:
        provider: ``"wonde"``, ``"assembly"``, ``"xporter"`` or ``"oneroster"``.
        school: the school as the broker knows it (its id, estab or org), or ``""``.
        endpoint: the endpoint that failed (a path without query, never a credential).
        reason: what went wrong.
        maybe_applied: a write whose answer never came (the broker may have applied it).

    The message never holds a credential, a token or a record's personal data.
    """

    def __init__(
        self, provider: str, school: str, endpoint: str, reason: str, *, maybe_applied: bool = False
    ) -> None:
        self.provider = provider
        self.school = school
        self.endpoint = endpoint
        self.reason = reason
        self.maybe_applied = maybe_applied
        where = f"{provider} school {school!r}" if school else provider
        super().__init__(f"{where}, {endpoint}: {reason}")


class StaleFetchError(SyncError):
    """Another sync committed the school (its broker watermark moved) after this sync's fetch
    began: the fetch is stale and nothing was written. Nothing is lost: the next delta starts
    from the watermark that sync stored."""


class NightlyJobError(SyncError):
    """A school's nightly job failed. ``transient`` says whether another attempt may succeed
    (a job engine retries only those); ``problem`` names the kind (``"broker"``,
    ``"storage"``, ``"guard"``...), ``reason`` says it in words, without personal data."""

    def __init__(self, school_id: str, problem: str, reason: str, *, transient: bool) -> None:
        self.school_id = school_id
        self.problem = problem
        self.reason = reason
        self.transient = transient
        super().__init__(f"nightly sync of school {school_id!r} failed ({problem}): {reason}")


class BrokerAuthError(BrokerError):
    """The broker refused the credentials, or an expired token could not be refreshed."""


class MembershipStateError(ConflictError):
    """A membership change that its current status does not allow (e.g. accepting twice).

    Attributes:
        membership_id: the membership's id.
        status: its current status.
        action: what was attempted (``"accept"``, ``"leave"``...).
    """

    def __init__(self, membership_id: str, status: MembershipStatus, action: str) -> None:
        self.membership_id = membership_id
        self.status = status
        self.action = action
        super().__init__(f"membership {membership_id!r} is {status.value}; cannot {action} it")


class TrustAdminTokenError(ValidationError):
    """A trust-admin acceptance token was wrong, already used or expired."""


class BulkRowError(ValidationError):
    """One bulk problem as an exception (inside a :class:`BulkImportError`)."""

    def __init__(self, problem: BulkProblem) -> None:
        super().__init__(problem.column or "", None, problem.message, code=problem.code.value)
        self.problem = problem
        self.row = problem.row
        self.column = problem.column
        self.args = (str(problem),)

    def __str__(self) -> str:
        return str(self.args[0])


class BulkImportError(ProblemsError):
    """A change set with problems was refused; nothing was changed.

    :meth:`ProblemsError.problems` lists each problem with row and column.
    """

    @classmethod
    def from_problems(cls, message: str, problems: Sequence[BulkProblem]) -> BulkImportError:
        """Wrap *problems* (at least one) into one error."""
        return cls(message, [BulkRowError(p) for p in problems])


class DecisionsError(ProblemsError):
    """Review decisions that cannot be used (from an edited workbook, the review page or a
    decisions file); ``exceptions`` holds one :class:`FileFormatError` per problem, naming the
    row and column (or the decision's position in a file). Nothing was applied."""


class MissingExtraError(SchoolsyncError, ImportError):
    """An optional part of schoolsync needs packages that are not installed.

    Attributes:
        extra: the extra to install (``pip install 'schoolsync[review]'``).
    """

    def __init__(self, what: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'schoolsync[{extra}]'")
