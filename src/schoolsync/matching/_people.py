"""Person matching (pupils and staff): identifiers, blocking, learned evidence, assignment.

The pipeline, all pure:

1. **Identifier ladder.** MIS id (scoped to the school), then UPN and former UPNs, then email.
   A key links two records only when it is unique on both sides; an MIS-id or email link is
   refused when both records carry UPNs that disagree (a new MIS reusing id numbers).
2. **Blocking** (:mod:`._blocking`): candidate pairs within a school, several sorted
   neighbourhood passes, a bounded number per record at any school size.
3. **Comparison levels** (:mod:`._evidence`) per field of every pair, and **match weights**
   (:mod:`._em`): Fellegi–Sunter ``log2(m/u)`` with m and u learned by EM on the two lists,
   term-frequency adjusted names, documented priors for small schools. A pair's match
   probability is ``1 / (1 + 2**-(prior + sum of weights))``.
4. **Assignment.** Greedy by weight (ties broken by record ids, so input order never
   matters). A pair is **Matched** when its probability reaches ``match_threshold``, two
   independent kinds of evidence agree (names, birth date, identifier, address: names alone,
   however exact, give at most May match), no free competitor of either record comes within
   ``ambiguity_bits`` (a competitor with a better partner of its own does not count, nor a
   twin of the partner when the pair's forenames agree exactly, nor, for an identical pair,
   a candidate that is not identical too), and the **twin rule** allows it: a pair involving
   a record with a same-side twin (same surname and birth date) is Matched only when the
   forenames agree exactly. Otherwise **May match** from ``may_match_threshold``.
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from schoolsync.matching import _em
from schoolsync.matching._blocking import candidate_pairs, school_codes
from schoolsync.matching._evidence import (
    EQUAL,
    EXACT,
    F_DOB,
    F_FORENAME,
    F_SURNAME,
    FIELDS,
    KINDS,
    MISSING,
    PREFERRED,
    SIMILARITY_FIELDS,
    Comparison,
    Features,
    LevelArray,
    NormCache,
    compare,
)
from schoolsync.matching._results import (
    FieldScore,
    MatchResult,
    MatchRule,
    MatchStatus,
    made_result,
)
from schoolsync.matching._settings import MatchSettings
from schoolsync.records.people import Pupil, StaffMember

__all__ = ["match_people", "score_pair"]

P = TypeVar("P", Pupil, StaffMember)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_KIND_OF = np.asarray([KINDS.index(f.kind) if f.kind else -1 for f in FIELDS], dtype=np.int64)
_ALWAYS_SHOWN = frozenset({"surname", "forename", "date_of_birth"})
_EQUAL_LEVEL = np.asarray([EXACT if f.kind == "name" else EQUAL for f in FIELDS])

# --------------------------------------------------------------------------- scoring


@attrs.define(kw_only=True)
class _Scored:
    """Candidate pairs with their field weights, total log-odds and decision inputs."""

    cmp: Comparison
    levels: LevelArray  # (fields, pairs): the level whose weight counted
    weights: FloatArray  # (fields, pairs), bits
    bits: FloatArray  # prior + sum of weights
    prior_bits: float
    kinds: IntArray  # agreeing kinds of evidence per pair
    first_kind: IntArray  # the strongest agreeing kind (-1: none)
    identical: BoolArray
    forename_exact: BoolArray

    @property
    def probability(self) -> FloatArray:
        """Match probabilities."""
        out: FloatArray = 1.0 / (1.0 + np.exp2(-np.clip(self.bits, -60.0, 60.0)))
        return out

    def take(self, idx: IntArray) -> _Scored:
        """The pairs at positions *idx*, in that order."""
        return _Scored(
            cmp=self.cmp.take(idx),
            levels=self.levels[:, idx],
            weights=self.weights[:, idx],
            bits=self.bits[idx],
            prior_bits=self.prior_bits,
            kinds=self.kinds[idx],
            first_kind=self.first_kind[idx],
            identical=self.identical[idx],
            forename_exact=self.forename_exact[idx],
        )

    @staticmethod
    def concat(parts: list[_Scored]) -> _Scored:
        """The pairs of *parts* (at least one), one after another."""
        if len(parts) == 1:
            return parts[0]
        return _Scored(
            cmp=Comparison.concat([p.cmp for p in parts]),
            levels=np.concatenate([p.levels for p in parts], axis=1),
            weights=np.concatenate([p.weights for p in parts], axis=1),
            bits=np.concatenate([p.bits for p in parts]),
            prior_bits=parts[0].prior_bits,
            kinds=np.concatenate([p.kinds for p in parts]),
            first_kind=np.concatenate([p.first_kind for p in parts]),
            identical=np.concatenate([p.identical for p in parts]),
            forename_exact=np.concatenate([p.forename_exact for p in parts]),
        )


#: Pairs compared and scored at a time: a school of 200,000 makes over a million candidate
#: pairs, and the per-field temporaries of all of them at once would double the peak memory.
CHUNK = 1 << 17


def _chunks(n: int) -> list[slice]:
    return [slice(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)] or [slice(0, 0)]


def _score(
    model: _em.Model,
    cmp: Comparison,
    run: _Run,
    settings: MatchSettings,
    floor: float | None = None,
) -> _Scored:
    """Score pairs chunk by chunk; with *floor*, keep only pairs whose match probability
    reaches it (the others can be neither Matched nor May match)."""
    parts = []
    for part in _chunks(cmp.n):
        piece = cmp if part == slice(0, cmp.n) else cmp.take(np.arange(part.start, part.stop))
        scored = _score_chunk(model, piece, run, settings)
        if floor is not None:
            keep = np.flatnonzero(scored.probability >= floor)
            if len(keep) < scored.cmp.n:
                scored = scored.take(keep)
        parts.append(scored)
    return _Scored.concat(parts)


def _score_chunk(model: _em.Model, cmp: Comparison, run: _Run, settings: MatchSettings) -> _Scored:
    codes = {f: c[cmp.pi] for f, c in run.tf_codes.items()}
    codes_app = {f: c[cmp.pj] for f, c in run.tf_codes_app.items()}
    w, levels = model.pair_weights(cmp.patterns, codes, codes_app)
    bits = model.prior_bits + w.sum(axis=0)
    # agreeing kinds: the best learned weight of a kind's fields reaches evidence_bits (1 bit
    # by default: that level is at least twice as likely for the same person, m >= 2u)
    n_kinds = len(KINDS)
    best = np.full((n_kinds, cmp.n), -np.inf)
    for f in range(len(FIELDS)):
        kind = int(_KIND_OF[f])
        if kind >= 0:
            best[kind] = np.maximum(best[kind], np.where(levels[f] != MISSING, w[f], -np.inf))
    agree = best >= settings.evidence_bits
    kinds = agree.sum(axis=0).astype(np.int64)
    first_kind = np.where(agree.any(axis=0), np.argmax(np.where(agree, best, -np.inf), axis=0), -1)
    first = cmp.levels
    equal_or_missing = (first == _EQUAL_LEVEL[:, None]) | (first == MISSING)
    identical = equal_or_missing.all(axis=0) & ~cmp.one_sided & (first[F_SURNAME] != MISSING)
    f_lvl = first[F_FORENAME]
    forename_exact = (f_lvl == EXACT) | (
        (f_lvl == PREFERRED) & (cmp.field_similarity(F_FORENAME) >= 1.0)
    )
    return _Scored(
        cmp=cmp,
        levels=levels,
        weights=w,
        bits=bits,
        prior_bits=model.prior_bits,
        kinds=kinds,
        first_kind=first_kind.astype(np.int64),
        identical=identical,
        forename_exact=forename_exact,
    )


@functools.lru_cache(maxsize=8192)
def _field_score(field: int, level: int, weight: float, sim: float, common: str) -> FieldScore:
    spec = FIELDS[field]
    words = spec.levels[level]
    if common and level == EXACT:
        words = f"{words}, {common}"
    return FieldScore(
        field=spec.name,
        similarity=sim,
        weight=weight,
        note=f"{words} {weight:+.1f}",
    )


#: What ``_Run.commonness`` codes mean in a breakdown (0: nothing said).
_COMMONNESS = ("", "a common surname", "a rare surname")


def _breakdowns(
    scored: _Scored, ks: list[int], common: npt.NDArray[np.int8]
) -> list[tuple[FieldScore, ...]]:
    """The per-field evidence of pairs *ks*: every field present on either side plus the
    names and birth date, each with its weight in bits, and the base rate.

    Built column by column: each field's distinct (level, weight, similarity) values become
    one :class:`FieldScore` each, and pairs showing the same fields share one tuple layout.
    """
    if not ks:
        return []
    idx = np.asarray(ks, dtype=np.int64)
    n = len(idx)
    levels = scored.levels[:, idx]
    # + 0.0: a weight that rounds to -0.0 reads +0.0 like any other zero
    weights = np.round(scored.weights[:, idx], 1) + 0.0
    sims = np.round(scored.cmp.similarity[:, idx], 2)
    table = np.empty((n, len(FIELDS) + 1), dtype=object)
    table[:, len(FIELDS)] = FieldScore(
        field="base_rate",
        similarity=0.0,
        weight=round(scored.prior_bits, 1),
        note=f"{scored.prior_bits:+.1f}",
    )
    shown = np.zeros(n, dtype=np.int64)
    for f, spec in enumerate(FIELDS):
        lv, wt = levels[f], weights[f]
        raw = (
            sims[SIMILARITY_FIELDS.index(f)].astype(np.float64)
            if f in SIMILARITY_FIELDS
            else np.zeros(n)
        )
        sim = np.where(raw != 0.0, raw, np.where(lv == 1, 1.0, 0.0))
        tf = common if f == F_SURNAME else np.zeros(n, dtype=np.int8)
        key = (lv.astype(np.int64) * 4 + tf) << 30
        key += (np.rint(wt * 10.0).astype(np.int64) + (1 << 22)) << 7
        key += np.rint(sim * 100.0).astype(np.int64)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        scores = np.empty(len(first), dtype=object)
        scores[:] = [
            _field_score(f, int(lv[k]), float(wt[k]), float(sim[k]), _COMMONNESS[int(tf[k])])
            for k in first.tolist()
        ]
        table[:, f] = scores[inverse]
        if spec.name in _ALWAYS_SHOWN:
            shown |= 1 << f
        else:
            shown |= (wt != 0.0).astype(np.int64) << f
    out: list[tuple[FieldScore, ...]] = [()] * n
    layouts, which = np.unique(shown, return_inverse=True)
    for number, layout in enumerate(layouts.tolist()):
        rows = np.flatnonzero(which == number)
        cols = np.asarray([f for f in range(len(FIELDS)) if layout >> f & 1] + [len(FIELDS)])
        for row, fields in zip(rows.tolist(), table[np.ix_(rows, cols)].tolist(), strict=True):
            out[row] = tuple(fields)
    return out


# --------------------------------------------------------------------------- ladder


def _unique_index(keys: Iterable[tuple[int, str | None]]) -> dict[str, int]:
    """key -> row for keys held by exactly one row."""
    seen: dict[str, int] = {}
    dup: set[str] = set()
    for row, key in keys:
        if key is None:
            continue
        if key in seen and seen[key] != row:
            dup.add(key)
        else:
            seen[key] = row
    for key in dup:
        del seen[key]
    return seen


def _upns_conflict(fm: Features, i: int, fa: Features, j: int) -> bool:
    ua, ub = fm.upn[i], fa.upn[j]
    if ua is None or ub is None:
        return False
    return ua != ub and ua not in fa.former[j] and ub not in fm.former[i]


def _ladder(
    fm: Features, fa: Features, settings: MatchSettings, by_school: bool
) -> list[tuple[int, int, MatchRule]]:
    links: list[tuple[int, int, MatchRule]] = []
    used_m: set[int] = set()
    used_a: set[int] = set()

    def link(pairs: Iterable[tuple[int, int]], rule: MatchRule, check_upn: bool) -> None:
        for i, j in pairs:
            if i in used_m or j in used_a:
                continue
            if check_upn and _upns_conflict(fm, i, fa, j):
                continue
            used_m.add(i)
            used_a.add(j)
            links.append((i, j, rule))

    def mis_keys(f: Features) -> Iterable[tuple[int, str | None]]:
        if by_school:
            return (
                (k, None if m is None else f"{s}\x00{m}")
                for k, (s, m) in enumerate(zip(f.school, f.mis_id, strict=True))
            )
        return enumerate(f.mis_id)

    def held(*columns: list[str | None]) -> bool:
        return all(c.count(None) < len(c) for c in columns)

    if settings.use_mis_id and held(fm.mis_id, fa.mis_id):
        a_idx = _unique_index(mis_keys(fa))
        m_idx = _unique_index(mis_keys(fm))
        link(((i, a_idx[k]) for k, i in m_idx.items() if k in a_idx), MatchRule.MIS_ID, True)
    if settings.use_upn and (held(fm.upn, fa.upn) or any(fm.former) or any(fa.former)):
        a_cur = _unique_index(enumerate(fa.upn))
        m_cur = _unique_index(enumerate(fm.upn))
        link(((i, a_cur[k]) for k, i in m_cur.items() if k in a_cur), MatchRule.UPN, False)
        # former UPNs: an MIS current or former UPN equal to an app current or former UPN
        if any(fm.former) or any(fa.former):
            a_any = _unique_index((j, u) for j in range(fa.n) for u in fa.all_upns(j))
            pairs: list[tuple[int, int]] = []
            for i in range(fm.n):
                for u in fm.all_upns(i):
                    if u in a_any:
                        pairs.append((i, a_any[u]))
                        break
            link(pairs, MatchRule.FORMER_UPN, False)
    if settings.use_email and held(fm.email, fa.email):
        a_em = _unique_index(enumerate(fa.email))
        m_em = _unique_index(enumerate(fm.email))
        link(((i, a_em[k]) for k, i in m_em.items() if k in a_em), MatchRule.EMAIL, True)
    return links


# --------------------------------------------------------------------------- assignment


class _Decision(NamedTuple):
    """One pair the assignment decided on: rows, the pair's index in its scored batch."""

    i: int
    j: int
    k: int
    status: MatchStatus
    rule: MatchRule
    runner_up: float | None = None
    flags: tuple[str, ...] = ()


