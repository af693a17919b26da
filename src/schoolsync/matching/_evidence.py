"""Comparison levels: what each field of a candidate pair says, vectorised over many pairs.

Every field of a pair of people is put in one *comparison level* (see :data:`FIELDS`):

* names (surname, forename, middle names): equal; preferred-name form (a preferred name on
  either record, or the nickname table: Alex / Alexander); one part of a multi-part name
  (Smith / Smith-Jones); known by a middle name; forename and surname transposed; close
  (Jaro-Winkler at least 0.92); similar (at least 0.80); initial only (J / John); different;
* date of birth: equal; day and month swapped; one digit different; the same day and month in
  another year; one of day, month, year different; different;
* gender: equal, different; postcode: equal, one character different, the same district
  (outward code), different; address: equal, close, similar, different;
* identifiers (UPN and former UPNs, MIS id, email): equal, different;
* and *missing* when either record lacks the value.

The levels of many pairs are computed at once with numpy and rapidfuzz's element-wise
``process.cpdist``; :mod:`schoolsync.matching._em` turns levels into match weights.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from schoolsync.matching._normalise import NicknameTable, normalise_name
from schoolsync.records.people import Gender, Pupil, StaffMember

__all__ = [
    "FIELDS",
    "KINDS",
    "Comparison",
    "Features",
    "compare",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
LevelArray = npt.NDArray[np.int8]
PatternArray = npt.NDArray[np.int32]

# ----------------------------------------------------------------------------- levels

MISSING = 0
# names
EXACT = 1
PREFERRED = 2
PART = 3
MIDDLE = 4
TRANSPOSED = 5
CLOSE = 6
SIMILAR = 7
INITIAL = 8
DIFFERENT = 9
# date of birth
DOB_EXACT = 1
DOB_SWAPPED = 2
DOB_TYPO = 3
DOB_YEAR = 4
DOB_PART = 5
DOB_DIFFERENT = 6
# gender and identifiers
EQUAL = 1
UNEQUAL = 2
# postcode
PC_EXACT = 1
PC_TYPO = 2
PC_DISTRICT = 3
PC_DIFFERENT = 4
# address
AD_EXACT = 1
AD_CLOSE = 2
AD_SIMILAR = 3
AD_DIFFERENT = 4

_NAME_TEXT = (
    "missing",
    "equal",
    "preferred-name form",
    "one part of a multi-part name",
    "matches a middle name",
    "transposed with the other name",
    "close",
    "similar",
    "initial only",
    "different",
)
_DOB_TEXT = (
    "missing",
    "equal",
    "day/month swapped",
    "one digit different",
    "another year",
    "one part different",
    "different",
)
_EQ_TEXT = ("missing", "equal", "different")
_PC_TEXT = ("missing", "equal", "one character different", "same district", "different")
_AD_TEXT = ("missing", "equal", "close", "similar", "different")


@attrs.frozen
class FieldSpec:
    """One compared field: its name, its kind of evidence and its levels' words."""

    name: str
    kind: str
    levels: tuple[str, ...]
    learned: bool = True


#: The compared fields, in breakdown order. ``kind`` groups fields into independent kinds
#: of evidence (a Matched pair needs two); gender supports but is no kind of its own.
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("surname", "name", _NAME_TEXT),
    FieldSpec("forename", "name", _NAME_TEXT),
    FieldSpec("middle_names", "name", _NAME_TEXT),
    FieldSpec("date_of_birth", "birth date", _DOB_TEXT),
    FieldSpec("gender", "", _EQ_TEXT),
    FieldSpec("postcode", "address", _PC_TEXT),
    FieldSpec("address", "address", _AD_TEXT),
    FieldSpec("UPN", "identifier", _EQ_TEXT, learned=False),
    FieldSpec("MIS_id", "identifier", _EQ_TEXT, learned=False),
    FieldSpec("email", "identifier", _EQ_TEXT, learned=False),
)
F_SURNAME, F_FORENAME, F_MIDDLE, F_DOB, F_GENDER, F_POSTCODE, F_ADDRESS, F_UPN, F_MIS, F_EMAIL = (
    range(len(FIELDS))
)
KINDS: tuple[str, ...] = ("name", "birth date", "address", "identifier")
N_LEVELS = max(len(f.levels) for f in FIELDS)

