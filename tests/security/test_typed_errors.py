"""Hostile inputs that used to leak builtin exceptions or data now raise typed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from schoolsync.errors import FileFormatError
from schoolsync.sources import read_oneroster, read_sds

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
