"""Person matching (pupils and staff): identifier ladder, blocking, scoring, assignment.

The pipeline, all pure:

1. **Identifier ladder.** MIS id (scoped to the school), then UPN and former UPNs, then email.
   A key links two records only when it is unique on both sides; an MIS-id or email link is
   refused when both records carry UPNs that disagree (a new MIS reusing id numbers). A link
   whose name and birth-date evidence scores below ``identifier_name_floor`` is May match.
2. **Blocking.** Candidate pairs are only made within one school when both sides use the
   same school ids (one set of ``school_id`` values holds the other; otherwise, as when an MIS
   reader keys its one school its own way, school is ignored). MIS ids are scoped to the
   school the same way; UPN and email rungs work across schools. The records left over get several candidate keys
   each: birth date (day and month in either order) plus the first two letters of each name
   token; the exact normalised surname token with the forename (or its preferred-name
   group), in either order; then, in a second pass over the records still unpaired, three
   letters of one name and the initial of the other (staff without birth dates, a typo plus
   a wrong or missing birth date). Keys are
   joined with numpy, so the number of candidate pairs grows with the number of records, not
   its square. A key shared by more than ``max_block_pairs`` pairs is skipped.
3. **Scoring.** rapidfuzz ``process.cpdist`` (element-wise batch similarity) over all candidate
   pairs at once: Jaro-Winkler on compact names, token sets for parts of double-barrelled
   names, legal and preferred names both ways, the preferred-name table, swapped forename and
   surname, birth dates (equal, day/month swapped, one part different), gender, middle names.
   The score is the weighted mean over the fields present on both sides.
4. **Assignment.** Greedy by score (ties broken by record ids, so input order never matters):
   a pair is Matched when it reaches ``match_threshold`` and every still-free competitor of
   either record scores at least ``ambiguity_margin`` lower (a competitor with a strictly
   better partner of its own does not count, nor one with an equally good partner when the
   pair is strictly better, nor a twin of the partner when the pair's forenames agree
   exactly, nor, for an identical pair (every field either record holds is held by both and
   equal), any candidate that is not identical too, so an identical pair is Matched unless
   another record is indistinguishable from it); ties in
   score are ranked by how many fields were present. Otherwise May match
   if it reaches ``may_match_threshold``. A pair involving a record with a same-side twin (same surname and
   birth date) is Matched only when forenames agree exactly; a pair whose genders disagree is
   never more than May match.
"""

from __future__ import annotations

import functools
import gc
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from schoolsync.matching._normalise import normalise_name
from schoolsync.matching._results import FieldScore, MatchResult, MatchRule, MatchStatus
from schoolsync.matching._settings import MatchSettings
from schoolsync.records.people import Gender, Pupil, StaffMember

__all__ = ["match_people", "score_pair"]

P = TypeVar("P", Pupil, StaffMember)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# note codes per field
_MISSING = 0
_EQUAL = 1
_SIMILAR = 2
_PREFERRED = 3
_PART = 4
_SWAPPED = 5
_MIDDLE = 6
_NICKNAME = 7
_DM_SWAP = 8
_NEAR = 9
_DIFFERENT = 10

_FIELDS = ("surname", "forename", "date_of_birth", "gender", "middle_names")


_NormCache = dict[str, tuple[str, str, tuple[str, ...]]]
_EMPTY: tuple[str, str, tuple[str, ...]] = ("", "", ())


def _fill(cache: _NormCache, texts: Iterable[str | None]) -> None:
    for text in set(texts):
        if text and text not in cache:
            spaced = normalise_name(text)
            cache[text] = (spaced.replace(" ", ""), spaced, tuple(spaced.split()))