#: A candidate partner of one record, as the assignment sees it: (bits, the other record's
#: row, guarded: it involves a twin and the forenames are not exactly equal, identical)
_Candidate = tuple[float, int, bool, bool]


@attrs.frozen(kw_only=True)
class _Context:
    """What the assignment needs besides the pairs: twins, id ranks, settings."""

    twins_m: BoolArray
    twins_a: BoolArray
    rank_m: IntArray
    rank_a: IntArray
    settings: MatchSettings


@attrs.define(kw_only=True)
class _Free:
    """Which records are still unpaired (updated as pairs are decided)."""

    mis: list[bool]
    app: list[bool]


def _twins(f: Features, surname: IntArray) -> BoolArray:
    """Records sharing surname and birth date with another record on the same side
    (*surname*: the records' surname codes, -1 for none)."""
    valid = (surname >= 0) & (f.dob_y >= 0)
    key = surname * 100_000_000 + f.dob_y * 10_000 + f.dob_m * 100 + f.dob_d
    key = key[valid]
    ordered = np.sort(key)
    shared = ordered[1:][ordered[1:] == ordered[:-1]]
    twins = np.zeros(f.n, dtype=bool)
    twins[valid] = np.isin(key, shared)
    return twins


def _kind_flag(kinds: int, first: int) -> str | None:
    """The flag of a pair with fewer than two agreeing kinds of evidence (*kinds* agree, the
    strongest is *first*, -1 for none)."""
    if kinds >= 2:
        return None
    if first < 0:
        return "no kind of evidence agrees"
    only = KINDS[first]
    what = "the names agree" if only == "name" else f"the {only} agrees"
    return f"only {what}: a second kind of evidence is needed"


