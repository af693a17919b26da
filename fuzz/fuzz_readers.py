"""Coverage-guided fuzzing of every schoolsync reader with atheris (``nox -s fuzz``).

Usage: ``python fuzz/fuzz_readers.py READER [libFuzzer options]``, e.g.
``python fuzz/fuzz_readers.py xlsx -max_total_time=60``. READER is one of
:data:`TARGETS`. Each input is written to a file with the reader's suffix and read; the only
exceptions allowed out are :class:`~schoolsync.errors.SchoolsyncError` subclasses. The seed
corpus is the hostile-input corpus at small sizes (``tests/security/hostile_corpus.py``) plus
well-formed files, so the fuzzer starts from both sides of every limit.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "security"))

with atheris.instrument_imports():
    import hostile_corpus as corpus
    from hostile_readers import READERS

    from schoolsync.errors import SchoolsyncError


def _small_bundle() -> bytes:
    """A tiny well-formed OneRoster zip (manifest, orgs, users) for the fuzzer to mutate."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "manifest.csv",
            "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
            "file.orgs,bulk\nfile.users,bulk\n",
        )
        z.writestr(
            "orgs.csv",
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
            "sch1,active,2024-09-01T08:00:00Z,Oak Primary,school,8201234,\n",
        )
        z.writestr(
            "users.csv",
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,"
            "givenName,familyName\np1,active,2024-09-02T10:00:00Z,true,sch1,student,amara,"
            "Amara,Okafor\n",
        )
    return out.getvalue()


#: Reader name -> (file suffix, the reader names it runs, seed inputs).
TARGETS: dict[str, tuple[str, tuple[str, ...], Callable[[], list[bytes]]]] = {
    "xlsx": (
        ".xlsx",
        ("bulk", "school_upload", "tabular"),
        lambda: [gen(200) for gen in corpus.XLSX.values()],
    ),
    "csv": (
        ".csv",
        ("bulk", "school_upload", "tabular"),
        lambda: (
            [gen(200) for gen in corpus.CSV.values()]
            + [b"Email,School name,Postcode,URN\na@b.example,Oak,SW1A 1AA,100001\n"]
        ),
    ),
    "bundle": (
        ".zip",
        ("oneroster", "sds", "sds_classic"),
        lambda: [corpus.bundle_damaged_lzma(50), _small_bundle()],
    ),
    "ctf": (".xml", ("ctf",), lambda: [corpus.ctf_deep(200), corpus.ctf_wide(200)]),
    "gias": (
        ".csv",
        ("gias",),
        lambda: [b"URN,LinkURN,LinkType,LinkName\n100001,100002,Successor,Oak\n"],
    ),
}


def main() -> None:
    name = sys.argv[1]
    suffix, readers, seeds = TARGETS[name]
    work = Path(tempfile.mkdtemp(prefix=f"schoolsync-fuzz-{name}-"))
    seed_dir = work / "seeds"
    seed_dir.mkdir()
    for i, seed in enumerate(seeds()):
        (seed_dir / f"seed{i}").write_bytes(seed)
    target = work / f"input{suffix}"
    functions = [READERS[r] for r in readers]

    def one_input(data: bytes) -> None:
        target.write_bytes(data)
        for read in functions:
            with contextlib.suppress(SchoolsyncError):
                read(target)

    atheris.Setup([sys.argv[0], *sys.argv[2:], str(seed_dir)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
