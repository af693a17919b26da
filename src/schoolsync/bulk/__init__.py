"""Bulk user round-trips: the trust's users as a CSV/XLSX file, and edits back as a change set.

Export writes the seed's "bulk-user-data" shape (Email, Name, Edited, one column per member
school with its roles, Trust Roles) plus an Inactive column. Importing an edited file, or an
"Edit Selected" action, gives a :class:`ChangeSet` a person previews; :func:`apply_change_set`
makes it in one unit of work through the same checks as single edits, audited by id only.
"""

from schoolsync.bulk._apply import (
    apply_change_set,
    check_change_set,
    edit_selection,
    export_users,
    export_users_stream,
    import_users,
)
from schoolsync.bulk._cells import neutralise, normalise_email, restore, with_names
from schoolsync.bulk._changes import (
    ApplyResult,
    BulkImportError,
    BulkProblem,
    BulkRowError,
    Change,
    ChangeKind,
    ChangeSet,
    ProblemCode,
)
from schoolsync.bulk._checks import CatalogueChecks
from schoolsync.bulk._files import BulkSheet, read_sheet, write_sheet, write_stream
from schoolsync.bulk._plan import (
    TrustUsers,
    bulk_rows,
    pair_transfers,
    plan_import,
    plan_selection,
)
from schoolsync.bulk._rules import (
    AccountAction,
    AccountEdit,
    AssignmentChecks,
    RoleEdit,
    RoleScope,
    RoleTransfer,
    TransferChecks,
)

__all__ = [
    "AccountAction",
    "AccountEdit",
    "ApplyResult",
    "AssignmentChecks",
    "BulkImportError",
    "BulkProblem",
    "BulkRowError",
    "BulkSheet",
    "CatalogueChecks",
    "Change",
    "ChangeKind",
    "ChangeSet",
    "ProblemCode",
    "RoleEdit",
    "RoleScope",
    "RoleTransfer",
    "TransferChecks",
    "TrustUsers",
    "apply_change_set",
    "bulk_rows",
    "check_change_set",
    "edit_selection",
    "export_users",
    "export_users_stream",
    "import_users",
    "neutralise",
    "normalise_email",
    "pair_transfers",
    "plan_import",
    "plan_selection",
    "read_sheet",
    "restore",
    "with_names",
    "write_sheet",
    "write_stream",
]