class _Rivals:
    """Each record's candidates, best first, to find a pair's strongest real competitor."""

    def __init__(self, scored: _Scored, keep: IntArray, order: list[int], ctx: _Context) -> None:
        pi, pj = scored.cmp.pi[keep], scored.cmp.pj[keep]
        twin = ctx.twins_m[pi] | ctx.twins_a[pj]
        guarded = (twin & ~scored.forename_exact[keep]).tolist()
        identical = scored.identical[keep].tolist()
        bits = scored.bits[keep].tolist()
        li, lj = pi.tolist(), pj.tolist()
        self.of_m: dict[int, list[_Candidate]] = {}
        self.of_a: dict[int, list[_Candidate]] = {}
        of_m, of_a = self.of_m, self.of_a
        for o in order:
            i, j, b, g, d = li[o], lj[o], bits[o], guarded[o], identical[o]
            found = of_m.get(i)
            if found is None:
                of_m[i] = [(b, j, g, d)]
            else:
                found.append((b, j, g, d))
            found = of_a.get(j)
            if found is None:
                of_a[j] = [(b, i, g, d)]
            else:
                found.append((b, i, g, d))

    @staticmethod
    def _best_other(cands: list[_Candidate], skip: int, free: list[bool]) -> float:
        for bits, other, _, _ in cands:
            if other != skip and free[other]:
                return bits
        return -math.inf

    def strongest(
        self,
        me: int,
        partner: int,
        mine_is_mis: bool,
        free: _Free,
        pair: tuple[float, bool, bool],
    ) -> float | None:
        """The best free rival of record *me* (its candidates other than *partner*) that
        could really be it: not one with a strictly better partner of its own (or an equally
        good one when the pair is strictly better), not a twin of the partner when the pair's
        forenames agree exactly, and for an identical pair only another identical one.
        *pair* is the pair's (bits, forenames exactly equal, identical)."""
        pair_bits, pair_exact, pair_identical = pair
        mine = (self.of_m if mine_is_mis else self.of_a)[me]
        theirs = self.of_a if mine_is_mis else self.of_m
        free_other = free.app if mine_is_mis else free.mis
        free_mine = free.mis if mine_is_mis else free.app
        if len(mine) < 2:
            return None
        for bits, other, guarded, identical in mine:
            if other == partner or not free_other[other]:
                continue
            if (guarded and pair_exact) or (pair_identical and not identical):
                continue
            alternative = self._best_other(theirs[other], me, free_mine)
            if alternative > bits or (alternative >= bits and pair_bits > bits):
                continue
            return bits
        return None


