"""HTML views for a person: human headers ("Date of birth", "MIS id", not date_of_birth), a
school's or an account's name rather than its id where the view knows it, every value escaped;
and a MIS snapshot that shows itself as tables and converts to named DataFrames in one call."""

from __future__ import annotations

import re
import sys
from datetime import UTC, date, datetime

import attrs
import pandas as pd
import polars as pl
import pytest

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.presets import boost_insights
from schoolsync.errors import ValidationError
from schoolsync.matching import match_pupils
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot
from schoolsync.sources.tabular import PupilColumns, TabularSource, read_tabular
from schoolsync.sync.sample import sample_snapshot
from schoolsync.tables import human_header, rows_to_html
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.world import world
from schoolsync.trusts import Membership, MembershipStatus, School, Trust
from schoolsync.views import gather, schools_in_view

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _headers(html: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", html)


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("date_of_birth", "Date of birth"),
        ("mis_id", "MIS id"),
        ("upn", "UPN"),
        ("former_upns", "Former UPNs"),
        ("year_group_ids", "Year group ids"),
        ("la_code", "LA code"),
        ("Pupils on roll", "Pupils on roll"),
        ("URN", "URN"),
    ],
)
def test_human_headers(key: str, shown: str) -> None:
    assert human_header(key) == shown


def test_a_review_shows_human_headers_and_escapes_names() -> None:
    """The review's HTML headers are words; a name holding markup is shown, not run."""
    people = [Pupil(id="1", school_id="s", forename="<script>x</script>", surname="Lee")]
    html = match_pupils(people, people)._repr_html_()
    headers = _headers(html)
    assert "MIS id" in headers
    assert "App name" in headers
    assert not any("_" in h for h in headers), headers
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert list(match_pupils(people, people).to_pandas().columns)[:2] == ["status", "mis_id"]


def test_labels_override_a_header() -> None:
    html = rows_to_html([{"school": "Oak", "n": 1}], labels={"n": "Pupils"})
    assert _headers(html) == ["School", "Pupils"]


def _trust_store() -> MemoryStore:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        for school_id, name in (("s1", "Oak <Primary>"), ("s2", "Ash Academy")):
            uow.schools.add(School(id=school_id, name=name))
            uow.memberships.add(
                Membership(
                    id=f"m-{school_id}",
                    trust_id="t1",
                    school_id=school_id,
                    status=MembershipStatus.ACCEPTED,
                )
            )
        uow.accounts.add(
            Account(
                id="alice",
                trust_id="t1",
                email="alice@trust.example",
                name="Alice",
                status=AccountStatus.ACTIVE,
            )
        )
        uow.assignments.add(
            RoleAssignment(id="r1", account_id="alice", trust_id="t1", role="Trust Viewer")
        )
        uow.commit()
    return store


def test_a_trust_view_and_report_show_school_names() -> None:
    """schools_in_view knows the schools: its table shows their names (escaped), while
    to_rows keeps the ids for programs."""
    store = _trust_store()
    with store.unit_of_work() as uow:
        view = schools_in_view(
            "alice",
            "reports.view",
            uow=uow,
            at=NOW,
            role_permissions={"Trust Viewer": {"reports.view"}},
            grant_free_permissions={"reports.view"},
        )
    assert set(view.school_ids) == {"s1", "s2"}
    html = view._repr_html_()
    assert "Oak &lt;Primary&gt;" in html
    assert "Ash Academy" in html
    assert ">s1<" not in html
    assert _headers(html)[:2] == ["School", "In view"]
    assert {r["school_id"] for r in view.to_rows()} == {"s1", "s2"}
    report = gather(view, lambda school_id: {"pupils_on_roll": len(school_id)})
    report_html = report._repr_html_()
    assert "Ash Academy" in report_html
    assert "Pupils on roll" in _headers(report_html)


def test_an_access_table_shows_the_account_and_school_names() -> None:
    w = (
        world(boost_insights(), now=NOW)
        .trust("T")
        .school("oak", name="Oakfield <Primary>", in_trust="T")
        .account("grace")
        .role("grace", "Group Admin")
    )
    table = w.index().access_table("grace")
    html = table._repr_html_()
    assert "Oakfield &lt;Primary&gt;" in html
    assert _headers(html)[:3] == ["Account", "School", "Permission"]
    assert all(r["account"] == "grace" for r in table.to_rows())


# -- MIS snapshots ---------------------------------------------------------------------------


def test_a_snapshot_converts_to_four_named_frames_in_one_call() -> None:
    snapshot = sample_snapshot("oak", pupils=30, staff=4)
    frames = snapshot.to_pandas()
    assert list(frames) == ["pupils", "staff", "classes", "year_groups"]
    assert len(frames["pupils"]) == 30
    assert len(frames["staff"]) == 4
    assert len(frames["classes"]) == len(snapshot.classes)
    pupils = frames["pupils"]
    first = snapshot.pupils[0]
    assert pupils.loc[0, "upn"] == str(first.upn)
    assert pupils.loc[0, "gender"] == first.gender.value
    assert pupils.loc[0, "date_of_birth"] == first.date_of_birth
    assert pupils.loc[0, "class_ids"] == "; ".join(first.class_ids)
    polars_pupils = snapshot.to_polars("pupils")
    assert polars_pupils.columns == list(pupils.columns)
    assert polars_pupils.schema["date_of_birth"] == pl.Date
    assert list(snapshot.to_polars()) == list(frames)