class _Features:
    """Column-wise compare keys and identifiers of one side's records."""

    def __init__(
        self, records: Sequence[Pupil | StaffMember], cache: _NormCache | None = None
    ) -> None:
        cache = {} if cache is None else cache
        n = len(records)
        self.n = n
        self._arrays: dict[str, npt.NDArray[np.object_]] = {}
        get = operator.attrgetter(
            "id",
            "school_id",
            "forename",
            "surname",
            "preferred_forename",
            "preferred_surname",
            "middle_names",
            "gender",
            "date_of_birth",
            "mis_id",
            "email",
        )
        columns: list[list[Any]] = (
            [list(c) for c in zip(*map(get, records), strict=True)] if n else [[]] * 11
        )
        ids, schools, fns, sns, pfs, pss, mids, genders, dobs, mis_ids, emails = columns
        self.ids: list[str] = ids
        self.school: list[str] = schools
        self.mis_id: list[str | None] = mis_ids
        self.email: list[str | None] = [_norm_email(e) for e in emails]
        _fill(cache, (*fns, *sns, *pfs, *pss, *mids))
        look = cache.get

        def normed(texts: list[str | None]) -> list[tuple[str, str, tuple[str, ...]]]:
            return [look(t, _EMPTY) if t else _EMPTY for t in texts]

        fn, sn, pf, ps = normed(fns), normed(sns), normed(pfs), normed(pss)
        self.fn_c = [x[0] for x in fn]
        self.fn_s = [x[1] for x in fn]
        self.fn_t = [x[2] for x in fn]
        self.sn_c = [x[0] for x in sn]
        self.sn_s = [x[1] for x in sn]
        self.sn_t = [x[2] for x in sn]
        pf = [p if p[0] else f for p, f in zip(pf, fn, strict=True)]
        ps = [p if p[0] else f for p, f in zip(ps, sn, strict=True)]
        self.pfn_c = [x[0] for x in pf]
        self.pfn_t = [x[2] for x in pf]
        self.psn_c = [x[0] for x in ps]
        self.psn_t = [x[2] for x in ps]
        self.mid_c = [x[0] for x in normed(mids)]
        code = {Gender.UNKNOWN: 0, Gender.MALE: 1, Gender.FEMALE: 2, Gender.OTHER: 3}
        self.gender = np.fromiter((code[g] for g in genders), dtype=np.int8, count=n)
        self.dob_y = np.fromiter((d.year if d else -1 for d in dobs), dtype=np.int64, count=n)
        self.dob_m = np.fromiter((d.month if d else 0 for d in dobs), dtype=np.int64, count=n)
        self.dob_d = np.fromiter((d.day if d else 0 for d in dobs), dtype=np.int64, count=n)
        self.date_key: list[str] = [
            ""
            if d is None
            else f"{d.year}{d.month:02d}{d.day:02d}"
            if d.month <= d.day
            else f"{d.year}{d.day:02d}{d.month:02d}"
            for d in dobs
        ]
        self.upn: list[str | None] = [None] * n
        self.former: list[tuple[str, ...]] = [()] * n
        for k, r in enumerate(records):
            if isinstance(r, Pupil):
                if r.upn is not None:
                    self.upn[k] = r.upn.value
                if r.former_upns:
                    self.former[k] = tuple(u.value for u in r.former_upns)

    def take(self, name: str, idx: IntArray) -> list[str]:
        """Column *name* (a list of str) at rows *idx* (the object array is made once)."""
        arr = self._arrays.get(name)
        if arr is None:
            arr = self._arrays[name] = np.asarray(getattr(self, name), dtype=object)
        return arr[idx].tolist()  # type: ignore[no-any-return]


