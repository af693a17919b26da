"""A broker's per-credential rate limit holds across worker processes: three processes fetch
schools with one Wonde token, their limiter's tokens shared in PostgreSQL, and the fake broker
never sees more than the limit in any window (nor answers 429)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import FakeWonde

pytestmark = pytest.mark.postgres

LIMIT, PERIOD = 6, 1.0

_FETCH = """
import sys
from schoolsync.brokers import HttpSettings, RateLimit, RetryPolicy, WondeBroker
from schoolsync.nightly import PostgresRateLimits

url, dsn, limit, period, *keys = sys.argv[1:]
limits = PostgresRateLimits(dsn, schema="limits")
broker = WondeBroker(
    "t0k3n",
    base_url=url,
    settings=HttpSettings(read_timeout=10, retry=RetryPolicy(attempts=1)),
    rate_limit=RateLimit(requests=int(limit), period=float(period)),
    rate_limits=limits,
)
for key in keys:
    broker.school(key, school_id=key, per_page=10).fetch()
broker.close()
limits.close()
"""


def test_three_processes_never_exceed_the_shared_limit(postgres_dsn: str) -> None:
    keys = [f"K{n}" for n in range(6)]
    schools = {k: sample_snapshot(k, pupils=20, staff=2, year_codes=("7",)) for k in keys}
    with FakeWonde(token="t0k3n", schools=schools, rate_limit=(LIMIT, PERIOD)) as fake:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _FETCH,
                    fake.url,
                    postgres_dsn,
                    str(LIMIT),
                    str(PERIOD),
                    *keys[i::3],
                ]
            )
            for i in range(3)
        ]
        codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 0, 0]  # every fetch completed (no 429 gave up a fetch)
    assert len(fake.log) > 3 * LIMIT  # enough requests to need the limit
    assert [r.status for r in fake.log if r.status == 429] == []
    assert fake.max_in_window(PERIOD) <= LIMIT
