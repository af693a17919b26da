"""Benchmark: UPN validation and the academic calendar.

Parses 100,000 realistic UPN strings (mixed case and spacing, a few temporary) with
``Upn.parse`` (default and strict), builds them with the validating constructor, checks
``upn_problem`` on invalid text, and derives year groups with ``year_group_for``.

Usage: ``python benchmarks/bench_identifiers.py [--quick]``
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

from schoolsync.calendar import year_group_for
from schoolsync.identifiers import UPN_CHECK_ALPHABET, Upn, upn_check_letter, upn_problem


def upn_texts(count: int, seed: int = 7) -> list[str]:
    """*count* valid UPNs as an MIS writes them (1 in 20 temporary, some lower case)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        tail = (
            f"{rng.randrange(100):02d}{rng.choice(UPN_CHECK_ALPHABET)}"
            if rng.random() < 0.05
            else f"{rng.randrange(1000):03d}"
        )
        body = f"{rng.choice(('801', '330', '202', '873'))}{rng.randrange(10000):04d}"
        body += f"{rng.randrange(100):02d}{tail}"
        text = upn_check_letter(body) + body
        out.append(text.lower() if rng.random() < 0.1 else text)
    return out


def rate(label: str, count: int, run: Callable[[], object]) -> float:
    """Run *run* (best of three) and print items per second."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    per_second = count / best
    print(f"{label}: {per_second:,.0f}/s ({count:,} in {best:.3f} s)")
    return per_second


def main(argv: list[str]) -> int:
    """Print the figures."""
    count = 10_000 if "--quick" in argv else 100_000
    texts = upn_texts(count)
    normal = [t.upper() for t in texts]
    broken = [t[:5] + "X" + t[6:] for t in normal]
    rate("Upn.parse", count, lambda: [Upn.parse(t) for t in texts])
    rate("Upn.parse(strict=True)", count, lambda: [Upn.parse(t, strict=True) for t in texts])
    rate("Upn(value) constructor", count, lambda: [Upn(t) for t in normal])
    rate("upn_problem on invalid text", count, lambda: [upn_problem(t) for t in broken])
    births = [date(2008, 9, 1) + timedelta(days=i % 5000) for i in range(count)]
    on = date(2025, 10, 1)
    rate("year_group_for", count, lambda: [year_group_for(b, on) for b in births])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