class _Scores:
    """Field similarities, note codes and totals of candidate pairs (i, j)."""

    def __init__(
        self,
        fm: _Features,
        fa: _Features,
        pi: IntArray,
        pj: IntArray,
        settings: MatchSettings,
    ) -> None:
        self.pi = pi
        self.pj = pj
        n = len(pi)
        jw = JaroWinkler.normalized_similarity
        floor = settings.name_similarity_floor

        def cal(x: FloatArray) -> FloatArray:
            """Jaro-Winkler rescaled: ``floor`` and below (unrelated names) count as 0."""
            out: FloatArray = np.sqrt(np.clip((x - floor) / (1.0 - floor), 0.0, 1.0))
            return out

        def cp(a: list[str], b: list[str], scorer: Callable[..., Any] = jw) -> FloatArray:
            if n == 0:
                return np.zeros(0, dtype=np.float64)
            out = process.cpdist(a, b, scorer=scorer, workers=1, dtype=np.float64)
            return np.asarray(out, dtype=np.float64).reshape(n)

        def col(f: _Features, name: str, idx: IntArray) -> list[str]:
            return f.take(name, idx)

        part_sim = settings.name_part_similarity

        def name_field(
            compact: str, preferred: str, spaced: str
        ) -> tuple[list[str], list[str], FloatArray, FloatArray, IntArray]:
            """One name field: legal and preferred compact forms both ways, and token sets
            (one part of a multi-part name). Gives both sides' compact names, the raw and
            rescaled similarity and the note codes."""
            m, a = col(fm, compact, pi), col(fa, compact, pj)
            pm, pa = col(fm, preferred, pi), col(fa, preferred, pj)
            legal = cp(m, a)
            pref = np.maximum.reduce([cp(pm, a), cp(m, pa), cp(pm, pa)])
            tokens = cp(col(fm, spaced, pi), col(fa, spaced, pj), fuzz.token_set_ratio) / 100.0
            raw = np.maximum(legal, pref)
            sim = cal(raw)
            note = np.where(legal >= 1.0, _EQUAL, np.where(pref >= 1.0, _PREFERRED, _SIMILAR))
            part = (tokens >= 1.0) & (sim < part_sim)
            return m, a, raw, np.where(part, part_sim, sim), np.where(part, _PART, note)

        sn_m, sn_a, s_raw, s_sim, s_note = name_field("sn_c", "psn_c", "sn_s")
        s_present = _filled(sn_m) & _filled(sn_a)
        fn_m, fn_a, f_raw, f_sim, f_note = name_field("fn_c", "pfn_c", "fn_s")
        # preferred-name table (Alex / Alexander) where the strings alone are not convincing
        nick_sim = settings.preferred_name_similarity
        low = np.flatnonzero(f_sim < nick_sim)
        if len(low):
            same = settings.nicknames.same_person_name
            ft_m, pt_m, ft_a, pt_a = fm.fn_t, fm.pfn_t, fa.fn_t, fa.pfn_t
            hits = [
                k
                for k in low.tolist()
                if _nick(same, ft_m[pi[k]], pt_m[pi[k]], ft_a[pj[k]], pt_a[pj[k]])
            ]
            if hits:
                h = np.asarray(hits, dtype=np.int64)
                f_sim[h] = nick_sim
                f_note[h] = _NICKNAME
        # known by a middle name
        mid_m, mid_a = col(fm, "mid_c", pi), col(fa, "mid_c", pj)
        mid_present = _filled(mid_m) & _filled(mid_a)
        f_mid = np.maximum(
            cp(fn_m, mid_a) * _filled(mid_a),
            cp(mid_m, fn_a) * _filled(mid_m),
        )
        use_mid = (f_mid >= 1.0) & (f_sim < settings.name_part_similarity)
        f_sim = np.where(use_mid, settings.name_part_similarity, f_sim)
        f_note = np.where(use_mid, _MIDDLE, f_note)
        f_present = _filled(fn_m) & _filled(fn_a)

        # --- swapped forename and surname
        ws, wf = settings.surname_weight, settings.forename_weight
        x_fs = cp(fn_m, sn_a)
        x_sf = cp(sn_m, fn_a)
        factor = settings.swapped_names_factor
        straight = ws * s_sim + wf * f_sim
        swapped = (ws * cal(x_sf) + wf * cal(x_fs)) * factor
        use_swap = (swapped > straight) & f_present & s_present
        s_sim = np.where(use_swap, cal(x_sf) * factor, s_sim)
        f_sim = np.where(use_swap, cal(x_fs) * factor, f_sim)
        s_raw = np.where(use_swap, x_sf, s_raw)
        f_raw = np.where(use_swap, x_fs, f_raw)
        s_note = np.where(use_swap, _SWAPPED, s_note)
        f_note = np.where(use_swap, _SWAPPED, f_note)

        s_sim = np.where(s_present, s_sim, 0.0)
        f_sim = np.where(f_present, f_sim, 0.0)

        # --- date of birth
        ym, ya = fm.dob_y[pi], fa.dob_y[pj]
        mm, ma = fm.dob_m[pi], fa.dob_m[pj]
        dm, da = fm.dob_d[pi], fa.dob_d[pj]
        d_present = (ym >= 0) & (ya >= 0)
        same_y = ym == ya
        equal = same_y & (mm == ma) & (dm == da)
        dm_swap = same_y & (mm == da) & (dm == ma) & ~equal
        near = (
            ~equal
            & ~dm_swap
            & (
                (same_y & ((mm == ma) | (dm == da)))
                | ((np.abs(ym - ya) == 1) & (mm == ma) & (dm == da))
            )
        )
        d_sim = np.where(
            equal,
            1.0,
            np.where(
                dm_swap,
                settings.day_month_swap_similarity,
                np.where(near, settings.near_date_similarity, 0.0),
            ),
        )
        d_note = np.where(
            equal, _EQUAL, np.where(dm_swap, _DM_SWAP, np.where(near, _NEAR, _DIFFERENT))
        )
        d_sim = np.where(d_present, d_sim, 0.0)

        # --- gender and middle names
        gm, ga = fm.gender[pi], fa.gender[pj]
        g_present = (gm > 0) & (ga > 0)
        g_sim = np.where(gm == ga, 1.0, 0.0)
        g_note = np.where(gm == ga, _EQUAL, _DIFFERENT)
        mid_raw = np.where(mid_present, cp(mid_m, mid_a), 0.0)
        mid_sim = cal(mid_raw)
        mid_note = np.where(mid_raw >= 1.0, _EQUAL, _SIMILAR)

        self.sim = np.stack([s_sim, f_sim, d_sim, g_sim, mid_sim])
        self.raw = np.stack([s_raw, f_raw, d_sim, g_sim, mid_raw])
        self.note = np.stack([s_note, f_note, d_note, g_note, mid_note]).astype(np.int8)
        present = np.stack([s_present, f_present, d_present, g_present, mid_present])
        self.note[~present] = _MISSING
        weights = np.asarray(
            [
                settings.surname_weight,
                settings.forename_weight,
                settings.date_of_birth_weight,
                settings.gender_weight,
                settings.middle_names_weight,
            ],
            dtype=np.float64,
        )
        self.weights = weights
        w = present * weights[:, None]
        total_w = w.sum(axis=0)
        self.evidence: FloatArray = total_w / max(float(weights.sum()), 1e-12)
        self.total: FloatArray = np.where(
            total_w > 0, (self.sim * w).sum(axis=0) / np.maximum(total_w, 1e-12), 0.0
        )
        self.gender_differs = g_present & (gm != ga)
        # identical: every field either record holds, both hold, and all are equal
        one_sided = (
            (_filled(sn_m) ^ _filled(sn_a))
            | (_filled(fn_m) ^ _filled(fn_a))
            | ((ym >= 0) ^ (ya >= 0))
            | ((gm > 0) ^ (ga > 0))
            | (_filled(mid_m) ^ _filled(mid_a))
        )
        self.identical: BoolArray = (self.total >= 1.0 - 1e-9) & ~one_sided
        self.forename_exact = f_note[:] == _EQUAL
        self.forename_exact |= f_note == _PREFERRED

    def breakdowns(self, ks: list[int]) -> list[tuple[FieldScore, ...]]:
        """The per-field evidence of pairs *ks* (equal breakdowns share one tuple)."""
        if not ks:
            return []
        idx = np.asarray(ks, dtype=np.int64)
        notes = self.note[:, idx]
        present = notes != _MISSING
        sims = np.where(present, np.round(self.sim[:, idx], 2), 0.0)
        raws = np.where(present, np.round(self.raw[:, idx], 2), 0.0)
        rows = np.concatenate([notes.astype(np.float64), sims, raws]).T.tolist()
        weights = self.weights.tolist()
        cache: dict[tuple[float, ...], tuple[FieldScore, ...]] = {}
        out = []
        for row in rows:
            key = tuple(row)
            hit = cache.get(key)
            if hit is None:
                hit = tuple(
                    _field_score(
                        _FIELDS[f],
                        int(row[f]),
                        row[5 + f],
                        weights[f] if row[f] != _MISSING else 0.0,
                        row[10 + f],
                    )
                    for f in range(5)
                )
                cache[key] = hit
            out.append(hit)
        return out

    def breakdown(self, k: int) -> tuple[FieldScore, ...]:
        """The per-field evidence of pair *k*."""
        out = []
        for f in range(len(_FIELDS)):
            code = int(self.note[f, k])
            sim = round(float(self.sim[f, k]), 2) if code != _MISSING else 0.0
            weight = float(self.weights[f]) if code != _MISSING else 0.0
            raw = round(float(self.raw[f, k]), 2) if code != _MISSING else 0.0
            out.append(_field_score(_FIELDS[f], code, sim, weight, raw))
        return tuple(out)