def test_an_empty_table_keeps_its_columns() -> None:
    snapshot = MisSnapshot(
        school_id="oak", taken_at=None, pupils=(), staff=(), classes=(), year_groups=()
    )
    assert "date_of_birth" in snapshot.to_pandas("pupils").columns
    assert snapshot.to_polars("staff").height == 0
    with pytest.raises(ValidationError):
        snapshot.to_pandas("teachers")


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_a_missing_frame_library_names_the_extra_to_install(
    library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pandas (or polars) both a snapshot and a table say which extra installs it."""
    monkeypatch.setitem(sys.modules, library, None)  # import fails as if not installed
    snapshot = sample_snapshot("oak", pupils=3, staff=1)
    review = match_pupils(snapshot.pupils, snapshot.pupils)
    hint = f"to_{library}() needs {library}: pip install 'schoolsync[{library}]'"
    for convert in (getattr(snapshot, f"to_{library}"), getattr(review, f"to_{library}")):
        with pytest.raises(ModuleNotFoundError) as info:
            convert()
        assert hint == str(info.value)


def test_a_snapshot_frame_reads_back_through_the_tabular_reader() -> None:
    """The pupils frame is a DataFrame input as good as a file: read back, the same pupils."""
    snapshot = sample_snapshot("oak", pupils=12, staff=0)
    columns = PupilColumns(
        id="id", forename="forename", surname="surname", upn="upn",
        date_of_birth="date_of_birth", year="year_code",
    )
    again = read_tabular(school_id="oak", pupils=snapshot.to_pandas("pupils"), pupil_columns=columns)
    assert [(p.id, p.upn, p.date_of_birth, p.year_code) for p in again.pupils] == [
        (p.id, p.upn, p.date_of_birth, p.year_code) for p in snapshot.pupils
    ]


def test_a_snapshot_from_a_source_in_one_call() -> None:
    frame = pd.DataFrame(
        {"ID": ["p1"], "First": ["Amara"], "Last": ["Okafor"], "DOB": [date(2015, 9, 14)]}
    )
    source = TabularSource(
        school_id="oak",
        pupils=frame,
        pupil_columns=PupilColumns(id="ID", forename="First", surname="Last", date_of_birth="DOB"),
    )
    pupils = MisSnapshot.from_source(source).to_pandas("pupils")
    assert pupils.loc[0, "forename"] == "Amara"
    assert pupils.loc[0, "school_id"] == "oak"


def test_a_snapshot_shows_itself_as_its_tables() -> None:
    """Not a wall of text: a caption with the counts, then a table per kind with words for
    headers, names escaped."""
    snapshot = sample_snapshot("oak", pupils=3, staff=1)
    odd = snapshot.pupils[0].__class__(id="x", school_id="oak", forename="<b>Amy</b>", surname="Lee")
    snapshot = MisSnapshot(
        school_id="oak",
        taken_at=NOW,
        pupils=(*snapshot.pupils, odd),
        staff=snapshot.staff,
        classes=snapshot.classes,
        year_groups=snapshot.year_groups,
        warnings=("one",),
    )
    html = snapshot._repr_html_()
    assert "4 pupils, 1 staff" in html
    assert "1 warning" in html
    assert "<caption>Pupils</caption>" in html
    assert "<caption>Year groups</caption>" in html
    assert "Date of birth" in _headers(html)
    assert "&lt;b&gt;Amy&lt;/b&gt;" in html
    assert "<b>Amy" not in html


def test_a_single_result_shows_both_records_side_by_side() -> None:
    """One line of a review (a MatchResult) is a table, not a wall of text: its status, score and
    explanation as the caption, each field either record holds with the MIS value beside the
    app value, human headers, every value escaped; a New result has an empty app column."""
    mis = Pupil(
        id="m1",
        school_id="s",
        forename="Zoë",
        surname="<b>Smith</b>",
        date_of_birth=date(2015, 3, 1),
        year_code="4",
        former_upns=(),
    )
    app = attrs.evolve(mis, id="a1", forename="Zoe")
    pair = match_pupils([mis], [app]).results[0]
    shown = pair._repr_html_()
    assert shown.startswith('<table class="schoolsync"><caption>Matched (')
    assert "<th>Field</th><th>MIS</th><th>App</th>" in shown
    assert "<tr><td>Forename</td><td>Zoë</td><td>Zoe</td></tr>" in shown
    assert "<td>Date of birth</td><td>2015-03-01</td><td>2015-03-01</td>" in shown
    assert "&lt;b&gt;Smith&lt;/b&gt;" in shown
    assert "<b>Smith" not in shown
    assert "Former UPNs" not in shown  # a field neither record holds is left out
    new = match_pupils([mis], []).results[0]
    assert {"field": "forename", "mis": "Zoë", "app": ""} in new.field_rows()
    assert new._repr_html_().startswith('<table class="schoolsync"><caption>New</caption>')