def _probability(bits: float) -> float:
    return float(1.0 / (1.0 + 2.0 ** -max(min(bits, 60.0), -60.0)))


_TWIN_FLAG = "possible twin: forenames differ"


def _alone_decisions(
    scored: _Scored, keep: IntArray, alone: IntArray, ctx: _Context
) -> list[_Decision]:
    """The decisions on pairs *alone* (positions in *keep*) whose two records have no other
    candidate: no rival can compete and the greedy order does not matter, so they are
    decided all at once, as the greedy pass would decide them."""
    settings = ctx.settings
    k = keep[alone]
    pi, pj = scored.cmp.pi[k], scored.cmp.pj[k]
    exact = scored.forename_exact[k]
    twin_flag = (ctx.twins_m[pi] | ctx.twins_a[pj]) & ~exact
    kinds, first = scored.kinds[k], scored.first_kind[k]
    # the flags (the kind flag, then the twin flag) of each (strongest kind, twin) case
    kind_code = np.where(kinds >= 2, len(KINDS), first)
    table = {}
    for code in range(-1, len(KINDS) + 1):
        kind_flag = _kind_flag(2 if code == len(KINDS) else 1, code)
        for twin in (False, True):
            both = (kind_flag, _TWIN_FLAG if twin else None)
            table[code, twin] = tuple(x for x in both if x)
    flags = [table[c, t] for c, t in zip(kind_code.tolist(), twin_flag.tolist(), strict=True)]
    matched = (scored.probability[k] >= settings.match_threshold).tolist()
    dob = (scored.cmp.levels[F_DOB, k] != MISSING).tolist()
    matched_, may = MatchStatus.MATCHED, MatchStatus.MAY_MATCH
    name_dob, name = MatchRule.NAME_DOB, MatchRule.NAME
    return [
        _Decision(i, j, kk, matched_ if m and not fl else may, name_dob if d else name, None, fl)
        for i, j, kk, m, fl, d in zip(
            pi.tolist(), pj.tolist(), k.tolist(), matched, flags, dob, strict=True
        )
    ]


