"""Notebook views: a match review, a sync plan, a change set and a decision table each render as
an HTML table and give plain rows a DataFrame can take (the values data officers inspect)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schoolsync.access import Account, AccountStatus
from schoolsync.access.presets import boost_insights
from schoolsync.bulk import ChangeSet, plan_selection
from schoolsync.bulk import TrustUsers as Users
from schoolsync.matching import match_pupils
from schoolsync.sync import SchoolRecords, plan
from schoolsync.sync.sample import sample_snapshot
from schoolsync.tables import Tabular
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.world import world
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def views() -> dict[str, Tabular]:
    mis = sample_snapshot("oak", pupils=14, staff=0)
    review = match_pupils(list(mis.pupils), list(mis.pupils[:10]))
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="oak", name="Oak <Primary>"))
        uow.commit()
        current = SchoolRecords.load(uow, "oak")
    sync_plan = plan([match_pupils(list(mis.pupils), [])], current, at=NOW)
    w = (
        world(boost_insights(), now=NOW)
        .trust("T")
        .school("oak", name="Oak <Primary>", in_trust="T")
        .account("grace")
        .role("grace", "Group Admin")
    )
    users = Users(
        trust_id="T",
        schools=(School(id="oak", name="Oak <Primary>"),),
        accounts=(
            Account(
                id="x",
                trust_id="T",
                email="x@oak.example",
                name="<b>X</b>",
                status=AccountStatus.ACTIVE,
            ),
        ),
        assignments=(),
    )

    class Checks:
        def role_names(self) -> list[str]:
            return ["Teacher"]

        def role_scope(self, role: str) -> Any:
            from schoolsync.access import RoleScope

            return RoleScope.SCHOOL if role == "Teacher" else None

    change_set: ChangeSet = plan_selection(
        users,
        ["x"],
        checks=Checks(),
        add=[("Teacher", "oak")],  # type: ignore[arg-type]
    )
    return {
        "match review": review,
        "sync plan": sync_plan,
        "change set": change_set,
        "decision table": w.index().access_table("grace"),
    }


@pytest.mark.parametrize("name", ["match review", "sync plan", "change set", "decision table"])
def test_renders_as_an_escaped_html_table_and_json_rows(name: str) -> None:
    """_repr_html_ is one escaped <table>; to_rows() is a non-empty list of JSON-able dicts."""
    value = views()[name]
    html = value._repr_html_()
    assert html.startswith('<table class="schoolsync">')
    assert "<Primary>" not in html
    assert "<b>X</b>" not in html
    rows = value.to_rows()
    assert rows
    assert all(isinstance(r, dict) for r in rows)
    json.dumps(rows)
