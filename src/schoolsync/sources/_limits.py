"""Reading a whole file within a size bound (for the readers that hold a sheet in memory)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from schoolsync.errors import FileFormatError

__all__ = ["MAX_SHEET_BYTES", "read_capped"]

#: The largest bulk or School Upload file read (bytes): a bulk file for 100,000 users is a few
#: megabytes; a larger file is refused before it is read.
MAX_SHEET_BYTES = 64 * 1024 * 1024


def read_capped(source: Path | BinaryIO, name: str, limit: int = MAX_SHEET_BYTES) -> bytes:
    """All bytes of *source*, or :class:`~schoolsync.errors.FileFormatError` if there are more
    than *limit* (a path's size is checked before anything is read).

    Raises:
        OSError: a path that cannot be opened.
    """
    if isinstance(source, Path):
        if source.stat().st_size > limit:
            raise _too_big(name, limit)
        with source.open("rb") as handle:
            data = handle.read(limit + 1)
    else:
        data = source.read(limit + 1)
    if len(data) > limit:
        raise _too_big(name, limit)
    return data


def _too_big(name: str, limit: int) -> FileFormatError:
    return FileFormatError(
        name,
        f"larger than {limit // (1024 * 1024)} MiB; not a sheet schoolsync reads",
        code="too_big",
    )
