"""Property tests of the night's report: whatever the jobs, the trusts' lines add up to the
night's total, every school is counted once, and JSON and the table agree."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.nightly import JobStatus, NightlyJob, NightReport

_jobs = st.lists(
    st.builds(
        lambda n, trust, status, pupils, results: NightlyJob(
            id=f"night:{n}",
            run_id="night",
            school_id=f"S{n}",
            trust_id=trust,
            status=status,
            pupils_changed=pupils,
            results_sent=results[0],
            results_failed=results[1],
            results_waiting=results[2],
        ),
        st.integers(0, 10_000),
        st.none() | st.sampled_from(["T1", "T2", "T3"]),
        st.sampled_from(list(JobStatus)),
        st.integers(0, 50),
        st.tuples(st.integers(0, 9), st.integers(0, 3), st.integers(0, 3)),
    ),
    max_size=40,
    unique_by=lambda j: j.school_id,
)


@given(_jobs)
def test_trust_lines_add_up_to_the_night(jobs: list[NightlyJob]) -> None:
    report = NightReport(run_id="night", jobs=tuple(jobs))
    total, lines = report.total, report.trusts()

    assert total.schools == len(jobs)
    assert total.done + total.skipped + total.failed + total.pending == total.schools
    counts = [c for c in NightReport.COLUMNS if c != "trust_id"]
    for field in counts:
        assert sum(getattr(line, field) for line in lines) == getattr(total, field)
    assert total.pupils_changed == sum(j.pupils_changed for j in jobs if j.status is JobStatus.DONE)
    assert report.finished == (total.pending == 0)
    rows = report.to_rows()
    assert all(tuple(row) == NightReport.COLUMNS for row in rows)
    assert rows[-1]["trust_id"] == "TOTAL"
    assert rows[-1]["schools"] == total.schools
    as_json = json.loads(report.to_json())
    assert as_json["total"] == total.to_dict()
    troubled = {JobStatus.SKIPPED, JobStatus.FAILED, JobStatus.RETRYING}
    assert len(as_json["problems"]) == sum(1 for j in jobs if j.status in troubled)