# ----------------------------------------------------------------------------- features

_Norm = tuple[str, str, tuple[str, ...]]  # compact, spaced, tokens
_EMPTY: _Norm = ("", "", ())
NormCache = dict[str, _Norm]


def _fill(cache: NormCache, texts: Iterable[str | None]) -> None:
    for text in set(texts):
        if text and text not in cache:
            spaced = normalise_name(text)
            cache[text] = (spaced.replace(" ", ""), spaced, tuple(spaced.split()))


def _norm_email(text: str | None) -> str | None:
    if not text:
        return None
    e = text.strip().casefold()
    return e or None


def _norm_postcode(text: str | None) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def _outward(postcode: str) -> str:
    """The outward code (district) of a normalised postcode: all but the last three
    characters of a UK postcode; the first two characters of a short (foreign) one."""
    return postcode[:-3] if len(postcode) >= 5 else postcode[:2]


class Features:
    """Column-wise compare keys and identifiers of one side's records."""

    def __init__(
        self, records: Sequence[Pupil | StaffMember], cache: NormCache | None = None
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
            "postcode",
            "address",
        )
        columns: list[list[Any]] = (
            [list(c) for c in zip(*map(get, records), strict=True)] if n else [[]] * 13
        )
        ids, schools, fns, sns, pfs, pss, mids, genders, dobs, mis_ids, emails = columns[:11]
        postcodes, addresses = columns[11:]
        self.ids: list[str] = ids
        self.school: list[str] = schools
        self.mis_id: list[str | None] = mis_ids
        self.email: list[str | None] = [_norm_email(e) for e in emails]
        _fill(cache, (*fns, *sns, *pfs, *pss, *mids))
        look = cache.get

        def normed(texts: list[str | None]) -> list[_Norm]:
            return [look(t, _EMPTY) if t else _EMPTY for t in texts]

        fn, sn, pf, ps = normed(fns), normed(sns), normed(pfs), normed(pss)
        self.fn_c = [x[0] for x in fn]
        self.fn_s = [x[1] for x in fn]
        self.fn_t = [x[2] for x in fn]
        self.sn_c = [x[0] for x in sn]
        self.sn_s = [x[1] for x in sn]
        self.sn_t = [x[2] for x in sn]
        self.has_pref = np.fromiter(
            (
                bool(p[0] and p[0] != f[0]) or bool(q[0] and q[0] != s[0])
                for p, f, q, s in zip(pf, fn, ps, sn, strict=True)
            ),
            dtype=bool,
            count=n,
        )
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
        # the birth date with day and month in either order (0: none), a blocking key
        low = np.minimum(self.dob_m, self.dob_d)
        high = np.maximum(self.dob_m, self.dob_d)
        self.date_key: list[int] = np.where(
            self.dob_y >= 0, self.dob_y * 10_000 + low * 100 + high, 0
        ).tolist()
        self.postcode: list[str] = [_norm_postcode(p) if p else "" for p in postcodes]
        self.address: list[str] = [normalise_name(a) if a else "" for a in addresses]
        self._per_record: dict[str, npt.NDArray[Any]] = {}
        self.upn: list[str | None] = [None] * n
        self.former: list[tuple[str, ...]] = [()] * n
        for k, r in enumerate(records):
            if isinstance(r, Pupil):
                if r.upn is not None:
                    self.upn[k] = r.upn.value
                if r.former_upns:
                    self.former[k] = tuple(u.value for u in r.former_upns)

    def has(self, name: str) -> BoolArray:
        """Per record: whether column *name* (a list of str) holds a value."""
        key = f"has:{name}"
        arr = self._per_record.get(key)
        if arr is None:
            values = getattr(self, name)
            arr = self._per_record[key] = np.fromiter(
                map(bool, values), dtype=bool, count=len(values)
            )
        return arr

    def first_letter(self, name: str) -> IntArray:
        """Per record: the code of the first character of column *name* (0: empty)."""
        key = f"first:{name}"
        arr = self._per_record.get(key)
        if arr is None:
            arr = self._per_record[key] = np.fromiter(
                (ord(x[0]) if x else 0 for x in getattr(self, name)), dtype=np.int64, count=self.n
            )
        return arr

    def length(self, name: str) -> IntArray:
        """Per record: the length of column *name*."""
        key = f"len:{name}"
        arr = self._per_record.get(key)
        if arr is None:
            arr = self._per_record[key] = np.fromiter(
                map(len, getattr(self, name)), dtype=np.int64, count=self.n
            )
        return arr

    def nickname_groups(self, table: NicknameTable) -> list[frozenset[str]]:
        """Per record: the full names the first legal or preferred forename may stand for."""
        cached = self._per_record.get("nick")
        if cached is not None:
            return cached.tolist()  # type: ignore[no-any-return]
        memo: dict[str, frozenset[str]] = {}
        out: list[frozenset[str]] = []
        for ft, pt in zip(self.fn_t, self.pfn_t, strict=True):
            groups: frozenset[str] = frozenset()
            for t in (ft, pt):
                if t:
                    g = memo.get(t[0])
                    if g is None:
                        g = memo[t[0]] = table.groups_of(t[0]) | {t[0]}
                    groups = groups | g
            out.append(groups)
        arr = np.empty(self.n, dtype=object)
        arr[:] = out
        self._per_record["nick"] = arr
        return out

    def order_code(self, name: str) -> list[int]:
        """Per record: the first four letters of column *name* as a base-27 number (sorts
        like the name; orders records inside a large blocking key)."""
        cached = self._per_record.get(f"order:{name}")
        if cached is not None:
            return cached.tolist()  # type: ignore[no-any-return]
        letters = np.zeros((self.n, 4), dtype=np.int64)
        if self.n:
            raw = np.asarray(getattr(self, name), dtype="S4").view(np.uint8).reshape(self.n, -1)
            letters[:, : raw.shape[1]] = raw
        digits = np.where((letters >= 97) & (letters <= 122), letters - 96, 0)
        codes = digits @ np.asarray([27**3, 27**2, 27, 1], dtype=np.int64)
        self._per_record[f"order:{name}"] = codes
        return codes.tolist()  # type: ignore[no-any-return]

    def nickname_known(self, table: NicknameTable) -> BoolArray:
        """Per record: whether the nickname table knows its first legal or preferred forename
        as a form of another name."""
        arr = self._per_record.get("nick_known")
        if arr is None:
            arr = self._per_record["nick_known"] = np.fromiter(
                (len(g) > 1 for g in self.nickname_groups(table)), dtype=bool, count=self.n
            )
        return arr

    def take(self, name: str, idx: IntArray) -> list[str]:
        """Column *name* (a list of str) at rows *idx* (the object array is made once)."""
        arr = self._arrays.get(name)
        if arr is None:
            arr = self._arrays[name] = np.asarray(getattr(self, name), dtype=object)
        return arr[idx].tolist()  # type: ignore[no-any-return]

    def has_upns(self) -> BoolArray:
        """Per record: whether it holds a current or former UPN."""
        arr = self._per_record.get("upns")
        if arr is None:
            arr = self._per_record["upns"] = np.fromiter(
                (u is not None or bool(f) for u, f in zip(self.upn, self.former, strict=True)),
                dtype=bool,
                count=self.n,
            )
        return arr

    def all_upns(self, k: int) -> tuple[str, ...]:
        """The current UPN (if any) then the former ones of record *k*."""
        cur = self.upn[k]
        return self.former[k] if cur is None else (cur, *self.former[k])


