"""The matcher's fast paths give exactly the results of the plain computation they replace.

Each fast path is switched back to its plain form and the whole review compared, result by
result (status, pair, rule, runner-up, flags, breakdown, explanation; the score to 1e-9):

* EM over distinct level patterns weighted by their counts, against EM over every pair;
* comparing and scoring in chunks (``CHUNK`` pairs at a time), against all pairs at once;
* deciding pairs whose two records have no other candidate all at once, against the greedy
  loop deciding every pair;
* breakdowns built column by column, against one pair and one field at a time;
* string scores with rapidfuzz's cutoffs (and EM's sample compared for its levels only),
  against every score computed in full;
* blocking's name keys made with numpy from each row's distinct name combinations, against
  the loop making each row's keys;
* the ASCII shortcut of name normalisation, against the general path for every name.

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

from schoolsync.matching import (
    MatchReview,
    _blocking,
    _em,
    _evidence,
    _people,
    match_pupils,
    match_staff,
)
from schoolsync.matching._evidence import F_SURNAME, FIELDS, SIMILARITY_FIELDS
from schoolsync.matching._evidence import _cp as _cp_fast
from schoolsync.matching._normalise import _normalise_any
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


def _full_scores(n: int) -> Callable[..., Any]:
    """rapidfuzz's scores without any cutoff."""
    full = _cp_fast(n)

    def cp(a: Any, b: Any, scorer: Any = None, cutoff: Any = None, **_: Any) -> Any:
        return full(a, b) if scorer is None else full(a, b, scorer)

    return cp


def _name_keys_row_by_row(
    self: Any, groups: Callable[[str], frozenset[str]], codes: dict[str, int]
) -> tuple[Any, Any]:
    """The plain form of ``_Side.names``: each row's keys in a loop."""
    f = self.f
    forms: dict[str, tuple[str, ...]] = {}
    keys: list[int] = []
    counts: list[int] = []
    for k in self.rows.tolist():
        ft, pt, st_, qt = f.fn_t[k], f.pfn_t[k], f.sn_t[k], f.psn_t[k]
        given: tuple[str, ...] = ()
        for name in (ft,) if pt is ft else (ft, pt):
            if name:
                first = name[0]
                if first not in forms:
                    forms[first] = (first, *sorted(groups(first) - {first}))
                given += forms[first]
        row = [
            hash((s, g) if s <= g else (g, s))
            for g in given
            for s in (st_ if qt is st_ else st_ + qt)
        ][: _blocking.MAX_KEYS]
        keys.extend(row)
        counts.append(len(row))
    return _blocking._flat(keys, counts)


def _general_normalisation(text: str | None) -> str:
    return _normalise_any(text) if text else ""


_PLAIN: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "em_over_every_pair": lambda mp: mp.setattr(_em, "_distinct", _every_pair),
    "small_chunks": lambda mp: mp.setattr(_people, "CHUNK", 37),
    "greedy_loop_for_every_pair": lambda mp: mp.setattr(_people, "_lone", _none_alone),
    "breakdowns_one_by_one": lambda mp: mp.setattr(_people, "_breakdowns", _breakdowns_one_by_one),
    "scores_in_full": lambda mp: mp.setattr(_evidence, "_cp", _full_scores),
    "name_keys_row_by_row": lambda mp: mp.setattr(_blocking._Side, "names", _name_keys_row_by_row),
    "general_name_normalisation": lambda mp: mp.setattr(
        _evidence, "normalise_name", _general_normalisation
    ),
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


def test_cutoffs_keep_every_level_at_its_threshold() -> None:
    """Names, addresses and postcodes at and around each level's threshold (Jaro-Winkler
    exactly 0.8 for daniel/dale, 0.92 for whitd/white; token ratios near 75 and 90; postcodes
    0, 1 and 2 edits apart), every pair of them: the levels with rapidfuzz's cutoffs, and for
    EM's sample without similarities, are the levels of the full scores."""
    from datetime import date

    from schoolsync.matching import MatchSettings
    from schoolsync.people import Pupil

    names = [("Daniel", "White"), ("Dale", "Whitd"), ("Greeb", "Green"), ("Green", "Dale")]
    names += [("Is", "Isabella"), ("Hannah", "Haak"), ("Lauren", "Lace"), ("Hage", "Hauser")]
    places = [
        ("SW1A 1AA", "12 Acacia Avenue Little Whinging"),
        ("SW1A 1AB", "12 Acacia Avenue Little Whingeing"),
        ("SW1A 2AB", "Flat 3 12 Acacia Road Little Whinging"),
        ("", "12 Acacia Av"),
    ]

    def people(prefix: str, rotate: int) -> list[Pupil]:
        return [
            Pupil(
                id=f"{prefix}{k}",
                school_id="s",
                forename=f,
                surname=s_,
                middle_names=sn if k % 3 == 0 else None,
                date_of_birth=date(2015, 1 + k % 12, 1 + k % 28),
                postcode=places[(k + rotate) % 4][0] or None,
                address=places[(k + rotate) % 4][1],
            )
            for k, ((f, s_), sn) in enumerate(
                (name, other[1]) for name in names for other in names[:3]
            )
        ]

    mis, app = people("m", 0), people("a", 1)
    run = _people._new_run(mis, app, MatchSettings())
    pi = np.repeat(np.arange(len(mis)), len(app))
    pj = np.tile(np.arange(len(app)), len(mis))
    cut, levels_only = run.compare(pi, pj), run.compare(pi, pj, with_similarity=False)
    with _plain("scores_in_full"):
        full = run.compare(pi, pj)
    np.testing.assert_array_equal(cut.patterns, full.patterns)
    np.testing.assert_array_equal(levels_only.patterns, full.patterns)
    np.testing.assert_array_equal(cut.similarity, full.similarity)
    assert (full.patterns != cut.patterns).sum() == 0
    # the thresholds are reached: some pair at each name level the test is about
    assert {6, 7} <= set(np.unique(full.levels[1]).tolist())


@given(st.text() | st.from_regex(r"[A-Za-z' .\-`]{0,20}", fullmatch=True))
def test_the_ascii_shortcut_of_name_normalisation_equals_the_general_path(text: str) -> None:
    """Most names are ASCII: ``normalise_name`` only lower-cases them and drops apostrophes
    and separators, which must give what casefolding, decomposing and stripping gives."""
    from schoolsync.matching._normalise import _normalise_any, normalise_name

    assert normalise_name(text) == (_normalise_any(text) if text else "")