def _filled(values: list[str]) -> npt.NDArray[np.bool_]:
    return np.fromiter((bool(x) for x in values), dtype=bool, count=len(values))


def _nick(
    same: Callable[[str, str], bool],
    ft_m: tuple[str, ...],
    pt_m: tuple[str, ...],
    ft_a: tuple[str, ...],
    pt_a: tuple[str, ...],
) -> bool:
    firsts_m = {t[0] for t in (ft_m, pt_m) if t}
    firsts_a = {t[0] for t in (ft_a, pt_a) if t}
    return any(same(a, b) for a in firsts_m for b in firsts_a)


_NOTE_TEXT = {
    _MISSING: "missing",
    _EQUAL: "equal",
    _PREFERRED: "equal to the preferred name",
    _PART: "one part of a multi-part name",
    _SWAPPED: "matches with forename and surname swapped",
    _MIDDLE: "matches a middle name",
    _NICKNAME: "preferred-name form (nickname table)",
    _DM_SWAP: "day/month swapped",
    _NEAR: "one part differs",
    _DIFFERENT: "different",
}


@functools.lru_cache(maxsize=8192)
def _field_score(field: str, code: int, sim: float, weight: float, raw: float) -> FieldScore:
    if code == _SIMILAR:
        note = f"{raw:.2f} Jaro-Winkler"
    elif code == _SWAPPED:
        note = f"{_NOTE_TEXT[code]} ({raw:.2f} Jaro-Winkler)"
    else:
        note = _NOTE_TEXT[code]
    return FieldScore(field=field, similarity=sim, weight=weight, note=note)


