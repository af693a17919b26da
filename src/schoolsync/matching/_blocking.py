"""Blocking: which record pairs are compared at all, a bounded number per record.

Pairs are only made within one school when both sides use the same school ids. Blocking is
several passes of *sorted neighbourhood inside a block*. Each pass gives every record a
block key (or a few) and an order value; a record is paired with the records of the other
list in the same block that sit nearest to it in that order, at most the pass's window of
them:

* the records holding exactly its order value, when there are any (at most the window);
* else the nearest below and above it (the window in all, half on each side).

So a pass pairs a record with at most its window of others however large the school; the
sum of the windows bounds the candidate pairs a record starts (:func:`pairs_bound`), and
in a school of 200,000 most records have one candidate, their own copy. The passes:

1. the birth date (day and month either way), three times: ordered by surname then
   forename, by forename then surname (a changed or mistyped surname), and by the two names
   in alphabetical order (forename and surname swapped);
2. the birth date with one part different (the same day and month, another year; the same
   year and day, another month), the same names only (a typed year or month);
3. the postcode (when both lists hold them), ordered by surname then forename;
4. each surname token with the forename or one of its forms in the nickname table (either
   order), ordered by birth date (a mistyped birth date; at most ``MAX_KEYS`` per record);
5. a record without a birth date (on either side) starts its own pass: three letters of one
   name with the initial of the other, ordered by surname then forename.

A second round (``wide``) runs over the records the first left without a partner: the
pass 5 keys for everyone, ordered by birth date, with a window of ``block_window``.

Order values are the first six letters of the names in base 27 (two names fit in an int64);
keys are hashed to int64 with numpy (splitmix64's finaliser, part by part); a join sorts one
side by (block, order) and bisects the other side into it, vectorised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from schoolsync.matching._evidence import ORDER_LETTERS, Features

__all__ = [
    "MAX_KEYS",
    "candidate_pairs",
    "pairs_bound",
    "passes",
    "school_codes",
    "sorted_unique",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: A record's forename, preferred forename, surname and preferred surname tokens.
_Sig = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]

#: The base of an order value of two names (:meth:`Features.letters`).
_BASE = 27**ORDER_LETTERS

#: Name keys (pass 4) and prefix keys (pass 5) a record has at most.
MAX_KEYS = 8

#: Windows of the first round's passes (pass 4 uses a third of ``block_window``).
_DATE_WINDOW = 2
_PART_WINDOW = 2
_POSTCODE_WINDOW = 2
_NO_DATE_WINDOW = 4


def _name_window(window: int) -> int:
    return max(1, window // 3)


def pairs_bound(window: int, *, mis: bool, has_birth_date: bool, wide: bool = False) -> int:
    """The most candidate pairs one record starts in a round of :func:`candidate_pairs` with
    ``block_window`` *window*, whatever the size of the school.

    An MIS record with a birth date starts at most ``3*2 + 2*2 + 2 + 8*(window // 3)`` (28
    with the default window of 6); a record without a birth date, on either side, at most
    ``2 + 8*4 + 8*4`` (66, on the MIS side; 64 on the app side); an app record with a birth
    date none (the MIS side starts those pairs). In the wide round an MIS record starts at
    most ``8*window`` (48). Candidate pairs are at most the sum over both lists' records.
    """
    if wide:
        return MAX_KEYS * window if mis else 0
    postcode = _POSTCODE_WINDOW if mis else 0
    if not has_birth_date:
        return postcode + 2 * MAX_KEYS * _NO_DATE_WINDOW
    if not mis:
        return 0
    return 3 * _DATE_WINDOW + 2 * _PART_WINDOW + postcode + MAX_KEYS * _name_window(window)


class _Keys:
    """One side of one pass: block key, owner row and order value per entry."""

    __slots__ = ("block", "order", "owner")

    def __init__(self, block: IntArray, owner: IntArray, order: IntArray) -> None:
        self.block, self.owner, self.order = block, owner, order

    def where(self, keep: BoolArray) -> _Keys:
        return _Keys(self.block[keep], self.owner[keep], self.order[keep])


_SEED = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(*parts: IntArray) -> IntArray:
    """A 64-bit hash of several int64 columns, row by row (a block key): each part is
    folded in with splitmix64's finaliser, so keys made of small numbers (a school's code,
    a birth date, a name's code) spread over all 64 bits and distinct keys do not collide."""
    h = np.full(len(parts[0]), _SEED, dtype=np.uint64)
    for p in parts:
        h ^= np.ascontiguousarray(p, dtype=np.int64).view(np.uint64)
        h ^= h >> np.uint64(30)
        h *= _M1
        h ^= h >> np.uint64(27)
        h *= _M2
        h ^= h >> np.uint64(31)
    out: IntArray = h.view(np.int64)
    return out


