"""The review page over real HTTP on loopback: the token, the headers, Save's checks, and a
host mounting the page behind its own authentication."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the review page needs the 'review' extra")

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount

from schoolsync.matching import MatchReview, match_pupils
from schoolsync.people import Pupil
from schoolsync.review import ReviewDecisions, create_review_app, review_lines
from schoolsync.review.page import ReviewPage
from schoolsync.review.serve import running_review


def pupil(pid: str, forename: str, surname: str, dob: date) -> Pupil:
    return Pupil(id=pid, school_id="s1", forename=forename, surname=surname, date_of_birth=dob)


@pytest.fixture
def review() -> MatchReview[Pupil]:
    mis = [
        pupil("m1", "Chidi", "Okafor", date(2018, 7, 2)),
        pupil("m2", "Zoë", "Brown", date(2017, 1, 5)),
    ]
    app = [
        pupil("a1", "Chidi", "Okafor", date(2018, 7, 2)),
        pupil("a9", "Harry", "Wilson", date(2015, 10, 10)),
    ]
    return match_pupils(mis, app)


def fetch(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def page(review: MatchReview[Pupil], tmp_path: Path) -> Iterator[tuple[str, ReviewPage, Path]]:
    target = tmp_path / "decisions.json"
    served = ReviewPage(review, save=lambda d: d.save(target))
    with running_review(served.app(), token="tok") as url:
        yield url, served, target


def form(served: ReviewPage, **fields: str) -> bytes:
    return urllib.parse.urlencode({"form_token": served.form_token, **fields}).encode()


def test_the_page_is_served_on_loopback_behind_its_token(
    page: tuple[str, ReviewPage, Path],
) -> None:
    url, _served, _target = page
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/tok/")
    status, headers, body = fetch(url)
    assert 200 == status
    assert "Okafor" in body
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "no-referrer" == headers["referrer-policy"]
    assert "no-store" == headers["cache-control"]
    root = url.rsplit("/tok/", 1)[0] + "/"
    assert 404 == fetch(root)[0]
    assert 404 == fetch(root + "guess/")[0]
    status, _h, script = fetch(url + "review.js")
    assert 200 == status
    assert "filter" in script


def test_save_checks_the_form_token_the_origin_and_each_decision(
    page: tuple[str, ReviewPage, Path], review: MatchReview[Pupil]
) -> None:
    url, served, target = page
    lines = {ln.mis_id or ln.app_id: ln for ln in review_lines(review)}
    pair = lines["m1"]
    assert 403 == fetch(url + "save", urllib.parse.urlencode({"form_token": "x"}).encode())[0]
    evil = {"Origin": "http://evil.example"}
    assert 403 == fetch(url + "save", form(served), evil)[0]
    status, _h, body = fetch(url + "save", form(served, **{f"t{lines['a9'].index}": "m404"}))
    assert 422 == status
    assert f"Row {lines['a9'].row}</a>, Match to id: no MIS record has this id" in body
    assert not target.exists()
    # Unmatch the pair and tick nothing for import (the New pupil is left out).
    status, _h, body = fetch(url + "save", form(served, **{f"d{pair.index}": "Reject match"}))
    assert 200 == status  # followed the 303 back to the page
    assert "Saved: 2 decisions" in body
    saved = ReviewDecisions.load(target)
    assert {("reject", "m1", "a1"), ("do_not_import", "m2", None)} == {
        (d.choice.value, d.mis_id, d.app_id) for d in saved.decisions
    }
    status, _h, body = fetch(url + "decisions.json")
    assert '"choice": "reject"' in body.replace('":"', '": "')


def test_a_host_mounts_the_page_behind_its_own_login(review: MatchReview[Pupil]) -> None:
    saved: list[ReviewDecisions] = []

    class Login(BaseHTTPMiddleware):
        async def dispatch(self, request: Any, call_next: Any) -> Any:
            if request.headers.get("authorization") != "Bearer staff":
                return PlainTextResponse("log in first", status_code=401)
            return await call_next(request)

    host = Starlette(
        routes=[Mount("/schools/oak/review", app=create_review_app(review, save=saved.append))],
        middleware=[Middleware(Login)],
    )
    with running_review(host) as url:
        page = url + "schools/oak/review/"
        assert 401 == fetch(page)[0]
        status, _h, body = fetch(page, headers={"Authorization": "Bearer staff"})
        assert 200 == status
        assert 'action="http://127.0.0.1' in body
        assert '/schools/oak/review/save"' in body  # URLs follow the mount point


def test_the_review_command_serves_on_loopback_with_a_fresh_token(tmp_path: Path) -> None:
    """`schoolsync review` in its own process: the URL it prints answers, only on 127.0.0.1,
    only with the token; Save writes the decisions file."""
    import os
    import subprocess
    import sys

    from schoolsync.bulk import write_sheet

    header = ["ID", "Forename", "Surname", "Date of birth"]
    app = write_sheet(tmp_path / "app.csv", header, [["a1", "Jon", "Smith", "2015-09-14"]])
    mis = write_sheet(
        tmp_path / "mis.csv",
        header,
        [["m1", "John", "Smith", "2015-09-14"], ["m2", "New", "Joiner", "2016-02-02"]],
    )
    decisions = tmp_path / "decisions.json"
    command = [
        sys.executable,
        "-c",
        "from schoolsync.cli import main; main()",
        "review",
        str(app),
        str(mis),
        "--no-open",
        "--decisions",
        str(decisions),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Review page: http://127.0.0.1:"), line + (
            process.stderr.read() if process.poll() is not None else ""
        )
        url = line.split(": ", 1)[1].strip()
        token = url.rstrip("/").rsplit("/", 1)[1]
        assert len(token) >= 32
        status, _h, body = fetch(url)
        assert 200 == status
        assert "Joiner" in body
        assert 404 == fetch(url.replace(token, "x" * len(token)))[0]
        import re

        form_token = re.search(r'name="form_token" value="([^"]+)"', body)
        assert form_token is not None
        data = urllib.parse.urlencode({"form_token": form_token.group(1)}).encode()
        assert 200 == fetch(url + "save", data)[0]  # nothing ticked: m2 is left out
        saved = ReviewDecisions.load(decisions)
        assert [("do_not_import", "m2")] == [(d.choice.value, d.mis_id) for d in saved.decisions]
    finally:
        process.terminate()
        process.communicate(timeout=10)  # also closes the pipes
