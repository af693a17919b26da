"""The brokers' HTTP layer: secrets that never show, the shared rate limit, the OAuth 1.0a
signature (the published vector), and the delay a 429 asks for."""

from __future__ import annotations

import pickle
import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schoolsync.brokers import RateLimit, RateLimiter, RateLimits, Secret, oauth1_authorization
from schoolsync.brokers._http import _retry_after


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("hunter2-very-secret")
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", str([secret])):
        assert "hunter2" not in shown
    assert "hunter2-very-secret" == secret.reveal()
    assert Secret("hunter2-very-secret") == secret
    assert secret.fingerprint() == Secret("hunter2-very-secret").fingerprint()
    assert "hunter2" not in secret.fingerprint()
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_oauth1_hmac_sha256_matches_the_published_vector() -> None:
    """The vector from gotranseo/oneroster's tests (reproduces with RFC 5849)."""
    url = (
        "https://test.com/ims/oneroster/v1p1/orgs?limit=100&offset=1515&filter="
        "role%3D%27administrator%27%20OR%20role%3D%27student%27%20OR%20role%3D%27teacher%27"
    )
    header = oauth1_authorization(
        "GET",
        url,
        consumer_key="client-id",
        consumer_secret=Secret("client-secret"),
        nonce="fake-nonce",
        timestamp=10000000,
    )
    assert header == (
        'OAuth oauth_consumer_key="client-id", oauth_nonce="fake-nonce", '
        'oauth_signature="03DqhuWFnTlc3WxDYEOVKYxM5xQyRGfJ4x6zqQjYQnM%3D", '
        'oauth_signature_method="HMAC-SHA256", oauth_timestamp="10000000", oauth_version="1.0"'
    )


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    period=st.floats(min_value=0.5, max_value=10),
    gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=80),
)
def test_no_window_ever_holds_more_than_the_limit(
    limit: int, period: float, gaps: list[float]
) -> None:
    t = FakeTime()
    limiter = RateLimiter(RateLimit(requests=limit, period=period), clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    for gap in gaps:
        t.sleep(gap)
        limiter.acquire()
        sent.append(t.now)
    for i, start in enumerate(sent):
        inside = [s for s in sent[i:] if s - start < period - 1e-9]  # float rounding
        assert len(inside) <= limit


def test_the_limit_lets_a_full_window_through_at_once_then_waits_exactly() -> None:
    t = FakeTime()
    limiter = RateLimiter(RateLimit(requests=3, period=10), clock=t.clock, sleep=t.sleep)
    for _ in range(7):
        limiter.acquire()
    # 3 at 0 s, 3 at 10 s, 1 at 20 s (each window 0.1 % longer)
    assert 20.0 * 1.001 == pytest.approx(t.now)


def test_a_pause_holds_every_school_on_the_credential() -> None:
    t = FakeTime()
    limits = RateLimits(clock=t.clock, sleep=t.sleep)
    one = limits.limiter("assembly", Secret("token"), RateLimit(requests=600, period=300))
    other = limits.limiter("assembly", Secret("token"), RateLimit(requests=600, period=300))
    assert one is other
    assert one is not limits.limiter("assembly", Secret("other"), RateLimit(requests=1, period=1))
    one.pause(300)
    other.acquire()
    assert 300 <= t.now


def test_threads_sharing_a_limiter_never_exceed_it() -> None:
    limiter = RateLimiter(RateLimit(requests=20, period=0.2))
    import time

    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stamps.sort()
    for i, start in enumerate(stamps):
        assert len([s for s in stamps[i:] if s - start < 0.2 - 1e-3]) <= 20


def test_waiting_threads_queue_and_only_the_first_watches_the_clock() -> None:
    """Eight threads wait on a busy limiter: they get their tokens in the order they came, and
    the limiter sleeps about once per token it has to wait for (not once per waiting thread
    per token: that herd of wake-ups costs CPU exactly while the requests it lets through
    run)."""
    import time

    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        time.sleep(seconds)

    limiter = RateLimiter(RateLimit(requests=4, period=0.05), sleep=sleep)
    for _ in range(4):
        limiter.acquire()  # the bucket is empty: every acquire below waits
    order: list[int] = []
    lock = threading.Lock()
    queued = threading.Barrier(9)

    def work(n: int) -> None:
        queued.wait()
        for _ in range(3):
            limiter.acquire()
        with lock:
            order.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    queued.wait()
    for th in threads:
        th.join()
    assert sorted(order) == list(range(8))
    # 24 tokens waited for, coming back 4 at a time: at most a nap each (measured 6 to 15);
    # when every waiting thread watched the clock it took 31 or 32.
    assert len(naps) <= 24


def test_a_token_comes_back_a_period_after_its_request_ended_not_when_it_was_sent() -> None:
    """The broker counts a request when it arrives, which may be as late as its answer: a slow
    request's token must not be reused until a period after it *ended*."""
    t = FakeTime()
    limiter = RateLimiter(RateLimit(requests=1, period=10), clock=t.clock, sleep=t.sleep)
    with limiter.slot():
        t.sleep(4)  # the request takes 4 s (it reached the broker somewhere in them)
    limiter.acquire()
    assert 4 + 10 * 1.001 == pytest.approx(t.now)


def test_threads_holding_slots_never_let_more_than_the_limit_reach_the_broker() -> None:
    """Twelve threads send requests of varying length through one limiter. Wherever in its
    [start, end] each request reached the broker, no window of a period could hold more than
    the limit: any limit + 1 requests span at least a period from the earliest end to the
    latest start (counting tokens from the send breaks this)."""
    import random
    import time

    limit, period = 5, 0.15
    limiter = RateLimiter(RateLimit(requests=limit, period=period))
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(4):
            with limiter.slot():
                start = time.monotonic()
                time.sleep(rng.choice((0.0, 0.0, 0.03, 0.08)))
                end = time.monotonic()
            with lock:
                spans.append((start, end))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(spans) == 48
    for start, _ in spans:
        # every request that might have reached the broker within a period before this one
        could_share = [s for s, e in spans if s <= start and e > start - period]
        assert len(could_share) <= limit


def test_a_waiting_thread_never_waits_for_another_threads_wake_up() -> None:
    """Two threads wait for tokens; the first of them is slow to wake (descheduled on a busy
    machine). The second still gets its own token when it comes back: each waiting thread
    sleeps until its own token is free, rather than queueing behind the first one's wake-up
    (which cost milliseconds per token, every window, under load)."""
    import time

    slow_thread_may_wake = threading.Event()
    slow_thread_sleeps = threading.Event()
    slow_thread: list[threading.Thread] = []

    def sleep(seconds: float) -> None:
        if threading.current_thread() in slow_thread:
            slow_thread_sleeps.set()
            assert slow_thread_may_wake.wait(10)
        time.sleep(seconds)

    limiter = RateLimiter(RateLimit(requests=2, period=0.05), sleep=sleep)
    limiter.acquire()
    limiter.acquire()  # both tokens spent: the next two wait about 50 ms
    first = threading.Thread(target=limiter.acquire)
    slow_thread.append(first)
    first.start()
    assert slow_thread_sleeps.wait(10)  # the first is waiting for its token
    second = threading.Thread(target=limiter.acquire)
    second.start()
    second.join(timeout=5)
    woke_in_time = not second.is_alive()
    slow_thread_may_wake.set()
    first.join()
    second.join()
    assert woke_in_time


def test_threads_waiting_while_every_token_is_in_flight_are_served_in_order() -> None:
    """While every token is held by a request in flight, waiting threads queue; each token that
    comes back goes to the thread that has waited longest, and a thread interrupted while
    waiting gives its place (and any token handed to it) back."""
    import time

    limiter = RateLimiter(RateLimit(requests=1, period=0.01))
    served: list[int] = []
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with limiter.slot():
            holding.set()
            release.wait(10)

    def queue(n: int) -> None:
        with limiter.slot():
            served.append(n)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    waiters = []
    for n in range(5):
        th = threading.Thread(target=queue, args=(n,))
        th.start()
        while limiter.waiting < n + 1:
            time.sleep(0.001)
        waiters.append(th)
    release.set()
    holder.join()
    for th in waiters:
        th.join()
    assert served == [0, 1, 2, 3, 4]


def test_a_thread_interrupted_while_waiting_for_a_token_gives_it_back() -> None:
    t = FakeTime()
    calls = 0

    def sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt
        t.sleep(seconds)

    limiter = RateLimiter(RateLimit(requests=1, period=10), clock=t.clock, sleep=sleep)
    limiter.acquire()
    with pytest.raises(KeyboardInterrupt):
        limiter.acquire()  # interrupted while waiting for the token back at 10 s
    limiter.acquire()  # the token was not lost: it is free at 10 s, not later
    assert 10 * 1.001 == pytest.approx(t.now)


def test_rate_limits_can_make_limiters_shared_elsewhere() -> None:
    """A host sharing limits between processes passes ``make``; every school on a credential
    gets the one limiter it made, keyed by a fingerprint that never shows the credential."""
    made: list[tuple[str, str]] = []

    def make(provider: str, key: str, limit: RateLimit) -> RateLimiter:
        made.append((provider, key))
        return RateLimiter(limit)

    limits = RateLimits(make=make)
    one = limits.limiter("wonde", Secret("app-token"), RateLimit(requests=5, period=1))
    assert one is limits.limiter("wonde", Secret("app-token"), RateLimit(requests=5, period=1))
    assert made == [("wonde", Secret("app-token").fingerprint())]
    assert "app-token" not in made[0][1]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "12"}, b"{}", 12.0),
        ({}, b'{"error":"too many requests","data":{"count":601,"period":300,"limit":600}}', 300.0),
        (
            {
                "Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            b"",
            30.0,
        ),
        ({}, b"not json", None),
        ({}, b'{"data":{"period":"soon"}}', None),
    ],
)
def test_the_delay_a_429_asks_for(
    headers: dict[str, str], body: bytes, expected: float | None
) -> None:
    assert expected == _retry_after(httpx.Response(429, headers=headers, content=body))