def _ragged(rows: list[tuple[int, ...]]) -> tuple[IntArray, IntArray, IntArray]:
    """The values of *rows* one after another, with each row's start and length."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((v for row in rows for v in row), dtype=np.int64, count=int(lengths.sum()))
    return flat, np.cumsum(lengths) - lengths, lengths


def _flat(keys: list[int], counts: list[int]) -> tuple[IntArray, IntArray]:
    """Keys of all rows in row order, and the position of each key's row."""
    at = np.repeat(np.arange(len(counts), dtype=np.int64), np.asarray(counts, dtype=np.int64))
    return np.asarray(keys, dtype=np.int64).reshape(-1), at


class _Side:
    """The columns of one list's rows in a run that the passes use."""

    def __init__(self, f: Features, rows: IntArray, school: IntArray) -> None:
        self.f = f
        self.rows = rows
        self.school = school[rows]
        self.y, self.m, self.d = f.dob_y[rows], f.dob_m[rows], f.dob_d[rows]
        self.has_dob: BoolArray = self.y >= 0
        self.dob = np.where(self.has_dob, self.y * 372 + self.m * 31 + self.d, -1)
        self.date_key = np.asarray(f.date_key, dtype=np.int64)[rows]
        sn, fn = f.letters("sn_c")[rows], f.letters("fn_c")[rows]
        self.sn_fn = sn * _BASE + fn
        self.fn_sn = fn * _BASE + sn
        self.pair = np.minimum(self.sn_fn, self.fn_sn)

    def keys(self, mask: BoolArray, order: IntArray, *parts: IntArray) -> _Keys:
        """One entry per row in *mask*: blocked on (school, *parts*), in *order*."""
        return _Keys(
            _mix(self.school[mask], *(p[mask] for p in parts)), self.rows[mask], order[mask]
        )

    def postcodes(self, codes: dict[str, int]) -> IntArray:
        """Per row: a code of the postcode shared with the other side (-1: none)."""
        out = np.full(len(self.rows), -1, dtype=np.int64)
        held = np.flatnonzero(self.f.has("postcode")[self.rows])
        if len(held):
            pcs = self.f.postcode
            out[held] = [codes.setdefault(pcs[k], len(codes)) for k in self.rows[held].tolist()]
        return out

    def names(
        self, groups: Callable[[str], frozenset[str]], codes: dict[str, int]
    ) -> tuple[IntArray, IntArray]:
        """Name keys (a surname token with a forename or one of its forms, either order), in
        row order, each row's given forms outermost, at most ``MAX_KEYS`` a row.

        A row's forenames and its surnames are looked up once per distinct combination; the
        keys themselves are the cross products, made with numpy. *codes* number the names
        (shared by both sides, so a key is the same on either)."""
        f = self.f
        fn_t, pfn_t, sn_t, psn_t = f.fn_t, f.pfn_t, f.sn_t, f.psn_t
        forms: dict[str, tuple[int, ...]] = {}

        def code(name: str) -> int:
            return codes.setdefault(name, len(codes))

        def given_of(ft: tuple[str, ...], pt: tuple[str, ...] | None) -> tuple[int, ...]:
            out: tuple[int, ...] = ()
            for name in (ft,) if pt is None else (ft, pt):
                if name:
                    known = forms.get(name[0])
                    if known is None:
                        first = name[0]
                        known = forms[first] = tuple(
                            map(code, (first, *sorted(groups(first) - {first})))
                        )
                    out += known
            return out

        # per row: which distinct forename and surname combination it holds (a preferred
        # name that is the very same value as the legal one adds nothing)
        given_at: dict[tuple[tuple[str, ...], tuple[str, ...] | None], int] = {}
        surname_at: dict[tuple[tuple[str, ...], tuple[str, ...] | None], int] = {}
        given: list[tuple[int, ...]] = []
        surnames: list[tuple[int, ...]] = []
        g_row: list[int] = []
        s_row: list[int] = []
        for k in self.rows.tolist():
            ft, pt, st, qt = fn_t[k], pfn_t[k], sn_t[k], psn_t[k]
            gkey = (ft, None if pt is ft else pt)
            got = given_at.get(gkey)
            if got is None:
                got = given_at[gkey] = len(given)
                given.append(given_of(*gkey))
            g_row.append(got)
            skey = (st, None if qt is st else qt)
            got = surname_at.get(skey)
            if got is None:
                got = surname_at[skey] = len(surnames)
                surnames.append(tuple(map(code, st if skey[1] is None else st + qt)))
            s_row.append(got)
        g_flat, g_start, g_len = _ragged(given)
        s_flat, s_start, s_len = _ragged(surnames)
        gr = np.asarray(g_row, dtype=np.int64)
        sr = np.asarray(s_row, dtype=np.int64)
        n_s = s_len[sr]
        counts = np.minimum(g_len[gr] * n_s, MAX_KEYS)
        at = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        t = np.arange(len(at), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        per = n_s[at]
        g = g_flat[g_start[gr[at]] + t // np.maximum(per, 1)]
        s = s_flat[s_start[sr[at]] + t % np.maximum(per, 1)]
        return _mix(np.minimum(g, s), np.maximum(g, s)), at

    def initials(self) -> tuple[IntArray, IntArray]:
        """Prefix keys from the compact names (three letters of the surname with the
        forename's initial, and the other way round; legal and preferred), vectorised."""
        f = self.f
        n = len(self.rows)
        sn = self.sn_fn // _BASE
        fn = self.sn_fn % _BASE
        psn, pfn = f.letters("psn_c")[self.rows], f.letters("pfn_c")[self.rows]
        three, one = 27**3, 27**5
        keys, at = [], []
        rows = np.arange(n, dtype=np.int64)
        for s_, g_, keep in (
            (sn, fn, np.ones(n, dtype=bool)),
            (sn, pfn, pfn != fn),
            (psn, fn, psn != sn),
            (psn, pfn, (psn != sn) & (pfn != fn)),
        ):
            for tag, a_, b_ in ((1, s_, g_), (2, g_, s_)):
                keep_ab = keep & (a_ > 0) & (b_ > 0)
                keys.append(
                    _mix(np.full(int(keep_ab.sum()), tag), a_[keep_ab] // three, b_[keep_ab] // one)
                )
                at.append(rows[keep_ab])
        return np.concatenate(keys), np.concatenate(at)

    def prefixes(self) -> tuple[IntArray, IntArray]:
        """Prefix keys from the name tokens (three letters of one name with the initial of
        the other; every surname token, the legal and preferred forename)."""
        f = self.f
        fn_t, pfn_t, sn_t, psn_t = f.fn_t, f.pfn_t, f.sn_t, f.psn_t
        keys: list[int] = []
        counts: list[int] = []
        for k in self.rows.tolist():
            ft, pt, st, qt = fn_t[k], pfn_t[k], sn_t[k], psn_t[k]
            row: list[int] = []
            for name in (ft,) if pt is ft else (ft, pt):
                if name:
                    first = name[0]
                    for s in st if qt is st else st + qt:
                        row.append(hash(("S", s[:3], first[:1])))
                        row.append(hash(("G", first[:3], s[:1])))
            row = list(dict.fromkeys(row))[:MAX_KEYS]
            keys.extend(row)
            counts.append(len(row))
        return _flat(keys, counts)


def sorted_unique(a: IntArray) -> IntArray:
    """The distinct values of *a*, sorted (by sorting: numpy's hash-based ``np.unique``
    falls out of the CPU caches and grows super-linearly past ~10^6 values)."""
    if len(a) == 0:
        return a
    s = np.sort(a)
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _bisect(values: IntArray, lo: IntArray, hi: IntArray, x: IntArray) -> IntArray:
    """For each k, ``lo[k] + searchsorted(values[lo[k]:hi[k]], x[k])`` (vectorised)."""
    left = lo.copy()
    right = hi.copy()
    last = len(values) - 1
    while True:
        active = left < right
        if not active.any():
            return left
        mid = (left + right) // 2
        go_right = active & (values[np.minimum(mid, last)] < x)
        left = np.where(go_right, mid + 1, left)
        right = np.where(active & ~go_right, mid, right)


def _join(
    m: _Keys, a: _Keys, window: int, *, exact_only: bool = False
) -> tuple[IntArray, IntArray]:
    """(owner in *m*, owner in *a*) pairs: each entry of *m* with the entries of *a* in its
    block holding its order value (at most *window*), else (unless *exact_only*) the
    *window* nearest to it in order, half below and half above where the block allows."""
    empty = np.zeros(0, dtype=np.int64)
    if len(m.block) == 0 or len(a.block) == 0:
        return empty, empty
    a_sort = np.lexsort((a.order, a.block))
    ab, ao, ai = a.block[a_sort], a.order[a_sort], a.owner[a_sort]
    lo = np.searchsorted(ab, m.block, side="left")
    hi = np.searchsorted(ab, m.block, side="right")
    has = hi > lo
    lo, hi, mo, mi = lo[has], hi[has], m.order[has], m.owner[has]
    eq_lo = _bisect(ao, lo, hi, mo)
    eq_hi = _bisect(ao, eq_lo, hi, mo + 1)
    exact = eq_hi > eq_lo
    near = np.clip(eq_lo - window // 2, lo, np.maximum(lo, hi - window))
    start = np.where(exact, eq_lo, near)
    stop = np.where(exact, np.minimum(eq_hi, eq_lo + window), np.minimum(near + window, hi))
    if exact_only:
        stop = np.where(exact, stop, start)
    size = stop - start
    total = int(size.sum())
    if total == 0:
        return empty, empty
    owner = np.repeat(np.arange(len(size)), size)
    at = start[owner] + np.arange(total) - np.repeat(np.cumsum(size) - size, size)
    return mi[owner], ai[at]


def school_codes(
    fm: Features, fa: Features, by_school: bool, schools: set[str] | None = None
) -> tuple[IntArray, IntArray]:
    """Per record of each side: the position of its school among both sides' *schools* (all
    of them; found when not given) in code-point order (0 for all when pairs are not looked
    for by school)."""
    if not by_school:
        return np.zeros(fm.n, dtype=np.int64), np.zeros(fa.n, dtype=np.int64)
    if schools is None:
        schools = set(fm.school).union(fa.school)
    codes = {s: k for k, s in enumerate(sorted(schools))}
    code = codes.__getitem__
    return (
        np.fromiter(map(code, fm.school), dtype=np.int64, count=fm.n),
        np.fromiter(map(code, fa.school), dtype=np.int64, count=fa.n),
    )


def _both(m: _Side, a: _Side, order: str, *parts: str) -> tuple[_Keys, _Keys]:
    """Both sides' entries of the records with a birth date, blocked on *parts*."""
    km, ka = (s.keys(s.has_dob, getattr(s, order), *(getattr(s, p) for p in parts)) for s in (m, a))
    return km, ka


def passes(
    m: _Side, a: _Side, groups: Callable[[str], frozenset[str]], *, wide: bool, window: int
) -> Iterator[tuple[str, IntArray, IntArray]]:
    """Each pass's name and its (MIS row, app row) pairs (a pair may recur across passes)."""
    if wide:
        (km, pm), (ka, pa) = m.prefixes(), a.prefixes()
        yield (
            "prefixes, by birth date",
            *_join(
                _Keys(_mix(m.school[pm], km), m.rows[pm], m.dob[pm]),
                _Keys(_mix(a.school[pa], ka), a.rows[pa], a.dob[pa]),
                window,
            ),
        )
        return
    for order in ("sn_fn", "fn_sn", "pair"):
        yield f"birth date, by {order}", *_join(*_both(m, a, order, "date_key"), _DATE_WINDOW)
    for parts in (("m", "d"), ("y", "d")):
        yield (
            f"birth date {''.join(parts)}",
            *_join(*_both(m, a, "sn_fn", *parts), _PART_WINDOW, exact_only=True),
        )
    codes: dict[str, int] = {}
    pc_m, pc_a = m.postcodes(codes), a.postcodes(codes)
    yield (
        "postcode",
        *_join(
            m.keys(pc_m >= 0, m.sn_fn, pc_m), a.keys(pc_a >= 0, a.sn_fn, pc_a), _POSTCODE_WINDOW
        ),
    )
    names: dict[str, int] = {}
    (km, pm), (ka, pa) = m.names(groups, names), a.names(groups, names)
    block_m, block_a = _mix(m.school[pm], km), _mix(a.school[pa], ka)
    yield (
        "names, by birth date",
        *_join(
            _Keys(block_m, m.rows[pm], m.dob[pm]).where(m.has_dob[pm]),
            _Keys(block_a, a.rows[pa], a.dob[pa]).where(a.has_dob[pa]),
            _name_window(window),
        ),
    )
    if m.has_dob.all() and a.has_dob.all():
        return
    # a record without a birth date reaches the other side's records from its own side, on
    # the name keys and on prefix keys, ordered by surname then forename
    (im, qm), (ia, qa) = m.initials(), a.initials()
    for (bm, om), (ba, oa) in (
        ((block_m, pm), (block_a, pa)),
        ((_mix(m.school[qm], im), qm), (_mix(a.school[qa], ia), qa)),
    ):
        keys_m = _Keys(bm, m.rows[om], m.sn_fn[om])
        keys_a = _Keys(ba, a.rows[oa], a.sn_fn[oa])
        yield "no birth date", *_join(keys_m.where(~m.has_dob[om]), keys_a, _NO_DATE_WINDOW)
        aj, mi = _join(keys_a.where(~a.has_dob[oa]), keys_m, _NO_DATE_WINDOW)
        yield "no birth date", mi, aj


def candidate_pairs(
    fm: Features,
    fa: Features,
    rows_m: IntArray,
    rows_a: IntArray,
    *,
    groups: Callable[[str], frozenset[str]],
    wide: bool,
    by_school: bool,
    window: int,
    schools: tuple[IntArray, IntArray] | None = None,
) -> tuple[IntArray, IntArray]:
    """Distinct candidate pairs among MIS rows *rows_m* and app rows *rows_a*, sorted by
    (MIS row, app row). *schools* are :func:`school_codes` when the caller has them."""
    empty = np.zeros(0, dtype=np.int64)
    if len(rows_m) == 0 or len(rows_a) == 0:
        return empty, empty
    school_m, school_a = schools or school_codes(fm, fa, by_school)
    m, a = _Side(fm, rows_m, school_m), _Side(fa, rows_a, school_a)
    width = max(fa.n, 1)
    found = [ci * width + cj for _, ci, cj in passes(m, a, groups, wide=wide, window=window)]
    code = sorted_unique(np.concatenate(found))
    return code // width, code % width
