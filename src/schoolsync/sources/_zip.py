"""Reading zip members within bounds: inflated size, inflation ratio, and typed errors.

Every zip schoolsync reads (XLSX workbooks, OneRoster and SDS bundles) goes through
:func:`open_member`, so a member that inflates beyond what its real content could hold, or
whose compressed stream is damaged (deflate, bzip2 or LZMA), ends in a
:class:`~schoolsync.errors.FileFormatError` instead of exhausting memory or leaking
``zlib.error``/``LZMAError``.
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib
from pathlib import Path
from typing import IO

import attrs

from schoolsync.errors import FileFormatError

__all__ = ["ZIP_ERRORS", "BoundedMember", "ZipLimits", "open_member", "open_zip"]

#: What the standard library raises on a damaged or unsupported zip (or one of its members).
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,  # an unsupported compression method
    RuntimeError,  # an encrypted member
    ValueError,
    OSError,
)

_MIB = 1024 * 1024


@attrs.frozen(kw_only=True)
class ZipLimits:
    """How far a zip member may inflate.

    Attributes:
        max_member_bytes: the most bytes one member may inflate to.
        max_ratio: the most a member may inflate relative to its compressed size, once it is
            larger than ``ratio_floor_bytes`` (real XLSX and CSV compress 5-30 times; a bomb
            compresses a thousand times).
        ratio_floor_bytes: members smaller than this are never refused for their ratio.
        max_members: the most members a zip may list.
        max_lines_per_byte: for a text member (a CSV file of a bundle), the most lines it may
            hold per compressed byte, once past ``line_floor`` lines (a real CSV holds one line
            in 10-50 compressed bytes; a member of endless blank lines, a thousand per byte).
            Reading time follows lines, so this bounds it by the file's real size.
        line_floor: text members with fewer lines are never refused for their density.
    """

    max_member_bytes: int = 256 * _MIB
    max_ratio: int = 100
    ratio_floor_bytes: int = 8 * _MIB
    max_members: int = 10_000
    max_lines_per_byte: int = 1
    line_floor: int = 1_000_000


class BoundedMember(io.RawIOBase):
    """A zip member's bytes, refused once they exceed the limits (see :class:`ZipLimits`)."""

    def __init__(
        self,
        raw: IO[bytes],
        info: zipfile.ZipInfo,
        file: str,
        limits: ZipLimits,
        *,
        text: bool = False,
    ):
        super().__init__()
        self._raw = raw
        self._info = info
        self._file = file
        self._limits = limits
        self._read = 0
        compressed = max(info.compress_size, 1)
        self._cap = min(
            limits.max_member_bytes,
            max(limits.ratio_floor_bytes, compressed * limits.max_ratio),
        )
        self._text = text
        self._lines = 0
        self._line_cap = max(limits.line_floor, compressed * limits.max_lines_per_byte)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._raw.read(len(buffer))
        except ZIP_ERRORS as exc:
            raise FileFormatError(
                self._file,
                f"the zip member {self._info.filename!r} is damaged ({type(exc).__name__})",
                code="zip_damaged",
            ) from None
        self._read += len(data)
        if self._read > self._cap:
            raise FileFormatError(
                self._file,
                f"the zip member {self._info.filename!r} inflates beyond "
                f"{self._cap:,} bytes (a zip bomb?)",
                code="zip_bomb",
            )
        if self._text:
            # Line ends of any convention (CR LF counts once), counted in C per block.
            self._lines += data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
            if self._lines > self._line_cap:
                raise FileFormatError(
                    self._file,
                    f"the zip member {self._info.filename!r} holds more than "
                    f"{self._line_cap:,} lines for {self._info.compress_size:,} compressed "
                    "bytes (a zip bomb?)",
                    code="zip_bomb",
                )
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


_DEFAULT = ZipLimits()


def open_zip(
    source: str | Path | IO[bytes], file: str, limits: ZipLimits = _DEFAULT
) -> zipfile.ZipFile:
    """Open *source* (a path or binary file) as a zip, or raise :class:`FileFormatError`."""
    try:
        archive = zipfile.ZipFile(source)
    except ZIP_ERRORS as exc:
        raise FileFormatError(
            file, f"not a readable zip file ({type(exc).__name__})", code="zip_damaged"
        ) from None
    if len(archive.infolist()) > limits.max_members:
        archive.close()
        raise FileFormatError(
            file, f"the zip lists more than {limits.max_members:,} members", code="zip_bomb"
        )
    return archive


def open_member(
    archive: zipfile.ZipFile,
    member: str | zipfile.ZipInfo,
    file: str,
    limits: ZipLimits = _DEFAULT,
    *,
    text: bool = False,
) -> io.BufferedReader:
    """A buffered reader over one member of *archive*, bounded by *limits* (and, for a *text*
    member, by its lines per compressed byte).

    Raises:
        FileFormatError: the member is missing, encrypted, damaged or inflates too far.
    """
    try:
        info = member if isinstance(member, zipfile.ZipInfo) else archive.getinfo(member)
        if info.file_size > limits.max_member_bytes:
            raise FileFormatError(
                file,
                f"the zip member {info.filename!r} claims {info.file_size:,} bytes; at most "
                f"{limits.max_member_bytes:,} are read",
                code="zip_bomb",
            )
        raw = archive.open(info)
    except FileFormatError:
        raise
    except KeyError:
        raise FileFormatError(
            file, f"the zip has no member {str(member)!r}", code="zip_member_missing"
        ) from None
    except ZIP_ERRORS as exc:
        raise FileFormatError(
            file,
            f"the zip member {str(getattr(member, 'filename', member))!r} cannot be read "
            f"({type(exc).__name__})",
            code="zip_damaged",
        ) from None
    return io.BufferedReader(
        BoundedMember(raw, info, file, limits, text=text), buffer_size=64 * 1024
    )
