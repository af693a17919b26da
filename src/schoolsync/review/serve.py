"""Serving the review page on this computer only: 127.0.0.1, a secret token in the URL.

:func:`serve_review` is what ``schoolsync review`` runs (in the foreground, until Ctrl+C);
:func:`running_review` runs the same server in a background thread for tests, notebooks and
benchmarks (``with running_review(app) as url: ...``).
"""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from schoolsync.errors import MissingExtraError
from schoolsync.matching import MatchReview
from schoolsync.ports import TokenSource
from schoolsync.review.decisions import ReviewDecisions
from schoolsync.review.page import ReviewPage

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
except ImportError as exc:  # pragma: no cover - the extra is installed in tests
    raise MissingExtraError("serving the review page", "review") from exc

__all__ = ["LOOPBACK", "running_review", "serve_review", "token_app"]

#: The only address the review server listens on.
LOOPBACK = "127.0.0.1"


def token_app(app: Any, token: str) -> Starlette:
    """*app* mounted under ``/<token>/``: every other path is Not Found."""
    return Starlette(routes=[Mount(f"/{token}", app=app)])


def _socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", server_header=False
    )
    return uvicorn.Server(config)


@contextmanager
def running_review(app: Any, *, port: int = 0, token: str = "") -> Iterator[str]:
    """Run *app* on 127.0.0.1 in a background thread; yields its URL (under ``/<token>/``).

    The server stops when the block ends.
    """
    served = token_app(app, token) if token else app
    sock = _socket(port)
    server = _server(served)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    host, bound = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{bound}/" + (f"{token}/" if token else "")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_review(
    review: MatchReview[Any],
    decisions_file: Path,
    *,
    decisions: ReviewDecisions | None = None,
    port: int = 0,
    open_browser: bool = False,
    title: str = "",
    announce: Callable[[str], object] = print,
    tokens: TokenSource | None = None,
) -> None:
    """Serve *review* on 127.0.0.1 until interrupted; each Save writes *decisions_file*.

    The URL holds a secret token made for this run (another user of the computer cannot guess
    it); it is announced through *announce* and opened in a browser when *open_browser*.
    """
    from schoolsync.ids import SYSTEM_TOKENS

    token = (tokens or SYSTEM_TOKENS).token_urlsafe(24)
    page = ReviewPage(
        review, save=lambda d: d.save(decisions_file), decisions=decisions, title=title
    )
    sock = _socket(port)
    url = f"http://{LOOPBACK}:{sock.getsockname()[1]}/{token}/"
    announce(f"Review page: {url}")
    announce(f"Save writes {decisions_file}. Stop with Ctrl+C.")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        _server(token_app(page.app(), token)).run(sockets=[sock])
    finally:
        sock.close()
