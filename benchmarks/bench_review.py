"""Review workbook and page: 20,000 rows written and read back (target < 5 s each) and the
first render of a 1,500-pupil review page in headless Chromium (target < 1 s).

``python benchmarks/bench_review.py [--quick]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from schoolsync.matching import match_pupils
from schoolsync.review import read_review_workbook, write_review_workbook
from schoolsync.testing.populations import pupil_population


def _timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def workbook(rows: int) -> None:
    population = pupil_population(rows, seed=3, school_size=rows)
    review = match_pupils(list(population.mis), list(population.app))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "review.xlsx"
        wall, cpu, _ = _timed(lambda: write_review_workbook(review, path))
        size = path.stat().st_size / 1e6
        print(
            f"workbook write {len(review)} rows: {wall:.2f} s wall, {cpu:.2f} s CPU ({size:.1f} MB)"
        )
        wall, cpu, decided = _timed(lambda: read_review_workbook(path, review))
        assert () == decided.decisions
        print(f"workbook read back {len(review)} rows: {wall:.2f} s wall, {cpu:.2f} s CPU")


def page(pupils: int, runs: int) -> None:
    from schoolsync.review.page import ReviewPage
    from schoolsync.review.serve import running_review
    from schoolsync.testing.browser import browser_paths, chromium

    population = pupil_population(pupils, seed=7, school_size=pupils)
    review = match_pupils(list(population.mis), list(population.app))
    served = ReviewPage(review, save=lambda d: None)
    with running_review(served.app(), token="bench") as url:
        if browser_paths() is None:
            print("page: chromium/chromedriver absent; browser render not measured")
            return
        with chromium() as driver:
            driver.get(url)  # warm: the first Chromium start-up is not the page's cost
            loads, ready, html, paints = [], [], [], []
            for _ in range(runs):
                driver.get("about:blank")
                driver.get(url)
                timing = driver.execute_script(
                    "const t = performance.getEntriesByType('navigation')[0];"
                    "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                    "return [t.responseStart, t.responseEnd, t.domContentLoadedEventEnd,"
                    " t.loadEventEnd, p ? p.startTime : -1];"
                )
                paints.append(timing[4])
                html.append(timing[1] - timing[0])
                ready.append(timing[2])
                loads.append(timing[3])
    print(
        f"page first render, {len(review)} lines ({pupils} pupils): first paint "
        f"{statistics.median(paints) / 1000:.2f} s, DOM ready "
        f"{statistics.median(ready) / 1000:.2f} s, load {statistics.median(loads) / 1000:.2f} s "
        f"(median of {runs}; server response {statistics.median(html) / 1000:.2f} s)"
    )


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    workbook(2_000 if quick else 20_000)
    page(300 if quick else 1_500, 3 if quick else 5)


if __name__ == "__main__":
    main(sys.argv[1:])
