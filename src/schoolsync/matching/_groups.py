"""Year group and class matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from schoolsync.matching._normalise import normalise_name
from schoolsync.matching._results import FieldScore, MatchResult, MatchRule, MatchStatus
from schoolsync.matching._review import MatchReview, MixedYearClass
from schoolsync.records.people import SchoolClass, YearGroup
from schoolsync.records.sync import RecordKind

__all__ = ["is_nursery", "match_classes_impl", "match_year_groups_impl", "nc_year_key"]

_NURSERY_CODES = {"N", "N1", "N2", "E1", "E2"}


def nc_year_key(code: str) -> str:
    """The compare key of a National Curriculum year code (``" y7 "`` -> ``"7"``, ``"r"`` -> ``"R"``)."""
    key = code.strip().upper().replace(" ", "")
    for prefix in ("YEAR", "YR"):
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            return key[len(prefix) :].lstrip("0") or "0"
    if key.isdigit():
        return key.lstrip("0") or "0"
    return key


def is_nursery(year_group: YearGroup) -> bool:
    """True for a Nursery year group (codes ``N1``/``N2``/``E1``/``E2`` or "Nursery" in the name)."""
    return nc_year_key(year_group.nc_year) in _NURSERY_CODES or "nursery" in normalise_name(
        year_group.name
    )


def match_year_groups_impl(
    mis: Sequence[YearGroup], app: Sequence[YearGroup]
) -> MatchReview[YearGroup]:
    excluded = tuple(sorted((y for y in mis if is_nursery(y)), key=lambda y: y.id))
    mis_kept = [y for y in mis if not is_nursery(y)]
    by_code_m: dict[str, list[YearGroup]] = {}
    by_code_a: dict[str, list[YearGroup]] = {}
    for y in mis_kept:
        by_code_m.setdefault(nc_year_key(y.nc_year), []).append(y)
    for y in app:
        by_code_a.setdefault(nc_year_key(y.nc_year), []).append(y)
    results: list[MatchResult[YearGroup]] = []
    locked: set[str] = set()
    selected: set[str] = set()
    for code in sorted(set(by_code_m) | set(by_code_a)):
        ms = sorted(by_code_m.get(code, []), key=lambda y: y.id)
        aps = sorted(by_code_a.get(code, []), key=lambda y: y.id)
        if len(ms) == 1 and len(aps) == 1:
            m, a = ms[0], aps[0]
            same = normalise_name(m.name) == normalise_name(a.name)
            results.append(
                MatchResult(
                    status=MatchStatus.MATCHED,
                    mis=m,
                    app=a,
                    score=1.0,
                    rule=MatchRule.NC_YEAR,
                    breakdown=(
                        FieldScore(field="nc_year", similarity=1.0, weight=1.0, note="equal"),
                        FieldScore(
                            field="name",
                            similarity=1.0 if same else 0.0,
                            weight=0.0,
                            note="equal" if same else "differs: the MIS name replaces the app name",
                        ),
                    ),
                )
            )
            locked.add(m.id)
            selected.add(m.id)
            continue
        flags = ("several year groups share this NC year",) if len(ms) > 1 or len(aps) > 1 else ()
        for m in ms:
            results.append(MatchResult(status=MatchStatus.NEW, mis=m, flags=flags))
            selected.add(m.id)
        for a in aps:
            note = ("Nursery is not synced; kept",) if is_nursery(a) else ()
            results.append(
                MatchResult(
                    status=MatchStatus.NOT_MATCHED,
                    app=a,
                    flags=flags + note + ("kept: year groups in the app are never removed",),
                )
            )
    return MatchReview(
        kind=RecordKind.YEAR_GROUP,
        results=results,
        selected=selected,
        locked=locked,
        select_new_by_default=True,
        excluded=excluded,
    )


def _years(cls: SchoolClass, year_groups: dict[str, str]) -> frozenset[str]:
    return frozenset(year_groups[y] for y in cls.year_group_ids if y in year_groups)


def _compact(name: str) -> str:
    return normalise_name(name).replace(" ", "")


def _base(name: str, years: Iterable[str]) -> str:
    """The class name without a year designator for one of its years ("3Oak" -> "oak")."""
    compact = _compact(name)
    for y in sorted(years, key=len, reverse=True):
        yl = y.lower()
        for designator in (f"year{yl}", f"yr{yl}", f"y{yl}", yl):
            pattern = rf"^{re.escape(designator)}(?!\d)|(?<!\d){re.escape(designator)}$"
            stripped = re.sub(pattern, "", compact)
            if stripped and stripped != compact:
                return stripped
    return compact


def match_classes_impl(
    mis: Sequence[SchoolClass],
    app: Sequence[SchoolClass],
    mis_year_groups: Sequence[YearGroup],
    app_year_groups: Sequence[YearGroup],
    similarity_threshold: float,
) -> MatchReview[SchoolClass]:
    """Match classes in five rounds, each pairing only classes still free on both sides:

    1. the same MIS id, unique on both sides (Matched);
    2. the same name: Matched when unique with the same year groups, else May match;
    3. a mixed-year MIS class against the app's one class per year (reported, not paired);
    4. names equal apart from a year designator ("Year 3 Oak" / "Oak"): May match;
    5. similar names (Jaro-Winkler at least *similarity_threshold*) within the same year
       groups: May match, best first.

    What is left is New (MIS) or Not matched (app).
    """
    rounds = _ClassRounds(mis, app, mis_year_groups, app_year_groups)
    rounds.by_mis_id()
    rounds.by_name([_compact(c.name) for c in rounds.mis], rounds.app_names, MatchStatus.MATCHED)
    mixed = rounds.mixed_year_classes()
    rounds.by_name(rounds.mis_bases(), rounds.app_bases, MatchStatus.MAY_MATCH)
    rounds.by_similar_name(similarity_threshold)
    results = rounds.results + rounds.leftovers()
    selected = {r.mis.id for r in results if r.status is MatchStatus.NEW and r.mis is not None}
    return MatchReview(
        kind=RecordKind.CLASS,
        results=results,
        selected=selected,
        select_new_by_default=True,
        mixed_year_classes=tuple(mixed),
    )


class _ClassRounds:
    """The state the class-matching rounds share: both sides sorted by id, each class's NC
    years, which classes are still free, and the results so far."""

    def __init__(
        self,
        mis: Sequence[SchoolClass],
        app: Sequence[SchoolClass],
        mis_year_groups: Sequence[YearGroup],
        app_year_groups: Sequence[YearGroup],
    ) -> None:
        yg_m = {y.id: nc_year_key(y.nc_year) for y in mis_year_groups}
        yg_a = {y.id: nc_year_key(y.nc_year) for y in app_year_groups}
        self.mis = sorted(mis, key=lambda c: c.id)
        self.app = sorted(app, key=lambda c: c.id)
        self.years_m = [_years(c, yg_m) for c in self.mis]
        self.years_a = [_years(c, yg_a) for c in self.app]
        self.free_m = [True] * len(self.mis)
        self.free_a = [True] * len(self.app)
        self.results: list[MatchResult[SchoolClass]] = []
        self.app_names = [_compact(c.name) for c in self.app]
        self.app_bases = [_base(c.name, self.years_a[j]) for j, c in enumerate(self.app)]

    def mis_bases(self) -> list[str]:
        """Each MIS class's name without a year designator for one of its years."""
        return [_base(c.name, self.years_m[i]) for i, c in enumerate(self.mis)]

    def pair(
        self, i: int, j: int, status: MatchStatus, rule: MatchRule, score: float, *flags: str
    ) -> None:
        """Pair MIS class *i* with app class *j* (both stop being free)."""
        self.free_m[i] = self.free_a[j] = False
        same_years = self.years_m[i] == self.years_a[j]
        self.results.append(
            MatchResult(
                status=status,
                mis=self.mis[i],
                app=self.app[j],
                score=round(score, 4),
                rule=rule,
                breakdown=(
                    FieldScore(
                        field="name",
                        similarity=round(score, 4),
                        weight=1.0,
                        note="equal" if score >= 1.0 else f"{score:.2f} Jaro-Winkler",
                    ),
                    FieldScore(
                        field="year_groups",
                        similarity=1.0 if same_years else 0.0,
                        weight=0.0,
                        note="equal" if same_years else "differ",
                    ),
                ),
                flags=flags,
            )
        )

    def by_mis_id(self) -> None:
        """Round 1: an MIS id held by exactly one class on each side is Matched."""
        ids_a = _positions_by_key(c.mis_id or None for c in self.app)
        for key, ims in _positions_by_key(c.mis_id or None for c in self.mis).items():
            ajs = ids_a.get(key, [])
            if len(ims) == 1 and len(ajs) == 1:
                self.pair(ims[0], ajs[0], MatchStatus.MATCHED, MatchRule.MIS_ID, 1.0)

    def by_name(self, key_m: list[str], key_a: list[str], status_same: MatchStatus) -> None:
        """Rounds 2 and 4: free classes with equal keys. A unique key with the same year
        groups gets *status_same*; otherwise May match, flagged (year groups differ,
        ambiguous), the same-year candidate first."""
        by_key_a = _positions_by_key(
            k if free else None for k, free in zip(key_a, self.free_a, strict=True)
        )
        by_key_m = _positions_by_key(
            k if free else None for k, free in zip(key_m, self.free_m, strict=True)
        )
        for key, ims in by_key_m.items():
            ajs = by_key_a.get(key, [])
            if not ajs:
                continue
            for i in ims:
                same = [j for j in ajs if self.free_a[j] and self.years_a[j] == self.years_m[i]]
                if len(same) == 1 and len(ims) == 1:
                    self.pair(i, same[0], status_same, MatchRule.NAME, 1.0)
                    continue
                left = [j for j in ajs if self.free_a[j]]
                if not left:
                    continue
                j = same[0] if same else left[0]
                flags = []
                if self.years_a[j] != self.years_m[i]:
                    flags.append("year groups differ")
                if len(left) > 1 or len(ims) > 1:
                    flags.append("ambiguous: several classes share this name")
                self.pair(i, j, MatchStatus.MAY_MATCH, MatchRule.NAME, 1.0, *flags)

    def mixed_year_classes(self) -> list[MixedYearClass]:
        """Round 3: a free MIS class of several years whose name is the base name of free app
        classes of some of those years ("Swans" vs "1Swans", "2Swans") is reported for the
        mixed-year procedure: the MIS class is New, the app classes Not matched."""
        mixed: list[MixedYearClass] = []
        for i, c in enumerate(self.mis):
            if not self.free_m[i] or len(self.years_m[i]) < 2:
                continue
            name = _compact(c.name)
            parts = [
                j
                for j in range(len(self.app))
                if self.free_a[j]
                and self.app_bases[j] == name
                and self.years_a[j]
                and self.years_a[j] <= self.years_m[i]
            ]
            if parts:
                mixed.append(self._mixed(i, parts))
        return mixed

    def _mixed(self, i: int, parts: list[int]) -> MixedYearClass:
        c = self.mis[i]
        self.free_m[i] = False
        self.results.append(
            MatchResult(
                status=MatchStatus.NEW,
                mis=c,
                flags=("mixed-year class: the app has one class per year",),
            )
        )
        for j in parts:
            self.free_a[j] = False
            self.results.append(
                MatchResult(
                    status=MatchStatus.NOT_MATCHED,
                    app=self.app[j],
                    flags=(f"one year of the mixed-year MIS class {c.name}",),
                )
            )
        return MixedYearClass(
            mis_class=c,
            nc_years=tuple(sorted(self.years_m[i], key=_year_order)),
            app_classes=tuple(self.app[j] for j in parts),
        )

    def by_similar_name(self, threshold: float) -> None:
        """Round 5: within each block of free classes with the same year groups, pair names at
        least *threshold* similar (rapidfuzz cdist per block), most similar first."""
        blocks: dict[frozenset[str], tuple[list[int], list[int]]] = {}
        for i in range(len(self.mis)):
            if self.free_m[i]:
                blocks.setdefault(self.years_m[i], ([], []))[0].append(i)
        for j in range(len(self.app)):
            if self.free_a[j] and self.years_a[j] in blocks:
                blocks[self.years_a[j]][1].append(j)
        for ims, ajs in blocks.values():
            if not ims or not ajs:
                continue
            matrix = process.cdist(
                [_base(self.mis[i].name, self.years_m[i]) for i in ims],
                [self.app_bases[j] for j in ajs],
                scorer=JaroWinkler.normalized_similarity,
                workers=1,
                dtype=np.float64,
            )
            cands = [
                (-float(matrix[a, b]), ims[a], ajs[b])
                for a in range(len(ims))
                for b in range(len(ajs))
                if matrix[a, b] >= threshold
            ]
            for neg, i, j in sorted(cands):
                if self.free_m[i] and self.free_a[j]:
                    self.pair(i, j, MatchStatus.MAY_MATCH, MatchRule.NAME, -neg)

    def leftovers(self) -> list[MatchResult[SchoolClass]]:
        """The classes no round paired: New on the MIS side, Not matched on the app side."""
        left: list[MatchResult[SchoolClass]] = [
            MatchResult(status=MatchStatus.NEW, mis=c)
            for c, free in zip(self.mis, self.free_m, strict=True)
            if free
        ]
        left.extend(
            MatchResult(status=MatchStatus.NOT_MATCHED, app=c)
            for c, free in zip(self.app, self.free_a, strict=True)
            if free
        )
        return left


def _positions_by_key(keys: Iterable[str | None]) -> dict[str, list[int]]:
    """The positions of each key (``None``: left out), in order."""
    found: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        if key is not None:
            found.setdefault(key, []).append(position)
    return found


def _year_order(code: str) -> tuple[int, str]:
    return (int(code), "") if code.isdigit() else (-1, code)
