"""Fellegi–Sunter match weights: m and u probabilities, learned by expectation maximisation.

For each field and comparison level, *m* is the chance of that level when the two records
are the same person and *u* when they are not; the level's match weight is
``log2(m / u)`` bits (a pair's weights add up; 10 bits = 1,000 times likelier the same
person). The parameters come from the two lists being matched:

* **u** from a deterministic spread of record pairs within the same schools (almost all
  different people), smoothed towards the prior u;
* **m** and the share of true pairs among the candidate pairs by expectation maximisation
  over the candidate pairs (vectorised, a fixed number of rounds, sums in a canonical pair
  order so the result never depends on input order), smoothed towards the prior m with
  ``prior_strength`` pseudo-pairs. Below ``min_pairs_to_learn`` candidate pairs nothing is
  learned: a school that small is matched with the documented priors (:data:`PRIORS`).
* **term frequencies**: agreeing on a name shared by many records is weaker evidence than
  agreeing on a rare one: an equal surname or forename weighs ``log2(m / f)`` where *f* is
  that name's (smoothed) share of all records instead of the average u.

Identifier levels (UPN, MIS id, email) keep their priors: the identifier ladder already
pairs most records that share one, so the candidate pairs hold too few to learn from.

Each optional field's weights are bounded below by ``floor`` and a missing value weighs
``floor`` (no value is never stronger than a disagreeing one; names, which are required,
weigh 0 when blank), and a pair's field weighs the best of the
levels that apply to it (a name can be both close and one part of a multi-part name), so
removing a value (a birth date, a preferred or middle name) never makes a pair more likely.
"""

from __future__ import annotations

import itertools
import math

import attrs
import numpy as np
import numpy.typing as npt

from schoolsync.matching._evidence import (
    EXACT,
    F_FORENAME,
    F_SURNAME,
    FIELDS,
    MISSING,
    N_LEVELS,
    TRANSPOSED,
    LevelArray,
    PatternArray,
)

