"""Bundle I/O for the roster readers: the files of a folder or a zip, found by name ignoring
case, opened one member at a time, and how a manifest says each file is sent.

Everything that touches the file system or a zip archive for OneRoster and SDS lives here; the
engine (:mod:`schoolsync.sources._roster`) only asks a :class:`Bundle` for members by name.
"""

from __future__ import annotations

import zipfile
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from typing import IO

from schoolsync.errors import FileFormatError
from schoolsync.sources._csv import ARCHIVE_ERRORS, Opener
from schoolsync.sources._zip import ZipLimits, open_member, open_zip

__all__ = ["ZIP_ERRORS", "Bundle", "FileMode"]


class FileMode(StrEnum):
    """How a manifest says a file is sent: all records (bulk), changes only (delta), or not."""

    BULK = "bulk"
    DELTA = "delta"
    ABSENT = "absent"


#: What opening a zip or one of its members raises on a damaged or unsupported archive
#: (encrypted members: RuntimeError), or on a path the system refuses.
ZIP_ERRORS = (OSError, ValueError, *ARCHIVE_ERRORS)


def _refuse_outside_link(root: Path, target: Path, shown: str) -> None:
    """Refuse a member that is a link to a file outside the bundle's folder (a link to a
    secrets file would otherwise be read, and its lines quoted in warnings)."""
    try:
        if not target.is_symlink():
            return
        inside = target.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):  # a loop of links, a path the system refuses
        inside = False
    if not inside:
        raise FileFormatError(
            shown, "a link to a file outside the bundle is refused", code="link_outside"
        )


class Bundle:
    """The files of a folder or a zip, found by name ignoring case.

    Raises:
        FileFormatError: for a path that cannot be read, is neither a folder nor a file, or is
            a file that is not a readable zip.
    """

    def __init__(self, path: str | Path, *, limits: ZipLimits | None = None) -> None:
        self.path = Path(path)
        #: How far a zip member may inflate (see ``docs/security.md``).
        self.limits = limits or ZipLimits()
        self.label = self.path.name or str(self.path)
        self._members: dict[str, str] = {}
        self._zip = False
        try:
            is_dir, is_file = self.path.is_dir(), self.path.is_file()
            files = [p.name for p in self.path.iterdir() if p.is_file()] if is_dir else []
        except (OSError, ValueError) as e:  # a name too long, a NUL in the path, no permission
            raise FileFormatError(str(self.path), f"cannot be read ({e})") from None
        if is_dir:
            for name in files:
                _refuse_outside_link(self.path, self.path / name, f"{self.label}/{name}")
                self._members.setdefault(name.lower(), name)
        elif is_file:
            self._zip = True
            try:
                with zipfile.ZipFile(self.path) as z:
                    names = [n for n in z.namelist() if not n.endswith("/")]
            except ZIP_ERRORS as e:
                raise FileFormatError(str(self.path), f"not a zip file or a folder ({e})") from None
            for n in names:
                base = n.rsplit("/", 1)[-1]
                if base and not n.startswith("__MACOSX/"):
                    self._members.setdefault(base.lower(), n)
        else:
            raise FileFormatError(str(self.path), "no such file or folder")

    def names(self) -> list[str]:
        """The members' file names (without folders), sorted."""
        return sorted(n.rsplit("/", 1)[-1] for n in self._members.values())

    def find(self, name: str) -> str | None:
        """The member called *name* (any case), or ``None``."""
        return self._members.get(name.lower())

    def display(self, member: str) -> str:
        """How errors and warnings name *member*: ``<bundle>/<file name>``."""
        return f"{self.label}/{member.rsplit('/', 1)[-1]}"

    def opener(self, member: str) -> Opener:
        """A callable that opens *member* as binary, as a context manager."""
        if not self._zip:
            target = self.path / member
            shown = self.display(member)
            root = self.path

            def open_file() -> AbstractContextManager[IO[bytes]]:
                _refuse_outside_link(root, target, shown)
                return target.open("rb")

            return open_file
        path = self.path
        limits = self.limits
        shown = self.display(member)

        class _ZipMember:
            def __enter__(self) -> IO[bytes]:
                self._zip = open_zip(path, shown, limits)
                try:
                    self._file: IO[bytes] = open_member(self._zip, member, shown, limits, text=True)
                except BaseException:
                    self._zip.close()
                    raise
                return self._file

            def __exit__(self, *exc: object) -> None:
                self._file.close()
                self._zip.close()

        return _ZipMember

    def header_has(self, member: str, column: str) -> bool:
        """Whether *member*'s first line (its CSV header) names *column*; reads 4 KiB at most."""
        try:
            with self.opener(member)() as raw:
                head = raw.read(4096)
        except (OSError, *ARCHIVE_ERRORS) as e:
            raise FileFormatError(self.display(member), f"cannot be read ({e})") from None
        try:
            text = head.decode("utf-8-sig", errors="strict")
        except UnicodeDecodeError:
            text = head.decode("utf-8-sig", errors="replace")  # the reader reports the encoding
        first = text.splitlines()[0] if text else ""
        return column in [c.strip().strip('"') for c in first.split(",")]
