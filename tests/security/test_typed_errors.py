"""Hostile inputs that used to leak builtin exceptions or data now raise typed errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from schoolsync.access.activation import ActivationOutcome, redeem_activation, start_activation
from schoolsync.access.catalogue import Role, RoleCatalogue
from schoolsync.errors import CatalogueError, FileFormatError, ValidationError
from schoolsync.matching import MatchReview
from schoolsync.sources import read_ctf, read_oneroster, read_sds
from schoolsync.sources.school_upload import read_school_upload, write_school_upload
from schoolsync.sync.emails import generate_emails, validate_pattern
from schoolsync.sync.saving import plan_from_dict
from schoolsync.trusts import SchoolUploadRow, plan_school_upload

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\n"
    "file.users,bulk\nfile.classes,absent\nfile.enrollments,absent\nfile.demographics,absent\n"
    "file.academicSessions,absent\n"
)


def _bundle_with_link(tmp_path: Path, target: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "manifest.csv").write_text(MANIFEST)
    (folder / "orgs.csv").write_text("sourcedId,status,dateLastModified,name,type\n")
    (folder / "users.csv").symlink_to(target)
    return folder


@pytest.mark.parametrize("reader", [read_oneroster, read_sds])
def test_a_folder_bundle_refuses_a_link_leaving_it(tmp_path: Path, reader: object) -> None:
    """users.csv linked to a secrets file outside the bundle: refused, and none of the
    secret's lines reach the error."""
    secret = tmp_path / "secrets.txt"
    secret.write_text("api_key,SUPERSECRET-LINE\nanother,SUPERSECRET-TWO\n")
    folder = _bundle_with_link(tmp_path, secret)
    with pytest.raises(FileFormatError) as info:
        reader(folder)  # type: ignore[operator]
    assert info.value.code == "link_outside"
    assert "SUPERSECRET" not in str(info.value)


def test_a_link_inside_the_bundle_is_read(tmp_path: Path) -> None:
    """A link to another file of the same folder is fine."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    real = folder / "real-users.csv"
    real.write_text(
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,"
        "familyName\n"
    )
    (folder / "manifest.csv").write_text(MANIFEST)
    (folder / "orgs.csv").write_text(
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        "sch1,active,2024-09-01T08:00:00Z,Oak Primary,school,8201234,\n"
    )
    (folder / "users.csv").symlink_to(real)
    assert list(read_oneroster(folder).pupils) == []


# -- CTF: encodings expat cannot read ---------------------------------------------------------


@pytest.mark.parametrize(
    "encoding", ["UTF-7", "Shift_JIS", "EUC-JP", "GB2312", "Big5", "UTF-32", "klingon"]
)
def test_a_ctf_in_an_unreadable_encoding_is_typed(tmp_path: Path, encoding: str) -> None:
    """A CTF declaring an encoding expat does not read is a FileFormatError, not ValueError."""
    path = tmp_path / "pupil.xml"
    path.write_bytes(
        f'<?xml version="1.0" encoding="{encoding}"?><CTfile><Header/></CTfile>'.encode("ascii")
    )
    with pytest.raises(FileFormatError) as info:
        read_ctf(path)
    assert info.value.code == "encoding"


# -- role catalogues: deep data and long chains -------------------------------------------------


def _chain(length: int, cap: int | None = None) -> list[Role]:
    """*length* school roles r0, r1... each implying the next; the last holds reports.view."""
    return [
        Role(
            name=f"r{n}",
            scope="school",
            implies={f"r{n + 1}"} if n < length - 1 else set(),
            permissions={"reports.view"} if n == length - 1 else set(),
            max_per_school=cap,
        )
        for n in range(length)
    ]


@pytest.mark.parametrize("length", [200, 1_000])
def test_a_chain_of_a_thousand_implied_roles_builds(length: int) -> None:
    """A chain of up to 1,000 roles each implying the next is checked without RecursionError,
    and the first role carries the last one's permission."""
    catalogue = RoleCatalogue.build(
        ["reports.view"], _chain(length), manage_permission=None, grant_permission=None
    )
    assert catalogue.effective_permissions("r0") == {"reports.view"}
    assert len(catalogue.implied_roles("r0")) == length - 1