__all__ = ["PRIORS", "Model", "estimate", "prior_model"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Prior m and u per level (index = level code; level 0 "missing" is not used). Chosen from
# UK school data shapes: m from the error rates of typed-in copies (testing.populations'
# default error model), u from random pairs of pupils in one school of ~1,500.
_P = tuple[tuple[float, ...], tuple[float, ...], float]
PRIORS: dict[str, _P] = {
    # levels: -, equal, preferred, part, middle, transposed, close, similar, initial, different
    "surname": (
        (0, 0.90, 0.005, 0.03, 0.0005, 0.005, 0.035, 0.01, 0.002, 0.0125),
        (0, 0.005, 0.0002, 0.001, 0.0001, 0.00005, 0.002, 0.02, 0.003, 0.96865),
        -8.0,
    ),
    "forename": (
        (0, 0.86, 0.06, 0.005, 0.01, 0.005, 0.035, 0.01, 0.003, 0.012),
        (0, 0.008, 0.001, 0.0005, 0.0002, 0.00005, 0.004, 0.03, 0.004, 0.95225),
        -8.0,
    ),
    "middle_names": (
        (0, 0.90, 0.005, 0.01, 0.0001, 0.0001, 0.03, 0.01, 0.02, 0.0248),
        (0, 0.01, 0.001, 0.002, 0.0001, 0.0001, 0.005, 0.03, 0.05, 0.9017),
        0.0,
    ),
    # levels: -, equal, swapped, one digit, another year, one part, different
    "date_of_birth": (
        (0, 0.95, 0.006, 0.012, 0.004, 0.008, 0.02),
        (0, 0.0006, 0.0002, 0.006, 0.004, 0.06, 0.9292),
        -3.0,
    ),
    # levels: -, equal, different; floor 0: an agreeing gender supports a pair, a different or
    # unknown one costs nothing (a recorded gender can change; many lists hold none)
    "gender": ((0, 0.98, 0.02), (0, 0.5, 0.5), 0.0),
    # levels: -, equal, one character, same district, different
    "postcode": ((0, 0.88, 0.03, 0.04, 0.05), (0, 0.002, 0.003, 0.05, 0.945), 0.0),
    # levels: -, equal, close, similar, different
    "address": ((0, 0.80, 0.10, 0.05, 0.05), (0, 0.0005, 0.001, 0.01, 0.9885), 0.0),
    "UPN": ((0, 0.99, 0.01), (0, 1e-6, 1.0 - 1e-6), 0.0),
    "MIS_id": ((0, 0.99, 0.01), (0, 1e-6, 1.0 - 1e-6), 0.0),
    "email": ((0, 0.95, 0.05), (0, 1e-6, 1.0 - 1e-6), 0.0),
}
#: The assumed share of MIS records with a true partner in the app when nothing is learned.
PRIOR_MATCH_SHARE = 0.9


def _table(index: int) -> FloatArray:
    out = np.zeros((len(FIELDS), N_LEVELS), dtype=np.float64)
    for f, spec in enumerate(FIELDS):
        row = PRIORS[spec.name][index]
        out[f, : len(row)] = row  # type: ignore[arg-type]
    return out


_M0 = _table(0)
_U0 = _table(1)
_FLOOR = np.asarray([PRIORS[f.name][2] for f in FIELDS], dtype=np.float64)
# names are never removed (they are required fields): a missing name (a blank in a file) is
# no evidence either way, and a different name is not bounded below
_NAME = np.asarray([f.kind == "name" and f.name != "middle_names" for f in FIELDS], dtype=bool)
_MISSING_W = np.where(_NAME, 0.0, _FLOOR)
_LEVEL_FLOOR = np.where(_NAME, -np.inf, _FLOOR)
_LEARNED = np.asarray([f.learned for f in FIELDS], dtype=bool)


@attrs.frozen(eq=False)
class Model:
    """Learned (or prior) parameters of one matching run.

    ``weights[f, level]`` in bits; ``prior_bits`` the log2 odds that two records of one
    school picked at random are the same person; ``tf[f]`` maps a record's name code to the
    weight of an equal value of that name (surname and forename).
    """

    m: FloatArray
    u: FloatArray
    weights: FloatArray
    prior_bits: float
    learned: bool
    tf_weight: dict[int, FloatArray]

    def pair_weights(
        self,
        patterns: PatternArray,
        tf_codes: dict[int, IntArray],
        tf_codes_other: dict[int, IntArray] | None = None,
    ) -> tuple[FloatArray, LevelArray]:
        """Each field's weight for each pair, the best of the levels that apply, and which
        level that was: shapes (fields, pairs). ``tf_codes`` are the name codes of the pairs'
        first records, ``tf_codes_other`` of their second ones."""
        n = patterns.shape[1]
        weights = np.empty((len(FIELDS), n), dtype=np.float64)
        chosen = np.zeros((len(FIELDS), n), dtype=np.int8)
        for f in range(len(FIELDS)):
            bits = patterns[f]
            best = np.full(n, -np.inf)
            level = np.zeros(n, dtype=np.int8)
            table = self.tf_weight.get(f)
            # an equal name weighs less when the name is common (term frequency); a weaker
            # agreement with the same record's name (a nickname form, a close spelling) never
            # weighs more than equality would, so an exact namesake always beats a near one
            exact_cap: FloatArray | None = None
            if table is not None:
                exact_cap = np.full(n, np.inf)
                for side in (tf_codes, tf_codes_other or {}):
                    if f in side:
                        codes = side[f]
                        ok = codes >= 0
                        exact_cap[ok] = np.minimum(exact_cap[ok], table[codes[ok]])
            for lv in range(1, N_LEVELS):
                has = (bits & (1 << lv)) != 0
                if not has.any():
                    continue
                w = np.full(n, self.weights[f, lv])
                if exact_cap is not None and table is not None:
                    if lv == EXACT:
                        codes = tf_codes[f]
                        ok = codes >= 0
                        w[ok] = table[codes[ok]]
                    else:
                        w = np.minimum(w, exact_cap - _BELOW_EXACT)
                better = has & (w > best)
                best = np.where(better, w, best)
                level = np.where(better, lv, level).astype(np.int8)
            weights[f] = np.where(bits == 0, self.weights[f, MISSING], best)
            chosen[f] = level
        return weights, chosen


#: How far below an equal name's (term-frequency) weight a weaker name agreement stays.
_BELOW_EXACT = 0.5


def _clean(m: FloatArray, u: FloatArray) -> tuple[FloatArray, FloatArray]:
    m = np.clip(m, 1e-9, 1.0)
    u = np.clip(u, 1e-9, 1.0)
    return m, u


def _weights(m: FloatArray, u: FloatArray) -> FloatArray:
    w: FloatArray = np.log2(m / u)
    w = np.maximum(w, _LEVEL_FLOOR[:, None])
    # forename and surname transposed is one piece of evidence shown on both fields
    both = 0.5 * (w[F_SURNAME, TRANSPOSED] + w[F_FORENAME, TRANSPOSED])
    w[F_SURNAME, TRANSPOSED] = w[F_FORENAME, TRANSPOSED] = 0.5 * both
    w[:, MISSING] = _MISSING_W
    return w


def _tf_tables(
    m: FloatArray,
    u: FloatArray,
    counts: dict[int, IntArray],
    smoothing: float,
) -> dict[int, FloatArray]:
    """Weights of an equal name per name code: ``log2(m / f)``, *f* the smoothed share."""
    out: dict[int, FloatArray] = {}
    for f, c in counts.items():
        total = float(c.sum())
        share = (c + smoothing * u[f, EXACT]) / (total + smoothing)
        out[f] = np.log2(m[f, EXACT] / share)
    return out


def prior_model(
    n_pairs_total: float,
    expected_matches: float,
    name_counts: dict[int, IntArray],
    tf_smoothing: float,
) -> Model:
    """The documented priors, for runs too small to learn from."""
    m, u = _clean(_M0.copy(), _U0.copy())
    return _finish(m, u, n_pairs_total, expected_matches, name_counts, tf_smoothing, False)


def _finish(
    m: FloatArray,
    u: FloatArray,
    n_pairs_total: float,
    expected_matches: float,
    name_counts: dict[int, IntArray],
    tf_smoothing: float,
    learned: bool,
) -> Model:
    share = min(max(expected_matches, 1.0) / max(n_pairs_total, 1.0), 0.5)
    prior_bits = math.log2(share / (1.0 - share))
    return Model(
        m=m,
        u=u,
        weights=_weights(m, u),
        prior_bits=prior_bits,
        learned=learned,
        tf_weight=_tf_tables(m, u, name_counts, tf_smoothing),
    )


def _level_counts(levels: LevelArray, weight: FloatArray | None) -> FloatArray:
    """Weighted count of each (field, level) over pairs (missing levels count 0)."""
    f_n = levels.shape[0]
    counts: FloatArray = np.zeros((f_n, N_LEVELS), dtype=np.float64)
    for f in range(f_n):
        counts[f] = np.bincount(levels[f], weights=weight, minlength=N_LEVELS)[:N_LEVELS]
    counts[:, MISSING] = 0.0
    return counts


def _normalise(counts: FloatArray, prior: FloatArray, strength: float) -> FloatArray:
    mixed = counts + strength * prior
    total = mixed.sum(axis=1, keepdims=True)
    out: FloatArray = mixed / np.maximum(total, 1e-12)
    return out


def _distinct(levels: LevelArray) -> tuple[LevelArray, FloatArray]:
    """The distinct columns of *levels* (fields, pairs), in sorted order, and how many
    pairs have each."""
    key = np.zeros(levels.shape[1], dtype=np.int64)
    for row in levels:
        key = key * _LEVEL_BASE + row
    distinct, count = np.unique(key, return_counts=True)
    out = np.empty((levels.shape[0], len(distinct)), dtype=np.int8)
    for f in range(levels.shape[0] - 1, -1, -1):
        out[f] = distinct % _LEVEL_BASE
        distinct = distinct // _LEVEL_BASE
    return out, count.astype(np.float64)


#: Levels are below 16, so a pair's levels of the (ten) fields pack into one int64.
_LEVEL_BASE = 16
if N_LEVELS > _LEVEL_BASE or _LEVEL_BASE ** len(FIELDS) >= 2**62:  # pragma: no cover
    raise ImportError("comparison levels no longer pack into one int64: widen _distinct")


def estimate(
    candidates: LevelArray,
    sample: LevelArray,
    *,
    n_pairs_total: float,
    expected_matches: float,
    name_counts: dict[int, IntArray],
    prior_strength: float,
    min_pairs_to_learn: int,
    rounds: int,
    tf_smoothing: float,
) -> Model:
    """Learn m (by EM over *candidates*, levels of shape (fields, pairs) in canonical order)
    and u (from *sample*, levels of pairs of different people)."""
    if candidates.shape[1] < min_pairs_to_learn:
        return prior_model(n_pairs_total, expected_matches, name_counts, tf_smoothing)
    u_random = _normalise(_level_counts(sample, None), _U0, prior_strength * 20)
    # EM over the distinct level patterns, each weighted by how many pairs show it (a few
    # thousand patterns stand for 10^5-10^6 pairs; sorted, so the order is canonical)
    patterns, count = _distinct(candidates)
    n = float(candidates.shape[1])
    all_counts = _level_counts(patterns, count)
    m = _M0.copy()
    u_cand = u_random.copy()
    # the first E-step sees the candidates as random pairs of one school would be (the prior
    # odds of all pairs): otherwise equal common names alone look like a match and the EM
    # settles on "a different birth date is usual for the same person"
    first = min(max(expected_matches, 1.0) / max(n_pairs_total, 1.0), 0.5)
    prior_odds = math.log2(first / (1.0 - first))
    learned = _LEARNED[:, None]
    learned_fields = np.flatnonzero(_LEARNED).tolist()
    g = np.zeros(patterns.shape[1])
    for _ in range(rounds):
        mm, uu = _clean(m, u_cand)
        w = np.log2(mm / uu)
        w[:, MISSING] = 0.0
        bits = np.zeros(patterns.shape[1])
        for f in learned_fields:
            bits += w[f][patterns[f]]
        g = 1.0 / (1.0 + np.exp2(-np.clip(bits + prior_odds, -60, 60)))
        share = float(np.clip(float(g @ count) / n, 1e-6, 1 - 1e-6))
        prior_odds = math.log2(share / (1.0 - share))
        m_counts = _level_counts(patterns, g * count)
        u_counts = np.maximum(all_counts - m_counts, 0.0)
        m = np.where(learned, _normalise(m_counts, _M0, prior_strength), _M0)
        u_cand = np.where(learned, _normalise(u_counts, u_random, prior_strength), _U0)
    m_final, u_final = _clean(np.where(learned, m, _M0), np.where(learned, u_random, _U0))
    matches = max(float(g @ count), 1.0)
    return _finish(m_final, u_final, n_pairs_total, matches, name_counts, tf_smoothing, True)


def name_codes(values: list[str], other: list[str]) -> tuple[IntArray, IntArray, IntArray]:
    """Dense codes of compact names on both sides (-1 for none), numbered in order of first
    appearance, and each code's count."""
    numbers = dict.fromkeys(values)
    numbers.update(dict.fromkeys(other))
    numbers.pop("", None)
    codes = {v: k for k, v in enumerate(numbers)}
    a = np.asarray(list(map(codes.get, values, itertools.repeat(-1))), dtype=np.int64)
    b = np.asarray(list(map(codes.get, other, itertools.repeat(-1))), dtype=np.int64)
    both = np.concatenate([a, b])
    counts = np.bincount(both[both >= 0], minlength=len(codes)).astype(np.int64)
    return a, b, counts


TF_FIELDS = (F_SURNAME, F_FORENAME)