# --------------------------------------------------------------------------- blocking


def _key_codes(
    f: _Features, rows: IntArray, settings: MatchSettings, wide: bool, by_school: bool
) -> tuple[IntArray, IntArray]:
    """Blocking key codes (hashes of the keys, stable within one process) and their owners.

    The first pass (``wide=False``) uses birth date + name prefixes and exact name tokens; the
    second (``wide=True``, only for records the first pass left) name prefixes within a school.
    """
    groups = settings.nicknames.groups_of
    nick_cache: dict[str, tuple[str, ...]] = {}
    codes: list[int] = []
    owners: list[int] = []
    add_code = codes.append
    add_owner = owners.append
    fn_t, pfn_t, sn_t, psn_t, date_key = f.fn_t, f.pfn_t, f.sn_t, f.psn_t, f.date_key
    schools = f.school if by_school else [""] * f.n
    for k in rows.tolist():
        school = schools[k]
        ft, pt, st, qt = fn_t[k], pfn_t[k], sn_t[k], psn_t[k]
        surnames = st if qt is st else (*st, *qt)
        if wide:
            for s in surnames:
                for given in (ft, pt) if pt is not ft else (ft,):
                    if given:
                        add_code(hash((school, "S", s[:3], given[0][:1])))
                        add_owner(k)
                        add_code(hash((school, "S", given[0][:3], s[:1])))
                        add_owner(k)
            continue
        dk = date_key[k]
        if dk:
            seen: set[str] = set()
            for t in (*ft, *surnames, *pt):
                p2 = t[:2]
                if p2 not in seen:
                    seen.add(p2)
                    add_code(hash((school, dk, p2)))
                    add_owner(k)
        firsts: list[str] = []
        for given in (ft, pt) if pt is not ft else (ft,):
            if given:
                first = given[0]
                expanded = nick_cache.get(first)
                if expanded is None:
                    expanded = (first, *sorted(groups(first) - {first}))
                    nick_cache[first] = expanded
                firsts.extend(expanded)
        for s in surnames:
            for fn in firsts:
                add_code(hash((school, s, fn) if s <= fn else (school, fn, s)))
                add_owner(k)
    return np.asarray(codes, dtype=np.int64), np.asarray(owners, dtype=np.int64)


