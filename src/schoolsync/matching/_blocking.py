"""Blocking: which record pairs are compared at all, in time and pairs linear in the records.

Pairs are only made within one school when both sides use the same school ids. Each record
gets several keys:

* birth date (day and month in either order), ordered by surname and again by forename;
* postcode (where held), ordered by surname;
* each surname token with the forename (or each form of it in the nickname table), in
  either order;
* in a second pass over the records the first left unpaired: three letters of one name
  with the initial of the other (staff without birth dates, a typo with a wrong birth date).

Keys are joined with numpy (sorted arrays and ``searchsorted``). A key shared by more than
``block_window`` app records (a common name in a school of 200,000) does not pair every
record with every other: each record is paired with the ``block_window`` app records
nearest to it in a second order inside the block (birth date for name keys, surname for
birth-date keys), a sorted neighbourhood. So candidate pairs grow linearly with the
records, inside one school too.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from schoolsync.matching._evidence import Features

__all__ = ["candidate_pairs", "sorted_unique"]

IntArray = npt.NDArray[np.int64]


def _key_codes(
    f: Features,
    rows: IntArray,
    groups: Callable[[str], frozenset[str]],
    wide: bool,
    by_school: bool,
    window: int,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Blocking key codes (hashes, stable within one process), their owners, each entry's
    order inside its block and its window."""
    date_window = max(2, window // 3)
    windows = array("q")
    add_window = windows.append
    nick_cache: dict[str, tuple[str, ...]] = {}
    # compact typed buffers (a Python list of a million ints would take 40 MB)
    codes, owners, second = array("q"), array("q"), array("q")
    add_code, add_owner, add_second = codes.append, owners.append, second.append
    fn_t, pfn_t, sn_t, psn_t, date_key = f.fn_t, f.pfn_t, f.sn_t, f.psn_t, f.date_key
    schools = f.school if by_school else [""] * f.n
    dob = np.where(f.dob_y >= 0, f.dob_y * 372 + f.dob_m * 31 + f.dob_d, -1).tolist()
    sn_codes, fn_codes = f.order_code("sn_c"), f.order_code("fn_c")
    postcodes = f.postcode
    for k in rows.tolist():
        school = schools[k]
        ft, pt, st, qt = fn_t[k], pfn_t[k], sn_t[k], psn_t[k]
        surnames = st if qt is st else (*st, *qt)
        givens = (ft, pt) if pt is not ft else (ft,)
        if wide:
            for s in surnames:
                for given in givens:
                    if given:
                        add_code(hash((school, "S", s[:3], given[0][:1])))
                        add_code(hash((school, "S", given[0][:3], s[:1])))
                        add_owner(k)
                        add_owner(k)
                        add_second(dob[k])
                        add_second(dob[k])
                        add_window(window)
                        add_window(window)
            continue
        dk = date_key[k]
        if dk:
            # the same birth date (day and month either way): neighbours by surname, and by
            # forename (a surname changed)
            add_code(hash((school, dk, "S")))
            add_code(hash((school, dk, "F")))
            add_owner(k)
            add_owner(k)
            add_second(sn_codes[k])
            add_second(fn_codes[k])
            add_window(date_window)
            add_window(date_window)
        pc = postcodes[k]
        if pc:
            # the same postcode (when both lists hold postcodes): neighbours by surname
            add_code(hash((school, "P", pc)))
            add_owner(k)
            add_second(sn_codes[k])
            add_window(date_window)
        firsts: list[str] = []
        for given in givens:
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
                add_second(dob[k])
                add_window(window)
    return (
        np.frombuffer(codes, dtype=np.int64).copy(),
        np.frombuffer(owners, dtype=np.int64).copy(),
        np.frombuffer(second, dtype=np.int64).copy(),
        np.frombuffer(windows, dtype=np.int64).copy(),
    )


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


def _join(
    m: tuple[IntArray, IntArray, IntArray, IntArray],
    a: tuple[IntArray, IntArray, IntArray, IntArray],
) -> tuple[IntArray, IntArray]:
    """(mis, app) owner pairs sharing a key: all of them in blocks of at most the MIS
    entry's window app entries, else the window's nearest app entries by the secondary order."""
    mk, mi, ms, mw = m
    ak, ai, as_, _ = a
    empty = np.zeros(0, dtype=np.int64)
    if len(mk) == 0 or len(ak) == 0:
        return empty, empty
    # dense block numbers shared by both sides, then app entries sorted by (block, order)
    uniq = sorted_unique(np.concatenate([mk, ak]))
    mb = np.searchsorted(uniq, mk)
    ab = np.searchsorted(uniq, ak)
    a_order = np.lexsort((as_, ab))
    ab_s, as_s, ai_s = ab[a_order], as_[a_order], ai[a_order]
    lo = np.searchsorted(ab_s, mb, side="left")
    hi = np.searchsorted(ab_s, mb, side="right")
    count = hi - lo
    has = count > 0
    ms, mi, mw, lo, hi, count = ms[has], mi[has], mw[has], lo[has], hi[has], count[has]
    big = count > mw
    start = lo.copy()
    if big.any():
        # the position of the MIS entry's order value inside its block, centred window
        pos = lo[big] + _positions(as_s, lo[big], hi[big], ms[big])
        w = mw[big]
        start[big] = np.clip(pos - w // 2, lo[big], hi[big] - w)
    size = np.where(big, mw, count)
    total = int(size.sum())
    if total == 0:
        return empty, empty
    owner = np.repeat(np.arange(len(size)), size)
    offsets = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
    pi = mi[owner]
    pj = ai_s[start[owner] + offsets]
    return pi, pj


def _positions(values: IntArray, lo: IntArray, hi: IntArray, x: IntArray) -> IntArray:
    """For each k, ``searchsorted(values[lo[k]:hi[k]], x[k])`` (vectorised bisection)."""
    left = lo.copy()
    right = hi.copy()
    while True:
        active = left < right
        if not active.any():
            break
        mid = (left + right) // 2
        go_right = active & (values[np.minimum(mid, len(values) - 1)] < x)
        left = np.where(go_right, mid + 1, left)
        right = np.where(active & ~go_right, mid, right)
    return left - lo


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
    m = _key_codes(fm, rows_m, groups, wide, by_school, window)
    a = _key_codes(fa, rows_a, groups, wide, by_school, window)
    ci, cj = _join(m, a)
    if len(ci) == 0:
        return empty, empty
    width = max(fa.n, 1)
    code = sorted_unique(ci * width + cj)
    return code // width, code % width
