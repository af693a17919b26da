"""The fake brokers as servers: what a host's test suite relies on beyond the protocol."""

from __future__ import annotations

import select
import socket
import time

import pytest

from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import FakeWonde, _Server


def test_a_fake_takes_a_burst_of_connections_without_dropping_any() -> None:
    """Sixty-four clients connect at once while the fake is too busy to accept: the kernel
    completes every handshake (a backlog of 5 dropped the rest, and each dropped client
    retried a whole second later, a stall that showed in every rate-limited benchmark)."""
    fake = FakeWonde(token="t", schools={"A1": sample_snapshot("A1", pupils=2, staff=1)})
    server = _Server(fake)  # listening, but nobody accepts yet
    host, port = server.server_address[:2]
    clients = []
    try:
        for _ in range(64):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            clients.append(s)
        pending = set(clients)
        deadline = time.monotonic() + 5  # a dropped SYN is retried after 1 s, then 3 s
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.1)
            for s in writable:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    pending.discard(s)
        # without accepting, a SYN beyond the backlog is dropped again at every retry
        assert not pending, f"{len(pending)} of 64 connections were not accepted by the kernel"
    finally:
        for s in clients:
            s.close()
        server.server_close()


def test_a_client_hanging_up_prints_nothing_but_other_errors_still_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A test whose read timeout is shorter than a stall hangs up before the fake writes its
    answer: the fake's server thread then meets a broken pipe, which it used to print as a
    traceback in the middle of the test run. It is now silent; any other error in serving
    still prints as socketserver prints it."""
    fake = FakeWonde(token="t", schools={"A1": sample_snapshot("A1", pupils=2, staff=1)})
    server = _Server(fake)
    try:
        for hung_up in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
            try:
                raise hung_up
            except ConnectionError:
                server.handle_error(None, ("127.0.0.1", 1))
        assert capsys.readouterr().err == ""
        try:
            raise RuntimeError("a bug in the fake")
        except RuntimeError:
            server.handle_error(None, ("127.0.0.1", 1))
        err = capsys.readouterr().err
        assert "Traceback" in err
        assert "a bug in the fake" in err
    finally:
        server.server_close()


def test_a_stall_outlasting_the_clients_timeout_leaves_no_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The same end to end: a real client gives up on a stalled answer of a running fake."""
    import httpx

    fake = FakeWonde(token="t", schools={"A1": sample_snapshot("A1", pupils=2, staff=1)})
    with fake:
        for _ in range(3):
            fake.inject("stall", delay=0.3)
            with pytest.raises(httpx.ReadTimeout):
                httpx.get(fake.url + "/v1.0/schools", timeout=0.05)
        time.sleep(0.6)  # the server threads write to the closed connections
    assert "Traceback" not in capfd.readouterr().err
