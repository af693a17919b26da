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
    yg_m = {y.id: nc_year_key(y.nc_year) for y in mis_year_groups}
    yg_a = {y.id: nc_year_key(y.nc_year) for y in app_year_groups}
    mis = sorted(mis, key=lambda c: c.id)
    app = sorted(app, key=lambda c: c.id)
    years_m = [_years(c, yg_m) for c in mis]
    years_a = [_years(c, yg_a) for c in app]
    free_m = [True] * len(mis)
    free_a = [True] * len(app)
    results: list[MatchResult[SchoolClass]] = []

    def pair(
        i: int, j: int, status: MatchStatus, rule: MatchRule, score: float, *flags: str
    ) -> None:
        free_m[i] = free_a[j] = False
        same_years = years_m[i] == years_a[j]
        results.append(
            MatchResult(
                status=status,
                mis=mis[i],
                app=app[j],
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

    # 1. MIS id, unique on both sides
    ids_a: dict[str, list[int]] = {}
    for j, c in enumerate(app):
        if c.mis_id:
            ids_a.setdefault(c.mis_id, []).append(j)
    ids_m: dict[str, list[int]] = {}
    for i, c in enumerate(mis):
        if c.mis_id:
            ids_m.setdefault(c.mis_id, []).append(i)
    for key, ims in ids_m.items():
        ajs = ids_a.get(key, [])
        if len(ims) == 1 and len(ajs) == 1:
            pair(ims[0], ajs[0], MatchStatus.MATCHED, MatchRule.MIS_ID, 1.0)

    # 2. same normalised name: Matched when the year groups agree and the name is unique
    def exact_round(key_m: list[str], key_a: list[str], status_same: MatchStatus) -> None:
        by_key_a: dict[str, list[int]] = {}
        for j in range(len(app)):
            if free_a[j]:
                by_key_a.setdefault(key_a[j], []).append(j)
        by_key_m: dict[str, list[int]] = {}
        for i in range(len(mis)):
            if free_m[i]:
                by_key_m.setdefault(key_m[i], []).append(i)
        for key, ims in by_key_m.items():
            ajs = by_key_a.get(key, [])
            if not ajs:
                continue
            for i in ims:
                same = [j for j in ajs if free_a[j] and years_a[j] == years_m[i]]
                if len(same) == 1 and len(ims) == 1:
                    pair(i, same[0], status_same, MatchRule.NAME, 1.0)
                    continue
                left = [j for j in ajs if free_a[j]]
                if not left:
                    continue
                j = same[0] if same else left[0]
                flags = []
                if years_a[j] != years_m[i]:
                    flags.append("year groups differ")
                if len(left) > 1 or len(ims) > 1:
                    flags.append("ambiguous: several classes share this name")
                pair(i, j, MatchStatus.MAY_MATCH, MatchRule.NAME, 1.0, *flags)

    exact_round(
        [_compact(c.name) for c in mis], [_compact(c.name) for c in app], MatchStatus.MATCHED
    )

    # 3. mixed-year MIS classes split by year in the app ("Swans" vs "1Swans", "2Swans")
    mixed: list[MixedYearClass] = []
    base_a = [_base(c.name, years_a[j]) for j, c in enumerate(app)]
    for i, c in enumerate(mis):
        if not free_m[i] or len(years_m[i]) < 2:
            continue
        name = _compact(c.name)
        parts = [
            j
            for j in range(len(app))
            if free_a[j] and base_a[j] == name and years_a[j] and years_a[j] <= years_m[i]
        ]
        if parts:
            mixed.append(
                MixedYearClass(
                    mis_class=c,
                    nc_years=tuple(sorted(years_m[i], key=_year_order)),
                    app_classes=tuple(app[j] for j in parts),
                )
            )
            free_m[i] = False
            results.append(
                MatchResult(
                    status=MatchStatus.NEW,
                    mis=c,
                    flags=("mixed-year class: the app has one class per year",),
                )
            )
            for j in parts:
                free_a[j] = False
                results.append(
                    MatchResult(
                        status=MatchStatus.NOT_MATCHED,
                        app=app[j],
                        flags=(f"one year of the mixed-year MIS class {c.name}",),
                    )
                )

    # 4. equal apart from a year designator ("Year 3 Oak" / "Oak"): May match
    exact_round(
        [_base(c.name, years_m[i]) for i, c in enumerate(mis)], base_a, MatchStatus.MAY_MATCH
    )

    # 5. similar names within the same year groups: May match (rapidfuzz cdist per block)
    blocks: dict[frozenset[str], tuple[list[int], list[int]]] = {}
    for i in range(len(mis)):
        if free_m[i]:
            blocks.setdefault(years_m[i], ([], []))[0].append(i)
    for j in range(len(app)):
        if free_a[j] and years_a[j] in blocks:
            blocks[years_a[j]][1].append(j)
    for ims, ajs in blocks.values():
        if not ims or not ajs:
            continue
        matrix = process.cdist(
            [_base(mis[i].name, years_m[i]) for i in ims],
            [base_a[j] for j in ajs],
            scorer=JaroWinkler.normalized_similarity,
            workers=1,
            dtype=np.float64,
        )
        cands = [
            (-float(matrix[a, b]), ims[a], ajs[b])
            for a in range(len(ims))
            for b in range(len(ajs))
            if matrix[a, b] >= similarity_threshold
        ]
        for neg, i, j in sorted(cands):
            if free_m[i] and free_a[j]:
                pair(i, j, MatchStatus.MAY_MATCH, MatchRule.NAME, -neg)

    for i in range(len(mis)):
        if free_m[i]:
            results.append(MatchResult(status=MatchStatus.NEW, mis=mis[i]))
    for j in range(len(app)):
        if free_a[j]:
            results.append(MatchResult(status=MatchStatus.NOT_MATCHED, app=app[j]))
    selected = {r.mis.id for r in results if r.status is MatchStatus.NEW and r.mis is not None}
    return MatchReview(
        kind=RecordKind.CLASS,
        results=results,
        selected=selected,
        select_new_by_default=True,
        mixed_year_classes=tuple(mixed),
    )


def _year_order(code: str) -> tuple[int, str]:
    return (int(code), "") if code.isdigit() else (-1, code)
