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
keys are hashed to int64 with numpy; a join sorts one side by (block, order) and bisects the
other side into it, vectorised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from schoolsync.matching._evidence import Features

__all__ = ["MAX_KEYS", "candidate_pairs", "pairs_bound", "passes", "sorted_unique"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: A record's forename, preferred forename, surname and preferred surname tokens.
_Sig = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]

#: Letters of a name an order value holds (base 27: ``a``-``z``; anything else is 0).
_LETTERS = 6
_BASE = 27**_LETTERS

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


def _letters(names: list[str]) -> IntArray:
    """The first ``_LETTERS`` letters of each name as a base-27 number (sorts like the name)."""
    n = len(names)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.asarray(names, dtype=f"<U{_LETTERS}").view(np.uint32).reshape(n, -1)
    points = np.zeros((n, _LETTERS), dtype=np.int64)
    points[:, : raw.shape[1]] = raw
    digits = np.where((points >= 97) & (points <= 122), points - 96, 0)
    weights = 27 ** np.arange(_LETTERS - 1, -1, -1, dtype=np.int64)
    return digits @ weights


_SEED = np.int64(0x9E3779B97F4A7C15 - 2**64)
_MUL = np.int64(0x100000001B3)
_ADD = np.int64(0x632BE59BD9B4E019)


def _mix(*parts: IntArray) -> IntArray:
    """A 64-bit hash of several int64 columns, row by row (a block key)."""
    h = np.full(len(parts[0]), _SEED, dtype=np.int64)
    with np.errstate(over="ignore"):
        for p in parts:
            h = (h ^ p) * _MUL + _ADD
            h ^= h >> 29
    return h


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
        picked = rows.tolist()
        sn = _letters([f.sn_c[k] for k in picked])
        fn = _letters([f.fn_c[k] for k in picked])
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
        pcs = self.f.postcode
        return np.fromiter(
            (codes.setdefault(pcs[k], len(codes)) if pcs[k] else -1 for k in self.rows.tolist()),
            dtype=np.int64,
            count=len(self.rows),
        )

    def names(self, groups: Callable[[str], frozenset[str]]) -> tuple[IntArray, IntArray]:
        """Name keys (a surname token with a forename or one of its forms, either order)."""
        f = self.f
        fn_t, pfn_t, sn_t, psn_t = f.fn_t, f.pfn_t, f.sn_t, f.psn_t
        forms: dict[str, tuple[str, ...]] = {}
        keys: list[int] = []
        counts: list[int] = []
        add_keys, add_count = keys.extend, counts.append
        for k in self.rows.tolist():
            ft, pt, st, qt = fn_t[k], pfn_t[k], sn_t[k], psn_t[k]
            given: tuple[str, ...] = ()
            for name in (ft,) if pt is ft else (ft, pt):
                if name:
                    known = forms.get(name[0])
                    if known is None:
                        first = name[0]
                        known = forms[first] = (first, *sorted(groups(first) - {first}))
                    given += known
            row = [
                hash((s, g) if s <= g else (g, s))
                for g in given
                for s in (st if qt is st else st + qt)
            ]
            if len(row) > MAX_KEYS:
                row = row[:MAX_KEYS]
            add_keys(row)
            add_count(len(row))
        return _flat(keys, counts)

    def initials(self) -> tuple[IntArray, IntArray]:
        """Prefix keys from the compact names (three letters of the surname with the
        forename's initial, and the other way round; legal and preferred), vectorised."""
        f = self.f
        picked = self.rows.tolist()
        sn = self.sn_fn // _BASE
        fn = self.sn_fn % _BASE
        psn = _letters([f.psn_c[k] for k in picked])
        pfn = _letters([f.pfn_c[k] for k in picked])
        three, one = 27**3, 27**5
        keys, at = [], []
        rows = np.arange(len(picked), dtype=np.int64)
        for s_, g_, keep in (
            (sn, fn, np.ones(len(picked), dtype=bool)),
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


def _school_codes(fm: Features, fa: Features, by_school: bool) -> tuple[IntArray, IntArray]:
    """Per record of each side: a code of its school shared by both sides (0 for all when
    pairs are not looked for by school)."""
    if not by_school:
        return np.zeros(fm.n, dtype=np.int64), np.zeros(fa.n, dtype=np.int64)
    codes: dict[str, int] = {}
    m, a = (
        np.fromiter((codes.setdefault(s, len(codes)) for s in f.school), dtype=np.int64, count=f.n)
        for f in (fm, fa)
    )
    return m, a


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
    (km, pm), (ka, pa) = m.names(groups), a.names(groups)
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
) -> tuple[IntArray, IntArray]:
    """Distinct candidate pairs among MIS rows *rows_m* and app rows *rows_a*, sorted by
    (MIS row, app row)."""
    empty = np.zeros(0, dtype=np.int64)
    if len(rows_m) == 0 or len(rows_a) == 0:
        return empty, empty
    school_m, school_a = _school_codes(fm, fa, by_school)
    m, a = _Side(fm, rows_m, school_m), _Side(fa, rows_a, school_a)
    width = max(fa.n, 1)
    found = [ci * width + cj for _, ci, cj in passes(m, a, groups, wide=wide, window=window)]
    code = sorted_unique(np.concatenate(found))
    return code // width, code % width