# ----------------------------------------------------------------------------- comparing


@attrs.define
class Comparison:
    """The comparison levels of candidate pairs ``(pi[k], pj[k])``.

    ``patterns`` has one row per field of :data:`FIELDS`, a bit set of every level that
    applies (a name can be both one part of a multi-part name and close); ``levels`` the first
    applicable level in the field's order (what EM learns from); ``similarity`` the string
    similarity behind name and address levels (0-1, for the breakdown).
    """

    pi: IntArray
    pj: IntArray
    patterns: PatternArray
    levels: LevelArray
    similarity: npt.NDArray[np.float32]
    one_sided: BoolArray

    @property
    def n(self) -> int:
        """The number of pairs."""
        return len(self.pi)


def _cp(n: int) -> Callable[..., FloatArray]:
    jw = JaroWinkler.normalized_similarity

    def cp(a: list[str], b: list[str], scorer: Callable[..., Any] = jw) -> FloatArray:
        if n == 0 or not a:
            return np.zeros(len(a), dtype=np.float64)
        out = process.cpdist(a, b, scorer=scorer, workers=1, dtype=np.float64)
        return np.asarray(out, dtype=np.float64).reshape(len(a))

    return cp


class _Compare:
    """The level computation of one batch of pairs (one method per field)."""

    def __init__(
        self, fm: Features, fa: Features, pi: IntArray, pj: IntArray, nicknames: NicknameTable
    ) -> None:
        self.fm, self.fa, self.pi, self.pj = fm, fa, pi, pj
        self.n = len(pi)
        self.cp = _cp(self.n)
        self.nicknames = nicknames

    def cols(self, name: str) -> tuple[list[str], list[str]]:
        return self.fm.take(name, self.pi), self.fa.take(name, self.pj)

    def both_have(self, name: str) -> BoolArray:
        out: BoolArray = self.fm.has(name)[self.pi] & self.fa.has(name)[self.pj]
        return out

    def initials(self, name: str, *, single: bool) -> BoolArray:
        """Same first letter (and, when *single*, one side is just that letter)."""
        fm, fa, pi, pj = self.fm, self.fa, self.pi, self.pj
        out: BoolArray = fm.first_letter(name)[pi] == fa.first_letter(name)[pj]
        if single:
            out &= (fm.length(name)[pi] == 1) | (fa.length(name)[pj] == 1)
        return out

    def name_field(
        self, compact: str, preferred: str, spaced: str
    ) -> tuple[list[str], list[str], FloatArray, FloatArray, PatternArray]:
        """A name field's patterns before transposition and middle names: equal, preferred
        form, one part, close, similar, initial, different (missing: no pattern)."""
        cp = self.cp
        m, a = self.cols(compact)
        legal = cp(m, a)
        best = legal.copy()
        pref_eq = np.zeros(self.n, dtype=bool)
        has_pref = np.flatnonzero(self.fm.has_pref[self.pi] | self.fa.has_pref[self.pj])
        if len(has_pref):
            pm, pa = self.cols(preferred)
            sub = has_pref.tolist()
            m_s, a_s = [m[k] for k in sub], [a[k] for k in sub]
            pm_s, pa_s = [pm[k] for k in sub], [pa[k] for k in sub]
            pref = np.maximum.reduce([cp(pm_s, a_s), cp(m_s, pa_s), cp(pm_s, pa_s)])
            best[has_pref] = np.maximum(best[has_pref], pref)
            pref_eq[has_pref] = pref >= 1.0
        ms, as_ = self.cols(spaced)
        tokens = cp(ms, as_, fuzz.token_set_ratio) / 100.0
        present = self.both_have(compact)
        initial = self.initials(compact, single=True) & present
        bits = np.full(self.n, 1 << DIFFERENT, dtype=np.int32)
        bits |= np.where(initial, 1 << INITIAL, 0)
        bits |= np.where(best >= 0.80, 1 << SIMILAR, 0)
        bits |= np.where(best >= 0.92, 1 << CLOSE, 0)
        bits |= np.where(tokens >= 1.0, 1 << PART, 0)
        bits |= np.where(pref_eq, 1 << PREFERRED, 0)
        # an equal legal name is that and nothing weaker (its weight reflects how common it is)
        bits = np.where(legal >= 1.0, 1 << EXACT, bits).astype(np.int32)
        bits[~present] = 0
        return m, a, legal, best, bits

    def names(self) -> tuple[PatternArray, PatternArray, PatternArray, FloatArray, FloatArray]:
        """Surname, forename and middle-name patterns, with transposition, the nickname
        table and forenames known by a middle name. Which pairs are examined for each depends
        on the legal names only, so removing an optional value never adds a pattern."""
        cp = self.cp
        sn_m, sn_a, s_legal, s_sim, s_bits = self.name_field("sn_c", "psn_c", "sn_s")
        fn_m, fn_a, f_legal, f_sim, f_bits = self.name_field("fn_c", "pfn_c", "fn_s")
        f_present, s_present = f_bits != 0, s_bits != 0
        # the nickname table (Alex / Alexander) where the legal forenames differ
        low = np.flatnonzero(f_present & (f_legal < 1.0))
        if len(low):
            g_m = self.fm.nickname_groups(self.nicknames)
            g_a = self.fa.nickname_groups(self.nicknames)
            # only names the table knows can be forms of each other
            known = self.fm.nickname_known(self.nicknames)[self.pi[low]]
            known |= self.fa.nickname_known(self.nicknames)[self.pj[low]]
            low = low[known]
            pi, pj = self.pi[low].tolist(), self.pj[low].tolist()
            hits = [
                k
                for k, i, j in zip(low.tolist(), pi, pj, strict=True)
                if not g_m[i].isdisjoint(g_a[j])
            ]
            if hits:
                f_bits[np.asarray(hits, dtype=np.int64)] |= 1 << PREFERRED
        # known by a middle name
        mid_m, mid_a = self.cols("mid_c")
        has_mid_m, has_mid_a = self.fm.has("mid_c")[self.pi], self.fa.has("mid_c")[self.pj]
        weak_f = np.flatnonzero(f_present & (f_legal < 1.0) & (has_mid_m | has_mid_a))
        if len(weak_f):
            sub = weak_f.tolist()
            by_mid = np.maximum(
                cp([fn_m[k] for k in sub], [mid_a[k] for k in sub]) * has_mid_a[weak_f],
                cp([mid_m[k] for k in sub], [fn_a[k] for k in sub]) * has_mid_m[weak_f],
            )
            f_bits[weak_f[by_mid >= 1.0]] |= 1 << MIDDLE
        # forename and surname transposed
        both = np.flatnonzero(f_present & s_present & (f_legal < 1.0) & (s_legal < 1.0))
        if len(both):
            sub = both.tolist()
            x_fs = cp([fn_m[k] for k in sub], [sn_a[k] for k in sub])
            x_sf = cp([sn_m[k] for k in sub], [fn_a[k] for k in sub])
            swapped = (x_fs >= 0.92) & (x_sf >= 0.92)
            s_bits[both[swapped]] |= 1 << TRANSPOSED
            f_bits[both[swapped]] |= 1 << TRANSPOSED
        # middle names
        present = has_mid_m & has_mid_a
        mid_sim = np.where(present, cp(mid_m, mid_a), 0.0)
        initial = self.initials("mid_c", single=False) & present
        m_bits = np.full(self.n, 1 << DIFFERENT, dtype=np.int32)
        m_bits |= np.where(initial, 1 << INITIAL, 0)
        m_bits |= np.where(mid_sim >= 0.92, 1 << CLOSE, 0)
        m_bits = np.where(mid_sim >= 1.0, 1 << EXACT, m_bits).astype(np.int32)
        m_bits[~present] = 0
        return s_bits, f_bits, m_bits, np.round(s_sim, 2), np.round(f_sim, 2)

    def date_of_birth(self) -> PatternArray:
        """Birth date patterns (see the module docs); several can apply at once."""
        fm, fa, pi, pj = self.fm, self.fa, self.pi, self.pj
        ym, ya = fm.dob_y[pi], fa.dob_y[pj]
        mm, ma = fm.dob_m[pi], fa.dob_m[pj]
        dm, da = fm.dob_d[pi], fa.dob_d[pj]
        present = (ym >= 0) & (ya >= 0)
        same_y, same_m, same_d = ym == ya, mm == ma, dm == da
        digits = np.zeros(self.n, dtype=np.int64)
        for a, b, width in ((ym, ya, 4), (mm, ma, 2), (dm, da, 2)):
            for p in range(width):
                digits += (a // 10**p) % 10 != (b // 10**p) % 10
        bits = np.full(self.n, 1 << DOB_DIFFERENT, dtype=np.int32)
        bits |= np.where((same_y & (same_m | same_d)) | (same_m & same_d), 1 << DOB_PART, 0)
        bits |= np.where(~same_y & same_m & same_d, 1 << DOB_YEAR, 0)
        bits |= np.where(digits == 1, 1 << DOB_TYPO, 0)
        bits |= np.where(same_y & (mm == da) & (dm == ma) & ~(same_m & same_d), 1 << DOB_SWAPPED, 0)
        bits |= np.where(same_y & same_m & same_d, 1 << DOB_EXACT, 0)
        bits[~present] = 0
        return bits

    def gender(self) -> LevelArray:
        """Gender levels (unknown counts as missing)."""
        gm, ga = self.fm.gender[self.pi], self.fa.gender[self.pj]
        level = np.where(gm == ga, EQUAL, UNEQUAL).astype(np.int8)
        level[(gm == 0) | (ga == 0)] = MISSING
        return level

    def postcode(self) -> LevelArray:
        """Postcode levels: equal, one edit apart, same outward code, different."""
        present = self.both_have("postcode")
        level = np.full(self.n, MISSING, dtype=np.int8)
        idx = np.flatnonzero(present)
        if len(idx):
            m, a = self.cols("postcode")
            sub = idx.tolist()
            ms, as_ = [m[k] for k in sub], [a[k] for k in sub]
            dist = self.cp(ms, as_, Levenshtein.distance)
            district = np.fromiter(
                (_outward(x) == _outward(y) for x, y in zip(ms, as_, strict=True)),
                dtype=bool,
                count=len(sub),
            )
            lv = np.full(len(sub), PC_DIFFERENT, dtype=np.int8)
            lv[district] = PC_DISTRICT
            lv[dist <= 1] = PC_TYPO
            lv[dist == 0] = PC_EXACT
            level[idx] = lv
        return level

    def address(self) -> tuple[LevelArray, FloatArray]:
        """Address levels: equal, close (token sort ratio >= 90), similar (>= 75), different."""
        present = self.both_have("address")
        level = np.full(self.n, MISSING, dtype=np.int8)
        sim = np.zeros(self.n, dtype=np.float64)
        idx = np.flatnonzero(present)
        if len(idx):
            m, a = self.cols("address")
            sub = idx.tolist()
            ms, as_ = [m[k] for k in sub], [a[k] for k in sub]
            ratio = self.cp(ms, as_, fuzz.token_sort_ratio) / 100.0
            lv = np.full(len(sub), AD_DIFFERENT, dtype=np.int8)
            lv[ratio >= 0.75] = AD_SIMILAR
            lv[ratio >= 0.90] = AD_CLOSE
            lv[np.fromiter((x == y for x, y in zip(ms, as_, strict=True)), bool, len(sub))] = (
                AD_EXACT
            )
            level[idx] = lv
            sim[idx] = np.round(ratio, 2)
        return level, sim

    def identifiers(self) -> tuple[LevelArray, LevelArray, LevelArray]:
        """UPN (current or former on either side), MIS id (same school) and email levels."""
        fm, fa, pi, pj = self.fm, self.fa, self.pi, self.pj
        upn = np.zeros(self.n, dtype=np.int8)
        mis = np.zeros(self.n, dtype=np.int8)
        email = np.zeros(self.n, dtype=np.int8)
        for k in np.flatnonzero(fm.has_upns()[pi] & fa.has_upns()[pj]).tolist():
            um, ua = fm.all_upns(int(pi[k])), fa.all_upns(int(pj[k]))
            upn[k] = EQUAL if set(um) & set(ua) else UNEQUAL
        for k in np.flatnonzero(fm.has("mis_id")[pi] & fa.has("mis_id")[pj]).tolist():
            i, j = int(pi[k]), int(pj[k])
            if fm.school[i] == fa.school[j]:
                mis[k] = EQUAL if fm.mis_id[i] == fa.mis_id[j] else UNEQUAL
        for k in np.flatnonzero(fm.has("email")[pi] & fa.has("email")[pj]).tolist():
            email[k] = EQUAL if fm.email[int(pi[k])] == fa.email[int(pj[k])] else UNEQUAL
        return upn, mis, email


def _bits(levels: LevelArray) -> PatternArray:
    out: PatternArray = np.where(levels > 0, 1 << levels.astype(np.int32), 0).astype(np.int32)
    return out


def first_level(patterns: PatternArray) -> LevelArray:
    """The first applicable level of each pattern set (0, missing, when none applies)."""
    out: LevelArray = np.zeros(patterns.shape, dtype=np.int8)
    for lv in range(N_LEVELS - 1, 0, -1):
        out[(patterns & (1 << lv)) != 0] = lv
    return out


def compare(
    fm: Features, fa: Features, pi: IntArray, pj: IntArray, nicknames: NicknameTable
) -> Comparison:
    """The comparison levels of pairs ``(pi[k], pj[k])`` of MIS rows and app rows."""
    c = _Compare(fm, fa, pi, pj, nicknames)
    s_bits, f_bits, m_bits, s_sim, f_sim = c.names()
    a_lvl, a_sim = c.address()
    upn, mis, email = c.identifiers()
    patterns = np.stack(
        [
            s_bits,
            f_bits,
            m_bits,
            c.date_of_birth(),
            _bits(c.gender()),
            _bits(c.postcode()),
            _bits(a_lvl),
            _bits(upn),
            _bits(mis),
            _bits(email),
        ]
    ).astype(np.int32)
    similarity = np.zeros((len(FIELDS), len(pi)), dtype=np.float32)
    similarity[F_SURNAME], similarity[F_FORENAME], similarity[F_ADDRESS] = s_sim, f_sim, a_sim
    one_sided = _one_sided(fm, fa, pi, pj)
    return Comparison(
        pi=pi,
        pj=pj,
        patterns=patterns,
        levels=first_level(patterns),
        similarity=similarity,
        one_sided=one_sided,
    )


def _one_sided(fm: Features, fa: Features, pi: IntArray, pj: IntArray) -> BoolArray:
    """Pairs where some compared value is held by one record only."""
    out: BoolArray = (fm.dob_y[pi] >= 0) ^ (fa.dob_y[pj] >= 0)
    out |= (fm.gender[pi] > 0) ^ (fa.gender[pj] > 0)
    for name in ("sn_c", "fn_c", "mid_c", "postcode", "address"):
        out |= fm.has(name)[pi] ^ fa.has(name)[pj]
    return out
