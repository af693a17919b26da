"""Properties of remembered match decisions (``MatchReview.honour``).

* No automatic evidence overrides a person's decision: a pair a person matched is Matched
  (manual, confirmed) even when the two records share nothing; a pair a person refused is never
  a pair, even when the two records are identical (the strongest evidence there is: same UPN,
  names and birth date).
* Removing a decision returns the automatic outcome: with no decisions the review is the
  matcher's own, and forgetting one decision gives what the others alone give.
* The review stays a review: every record on exactly one line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schoolsync.matching import MatchReview, MatchRule, MatchStatus, match_pupils
from schoolsync.people import Pupil
from schoolsync.records import MatchChoice, MatchDecision, MatchDecisions, RecordKind
from schoolsync.testing.strategies import pupils

AT = datetime(2026, 3, 2, tzinfo=UTC)


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[Pupil], list[Pupil]]:
    """MIS and app pupils: some the same person (identical, or a surname typo), some only on
    one side; MIS ids ``m<i>`` (``mis_id`` ``M<i>``), app ids ``a<i>``."""
    people = draw(st.lists(pupils(school_id="s1"), min_size=1, max_size=10))
    mis: list[Pupil] = []
    app: list[Pupil] = []
    for i, p in enumerate(people):
        side = draw(st.sampled_from(["both", "both", "mis", "app"]))
        if side != "app":
            mis.append(attrs.evolve(p, id=f"m{i}", mis_id=f"M{i}"))
        if side != "mis":
            surname = p.surname + draw(st.sampled_from(["", "", "e"]))
            app.append(attrs.evolve(p, id=f"a{i}", surname=surname, mis_id=None))
    return mis, app


@st.composite
def decided(draw: st.DrawFn) -> tuple[list[Pupil], list[Pupil], list[MatchDecision]]:
    mis, app = draw(populations())
    decisions: list[MatchDecision] = []
    for n in range(draw(st.integers(0, 6))):
        choice = draw(st.sampled_from(list(MatchChoice)))
        m = draw(st.sampled_from(mis)) if mis else None
        a = draw(st.sampled_from(app)) if app else None
        if m is None or (choice.needs_app and a is None):
            continue
        assert m.mis_id is not None
        d = MatchDecision.make(
            school_id="s1",
            kind=RecordKind.PUPIL,
            choice=choice,
            mis_id=m.mis_id,
            app_id=a.id if choice.needs_app and a is not None else None,
            decided_at=AT + timedelta(minutes=n),
            decided_by="amir",
        )
        decisions = list(MatchDecisions(decisions).deciding(d)[0])
    return mis, app, decisions


def _lines(review: MatchReview[Any]) -> tuple[list[str], list[str]]:
    mis = sorted(r.mis.id for r in review if r.mis is not None)
    app = sorted(r.app.id for r in review if r.app is not None)
    return mis, app


def _pair_of(review: MatchReview[Any], mis_id: str) -> str | None:
    for r in review:
        if r.mis is not None and r.mis.mis_id == mis_id:
            return None if r.app is None else r.app.id
    return None


@settings(max_examples=30, deadline=None)
@given(decided())
def test_no_automatic_evidence_overrides_a_decision(
    case: tuple[list[Pupil], list[Pupil], list[MatchDecision]],
) -> None:
    mis, app, decisions = case
    plain = match_pupils(mis, app)
    review = match_pupils(mis, app, decisions=decisions)
    assert _lines(review) == _lines(plain)  # every record still on exactly one line
    book = MatchDecisions(decisions)
    for d in decisions:
        if d.choice is MatchChoice.MATCH:
            r = review.result_for(app=d.app_id)
            assert r.status is MatchStatus.MATCHED
            assert r.rule is MatchRule.MANUAL
            assert r.confirmed
            assert r.mis is not None
            assert r.mis.mis_id == d.mis_id
        elif d.choice is MatchChoice.NOT_MATCH:
            assert _pair_of(review, d.mis_id) != d.app_id
    for r in review.by_status(MatchStatus.NEW):
        assert r.mis is not None
        assert r.mis.mis_id is not None
        choice = book.import_choice(RecordKind.PUPIL, r.mis.mis_id)
        if choice is MatchChoice.NEW:
            assert review.is_selected(r.mis)
        elif choice is MatchChoice.LEAVE_OUT or book.unmatched_from(RecordKind.PUPIL, r.mis.mis_id):
            assert not review.is_selected(r.mis)


@settings(max_examples=30, deadline=None)
@given(decided(), st.data())
def test_removing_a_decision_returns_the_automatic_outcome(
    case: tuple[list[Pupil], list[Pupil], list[MatchDecision]], data: st.DataObject
) -> None:
    mis, app, decisions = case
    assert match_pupils(mis, app, decisions=()) == match_pupils(mis, app)
    if not decisions:
        return
    gone = data.draw(st.sampled_from(decisions))
    rest = [d for d in decisions if d is not gone]
    honoured = match_pupils(mis, app, decisions=decisions)
    assert match_pupils(mis, app).honour(rest) == match_pupils(mis, app, decisions=rest)
    # Honouring is applied to the matcher's own review: the same review, whatever came before.
    assert honoured.honour(decisions) == honoured


@settings(max_examples=20, deadline=None)
@given(populations())
def test_a_refused_pair_of_identical_records_is_never_a_pair(
    case: tuple[list[Pupil], list[Pupil]],
) -> None:
    """The strongest evidence there is (the same UPN, names, birth date) does not re-pair two
    records a person said are not the same; an MIS record matched by hand with an app record it
    shares nothing with stays matched."""
    mis, _ = case
    assume(mis)  # the stranger below is made from the first MIS record
    app = [attrs.evolve(p, id=f"a-{p.id}", mis_id=None) for p in mis]
    refusals = [
        MatchDecision.make(
            school_id="s1",
            kind=RecordKind.PUPIL,
            choice=MatchChoice.NOT_MATCH,
            mis_id=str(m.mis_id),
            app_id=f"a-{m.id}",
            decided_at=AT,
        )
        for m in mis
    ]
    review = match_pupils(mis, app, decisions=refusals)
    for m in mis:
        assert _pair_of(review, str(m.mis_id)) != f"a-{m.id}"
        assert not review.is_selected(m)
    stranger = attrs.evolve(
        mis[0], id="stranger", forename="Zebedee", surname="Quux", upn=None, former_upns=()
    )
    hand = MatchDecision.make(
        school_id="s1",
        kind=RecordKind.PUPIL,
        choice=MatchChoice.MATCH,
        mis_id=str(mis[0].mis_id),
        app_id="stranger",
        decided_at=AT,
    )
    matched = match_pupils(mis, [*app, stranger], decisions=[hand]).result_for(app="stranger")
    assert matched.status is MatchStatus.MATCHED
    assert matched.mis == mis[0]