def _lone(pi: IntArray, pj: IntArray, free: _Free) -> BoolArray:
    """Which of the pairs ``(pi[k], pj[k])`` join two free records that are in no other
    pair: the greedy pass decides those on their own evidence alone."""
    free_m = np.asarray(free.mis, dtype=bool)
    free_a = np.asarray(free.app, dtype=bool)
    out: BoolArray = (
        (np.bincount(pi, minlength=len(free_m))[pi] == 1)
        & (np.bincount(pj, minlength=len(free_a))[pj] == 1)
        & free_m[pi]
        & free_a[pj]
    )
    return out


def _assign(scored: _Scored, *, free: _Free, ctx: _Context) -> list[_Decision]:
    """Greedy one-to-one assignment of candidate pairs (marks assigned records not free)."""
    settings = ctx.settings
    prob = scored.probability
    keep = np.flatnonzero(prob >= settings.may_match_threshold)
    if len(keep) == 0:
        return []
    kp_i, kp_j = scored.cmp.pi[keep], scored.cmp.pj[keep]
    lone = _lone(kp_i, kp_j, free)
    alone = np.flatnonzero(lone)
    decisions = _alone_decisions(scored, keep, alone, ctx)
    for d in decisions:
        free.mis[d.i] = free.app[d.j] = False
    # the other pairs, greedily, best first (ties by record ids)
    keep = keep[~lone]
    if len(keep) == 0:
        return decisions
    kp_i, kp_j = kp_i[~lone], kp_j[~lone]
    order = np.lexsort((ctx.rank_a[kp_j], ctx.rank_m[kp_i], -scored.bits[keep])).tolist()
    rivals = _Rivals(scored, keep, order, ctx)
    li, lj = kp_i.tolist(), kp_j.tolist()
    bits_l = scored.bits[keep].tolist()
    prob_l = prob[keep].tolist()
    exact_l = scored.forename_exact[keep].tolist()
    ident_l = scored.identical[keep].tolist()
    twin_l = (ctx.twins_m[kp_i] | ctx.twins_a[kp_j]).tolist()
    dob_l = (scored.cmp.levels[F_DOB, keep] != MISSING).tolist()
    keep_l = keep.tolist()
    kinds_l, first_l = scored.kinds[keep].tolist(), scored.first_kind[keep].tolist()
    for o in order:
        i, j = li[o], lj[o]
        if not (free.mis[i] and free.app[j]):
            continue
        pair = (bits_l[o], exact_l[o], ident_l[o])
        r1 = rivals.strongest(i, j, True, free, pair)
        r2 = rivals.strongest(j, i, False, free, pair)
        runner = r1 if r2 is None else r2 if r1 is None else max(r1, r2)
        flags: list[str] = []
        kind_flag = _kind_flag(kinds_l[o], first_l[o])
        if kind_flag:
            flags.append(kind_flag)
        if runner is not None and bits_l[o] - runner < settings.ambiguity_bits:
            flags.append(f"ambiguous: another candidate scores {_probability(runner):.2f}")
        if twin_l[o] and not exact_l[o]:
            flags.append(_TWIN_FLAG)
        matched = prob_l[o] >= settings.match_threshold and not flags
        free.mis[i] = free.app[j] = False
        decisions.append(
            _Decision(
                i=i,
                j=j,
                k=keep_l[o],
                status=MatchStatus.MATCHED if matched else MatchStatus.MAY_MATCH,
                rule=MatchRule.NAME_DOB if dob_l[o] else MatchRule.NAME,
                runner_up=None if runner is None else round(_probability(runner), 4),
                flags=tuple(flags),
            )
        )
    return decisions


