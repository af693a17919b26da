"""Benchmark: read a generated OneRoster 1.1 bundle (100,000 users, 400,000 enrolments).

Target (issue 7): under 10 s and under 300 MiB peak memory. Each measurement runs in a fresh
subprocess so ``ru_maxrss`` is the peak of that read alone (the generator's memory is not
counted); CPU time (user + system, interpreter start-up included) is printed beside wall time,
as it is steadier on a busy machine. Two measurements: streaming (count the records of every
stream) and ``read()`` (the whole snapshot held in memory as lists).

Usage: ``python benchmarks/bench_sources.py [--quick] [--zip]``
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

FULL = (100_000, 400_000)
QUICK = (10_000, 40_000)


def generate(folder: Path, users: int, enrolments: int) -> None:
    """Write a OneRoster 1.1 bulk bundle: one trust, two schools, 95% pupils, 5% teachers."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = "2025-09-01T07:30:00.000Z"
    (folder / "manifest.csv").write_text(
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        "file.orgs,bulk\nfile.users,bulk\nfile.classes,bulk\nfile.enrollments,bulk\n"
        "file.demographics,bulk\nfile.academicSessions,absent\nfile.courses,absent\n"
    )
    with (folder / "orgs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "name",
                "type",
                "identifier",
                "parentSourcedId",
            ]
        )
        w.writerow(["trust", "active", stamp, "Oak Trust", "district", "", ""])
        w.writerow(["sch1", "active", stamp, "Oak Academy", "school", "8201234", "trust"])
        w.writerow(["sch2", "active", stamp, "Elm Academy", "school", "8205678", "trust"])
    teachers = users // 20
    pupils = users - teachers
    classes = max(1, users // 50)
    with (folder / "classes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "grades",
                "courseSourcedId",
                "classCode",
                "classType",
                "location",
                "schoolSourcedId",
                "termSourcedIds",
                "subjects",
                "subjectCodes",
                "periods",
            ]
        )
        for c in range(classes):
            year = 7 + c % 7
            w.writerow(
                [
                    f"cls-{c:06d}",
                    "active",
                    stamp,
                    f"{year}X{c % 9} Maths",
                    f"{year:02d}",
                    f"crs-{c % 50}",
                    f"{year}MA{c}",
                    "scheduled",
                    "",
                    "sch1" if c % 10 else "sch2",
                    "term-1",
                    "Mathematics",
                    "",
                    "",
                ]
            )
    with (folder / "users.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "enabledUser",
                "orgSourcedIds",
                "role",
                "username",
                "userIds",
                "givenName",
                "familyName",
                "middleName",
                "identifier",
                "email",
                "sms",
                "phone",
                "agentSourcedIds",
                "grades",
                "password",
            ]
        )
        for u in range(users):
            teacher = u < teachers
            school = "sch1" if u % 10 else "sch2"
            w.writerow(
                [
                    f"usr-{u:07d}",
                    "active",
                    stamp,
                    "true",
                    school,
                    "teacher" if teacher else "student",
                    f"user{u}",
                    "",
                    f"Given{u}",
                    f"Family{u % 997}",
                    "",
                    f"ID{u}",
                    f"user{u}@example.org",
                    "",
                    "",
                    "",
                    "" if teacher else f"{7 + u % 7:02d}",
                    "",
                ]
            )
    with (folder / "demographics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sourcedId", "status", "dateLastModified", "birthDate", "sex"])
        for u in range(teachers, users):
            w.writerow(
                [
                    f"usr-{u:07d}",
                    "active",
                    stamp,
                    f"{2008 + u % 7}-{1 + u % 12:02d}-{1 + u % 28:02d}",
                    "female" if u % 2 else "male",
                ]
            )
    with (folder / "enrollments.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ]
        )
        for e in range(enrolments):
            u = e % users
            # a user's classes are in the user's own school (class c is sch2 when c % 10 == 0)
            base = (e // users) * 7 + u
            c = base % classes
            want_sch2 = u % 10 == 0
            while (c % 10 == 0) != want_sch2:
                c = (c + 1) % classes
            role = "teacher" if u < teachers else "student"
            w.writerow(
                [
                    f"enr-{e:08d}",
                    "active",
                    stamp,
                    f"cls-{c:06d}",
                    "sch2" if want_sch2 else "sch1",
                    f"usr-{u:07d}",
                    role,
                    "false",
                    "",
                    "",
                ]
            )
    del pupils


def zip_folder(folder: Path) -> Path:
    """Zip the bundle's files (deflated); return the zip's path."""
    path = folder.with_suffix(".zip")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, p.name)
    return path


CHILD = """
import json, resource, sys, time
from schoolsync.sources import OneRosterSource
path, mode = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
source = OneRosterSource(path, school_org="sch1")
if mode == "stream":
    counts = {
        "pupils": sum(1 for _ in source.pupils()),
        "staff": sum(1 for _ in source.staff()),
        "classes": sum(1 for _ in source.classes()),
        "year_groups": sum(1 for _ in source.year_groups()),
        "enrolments": sum(1 for _ in source.enrolments()),
    }
else:
    snap = source.read()
    counts = {"pupils": len(snap.pupils), "staff": len(snap.staff), "classes": len(snap.classes),
              "year_groups": len(snap.year_groups),
              "enrolments": sum(len(p.class_ids) for p in snap.pupils) + sum(len(s.class_ids) for s in snap.staff)}
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
peak = usage.ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mib": peak, "counts": counts}))
"""


def measure(path: Path, mode: str) -> dict[str, object]:
    """Read the bundle in a fresh interpreter; return seconds, peak MiB and record counts."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode], check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main(argv: list[str] | None = None) -> None:
    """Generate the bundle, read it streaming and as a snapshot, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 users and 40,000 enrolments")
    parser.add_argument("--zip", action="store_true", help="also read the bundle as a zip")
    args = parser.parse_args(argv)
    users, enrolments = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "bundle"
        t0 = time.perf_counter()
        generate(folder, users, enrolments)
        print(
            f"generated {users:,} users and {enrolments:,} enrolments "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        targets = [("folder", folder)] + ([("zip", zip_folder(folder))] if args.zip else [])
        for label, path in targets:
            for mode in ("stream", "read"):
                r = measure(path, mode)
                print(
                    f"{label:6} {mode:6} {r['seconds']:6.2f} s (CPU {r['cpu']:5.2f} s)  "
                    f"peak {r['peak_mib']:6.1f} MiB  "
                    f"{r['counts']}"
                )


if __name__ == "__main__":
    main()
