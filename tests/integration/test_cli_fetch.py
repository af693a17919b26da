"""`schoolsync fetch` writes a broker's school as a OneRoster bundle that reads back to the
same records; `schoolsync match` reads the MIS side straight from a broker. Credentials come
from environment variables and never reach the output."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from schoolsync.brokers.bundle import write_oneroster_bundle
from schoolsync.cli import main
from schoolsync.clock import FixedClock
from schoolsync.sources import read_oneroster
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import FakeWonde

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
SERVED = sample_snapshot("s1", pupils=45, staff=5, year_codes=("R", "1", "2"), classes_per_year=2)
TOKEN = "wonde-CLI-token-value"


def _pupils(snapshot: object) -> list[tuple[object, ...]]:
    return sorted(
        (p.forename, p.surname, str(p.upn), p.date_of_birth, p.gender, p.year_code)
        for p in snapshot.pupils  # type: ignore[attr-defined]
    )


def test_a_bundle_reads_back_to_the_same_school(tmp_path: Path) -> None:
    path = write_oneroster_bundle(SERVED, tmp_path / "s.zip")
    back = read_oneroster(path, school_id="s1")
    assert _pupils(SERVED) == _pupils(back)
    assert sorted(c.name for c in SERVED.classes) == sorted(c.name for c in back.classes)
    assert not back.warnings


def test_fetch_writes_a_bundle_from_the_broker(tmp_path: Path) -> None:
    out = tmp_path / "school.zip"
    with FakeWonde(token=TOKEN, schools={"A1": SERVED}, clock=FixedClock(NOW)) as fake:
        result = CliRunner().invoke(
            main,
            ["fetch", "wonde", "A1", "--out", str(out), "--base-url", fake.url],
            env={"SCHOOLSYNC_WONDE_TOKEN": TOKEN},
        )
    assert 0 == result.exit_code, result.output
    assert "Fetched 45 pupils, 5 staff, 6 classes" in result.output
    assert _pupils(SERVED) == _pupils(read_oneroster(out, school_id="x"))
    assert TOKEN not in result.output


def test_fetch_without_credentials_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["fetch", "wonde", "A1", "--out", str(tmp_path / "o.zip")],
        env={"SCHOOLSYNC_WONDE_TOKEN": ""},
    )
    assert 1 == result.exit_code
    assert "SCHOOLSYNC_WONDE_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_fetch_with_refused_credentials_is_one_line(tmp_path: Path) -> None:
    with FakeWonde(token=TOKEN, schools={"A1": SERVED}, clock=FixedClock(NOW)) as fake:
        result = CliRunner().invoke(
            main,
            ["fetch", "wonde", "A1", "--out", str(tmp_path / "o.zip"), "--base-url", fake.url],
            env={"SCHOOLSYNC_WONDE_TOKEN": "wrong-token-value"},
        )
    assert 1 == result.exit_code
    assert "credentials were refused" in result.output
    assert "wrong-token-value" not in result.output


def test_match_reads_the_mis_from_a_broker(tmp_path: Path) -> None:
    app = write_oneroster_bundle(SERVED, tmp_path / "app.zip")
    out = tmp_path / "review.xlsx"
    with FakeWonde(token=TOKEN, schools={"A1": SERVED}, clock=FixedClock(NOW)) as fake:
        result = CliRunner().invoke(
            main,
            ["match", str(app), "wonde:A1", "--out", str(out)],
            env={"SCHOOLSYNC_WONDE_TOKEN": TOKEN, "SCHOOLSYNC_BROKER_URL": fake.url},
        )
    assert 0 == result.exit_code, result.output
    assert "Matched 45 MIS pupils with 45 app pupils" in result.output
    assert out.exists()


def test_match_still_says_a_missing_file_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["match", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert result.exit_code != 0
    assert "does not exist" in result.output