def _link_decisions(
    scored: _Scored, links: list[tuple[int, int, MatchRule]], settings: MatchSettings
) -> list[_Decision]:
    """Identifier links: Matched when a second kind of evidence agrees and the probability
    reaches the threshold, else May match (an MIS id reused, a UPN typed against another)."""
    prob = scored.probability.tolist()
    kinds = scored.kinds.tolist()
    out = []
    for k, (i, j, rule) in enumerate(links):
        ok = kinds[k] >= 2 and prob[k] >= settings.match_threshold
        flags = () if ok else ("identifier agrees but names and birth date do not",)
        status = MatchStatus.MATCHED if ok else MatchStatus.MAY_MATCH
        out.append(_Decision(i=i, j=j, k=k, status=status, rule=rule, flags=flags))
    return out


# --------------------------------------------------------------------------- the run


@attrs.frozen(kw_only=True)
class _Run:
    """One matching run's shared state: both sides' features, ranks, name codes, model."""

    fm: Features
    fa: Features
    by_school: bool
    rank_m: IntArray
    rank_a: IntArray
    school_m: IntArray
    school_a: IntArray
    tf_codes: dict[int, IntArray]
    tf_codes_app: dict[int, IntArray]
    name_counts: dict[int, IntArray]
    settings: MatchSettings

    def compare(self, pi: IntArray, pj: IntArray, *, with_similarity: bool = True) -> Comparison:
        """Levels of pairs, in canonical (id rank) order so sums never depend on input order
        (compared ``CHUNK`` pairs at a time: each pair's levels are its own). Without
        *with_similarity* only the levels are exact (see :func:`compare`)."""
        order = np.lexsort((self.rank_a[pj], self.rank_m[pi]))
        pi, pj = pi[order], pj[order]
        nicknames = self.settings.nicknames
        return Comparison.concat(
            [
                compare(self.fm, self.fa, pi[s], pj[s], nicknames, with_similarity=with_similarity)
                for s in _chunks(len(pi))
            ]
        )

    def pairs_total(self) -> float:
        """How many within-school record pairs there are (all pairs when school is ignored)."""
        if not self.by_school:
            return float(self.fm.n) * float(self.fa.n)
        n_school = int(max(self.school_m.max(initial=0), self.school_a.max(initial=0))) + 1
        per_m = np.bincount(self.school_m, minlength=n_school)
        per_a = np.bincount(self.school_a, minlength=n_school)
        return float(np.dot(per_m, per_a))

    def sample(self) -> tuple[IntArray, IntArray]:
        """A deterministic spread of record pairs within schools (almost all different people):
        the MIS record of rank r in its school with app records at evenly spaced offsets."""
        fm, fa = self.fm, self.fa
        if fm.n == 0 or fa.n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        per_record = int(np.clip(20_000 // max(fm.n, 1), 1, 4))
        school_m, school_a = self.school_m, self.school_a
        om = np.lexsort((self.rank_m, school_m))
        oa = np.lexsort((self.rank_a, school_a))
        sa_sorted = school_a[oa]
        n_school = int(max(school_m.max(), school_a.max())) + 1
        start_a = np.searchsorted(sa_sorted, np.arange(n_school))
        count_a = np.bincount(school_a, minlength=n_school)
        sm_sorted = school_m[om]
        start_m = np.searchsorted(sm_sorted, np.arange(n_school))
        local_m = np.arange(fm.n) - start_m[sm_sorted]
        pis, pjs = [], []
        has = count_a[sm_sorted] > 0
        n_a = np.maximum(count_a[sm_sorted], 1)
        for step in range(1, per_record + 1):
            # the app record `step` fractions of the school away in id order: never the
            # record of the same rank (lists exported in the same id order would pair the
            # same people and make agreement look common among different people)
            shift = np.maximum((n_a * step) // (per_record + 1), 1)
            offset = (local_m + shift) % n_a
            pis.append(om[has])
            pjs.append(oa[(start_a[sm_sorted] + offset)[has]])
        return np.concatenate(pis), np.concatenate(pjs)

    def model(self, levels: LevelArray) -> _em.Model:
        """m and u learned from the candidate pairs' levels and a sample (or the priors)."""
        s = self.settings
        total = self.pairs_total()
        expected = _em.PRIOR_MATCH_SHARE * min(self.fm.n, self.fa.n)
        if not s.learn or levels.shape[1] < s.min_pairs_to_learn:
            return _em.prior_model(total, expected, self.name_counts, s.tf_smoothing)
        si, sj = self.sample()
        sample = self.compare(si, sj, with_similarity=False)  # only its levels are used
        return _em.estimate(
            levels,
            sample.levels,
            n_pairs_total=total,
            expected_matches=expected,
            name_counts=self.name_counts,
            prior_strength=s.prior_strength,
            min_pairs_to_learn=s.min_pairs_to_learn,
            rounds=s.em_rounds,
            tf_smoothing=s.tf_smoothing,
        )

    def commonness(self, pi: IntArray) -> npt.NDArray[np.int8]:
        """Per pair: whether the MIS record's surname is common (1), rare (2) or neither (0):
        codes of ``_COMMONNESS``."""
        codes = self.tf_codes[F_SURNAME][pi]
        counts = self.name_counts[F_SURNAME]
        total = max(float(counts.sum()), 1.0)
        share = np.where(codes >= 0, counts[np.maximum(codes, 0)] / total, 0.0)
        out = np.zeros(len(pi), dtype=np.int8)
        if total >= 200:
            out[share >= 0.005] = 1
            out[(share < 0.0005) & (share > 0)] = 2
        return out


def _rank(ids: list[str]) -> IntArray:
    """The position of each id in code-point order (ties, which unique ids never have, in
    list order)."""
    order = np.asarray(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids), dtype=np.int64)
    return rank


def _same_school_ids(mis_schools: set[str], app_schools: set[str]) -> bool:
    """True when both sides use the same school ids (one set holds the other), so pairs are
    looked for within a school; false when the MIS reader keys schools its own way."""
    if not mis_schools or not app_schools:
        return False
    return mis_schools <= app_schools or app_schools <= mis_schools


def _new_run(mis: Sequence[P], app: Sequence[P], settings: MatchSettings) -> _Run:
    cache: NormCache = {}
    fm = Features(mis, cache)
    fa = Features(app, cache)
    tf_codes: dict[int, IntArray] = {}
    tf_codes_app: dict[int, IntArray] = {}
    counts: dict[int, IntArray] = {}
    for f, column in ((F_SURNAME, "sn_c"), (F_FORENAME, "fn_c")):
        a, b, c = _em.name_codes(getattr(fm, column), getattr(fa, column))
        tf_codes[f], tf_codes_app[f], counts[f] = a, b, c
    mis_schools, app_schools = set(fm.school), set(fa.school)
    by_school = _same_school_ids(mis_schools, app_schools)
    school_m, school_a = school_codes(fm, fa, by_school, mis_schools | app_schools)
    return _Run(
        fm=fm,
        fa=fa,
        by_school=by_school,
        rank_m=_rank(fm.ids),
        rank_a=_rank(fa.ids),
        school_m=school_m,
        school_a=school_a,
        tf_codes=tf_codes,
        tf_codes_app=tf_codes_app,
        name_counts=counts,
        settings=settings,
    )


def match_people(
    mis: Sequence[P],
    app: Sequence[P],
    settings: MatchSettings,
) -> list[MatchResult[P]]:
    """Match two populations of people; one result per record or pair (see module docs).

    The cyclic garbage collector is paused while the results are built (they hold no cycles;
    with 100,000s of new objects its repeated full passes would cost more than the matching).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _match_people(mis, app, settings)
    finally:
        if was_enabled:
            gc.enable()


def _pairs_of(links: list[tuple[int, int, MatchRule]]) -> tuple[IntArray, IntArray]:
    return (
        np.asarray([i for i, _, _ in links], dtype=np.int64),
        np.asarray([j for _, j, _ in links], dtype=np.int64),
    )


def _match_people(
    mis: Sequence[P], app: Sequence[P], settings: MatchSettings
) -> list[MatchResult[P]]:
    run = _new_run(mis, app, settings)
    fm, fa = run.fm, run.fa
    free = _Free(mis=[True] * fm.n, app=[True] * fa.n)
    links = _ladder(fm, fa, settings, run.by_school)
    links.sort(key=lambda t: (int(run.rank_m[t[0]]), int(run.rank_a[t[1]])))
    for i, j, _ in links:
        free.mis[i] = free.app[j] = False
    li, lj = _pairs_of(links)
    link_cmp = run.compare(li, lj)
    groups = settings.nicknames.groups_of

    def candidates(wide: bool) -> Comparison:
        rows_m = np.flatnonzero(np.asarray(free.mis, dtype=bool))
        rows_a = np.flatnonzero(np.asarray(free.app, dtype=bool))
        ci, cj = candidate_pairs(
            fm,
            fa,
            rows_m,
            rows_a,
            groups=groups,
            wide=wide,
            by_school=run.by_school,
            window=settings.block_window,
            schools=(run.school_m, run.school_a),
        )
        return run.compare(ci, cj)

    first = candidates(False)
    model = run.model(np.concatenate([link_cmp.levels, first.levels], axis=1))
    ctx = _Context(
        twins_m=_twins(fm, run.tf_codes[F_SURNAME]),
        twins_a=_twins(fa, run.tf_codes_app[F_SURNAME]),
        rank_m=run.rank_m,
        rank_a=run.rank_a,
        settings=settings,
    )
    results: list[MatchResult[P]] = []
    if links:
        scored = _score(model, link_cmp, run, settings)
        results.extend(_build(mis, app, scored, _link_decisions(scored, links, settings), run))
    # candidate pairs below May match can be neither: only the others are kept once scored
    floor = settings.may_match_threshold
    scored = _score(model, first, run, settings, floor)
    del first
    results.extend(_build(mis, app, scored, _assign(scored, free=free, ctx=ctx), run))
    del scored
    if any(free.mis) and any(free.app):
        scored = _score(model, candidates(True), run, settings, floor)
        results.extend(_build(mis, app, scored, _assign(scored, free=free, ctx=ctx), run))
    new, not_matched = MatchStatus.NEW, MatchStatus.NOT_MATCHED
    results.extend(made_result(new, mis[i], None) for i, f in enumerate(free.mis) if f)
    results.extend(made_result(not_matched, None, app[j]) for j, f in enumerate(free.app) if f)
    return results


def _build(
    mis: Sequence[P], app: Sequence[P], scored: _Scored, decisions: list[_Decision], run: _Run
) -> list[MatchResult[P]]:
    ks = [d.k for d in decisions]
    idx = np.asarray(ks, dtype=np.int64)
    breakdowns = _breakdowns(scored, ks, run.commonness(scored.cmp.pi[idx]))
    prob = np.round(scored.probability[idx], 4).tolist()
    return [
        made_result(d.status, mis[d.i], app[d.j], score, d.rule, breakdown, d.runner_up, d.flags)
        for d, breakdown, score in zip(decisions, breakdowns, prob, strict=True)
    ]


def score_pair(mis: P, app: P, settings: MatchSettings) -> tuple[float, tuple[FieldScore, ...]]:
    """The match probability and per-field breakdown of one pair (for pairs matched by hand),
    with the documented priors."""
    run = _new_run([mis], [app], attrs.evolve(settings, learn=False))
    zero = np.zeros(1, dtype=np.int64)
    cmp = run.compare(zero, zero)
    model = run.model(cmp.levels)
    scored = _score(model, cmp, run, settings)
    return round(float(scored.probability[0]), 4), _breakdowns(
        scored, [0], np.zeros(1, dtype=np.int8)
    )[0]


def blocking_pairs(
    mis: Sequence[P], app: Sequence[P], settings: MatchSettings | None = None
) -> tuple[list[str], list[str]]:
    """The (MIS id, app id) candidate pairs blocking makes for these lists: the first pass
    over all records, the second over the records the first gave no candidate (for measuring
    candidate pairs and pairs completeness in the benchmarks)."""
    settings = settings or MatchSettings()
    run = _new_run(mis, app, settings)
    rows_m = np.arange(run.fm.n, dtype=np.int64)
    rows_a = np.arange(run.fa.n, dtype=np.int64)
    out_m: list[str] = []
    out_a: list[str] = []
    for wide in (False, True):
        ci, cj = candidate_pairs(
            run.fm,
            run.fa,
            rows_m,
            rows_a,
            groups=settings.nicknames.groups_of,
            wide=wide,
            by_school=run.by_school,
            window=settings.block_window,
            schools=(run.school_m, run.school_a),
        )
        out_m.extend(run.fm.ids[i] for i in ci.tolist())
        out_a.extend(run.fa.ids[j] for j in cj.tolist())
        rows_m = np.setdiff1d(rows_m, ci)
        rows_a = np.setdiff1d(rows_a, cj)
    return out_m, out_a
