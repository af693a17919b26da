"""Benchmark: record matching speed, memory and accuracy, and a comparison with splink.

Run ``python benchmarks/bench_matching.py`` (full: 1,500 / 10k / 100k / 400k pupils and the
splink comparison at 10k and 100k) or ``--quick`` (a few seconds: 1,500 and 10k, splink at
1,500). splink is optional (``pip install splink``, in the ``bench`` extra); without it that part
is skipped with a message.

Every population comes from :func:`schoolsync.testing.populations.pupil_population`; times are
for ``match_pupils`` alone (population generation is not timed), best of ``--repeat`` runs.
Wall-clock and CPU (process) time are both shown: on a shared machine the CPU time is the
figure for "one core". Peak memory is measured with ``tracemalloc`` in a separate run (it
slows Python down); the process's maximum RSS (which includes the populations) is shown too.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import resource
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from schoolsync.matching import match_pupils, normalise_name
from schoolsync.people import Pupil
from schoolsync.testing.populations import (
    ErrorModel,
    MatchQuality,
    Population,
    evaluate,
    pupil_population,
)


def _quality(pop: Population) -> tuple[MatchQuality, float]:
    start = time.perf_counter()
    review = match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return pop.quality(review), seconds


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


def _peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _row(label: str, q: MatchQuality, seconds: float, n: int) -> str:
    return (
        f"| {label} | {q.precision:.2%} | {q.recall:.2%} | {q.matched_recall:.2%} | "
        f"{q.queue:.2%} | {q.f1:.3f} | {seconds:.2f} s | {n / seconds:,.0f} |"
    )


# --------------------------------------------------------------------------- splink


def _splink_table(records: Sequence[Pupil]) -> dict[str, list[Any]]:
    return {
        "unique_id": [r.id for r in records],
        "first_name": [normalise_name(r.forename) or None for r in records],
        "surname": [normalise_name(r.surname) or None for r in records],
        "dob": [None if r.date_of_birth is None else r.date_of_birth.isoformat() for r in records],
        "gender": [r.gender.value if r.gender.value in "MF" else None for r in records],
    }


def run_splink(
    pop: Population, *, confident: float = 0.95, candidate: float = 0.5
) -> tuple[MatchQuality, float]:
    """Link *pop* with splink (EM-trained Fellegi-Sunter on DuckDB) on the same fields.

    Pairs are made one-to-one greedily by match probability (as schoolsync does); a pair at
    *confident* or above counts as Matched, one between *candidate* and *confident* as May match.
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)

    start = time.perf_counter()
    db_api = DuckDBAPI()
    left = db_api.register(_splink_table(pop.mis), dataset_display_name="mis")  # type: ignore[arg-type]
    right = db_api.register(_splink_table(pop.app), dataset_display_name="app")  # type: ignore[arg-type]
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("gender"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("dob"),
            block_on("first_name", "surname"),
            block_on("substr(first_name, 1, 2)", "substr(surname, 1, 2)", "substr(dob, 1, 4)"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([left, right], settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname")
    )
    predictions = linker.inference.predict(threshold_match_probability=candidate)
    rows = predictions.as_record_list()
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
    return evaluate(pop.truth, matched, may, len(pop.mis)), seconds


def _splink_available() -> str | None:
    try:
        import splink  # noqa: F401
    except ImportError as exc:
        return f"splink not installed ({exc}); `pip install splink` to compare"
    return None


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    """Print the matching figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs (best is kept)")
    parser.add_argument("--no-splink", action="store_true", help="skip the splink comparison")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()} on {platform.machine()} ({platform.processor()})")
    sizes = [1_500, 10_000] if args.quick else [1_500, 10_000, 100_000, 400_000]
    default = ErrorModel()
    no_ids = default.without_identifiers()

    print("\n## Speed and memory (match_pupils, MIS n vs app ~n)\n")
    print(
        "| pupils | error model | wall time (best) | CPU time (best) | records/s (CPU) | "
        "peak memory (tracemalloc) | max RSS so far |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        for label, model in (("default (50 % UPNs)", default), ("no identifiers", no_ids)):
            pop = pupil_population(n, seed=7, model=model)

            def run(pop: Population = pop) -> object:
                return match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]

            repeat = 1 if n >= 400_000 else args.repeat
            wall, cpu = _best_time(run, repeat)
            peak = f"{_peak_mib(run):,.0f} MiB" if n <= 100_000 else "not measured"
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"| {n:,} | {label} | {wall:.3f} s | {cpu:.3f} s | {n / cpu:,.0f} | "
                f"{peak} | {rss:,.0f} MiB |"
            )
            del pop
            gc.collect()

    n_acc = 1_500 if args.quick else 10_000
    print(f"\n## Accuracy by error rate ({n_acc:,} pupils, no identifiers in the app)\n")
    print("| error rates | Matched precision | Matched + May recall | Matched recall | queue |")
    print("|---|---|---|---|---|")
    for factor in (0.5, 1.0, 2.0, 4.0):
        for label, base in (("", no_ids), (" (50 % UPNs)", default)):
            if base is default and factor != 1.0:
                continue
            pop = pupil_population(n_acc, seed=11, model=base.scaled(factor))
            q, _ = _quality(pop)
            print(
                f"| x{factor}{label} | {q.precision:.2%} | {q.recall:.2%} | "
                f"{q.matched_recall:.2%} | {q.queue:.2%} |"
            )

    print("\n## schoolsync vs splink (same populations, names + birth date + gender only)\n")
    missing = None if not args.no_splink else "skipped (--no-splink)"
    missing = missing or _splink_available()
    if missing:
        print(missing)
        return
    print(
        "| tool | Matched precision | Matched + May recall | Matched recall | queue | "
        "F1 (Matched) | time | records/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in [1_500] if args.quick else [10_000, 100_000]:
        pop = pupil_population(n, seed=23, model=no_ids)
        q, seconds = _quality(pop)
        print(_row(f"schoolsync, {n:,}", q, seconds, n))
        try:
            sq, sseconds = run_splink(pop)
        except Exception as exc:  # report any splink failure and keep going
            print(f"| splink, {n:,} | failed: {type(exc).__name__}: {exc} |")
            continue
        print(_row(f"splink, {n:,}", sq, sseconds, n))


if __name__ == "__main__":
    main()