def test_a_chain_of_two_thousand_roles_builds_without_a_closure_per_role() -> None:
    """The build is linear in the length of a chain of roles, each capped and implying the
    next: it no longer holds every role's implied roles at once (for 2,000 roles, 2 million
    entries, 87 MB at its peak and 4 s; 20,000 roles, 200 million: gigabytes and minutes).
    Measured as memory, not time: the build's peak stays under 16 MB (3 MB with the fold)."""
    import tracemalloc

    roles = _chain(2_000, cap=5)
    tracemalloc.start()
    try:
        catalogue = RoleCatalogue.build(
            ["reports.view"], roles, manage_permission=None, grant_permission=None
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 16_000_000, f"{peak / 1e6:.1f} MB"
    assert catalogue.effective_permissions("r0") == {"reports.view"}
    assert catalogue.holders_of("r1999", ["r0"])
    assert len(catalogue.implied_roles("r1000")) == 999


@pytest.mark.parametrize("length", [200, 2_000])
def test_a_cycle_at_the_end_of_a_long_chain_is_reported(length: int) -> None:
    """The iterative cycle search still finds a cycle up to 2,000 roles deep."""
    roles = [Role(name=f"r{n}", scope="school", implies={f"r{n + 1}"}) for n in range(length)]
    roles.append(Role(name=f"r{length}", scope="school", implies={f"r{length - 10}"}))
    with pytest.raises(CatalogueError) as info:
        RoleCatalogue.build([], roles, manage_permission=None, grant_permission=None)
    assert "cycle" in str(info.value.exceptions[0])


@pytest.mark.parametrize("depth", [2_000, 100_000])
@pytest.mark.parametrize("kind", ["json", "toml"])
def test_a_deeply_nested_catalogue_is_a_catalogue_error(kind: str, depth: int) -> None:
    """Deeply nested JSON or TOML is a CatalogueError, not RecursionError."""
    if kind == "json":
        with pytest.raises(CatalogueError):
            RoleCatalogue.from_json('{"roles": ' + "[" * depth + "]" * depth + "}")
    else:
        with pytest.raises(CatalogueError):
            RoleCatalogue.from_toml("roles = " + "[" * depth + "]" * depth)


# -- email patterns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "{forename:>30}@oak.example",
        "{forename:>300000000}@oak.example",
        "{forename:d}@oak.example",
        "{forename!z}@oak.example",
        "{forename!r}.{surname}@oak.example",
        "{forename.__class__}@oak.example",
        "{forename@oak.example",
        "{forename}" + "x" * 300 + "@oak.example",
    ],
)
def test_an_email_pattern_with_a_format_spec_is_refused_up_front(pattern: str) -> None:
    """Width, format specs and conversions are refused when the pattern is checked, before any
    address is made (a 300 MB pad used to take 878 MiB for three staff)."""
    with pytest.raises(ValidationError):
        validate_pattern(pattern)
    with pytest.raises(ValidationError):
        generate_emails([], pattern)


# -- activation work factor ---------------------------------------------------------------------


def test_the_activation_work_factor_can_be_raised_above_2_14() -> None:
    """scrypt is given the memory it needs (maxmem), so 2**15 works end to end."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    challenge, token, code = start_activation("a1", now=now, work_factor=2**15)
    outcome, _ = redeem_activation(challenge, link_token=token, code=code, now=now)
    assert outcome is ActivationOutcome.ACTIVATED


@pytest.mark.parametrize("factor", [1, 3 * 2**14, 2**21])
def test_an_unusable_work_factor_is_refused(factor: int) -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(ValidationError):
        start_activation("a1", now=now, work_factor=factor)


# -- saved reviews and plans that are not objects -----------------------------------------------


@pytest.mark.parametrize("data", [[], ["kind"], "review", 3, None, 2.5])
def test_loading_a_review_or_plan_from_non_objects_is_typed(data: object) -> None:
    """MatchReview.from_dict and plan_from_dict given JSON lists, strings or numbers raise
    ValidationError, not TypeError."""
    with pytest.raises(ValidationError):
        MatchReview.from_dict(data)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        plan_from_dict(data)  # type: ignore[arg-type]


# -- School Upload: formula-like names ------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example","Oak")'


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_write_school_upload_neutralises_formula_like_names(tmp_path: Path, suffix: str) -> None:
    """No live formula cell and no raw ``=...`` CSV value; reading back restores the name."""
    path = write_school_upload(
        tmp_path / f"upload{suffix}", [(FORMULA, "SW1A 1AA", "100001"), ("+1 Academy", "", "")]
    )
    if suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path).active
        assert sheet is not None
        cells = [sheet.cell(row=r, column=1) for r in (2, 3)]
        assert [c.data_type for c in cells] == ["s", "s"]
        assert not any(str(c.value).startswith(("=", "+")) for c in cells)
    else:
        assert "\n" + FORMULA[:5] not in path.read_text(encoding="utf-8")
        assert "'+1 Academy" in path.read_text(encoding="utf-8")
    assert [r.name for r in read_school_upload(path).rows] == [FORMULA, "+1 Academy"]


def test_the_upload_plan_refuses_formula_like_names() -> None:
    """A school named like a formula is a problem of its row, code ``name_formula``."""
    rows = [
        SchoolUploadRow(row=2, name=FORMULA, postcode="SW1A 1AA", urn="100001"),
        SchoolUploadRow(row=3, name="@SUM(A1)", postcode="SW1A 1AA", urn="100002"),
        SchoolUploadRow(row=4, name="Oakfield Primary", postcode="SW1A 1AA", urn="100003"),
    ]
    plan = plan_school_upload(
        rows, file="upload.csv", trust_id="t1", schools=(), memberships=(), new_id=lambda: "s"
    )
    assert [(p.row, p.code) for p in plan.problems] == [(2, "name_formula"), (3, "name_formula")]
    assert [s.school.name for s in plan.valid] == ["Oakfield Primary"]
