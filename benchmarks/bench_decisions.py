"""Remembered match decisions: ``python benchmarks/bench_decisions.py [--quick]``.

One school of 1,500 pupils (``--quick``: 300), the app already holding every pupil under
slightly different data:

1. matching alone, then matching that honours the school's decisions: 150 (10 %) and 1,500
   (every pair accepted or refused) remembered decisions;
2. in SQLite: a review's decisions (every pair accepted) recorded in one unit of work
   (``record_review_decisions``), 200 more one unit of work each (``record_decision``), and
   reading them all back (``load_decisions``, also done by every ``SchoolRecords.load``).

No target was set; the figures show what a host pays for honouring decisions on each review.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from schoolsync.matching import match_pupils
from schoolsync.records import MatchChoice, MatchDecision
from schoolsync.review import (
    Choice,
    Decision,
    ReviewDecisions,
    record_review_decisions,
    review_fingerprint,
)
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import RecordKind, load_decisions, record_decision
from schoolsync.sync.sample import sample_snapshot
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)


def _decisions(mis: list[object], app: list[object], every: int) -> list[MatchDecision]:
    out = []
    for i, (m, a) in enumerate(zip(mis, app, strict=True)):
        if i % every:
            continue
        choice = MatchChoice.NOT_MATCH if i % (every * 2) else MatchChoice.MATCH
        out.append(
            MatchDecision.make(
                school_id="s1",
                kind=RecordKind.PUPIL,
                choice=choice,
                mis_id=str(m.mis_id or m.id),  # type: ignore[attr-defined]
                app_id=a.id,  # type: ignore[attr-defined]
                decided_at=NOW + timedelta(seconds=i),
            )
        )
    return out


def main(argv: list[str]) -> int:
    """Print the figures."""
    pupils = 300 if "--quick" in argv else 1500
    feed = sample_snapshot("s1", pupils=pupils, staff=10, year_codes=("7", "8", "9", "10", "11"))
    mis = list(feed.pupils)
    app = [attrs.evolve(p, id=f"app-{p.id}", mis_id=None, forename=p.forename.upper()) for p in mis]
    match_pupils(mis, app)  # warm up (imports, caches)
    t0 = time.perf_counter()
    match_pupils(mis, app)
    plain = time.perf_counter() - t0
    print(f"{pupils} pupils: matching {plain:.3f} s")
    for every in (10, 1):
        decisions = _decisions(mis, app, every)
        t0 = time.perf_counter()
        review = match_pupils(mis, app, decisions=decisions)
        honoured = time.perf_counter() - t0
        print(
            f"  honouring {len(decisions)} decisions: {honoured:.3f} s "
            f"(+{honoured - plain:.3f} s over matching alone), {len(review)} lines"
        )
    plain_review = match_pupils(mis, app)
    accepted = ReviewDecisions(
        kind=RecordKind.PUPIL,
        review=review_fingerprint(plain_review),
        decisions=tuple(
            Decision(choice=Choice.ACCEPT, mis_id=r.mis_key, app_id=r.app_key)
            for r in plain_review.pairs()
            if not r.confirmed
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        with store.unit_of_work() as uow:
            uow.schools.add(School(id="s1", name="s1"))
            uow.commit()
        t0 = time.perf_counter()
        made = record_review_decisions(
            store, plain_review, accepted, school_id="s1", at=NOW, actor_id="bench"
        )
        batch = time.perf_counter() - t0
        singles = _decisions(mis, app, 1)[:200]
        t0 = time.perf_counter()
        for d in singles:
            record_decision(
                store,
                school_id="s1",
                kind=d.kind,
                choice=d.choice,
                mis_id=d.mis_id,
                app_id=d.app_id,
                at=d.decided_at,
                actor_id="bench",
            )
        wrote = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_decisions(store, "s1")
        read = time.perf_counter() - t0
        store.close()
    print(
        f"SQLite: a review's {len(made)} accepted pairs recorded in one unit of work in "
        f"{batch:.2f} s; {len(singles)} more one at a time in {wrote:.2f} s "
        f"({wrote / len(singles) * 1000:.1f} ms each: a unit of work, an audit event, a commit); "
        f"{len(loaded)} read back in {read:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
