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

import itertools
import operator
from collections.abc import Callable, Sequence
from datetime import date
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
    "SIMILARITY_FIELDS",
    "Comparison",
    "Features",
    "compare",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
LevelArray = npt.NDArray[np.int8]
PatternArray = npt.NDArray[np.int16]  # bit sets of levels (levels are below 16)

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
#: The fields whose string similarity a comparison keeps (for the breakdown).
SIMILARITY_FIELDS: tuple[int, ...] = (F_SURNAME, F_FORENAME, F_ADDRESS)
N_LEVELS = max(len(f.levels) for f in FIELDS)

# ----------------------------------------------------------------------------- features

_Norm = tuple[str, str, tuple[str, ...]]  # compact, spaced, tokens
_EMPTY: _Norm = ("", "", ())
NormCache = dict[str, _Norm]


def _fill(cache: NormCache, *columns: list[str | None]) -> None:
    """Normalise the texts of *columns* that *cache* does not hold yet (each once)."""
    texts: set[str | None] = set()
    texts.update(*columns)
    texts.difference_update(cache)
    for text in texts:
        if text:
            spaced = normalise_name(text)
            cache[text] = (spaced.replace(" ", ""), spaced, tuple(spaced.split()))


def _norm_email(text: str | None) -> str | None:
    if not text:
        return None
    e = text.strip().casefold()
    return e or None


def _norm_postcode(text: str | None) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


_GENDER_CODE = {Gender.UNKNOWN: 0, Gender.MALE: 1, Gender.FEMALE: 2, Gender.OTHER: 3}
_ORDINAL_1970 = 719_163  # date(1970, 1, 1).toordinal()


def _date_parts(dates: list[date | None]) -> tuple[IntArray, IntArray, IntArray]:
    """Year (-1: none), month and day (0: none) of each date, computed with numpy."""
    ordinal = np.asarray([d.toordinal() if d else 0 for d in dates], dtype=np.int64)
    days = (ordinal - _ORDINAL_1970).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    missing = ordinal == 0
    year = np.where(missing, -1, days.astype("datetime64[Y]").astype(np.int64) + 1970)
    month = np.where(missing, 0, months.astype(np.int64) % 12 + 1)
    day = np.where(missing, 0, (days - months).astype(np.int64) + 1)
    return year, month, day


#: Letters of a name that :meth:`Features.letters` keeps (two names fit in an int64).
ORDER_LETTERS = 6


