"""The fake brokers as servers: what a host's test suite relies on beyond the protocol."""

from __future__ import annotations

import select
import socket
import time

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
