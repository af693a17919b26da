"""The matcher's fast paths give exactly the results of the plain computation they replace.

Each fast path is switched back to its plain form and the whole review compared, result by
result (status, pair, rule, runner-up, flags, breakdown, explanation; the score to 1e-9):

* EM over distinct level patterns weighted by their counts, against EM over every pair;
* comparing and scoring in chunks (``CHUNK`` pairs at a time), against all pairs at once;
* deciding pairs whose two records have no other candidate all at once, against the greedy
  loop deciding every pair;
* breakdowns built column by column, against one pair and one field at a time.

The populations are school-shaped (twins, siblings, missing birth dates, preferred names,
typos, double the default error rates) and large enough for EM to learn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schoolsync.matching import MatchReview, _em, _people, match_pupils, match_staff
from schoolsync.matching._evidence import F_SURNAME, FIELDS, SIMILARITY_FIELDS
from schoolsync.matching._results import FieldScore
from schoolsync.testing.populations import ErrorModel, pupil_population, staff_population


def _every_pair(levels: Any) -> tuple[Any, Any]:
    """EM's input unmerged: every pair its own pattern, counted once."""
    return levels, np.ones(levels.shape[1])


def _none_alone(pi: Any, pj: Any, free: Any) -> Any:
    return np.zeros(len(pi), dtype=bool)


def _breakdowns_one_by_one(scored: Any, ks: list[int], common: Any) -> list[tuple[FieldScore, ...]]:
    """The plain form: each pair, each field, one FieldScore at a time."""
    if not ks:
        return []
    idx = np.asarray(ks, dtype=np.int64)
    levels = scored.levels[:, idx].T.tolist()
    weights = (np.round(scored.weights[:, idx], 1) + 0.0).T.tolist()
    sims = np.round(scored.cmp.similarity[:, idx], 2).T.tolist()
    texts = common.tolist()
    base = FieldScore(
        field="base_rate",
        similarity=0.0,
        weight=round(scored.prior_bits, 1),
        note=f"{scored.prior_bits:+.1f}",
    )
    out = []
    for row, (lv, wt, sm) in enumerate(zip(levels, weights, sims, strict=True)):
        fields = []
        for f, spec in enumerate(FIELDS):
            if spec.name not in {"surname", "forename", "date_of_birth"} and wt[f] == 0.0:
                continue
            raw = sm[SIMILARITY_FIELDS.index(f)] if f in SIMILARITY_FIELDS else 0.0
            sim = raw if raw else (1.0 if lv[f] == 1 else 0.0)
            tf = _people._COMMONNESS[texts[row]] if f == F_SURNAME else ""
            words = spec.levels[lv[f]]
            if tf and lv[f] == 1:
                words = f"{words}, {tf}"
            fields.append(
                FieldScore(
                    field=spec.name, similarity=sim, weight=wt[f], note=f"{words} {wt[f]:+.1f}"
                )
            )
        fields.append(base)
        out.append(tuple(fields))
    return out


_PLAIN: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "em_over_every_pair": lambda mp: mp.setattr(_em, "_distinct", _every_pair),
    "small_chunks": lambda mp: mp.setattr(_people, "CHUNK", 37),
    "greedy_loop_for_every_pair": lambda mp: mp.setattr(_people, "_lone", _none_alone),
    "breakdowns_one_by_one": lambda mp: mp.setattr(_people, "_breakdowns", _breakdowns_one_by_one),
}


@contextmanager
def _plain(name: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        _PLAIN[name](mp)
        yield


def _rows(review: MatchReview[Any]) -> list[tuple[Any, ...]]:
    return [
        (r.status, r.mis_key, r.app_key, r.rule, r.runner_up, r.flags, r.breakdown, r.explanation)
        for r in review
    ]


def _assert_same(fast: MatchReview[Any], plain: MatchReview[Any]) -> None:
    assert _rows(fast) == _rows(plain)
    scores = np.asarray([r.score for r in fast]) - np.asarray([r.score for r in plain])
    assert np.abs(scores).max(initial=0.0) <= 1e-9


@pytest.mark.parametrize("plain", sorted(_PLAIN))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=250, max_value=700),
    seed=st.integers(min_value=0, max_value=10_000),
    one_school=st.booleans(),
    errors=st.sampled_from([1.0, 2.0, 4.0]),
)
def test_fast_paths_give_the_plain_results(
    plain: str, n: int, seed: int, one_school: bool, errors: float
) -> None:
    """Every fast path, switched back to its plain form, gives the same review."""
    model = ErrorModel().without_identifiers().scaled(errors)
    pop = pupil_population(n, seed=seed, model=model, school_size=2 * n if one_school else 300)
    fast = match_pupils(pop.mis, pop.app)
    with _plain(plain):
        slow = match_pupils(pop.mis, pop.app)
    _assert_same(fast, slow)


@pytest.mark.parametrize("plain", sorted(_PLAIN))
def test_fast_paths_with_identifiers_and_staff(plain: str) -> None:
    """The same with UPNs and MIS ids (the identifier ladder) and for staff."""
    pupils = pupil_population(900, seed=3, model=ErrorModel())
    staff = staff_population(400, seed=3)
    fast = (match_pupils(pupils.mis, pupils.app), match_staff(staff.mis, staff.app))
    with _plain(plain):
        slow = (match_pupils(pupils.mis, pupils.app), match_staff(staff.mis, staff.app))
    for f, s in zip(fast, slow, strict=True):
        _assert_same(f, s)