def _letters(names: list[str]) -> IntArray:
    """The first ``ORDER_LETTERS`` letters of each name as a base-27 number."""
    n = len(names)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.asarray(names, dtype=f"<U{ORDER_LETTERS}").view(np.uint32).reshape(n, -1)
    points = np.zeros((n, ORDER_LETTERS), dtype=np.int64)
    points[:, : raw.shape[1]] = raw
    digits = np.where((points >= 97) & (points <= 122), points - 96, 0)
    weights = 27 ** np.arange(ORDER_LETTERS - 1, -1, -1, dtype=np.int64)
    out: IntArray = digits @ weights
    return out


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

        def column(name: str) -> list[Any]:
            return list(map(operator.attrgetter(name), records))

        self.ids: list[str] = column("id")
        self.school: list[str] = column("school_id")
        self.mis_id: list[str | None] = column("mis_id")
        self.email: list[str | None] = [_norm_email(e) if e else None for e in column("email")]
        fns, sns, pfs = column("forename"), column("surname"), column("preferred_forename")
        pss, mids = column("preferred_surname"), column("middle_names")
        _fill(cache, fns, sns, pfs, pss, mids)
        look, empty = cache.get, itertools.repeat(_EMPTY)

        def normed(texts: list[str | None]) -> list[_Norm]:
            # a missing or empty text is not in the cache: it gets _EMPTY
            return list(map(look, texts, empty))  # type: ignore[arg-type]

        first, second, third = (
            operator.itemgetter(0),
            operator.itemgetter(1),
            operator.itemgetter(2),
        )
        fn, sn, pf, ps = normed(fns), normed(sns), normed(pfs), normed(pss)
        self.fn_c = list(map(first, fn))
        self.fn_s = list(map(second, fn))
        self.fn_t = list(map(third, fn))
        self.sn_c = list(map(first, sn))
        self.sn_s = list(map(second, sn))
        self.sn_t = list(map(third, sn))
        # a preferred name counts where it holds something; elsewhere the legal one stands
        # in for it (the very same objects, which blocking relies on)
        legal_f = np.asarray(self.fn_c, dtype=object).reshape(n)
        legal_s = np.asarray(self.sn_c, dtype=object).reshape(n)
        pref_f = np.asarray(list(map(first, pf)), dtype=object).reshape(n)
        pref_s = np.asarray(list(map(first, ps)), dtype=object).reshape(n)
        held_f, held_s = pref_f != "", pref_s != ""
        self.has_pref: BoolArray = (held_f & (pref_f != legal_f)) | (held_s & (pref_s != legal_s))
        self.pfn_c: list[str] = np.where(held_f, pref_f, legal_f).tolist()
        self.psn_c: list[str] = np.where(held_s, pref_s, legal_s).tolist()
        self.pfn_t = self.fn_t.copy()
        for k in np.flatnonzero(held_f).tolist():
            self.pfn_t[k] = pf[k][2]
        self.psn_t = self.sn_t.copy()
        for k in np.flatnonzero(held_s).tolist():
            self.psn_t[k] = ps[k][2]
        self.mid_c = list(map(first, normed(mids)))
        self.gender = np.asarray(
            list(map(_GENDER_CODE.__getitem__, column("gender"))), dtype=np.int8
        ).reshape(n)
        self.dob_y, self.dob_m, self.dob_d = _date_parts(column("date_of_birth"))
        # the birth date with day and month in either order (0: none), a blocking key
        low = np.minimum(self.dob_m, self.dob_d)
        high = np.maximum(self.dob_m, self.dob_d)
        self.date_key: list[int] = np.where(
            self.dob_y >= 0, self.dob_y * 10_000 + low * 100 + high, 0
        ).tolist()
        self.postcode: list[str] = [_norm_postcode(p) if p else "" for p in column("postcode")]
        self.address: list[str] = [normalise_name(a) if a else "" for a in column("address")]
        self._per_record: dict[str, npt.NDArray[Any]] = {}
        # UPNs (pupils only; a staff member has none)
        try:
            upns, formers = column("upn"), column("former_upns")
        except AttributeError:  # staff hold no UPN
            upns = [getattr(r, "upn", None) for r in records]
            formers = [getattr(r, "former_upns", ()) for r in records]
        self.upn: list[str | None] = [None if u is None else u.value for u in upns]
        self.former: list[tuple[str, ...]] = [
            tuple(u.value for u in f) if f else () for f in formers
        ]

    def _kept(self, key: str, make: Callable[[], npt.NDArray[Any]]) -> npt.NDArray[Any]:
        """The per-record array *key*, made by *make* the first time it is asked for."""
        arr = self._per_record.get(key)
        if arr is None:
            arr = self._per_record[key] = make()
        return arr

    def has(self, name: str) -> BoolArray:
        """Per record: whether column *name* (a list of str) holds a value."""
        return self._kept(
            f"has:{name}",
            lambda: np.fromiter(map(bool, getattr(self, name)), dtype=bool, count=self.n),
        )

    def several(self, name: str) -> BoolArray:
        """Per record: whether column *name* (spaced names) holds several words."""
        spaces = itertools.repeat(" ")
        return self._kept(
            f"several:{name}",
            lambda: np.fromiter(
                map(operator.contains, getattr(self, name), spaces), dtype=bool, count=self.n
            ),
        )

    def first_letter(self, name: str) -> IntArray:
        """Per record: the code of the first character of column *name* (0: empty); a
        one-character unicode array holds each first character's code point."""
        return self._kept(
            f"first:{name}",
            lambda: (
                np.asarray(getattr(self, name), dtype="<U1")
                .reshape(self.n)
                .view(np.uint32)
                .astype(np.int64)
            ),
        )

    def length(self, name: str) -> IntArray:
        """Per record: the length of column *name*."""
        return self._kept(
            f"len:{name}",
            lambda: np.fromiter(map(len, getattr(self, name)), dtype=np.int64, count=self.n),
        )

    def nickname_groups(self, table: NicknameTable) -> list[frozenset[str]]:
        """Per record: the full names the first legal or preferred forename may stand for."""
        cached = self._per_record.get("nick")
        if cached is not None:
            return cached.tolist()  # type: ignore[no-any-return]
        memo: dict[str, frozenset[str]] = {}

        def of(token: str) -> frozenset[str]:
            g = memo.get(token)
            if g is None:
                g = memo[token] = table.groups_of(token) | {token}
            return g

        none: frozenset[str] = frozenset()
        out: list[frozenset[str]] = []
        for ft, pt in zip(self.fn_t, self.pfn_t, strict=True):
            groups = of(ft[0]) if ft else none
            if pt and (not ft or pt[0] != ft[0]):
                groups = groups | of(pt[0])
            out.append(groups)
        arr = np.empty(self.n, dtype=object)
        arr[:] = out
        self._per_record["nick"] = arr
        return out

    def letters(self, name: str) -> IntArray:
        """Per record: the first ``ORDER_LETTERS`` letters of column *name* (compact names)
        as a base-27 number (``a``-``z`` are 1-26, anything else 0), so codes sort like the
        names; blocking orders records by them."""
        return self._kept(f"letters:{name}", lambda: _letters(getattr(self, name)))

    def nickname_known(self, table: NicknameTable) -> BoolArray:
        """Per record: whether the nickname table knows its first legal or preferred forename
        as a form of another name."""
        return self._kept(
            "nick_known",
            lambda: np.fromiter(
                (len(g) > 1 for g in self.nickname_groups(table)), dtype=bool, count=self.n
            ),
        )

    def take(self, name: str, idx: IntArray) -> list[str]:
        """Column *name* (a list of str) at rows *idx* (the object array is made once)."""
        arr = self._arrays.get(name)
        if arr is None:
            arr = self._arrays[name] = np.asarray(getattr(self, name), dtype=object)
        return arr[idx].tolist()  # type: ignore[no-any-return]

    def has_upns(self) -> BoolArray:
        """Per record: whether it holds a current or former UPN."""
        return self._kept(
            "upns",
            lambda: np.fromiter(
                (u is not None or bool(f) for u, f in zip(self.upn, self.former, strict=True)),
                dtype=bool,
                count=self.n,
            ),
        )

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
    applicable level in the field's order (what EM learns from); ``similarity`` one row per
    field of :data:`SIMILARITY_FIELDS`: the string similarity behind name and address levels
    (0-1, for the breakdown).
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

    def take(self, idx: IntArray) -> Comparison:
        """The pairs at positions *idx*, in that order."""
        return Comparison(
            pi=self.pi[idx],
            pj=self.pj[idx],
            patterns=self.patterns[:, idx],
            levels=self.levels[:, idx],
            similarity=self.similarity[:, idx],
            one_sided=self.one_sided[idx],
        )

    @staticmethod
    def concat(parts: Sequence[Comparison]) -> Comparison:
        """The pairs of *parts*, one after another."""
        if len(parts) == 1:
            return parts[0]
        return Comparison(
            pi=np.concatenate([p.pi for p in parts]),
            pj=np.concatenate([p.pj for p in parts]),
            patterns=np.concatenate([p.patterns for p in parts], axis=1),
            levels=np.concatenate([p.levels for p in parts], axis=1),
            similarity=np.concatenate([p.similarity for p in parts], axis=1),
            one_sided=np.concatenate([p.one_sided for p in parts]),
        )

    def field_similarity(self, field: int) -> npt.NDArray[np.float32]:
        """The similarity row of *field* (zeros for a field without one)."""
        if field in SIMILARITY_FIELDS:
            row: npt.NDArray[np.float32] = self.similarity[SIMILARITY_FIELDS.index(field)]
            return row
        return np.zeros(self.n, dtype=np.float32)


