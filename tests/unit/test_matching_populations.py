"""The population generator: deterministic, truthful, and the accuracy targets on its default."""

from __future__ import annotations

from schoolsync.matching import MatchStatus, match_pupils, match_staff
from schoolsync.testing.populations import (
    ErrorModel,
    evaluate,
    pupil_population,
    staff_population,
)


def test_same_seed_same_population() -> None:
    """A seed gives the same population every time; another seed gives another."""
    a = pupil_population(300, seed=5)
    assert a == pupil_population(300, seed=5)
    assert a.mis != pupil_population(300, seed=6).mis


def test_truth_links_existing_records_with_leavers_and_joiners() -> None:
    """Truth maps MIS ids to app ids that exist; leavers and joiners are left out of it."""
    pop = pupil_population(2000, seed=1)
    mis_ids = {p.id for p in pop.mis}
    app_ids = {p.id for p in pop.app}
    assert set(pop.truth) <= mis_ids
    assert set(pop.truth.values()) <= app_ids
    assert 0.02 < 1 - len(pop.truth) / len(pop.mis) < 0.06
    assert 0.02 < 1 - len(pop.truth) / len(pop.app) < 0.06


def test_error_model_changes_the_app_copy() -> None:
    """With no errors the app copies have the MIS names; the default model alters some."""
    clean = ErrorModel().scaled(0.0)
    pop = pupil_population(500, seed=2, model=clean)
    app = {p.id: p for p in pop.app}
    mis = {p.id: p for p in pop.mis}
    same = sum(mis[m].surname == app[a].surname for m, a in pop.truth.items())
    assert same / len(pop.truth) > 0.97
    noisy = pupil_population(500, seed=2, model=ErrorModel().scaled(4.0))
    app = {p.id: p for p in noisy.app}
    mis = {p.id: p for p in noisy.mis}
    changed = sum(mis[m].forename != app[a].forename for m, a in noisy.truth.items())
    assert changed > 0.1 * len(noisy.truth)


def test_default_model_meets_the_accuracy_targets() -> None:
    """On the default error model: Matched precision >= 99.5 %, recall >= 99 %, queue <= 3 %."""
    for model in (ErrorModel(), ErrorModel().without_identifiers()):
        pop = pupil_population(3000, seed=3, model=model)
        review = match_pupils(pop.mis, pop.app)  # type: ignore[arg-type]
        q = pop.quality(review)
        assert q.precision >= 0.995
        assert q.recall >= 0.99
        assert q.queue <= 0.03


def test_staff_populations_match_without_birth_dates() -> None:
    """Staff have no birth dates; matching still finds nearly all of them, precisely."""
    pop = staff_population(600, seed=4)
    assert all(s.date_of_birth is None for s in pop.mis)
    review = match_staff(pop.mis, pop.app)  # type: ignore[arg-type]
    q = pop.quality(review)
    assert q == evaluate(
        pop.truth,
        [(r.mis_key or "", r.app_key or "") for r in review.by_status(MatchStatus.MATCHED)],
        [(r.mis_key or "", r.app_key or "") for r in review.by_status(MatchStatus.MAY_MATCH)],
        len(pop.mis),
    )
    assert q.may_match > 0
    assert q.precision >= 0.99
    assert q.recall >= 0.97