def _sorted_unique(a: IntArray) -> IntArray:
    """The distinct values of *a*, sorted (by sorting, not numpy's hash-based ``np.unique``,
    whose hash table falls out of the CPU caches and grows super-linearly past ~10^6 values)."""
    if len(a) == 0:
        return a
    s = np.sort(a)
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _join(
    mk: IntArray, mi: IntArray, ak: IntArray, ai: IntArray, max_pairs: int
) -> tuple[IntArray, IntArray]:
    """All (mis, app) owner pairs sharing a key code, vectorised (blocks over the cap skipped)."""
    if len(mk) == 0 or len(ak) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    mo = np.argsort(mk)
    ao = np.argsort(ak)
    mk_s, mi_s = mk[mo], mi[mo]
    ak_s, ai_s = ak[ao], ai[ao]
    first = np.empty(len(mk_s), dtype=bool)
    first[0] = True
    np.not_equal(mk_s[1:], mk_s[:-1], out=first[1:])
    keys_m = mk_s[first]
    m_start = np.flatnonzero(first)
    m_count = np.diff(np.append(m_start, len(mk_s)))
    a_start = np.searchsorted(ak_s, keys_m, side="left")
    a_count = np.searchsorted(ak_s, keys_m, side="right") - a_start
    size = m_count * a_count
    keep = (a_count > 0) & (size <= max_pairs)
    m_start, m_count, a_start, a_count, size = (
        m_start[keep],
        m_count[keep],
        a_start[keep],
        a_count[keep],
        size[keep],
    )
    total = int(size.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    block = np.repeat(np.arange(len(size)), size)
    offsets = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
    ac = a_count[block]
    pi = mi_s[m_start[block] + offsets // ac]
    pj = ai_s[a_start[block] + offsets % ac]
    return pi, pj


# --------------------------------------------------------------------------- ladder


def _norm_email(text: str | None) -> str | None:
    if not text:
        return None
    e = text.strip().casefold()
    return e or None


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


def _upns_conflict(fm: _Features, i: int, fa: _Features, j: int) -> bool:
    ua, ub = fm.upn[i], fa.upn[j]
    if ua is None or ub is None:
        return False
    return ua != ub and ua not in fa.former[j] and ub not in fm.former[i]


def _all_upns(f: _Features, k: int) -> tuple[str, ...]:
    cur = f.upn[k]
    return f.former[k] if cur is None else (cur, *f.former[k])


def _ladder(
    fm: _Features, fa: _Features, settings: MatchSettings, by_school: bool
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

    def mis_keys(f: _Features) -> Iterable[tuple[int, str | None]]:
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
            a_any = _unique_index((j, u) for j in range(fa.n) for u in _all_upns(fa, j))
            pairs: list[tuple[int, int]] = []
            for i in range(fm.n):
                for u in _all_upns(fm, i):
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


def _twins(f: _Features) -> npt.NDArray[np.bool_]:
    """Records sharing surname and birth date with another record on the same side."""
    numbers: dict[str, int] = {"": -1}
    surname = np.fromiter(
        (numbers.setdefault(sn, len(numbers)) for sn in f.sn_c), dtype=np.int64, count=f.n
    )
    valid = (surname >= 0) & (f.dob_y >= 0)
    key = surname * 100_000_000 + f.dob_y * 10_000 + f.dob_m * 100 + f.dob_d
    key = key[valid]
    ordered = np.sort(key)
    shared = ordered[1:][ordered[1:] == ordered[:-1]]
    twins = np.zeros(f.n, dtype=bool)
    twins[valid] = np.isin(key, shared)
    return twins


_Cand = tuple[float, int, bool, bool]  # score, other record, twin-guarded, identical
_Decision = tuple[int, int, int, MatchStatus, MatchRule, "float | None", tuple[str, ...]]


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


def _match_people(
    mis: Sequence[P],
    app: Sequence[P],
    settings: MatchSettings,
) -> list[MatchResult[P]]:
    cache: _NormCache = {}
    fm = _Features(mis, cache)
    fa = _Features(app, cache)
    by_school = _same_school_ids(fm, fa)
    links = _ladder(fm, fa, settings, by_school)
    fm_free = [True] * fm.n
    fa_free = [True] * fa.n
    results: list[MatchResult[P]] = []
    if links:
        li = np.asarray([i for i, _, _ in links], dtype=np.int64)
        lj = np.asarray([j for _, j, _ in links], dtype=np.int64)
        scores = _Scores(fm, fa, li, lj, settings)
        link_total = scores.total.tolist()
        decisions: list[_Decision] = []
        for k, (i, j, rule) in enumerate(links):
            fm_free[i] = fa_free[j] = False
            if link_total[k] < settings.identifier_name_floor:
                flags = ("identifier agrees but names and birth date do not",)
                decisions.append((i, j, k, MatchStatus.MAY_MATCH, rule, None, flags))
            else:
                decisions.append((i, j, k, MatchStatus.MATCHED, rule, None, ()))
        results.extend(_build(mis, app, scores, decisions))

    twins_m = _twins(fm)
    twins_a = _twins(fa)
    rank_m = _rank(fm.ids)
    rank_a = _rank(fa.ids)
    big = by_school and fm.n > _BATCH_RECORDS
    schools = _school_codes(fm, fa) if big else None
    for wide in (False, True):
        free_m = np.flatnonzero(np.asarray(fm_free, dtype=bool))
        free_a = np.flatnonzero(np.asarray(fa_free, dtype=bool))
        if len(free_m) == 0 or len(free_a) == 0:
            break
        for rows_m, rows_a in _batches(schools, free_m, free_a):
            if len(rows_m) == 0 or len(rows_a) == 0:
                continue
            mk, mi = _key_codes(fm, rows_m, settings, wide, by_school)
            ak, ai = _key_codes(fa, rows_a, settings, wide, by_school)
            ci, cj = _join(mk, mi, ak, ai, settings.max_block_pairs)
            if len(ci) == 0:
                continue
            width = max(fa.n, 1)
            code = _sorted_unique(ci * width + cj)
            ci, cj = code // width, code % width
            scores = _Scores(fm, fa, ci, cj, settings)
            decisions = _assign(
                scores, ci, cj, fm_free, fa_free, twins_m, twins_a, rank_m, rank_a, settings
            )
            results.extend(_build(mis, app, scores, decisions))

    new, not_matched = MatchStatus.NEW, MatchStatus.NOT_MATCHED
    results.extend(MatchResult(status=new, mis=mis[i]) for i, f in enumerate(fm_free) if f)
    results.extend(MatchResult(status=not_matched, app=app[j]) for j, f in enumerate(fa_free) if f)
    return results


def _build(
    mis: Sequence[P], app: Sequence[P], scores: _Scores, decisions: list[_Decision]
) -> list[MatchResult[P]]:
    breakdowns = scores.breakdowns([d[2] for d in decisions])
    totals = np.round(scores.total, 4).tolist()
    return [
        MatchResult(
            status=status,
            mis=mis[i],
            app=app[j],
            score=totals[k],
            rule=rule,
            breakdown=breakdown,
            runner_up=runner_up,
            flags=flags_d,
        )
        for (i, j, k, status, rule, runner_up, flags_d), breakdown in zip(
            decisions, breakdowns, strict=True
        )
    ]


def _assign(
    scores: _Scores,
    ci: IntArray,
    cj: IntArray,
    fm_free: list[bool],
    fa_free: list[bool],
    twins_m: BoolArray,
    twins_a: BoolArray,
    rank_m: IntArray,
    rank_a: IntArray,
    settings: MatchSettings,
) -> list[_Decision]:
    """Greedy one-to-one assignment of candidate pairs (marks assigned records not free)."""
    keep = np.flatnonzero(scores.total >= settings.may_match_threshold)
    if len(keep) == 0:
        return []
    # rank by score, then by how much evidence there was (an exact pair with birth dates
    # beats an exact pair where one birth date is missing), then by record ids
    kp_i, kp_j = ci[keep], cj[keep]
    kp_s = scores.total[keep] + 1e-3 * scores.evidence[keep]
    order = np.lexsort((rank_a[kp_j], rank_m[kp_i], -kp_s))
    real_l: list[float] = scores.total[keep].tolist()
    exact_a = scores.forename_exact[keep]
    twin_a = twins_m[kp_i] | twins_a[kp_j]
    guarded = twin_a & ~exact_a
    cand_m: dict[int, list[_Cand]] = {}
    cand_a: dict[int, list[_Cand]] = {}
    li_, lj_, ls_ = kp_i.tolist(), kp_j.tolist(), kp_s.tolist()
    gl: list[bool] = guarded.tolist()
    # an identical pair is ambiguous only with another identical candidate
    perfect_l: list[bool] = scores.identical[keep].tolist()
    for o in order.tolist():  # best first, ties by record ids: never by input order
        i, j, s, g, p = li_[o], lj_[o], ls_[o], gl[o], perfect_l[o]
        cand_m.setdefault(i, []).append((s, j, g, p))
        cand_a.setdefault(j, []).append((s, i, g, p))
    margin = settings.ambiguity_margin

    def best_other(lst: list[_Cand], skip: int, free: list[bool]) -> float:
        for s3, x, _, _ in lst:
            if x != skip and free[x]:
                return s3
        return -1.0

    def competitor(
        mine: list[_Cand],
        partner: int,
        me: int,
        free_other: list[bool],
        free_mine: list[bool],
        theirs: dict[int, list[_Cand]],
        pair_exact: bool,
        pair_perfect: bool,
        s_cur: float,
    ) -> float | None:
        """Best free rival of a record (its candidates other than *partner*) that could
        really be it: not one with a strictly better partner of its own (or an equally good one
        when the pair itself is strictly better), not a twin of the partner, and for an
        identical pair only another identical candidate."""
        for s2, other, g, perfect in mine:
            if other == partner or not free_other[other]:
                continue
            if (g and pair_exact) or (pair_perfect and not perfect):
                continue
            alternative = best_other(theirs[other], me, free_mine)
            if alternative > s2 or (alternative >= s2 and s_cur > s2):
                continue
            return s2
        return None

    exact_l: list[bool] = exact_a.tolist()
    twin_l: list[bool] = twin_a.tolist()
    gender_l: list[bool] = scores.gender_differs[keep].tolist()
    dob_l: list[bool] = (scores.note[2, keep] != _MISSING).tolist()
    keep_l: list[int] = keep.tolist()
    threshold = settings.match_threshold
    decisions: list[_Decision] = []
    for o in order.tolist():
        i, j, s = li_[o], lj_[o], ls_[o]
        real = real_l[o]
        if not (fm_free[i] and fa_free[j]):
            continue
        pair_exact = exact_l[o]
        mine_m, mine_a = cand_m[i], cand_a[j]
        r1 = (
            competitor(mine_m, j, i, fa_free, fm_free, cand_a, pair_exact, perfect_l[o], s)
            if len(mine_m) > 1
            else None
        )
        r2 = (
            competitor(mine_a, i, j, fm_free, fa_free, cand_m, pair_exact, perfect_l[o], s)
            if len(mine_a) > 1
            else None
        )
        runner = r1 if r2 is None else (r2 if r1 is None else max(r1, r2))
        flags_l: list[str] = []
        if runner is not None and s - runner < margin:
            flags_l.append(f"ambiguous: another candidate scores {min(runner, 1.0):.2f}")
        if twin_l[o] and not pair_exact:
            flags_l.append("possible twin: forenames differ")
        if gender_l[o]:
            flags_l.append("gender differs")
        matched = real >= threshold and not flags_l
        fm_free[i] = False
        fa_free[j] = False
        decisions.append(
            (
                i,
                j,
                keep_l[o],
                MatchStatus.MATCHED if matched else MatchStatus.MAY_MATCH,
                MatchRule.NAME_DOB if dob_l[o] else MatchRule.NAME,
                None if runner is None else round(min(runner, 1.0), 4),
                tuple(flags_l),
            )
        )
    return decisions


_BATCH_RECORDS = 20_000


def _school_codes(fm: _Features, fa: _Features) -> tuple[IntArray, IntArray]:
    """Each record's school as a number (the same numbering on both sides)."""
    code = {s: k for k, s in enumerate(sorted(set(fm.school) | set(fa.school)))}
    return (
        np.fromiter(map(code.__getitem__, fm.school), np.int64, fm.n),
        np.fromiter(map(code.__getitem__, fa.school), np.int64, fa.n),
    )


def _batches(
    schools: tuple[IntArray, IntArray] | None, rows_m: IntArray, rows_a: IntArray
) -> list[tuple[IntArray, IntArray]]:
    """The free rows split into batches of whole schools, about ``_BATCH_RECORDS`` MIS
    records each.

    *schools* (each record's school number) is None when pairs are not made within a school.
    When they are, schools are independent: blocking, scoring and assignment batch by batch
    give the same results as all at once, and keep each batch's arrays and dicts small enough
    for the CPU caches.
    """
    if schools is None or len(rows_m) <= _BATCH_RECORDS:
        return [(rows_m, rows_a)]
    sm, sa = schools[0][rows_m], schools[1][rows_a]
    per_school = np.bincount(sm, minlength=int(max(sm.max(), sa.max())) + 1)
    batch_of = (np.cumsum(per_school) - per_school) // _BATCH_RECORDS
    bm, ba = batch_of[sm], batch_of[sa]
    om, oa = np.argsort(bm, kind="stable"), np.argsort(ba, kind="stable")
    bm_s, ba_s = bm[om], ba[oa]
    out = []
    for b in range(int(batch_of[-1]) + 1):
        lo_m, hi_m = np.searchsorted(bm_s, [b, b + 1])
        lo_a, hi_a = np.searchsorted(ba_s, [b, b + 1])
        out.append((rows_m[om[lo_m:hi_m]], rows_a[oa[lo_a:hi_a]]))
    return out


def _same_school_ids(fm: _Features, fa: _Features) -> bool:
    """True when both sides use the same school ids (one set holds the other), so pairs are
    looked for within a school; false when the MIS reader keys schools its own way."""
    mis_schools, app_schools = set(fm.school), set(fa.school)
    if not mis_schools or not app_schools:
        return False
    return mis_schools <= app_schools or app_schools <= mis_schools


def _rank(ids: list[str]) -> IntArray:
    """The position of each id in code-point order (a numpy sort of one contiguous array)."""
    order = np.argsort(np.asarray(ids, dtype=str), kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids), dtype=np.int64)
    return rank


def score_pair(mis: P, app: P, settings: MatchSettings) -> tuple[float, tuple[FieldScore, ...]]:
    """The score and per-field breakdown of one pair (used for pairs matched by hand)."""
    fm = _Features([mis])
    fa = _Features([app])
    zero = np.zeros(1, dtype=np.int64)
    s = _Scores(fm, fa, zero, zero, settings)
    return round(float(s.total[0]), 4), s.breakdown(0)