def _cp(n: int) -> Callable[..., FloatArray]:
    jw = JaroWinkler.normalized_similarity

    def cp(
        a: list[str],
        b: list[str],
        scorer: Callable[..., Any] = jw,
        cutoff: float | None = None,
        *,
        distance: bool = False,
    ) -> FloatArray:
        """The scorer of each pair. With *cutoff* rapidfuzz may stop early: a similarity
        below it reads 0, a *distance* above it ``cutoff + 1``; every test against a
        threshold at least *cutoff* (at most, for a distance) gives what it would without.
        (rapidfuzz drops a similarity that equals the cutoff but for rounding, 0.8 from
        ``daniel``/``dale``: so the cutoff is passed a millionth lower.)"""
        if n == 0 or not a:
            return np.zeros(len(a), dtype=np.float64)
        if cutoff is not None and not distance:
            cutoff *= 1.0 - 1e-6
        out = process.cpdist(a, b, scorer=scorer, workers=1, dtype=np.float64, score_cutoff=cutoff)
        return np.asarray(out, dtype=np.float64).reshape(len(a))

    return cp


class _Compare:
    """The level computation of one batch of pairs (one method per field)."""

    def __init__(
        self,
        fm: Features,
        fa: Features,
        pi: IntArray,
        pj: IntArray,
        nicknames: NicknameTable,
        *,
        with_similarity: bool = True,
    ) -> None:
        self.fm, self.fa, self.pi, self.pj = fm, fa, pi, pj
        self.n = len(pi)
        self.cp = _cp(self.n)
        self.nicknames = nicknames
        # without the similarity (only the levels wanted), a name's or an address's score
        # below its lowest threshold need not be exact
        self.name_floor = None if with_similarity else 0.80
        self.address_floor = None if with_similarity else 75.0

    def cols(self, name: str, sub: IntArray | None = None) -> tuple[list[str], list[str]]:
        """Column *name* of both records of every pair (of the pairs at *sub*)."""
        if sub is None:
            return self.fm.take(name, self.pi), self.fa.take(name, self.pj)
        return self.fm.take(name, self.pi[sub]), self.fa.take(name, self.pj[sub])

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
        floor = self.name_floor
        legal = cp(m, a, cutoff=floor)
        best = legal.copy()
        pref_eq = np.zeros(self.n, dtype=bool)
        has_pref = np.flatnonzero(self.fm.has_pref[self.pi] | self.fa.has_pref[self.pj])
        if len(has_pref):
            pm, pa = self.cols(preferred)
            sub = has_pref.tolist()
            m_s, a_s = [m[k] for k in sub], [a[k] for k in sub]
            pm_s, pa_s = [pm[k] for k in sub], [pa[k] for k in sub]
            pref = np.maximum.reduce(
                [
                    cp(pm_s, a_s, cutoff=floor),
                    cp(m_s, pa_s, cutoff=floor),
                    cp(pm_s, pa_s, cutoff=floor),
                ]
            )
            best[has_pref] = np.maximum(best[has_pref], pref)
            pref_eq[has_pref] = pref >= 1.0
        # one part of a multi-part name: only where a side has several parts (between single
        # words the token set ratio is 100 only for equal names, which are "equal" instead)
        tokens = np.zeros(self.n)
        several = np.flatnonzero(
            self.fm.several(spaced)[self.pi] | self.fa.several(spaced)[self.pj]
        )
        if len(several):
            ms, as_ = self.cols(spaced, several)
            tokens[several] = cp(ms, as_, fuzz.token_set_ratio, cutoff=100.0) / 100.0
        present = self.both_have(compact)
        initial = self.initials(compact, single=True) & present
        bits = np.full(self.n, 1 << DIFFERENT, dtype=np.int16)
        bits |= np.where(initial, 1 << INITIAL, 0)
        bits |= np.where(best >= 0.80, 1 << SIMILAR, 0)
        bits |= np.where(best >= 0.92, 1 << CLOSE, 0)
        bits |= np.where(tokens >= 1.0, 1 << PART, 0)
        bits |= np.where(pref_eq, 1 << PREFERRED, 0)
        # an equal legal name is that and nothing weaker (its weight reflects how common it is)
        bits = np.where(legal >= 1.0, 1 << EXACT, bits).astype(np.int16)
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
            # a Jaro-Winkler of 1 between non-empty names is equality
            sub = weak_f.tolist()
            by_mid = np.fromiter(
                (
                    (fn_m[k] == mid_a[k] and bool(mid_a[k]))
                    or (mid_m[k] == fn_a[k] and bool(mid_m[k]))
                    for k in sub
                ),
                dtype=bool,
                count=len(sub),
            )
            f_bits[weak_f[by_mid]] |= 1 << MIDDLE
        # forename and surname transposed
        both = np.flatnonzero(f_present & s_present & (f_legal < 1.0) & (s_legal < 1.0))
        if len(both):
            sub = both.tolist()
            x_fs = cp([fn_m[k] for k in sub], [sn_a[k] for k in sub], cutoff=0.92)
            both = both[x_fs >= 0.92]  # the other way round only where this way agrees
            sub = both.tolist()
            x_sf = cp([sn_m[k] for k in sub], [fn_a[k] for k in sub], cutoff=0.92)
            swapped = both[x_sf >= 0.92]
            s_bits[swapped] |= 1 << TRANSPOSED
            f_bits[swapped] |= 1 << TRANSPOSED
        # middle names
        present = has_mid_m & has_mid_a
        mid_sim = np.zeros(self.n)
        both_mid = np.flatnonzero(present)
        if len(both_mid):
            sub = both_mid.tolist()
            mid_sim[both_mid] = cp([mid_m[k] for k in sub], [mid_a[k] for k in sub], cutoff=0.92)
        initial = self.initials("mid_c", single=False) & present
        m_bits = np.full(self.n, 1 << DIFFERENT, dtype=np.int16)
        m_bits |= np.where(initial, 1 << INITIAL, 0)
        m_bits |= np.where(mid_sim >= 0.92, 1 << CLOSE, 0)
        m_bits = np.where(mid_sim >= 1.0, 1 << EXACT, m_bits).astype(np.int16)
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
        bits = np.full(self.n, 1 << DOB_DIFFERENT, dtype=np.int16)
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
            dist = self.cp(ms, as_, Levenshtein.distance, cutoff=1, distance=True)
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
            ratio = self.cp(ms, as_, fuzz.token_sort_ratio, cutoff=self.address_floor) / 100.0
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
    out: PatternArray = np.where(levels > 0, 1 << levels.astype(np.int32), 0).astype(np.int16)
    return out


def first_level(patterns: PatternArray) -> LevelArray:
    """The first applicable level of each pattern set (0, missing, when none applies)."""
    out: LevelArray = np.zeros(patterns.shape, dtype=np.int8)
    for lv in range(N_LEVELS - 1, 0, -1):
        out[(patterns & (1 << lv)) != 0] = lv
    return out


def compare(
    fm: Features,
    fa: Features,
    pi: IntArray,
    pj: IntArray,
    nicknames: NicknameTable,
    *,
    with_similarity: bool = True,
) -> Comparison:
    """The comparison levels of pairs ``(pi[k], pj[k])`` of MIS rows and app rows.

    Without *with_similarity* only the levels (and patterns) are exact: a name's or an address's
    similarity below its lowest level reads 0 (for pairs nobody is shown, such as EM's
    sample)."""
    c = _Compare(fm, fa, pi, pj, nicknames, with_similarity=with_similarity)
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
    ).astype(np.int16)
    similarity = np.stack([s_sim, f_sim, a_sim]).astype(np.float32)
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
