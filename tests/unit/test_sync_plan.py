"""Planning a sync: what will be created, linked and overwritten, before anything changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import attrs
import pytest

from schoolsync.errors import SyncError
from schoolsync.identifiers import Upn
from schoolsync.matching import match_pupils, match_staff
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.serialisation import converter
from schoolsync.sync import (
    Action,
    DeletedRecord,
    Pairing,
    PairStatus,
    PlanOptions,
    RecordKind,
    SchoolRecords,
    SyncLink,
    SyncState,
    Tombstone,
    identity_hashes,
    plan,
    plan_pairings,
)
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
KEY = b"0123456789abcdef-host-secret"
SCHOOL = School(id="s1", name="Oak Primary", email_pattern="{forename}.{surname}@oak.example")
UPN = Upn.parse("Z201200112001")


def mis_pupil(**kw: object) -> Pupil:
    values: dict[str, object] = {
        "id": "m1",
        "school_id": "mis",
        "mis_id": "M1",
        "forename": "Zoe",
        "surname": "Smith",
        "date_of_birth": date(2019, 5, 1),
        "year_code": "1",
        "class_ids": ("MC1",),
        "gender": Gender.FEMALE,
    }
    values.update(kw)
    return Pupil(**values)  # type: ignore[arg-type]


def app_pupil(**kw: object) -> Pupil:
    values: dict[str, object] = {
        "id": "a1",
        "school_id": "s1",
        "forename": "Zoey",
        "surname": "Smith",
        "date_of_birth": date(2019, 1, 5),
        "year_code": "R",
        "email": "zoe@home.example",
    }
    values.update(kw)
    return Pupil(**values)  # type: ignore[arg-type]


def records(**kw: object) -> SchoolRecords:
    return SchoolRecords(school=SCHOOL, **kw)  # type: ignore[arg-type]


class TestLinkPlan:
    def test_matched_pair_shows_each_overwritten_field_with_its_old_value(self) -> None:
        """The MIS wins on names, year group and birth date; the plan shows old and new."""
        app = app_pupil()
        p = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_pupil(), app=app)],
            records(pupils={"a1": app}),
            at=NOW,
        )
        (change,) = p.links
        fields = {fc.field: (fc.old, fc.new) for fc in change.changes}
        assert ("Zoey", "Zoe") == fields["forename"]
        assert (date(2019, 1, 5), date(2019, 5, 1)) == fields["date_of_birth"]
        assert ("R", "1") == fields["year_code"]
        assert (None, "M1") == fields["mis_id"]
        assert "email" not in fields  # the app keeps its email
        assert change.after is not None
        assert change.after.id == "a1"
        assert SyncState.SYNCED is change.link.state  # type: ignore[union-attr]

    def test_home_postcode_and_address_are_overwritten_and_shown(self) -> None:
        """The MIS's home postcode and address replace the app's, old and new in the plan's
        diff; a reader that carries none (a blank) keeps the app's."""
        app = app_pupil(postcode="CF5 1AB", address="14 Mill Lane, Cardiff")
        moved = mis_pupil(postcode="CF10 3NQ", address="2 Park Place, Cardiff")
        p = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="matched", mis=moved, app=app)],
            records(pupils={"a1": app}),
            at=NOW,
        )
        (change,) = p.links
        fields = {fc.field: (fc.old, fc.new) for fc in change.changes}
        assert ("CF5 1AB", "CF10 3NQ") == fields["postcode"]
        assert ("14 Mill Lane, Cardiff", "2 Park Place, Cardiff") == fields["address"]
        rows = {r["field"]: r for r in p.to_rows()}
        assert {"postcode", "address"} <= set(rows)
        blank = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_pupil(), app=app)],
            records(pupils={"a1": app}),
            at=NOW,
        )
        (kept,) = blank.links
        assert {"postcode", "address"}.isdisjoint(fc.field for fc in kept.changes)
        assert isinstance(kept.after, Pupil)
        assert ("CF5 1AB", "14 Mill Lane, Cardiff") == (kept.after.postcode, kept.after.address)

    def test_plan_rows_list_old_and_new_values(self) -> None:
        """to_rows() gives one row per overwritten field, ready for a table or a DataFrame."""
        app = app_pupil()
        p = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_pupil(), app=app)],
            records(pupils={"a1": app}),
            at=NOW,
        )
        rows = {r["field"]: r for r in p.to_rows()}
        assert "Zoey" == rows["forename"]["old"]
        assert "2019-05-01" == rows["date_of_birth"]["new"]
        assert "<table" in p._repr_html_()

    def test_blank_mis_values_do_not_erase_app_data(self) -> None:
        """A feed without birth dates or genders does not blank the app's values."""
        app = app_pupil()
        mis = mis_pupil(date_of_birth=None, gender=Gender.UNKNOWN)
        p = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis, app=app)],
            records(pupils={"a1": app}),
            at=NOW,
        )
        after = p.links[0].after
        assert isinstance(after, Pupil)
        assert date(2019, 1, 5) == after.date_of_birth

    def test_classes_map_to_app_classes_and_keep_app_only_ones(self) -> None:
        """MIS class references become the linked app classes; app-only classes stay."""
        app_cls = SchoolClass(id="ac1", school_id="s1", name="1 Oak")
        club = SchoolClass(id="club", school_id="s1", name="Chess club")
        mis_cls = SchoolClass(id="MC1", school_id="mis", name="1 Oak", mis_id="MC1")
        app = app_pupil(class_ids=("club",))
        p = plan_pairings(
            [
                Pairing(kind=RecordKind.CLASS, status="matched", mis=mis_cls, app=app_cls),
                Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_pupil(), app=app),
            ],
            records(pupils={"a1": app}, classes={"ac1": app_cls, "club": club}),
            at=NOW,
        )
        (pupil_change,) = p.of(Action.LINK, RecordKind.PUPIL)
        assert isinstance(pupil_change.after, Pupil)
        assert ("ac1", "club") == pupil_change.after.class_ids

    def test_unselected_pair_and_unconfirmed_may_match(self) -> None:
        """An unselected pair is skipped; May match can be held for a person."""
        app = app_pupil()
        p = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="may_match", mis=mis_pupil(), app=app)],
            records(pupils={"a1": app}),
            at=NOW,
            options=PlanOptions(link_may_match=False),
        )
        assert [Action.NEEDS_REVIEW] == [c.action for c in p.changes]
        assert p.is_empty

    def test_mis_record_linked_elsewhere_needs_review(self) -> None:
        """A pair whose MIS record is already linked to another app record is not written."""
        app, other = app_pupil(), app_pupil(id="a2")
        link = SyncLink(
            id="pupil:a2", school_id="s1", kind=RecordKind.PUPIL, app_id="a2", mis_id="M1"
        )
        p = plan_pairings(
            [Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_pupil(), app=app)],
            records(pupils={"a1": app, "a2": other}, links=(link,)),
            at=NOW,
        )
        assert Action.NEEDS_REVIEW is p.changes[0].action
        assert "unmatch" in p.changes[0].reason


class TestCreatePlan:
    def test_new_selected_pupil_is_created_unselected_skipped(self) -> None:
        """New records are imported only when selected."""
        p = plan_pairings(
            [
                Pairing(kind=RecordKind.PUPIL, status="new", mis=mis_pupil()),
                Pairing(
                    kind=RecordKind.PUPIL,
                    status="new",
                    mis=mis_pupil(id="m2", mis_id="M2"),
                    selected=False,
                ),
            ],
            records(),
            at=NOW,
        )
        assert [Action.CREATE, Action.SKIP] == [c.action for c in p.changes]
        created = p.creates[0].after
        assert created is not None
        assert created.school_id == "s1"
        assert created.id != "m1"

    def test_new_staff_get_generated_emails_or_are_skipped(self) -> None:
        """Staff without an email get one from the school's pattern; if impossible, skipped."""
        ok = StaffMember(id="t1", school_id="mis", mis_id="T1", forename="Siân", surname="O'Neill")
        bad = StaffMember(id="t2", school_id="mis", mis_id="T2", forename="李", surname="王")
        p = plan_pairings(
            [
                Pairing(kind=RecordKind.STAFF, status="new", mis=ok),
                Pairing(kind=RecordKind.STAFF, status="new", mis=bad),
            ],
            records(),
            at=NOW,
        )
        (create,) = p.creates
        assert isinstance(create.after, StaffMember)
        assert "sian.oneill@oak.example" == create.after.email
        assert create.welcome
        (skip,) = p.of(Action.SKIP)
        assert "no email address could be generated" in skip.reason

    def test_nursery_year_group_is_excluded(self) -> None:
        """Nursery year groups are never imported."""
        nursery = YearGroup(id="YN", school_id="mis", name="Nursery", nc_year="N2")
        p = plan_pairings(
            [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=nursery)], records(), at=NOW
        )
        assert Action.SKIP is p.changes[0].action
        assert "Nursery" in p.changes[0].reason

    def test_soft_deleted_pupil_reappearing_is_restored(self) -> None:
        """A deleted record whose UPN reappears within retention is restored, not duplicated."""
        old = app_pupil(upn=UPN)
        deleted = DeletedRecord(
            id="d1",
            school_id="s1",
            kind=RecordKind.PUPIL,
            record_id="a1",
            deleted_at=datetime(2026, 1, 1, tzinfo=UTC),
            purge_after=datetime(2026, 7, 1, tzinfo=UTC),
            data=converter.unstructure(old),
            upn=str(UPN),
        )
        pairing = Pairing(kind=RecordKind.PUPIL, status="new", mis=mis_pupil(upn=UPN))
        p = plan_pairings([pairing], records(deleted=(deleted,)), at=NOW)
        (change,) = p.changes
        assert Action.RESTORE is change.action
        assert "a1" == change.app_id
        expired = plan_pairings(
            [pairing], records(deleted=(deleted,)), at=datetime(2026, 8, 1, tzinfo=UTC)
        )
        assert Action.CREATE is expired.changes[0].action

    def test_erased_person_is_not_reimported(self) -> None:
        """A tombstone blocks the import and the plan says so; the host can decide otherwise."""
        mis = mis_pupil(upn=UPN)
        (h, *_rest) = identity_hashes(RecordKind.PUPIL, mis, KEY)
        stone = Tombstone(id="t", school_id="s1", kind=RecordKind.PUPIL, key_hash=h, erased_at=NOW)
        pairing = Pairing(kind=RecordKind.PUPIL, status="new", mis=mis)
        p = plan_pairings(
            [pairing], records(tombstones=(stone,)), at=NOW, options=PlanOptions(tombstone_key=KEY)
        )
        assert Action.BLOCKED_ERASED is p.changes[0].action
        assert "erased" in p.changes[0].reason
        allowed = plan_pairings(
            [pairing],
            records(tombstones=(stone,)),
            at=NOW,
            options=PlanOptions(tombstone_key=KEY, reimport_erased=frozenset({"M1"})),
        )
        assert Action.CREATE is allowed.changes[0].action
        with pytest.raises(SyncError, match="tombstone_key"):
            plan_pairings([pairing], records(tombstones=(stone,)), at=NOW)


class TestGuard:
    def test_guard_counts_synced_records_leaving(self) -> None:
        """Marking more than 10 % of synced records Out of sync exceeds the guard."""
        pupils = {f"a{i}": app_pupil(id=f"a{i}") for i in range(20)}
        links = tuple(
            SyncLink(
                id=f"pupil:a{i}",
                school_id="s1",
                kind=RecordKind.PUPIL,
                app_id=f"a{i}",
                mis_id=f"M{i}",
            )
            for i in range(20)
        )
        leaving = [
            Pairing(kind=RecordKind.PUPIL, status="not_matched", app=pupils[f"a{i}"])
            for i in range(3)
        ]
        p = plan_pairings(leaving, records(pupils=pupils, links=links), at=NOW)
        (check,) = p.guard
        assert (20, 3, 2) == (check.synced, check.leaving, check.limit)
        assert p.guard_exceeded
        two = plan_pairings(leaving[:2], records(pupils=pupils, links=links), at=NOW)
        assert not two.guard_exceeded
        share = plan_pairings(
            leaving,
            records(pupils=pupils, links=links),
            at=NOW,
            options=PlanOptions(guard_share=0.2),
        )
        assert not share.guard_exceeded


class TestFromReview:
    def test_plan_reads_match_reviews(self) -> None:
        """plan() takes MatchReviews: pupils selected by default, staff not."""
        app = app_pupil(forename="Zoe", date_of_birth=date(2019, 5, 1), year_code="1")
        # A reader gives MIS records the school's id (matching blocks within a school).
        zoe = mis_pupil(school_id="s1")
        bea = mis_pupil(
            id="m2",
            school_id="s1",
            mis_id="M2",
            forename="Bea",
            surname="Okafor",
            date_of_birth=date(2018, 2, 2),
        )
        pupils = match_pupils([zoe, bea], [app])
        staff = match_staff(
            [StaffMember(id="t1", school_id="s1", forename="Ann", surname="Lee")], []
        )
        p = plan([staff, pupils], records(pupils={"a1": app}), at=NOW)
        by_mis = {c.mis_id: c.action for c in p.changes}
        assert Action.LINK is by_mis["M1"]
        assert Action.CREATE is by_mis["M2"]
        assert Action.SKIP is by_mis["t1"]

    def test_pairing_refuses_inconsistent_lines(self) -> None:
        """A New line without an MIS record cannot be built."""
        with pytest.raises(ValueError, match="does not fit"):
            Pairing(kind=RecordKind.PUPIL, status=PairStatus.NEW, app=app_pupil())
        assert attrs.has(Pairing)


class TestBrokenInput:
    def test_duplicate_mis_ids_are_refused(self) -> None:
        """A feed holding two records with one MIS id is refused before anything is planned."""
        with pytest.raises(ValueError, match="share this id"):
            plan_pairings(
                [
                    Pairing(kind=RecordKind.PUPIL, status="new", mis=mis_pupil()),
                    Pairing(kind=RecordKind.PUPIL, status="new", mis=mis_pupil(id="m9")),
                ],
                records(),
                at=NOW,
            )


class TestCohorts:
    @pytest.mark.parametrize(("started_this_year", "expected"), [(True, 2025), (False, 2024)])
    def test_started_this_year_sets_the_intake_cohort(
        self, started_this_year: bool, expected: int
    ) -> None:
        """Planned in March 2026: if the MIS pupils started their school year last year
        (2025/26), Year 1 entered Reception in 2024; if this year (2026/27), in 2025. The MIS's
        own intake year is replaced."""
        year1 = YearGroup(id="Y1", school_id="mis", name="Year 1", nc_year="1", intake_year=1999)
        p = plan_pairings(
            [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=year1)],
            records(),
            at=NOW,
            options=PlanOptions(started_this_year=started_this_year),
        )
        created = p.creates[0].after
        assert isinstance(created, YearGroup)
        assert expected == created.intake_year


class TestMixedYearClasses:
    def test_pupils_move_to_the_class_mirroring_the_mis_class(self) -> None:
        """The FAQ procedure: the app's "Swans" mirrors the MIS's mixed-year "Swans"; with
        replace_app_classes the pupils leave "1Swans"/"2Swans" for it."""
        y1 = YearGroup(id="ay1", school_id="s1", name="Year 1", nc_year="1")
        y2 = YearGroup(id="ay2", school_id="s1", name="Year 2", nc_year="2")
        old1 = SchoolClass(id="1swans", school_id="s1", name="1Swans", year_group_ids=("ay1",))
        swans = SchoolClass(id="swans", school_id="s1", name="Swans", year_group_ids=("ay1",))
        mis_y1 = YearGroup(id="MY1", school_id="mis", name="Year 1", nc_year="1")
        mis_y2 = YearGroup(id="MY2", school_id="mis", name="Year 2", nc_year="2")
        mis_swans = SchoolClass(
            id="MC1", school_id="mis", name="Swans", year_group_ids=("MY1", "MY2")
        )
        app = app_pupil(class_ids=("1swans",))
        current = records(
            pupils={"a1": app},
            classes={"1swans": old1, "swans": swans},
            year_groups={"ay1": y1, "ay2": y2},
        )
        pairings = [
            Pairing(kind=RecordKind.YEAR_GROUP, status="matched", mis=mis_y1, app=y1),
            Pairing(kind=RecordKind.YEAR_GROUP, status="matched", mis=mis_y2, app=y2),
            Pairing(kind=RecordKind.CLASS, status="matched", mis=mis_swans, app=swans),
            Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_pupil(), app=app),
        ]
        keep = plan_pairings(pairings, current, at=NOW)
        move = plan_pairings(
            pairings, current, at=NOW, options=PlanOptions(replace_app_classes=True)
        )
        (linked_class,) = move.of(Action.LINK, RecordKind.CLASS)
        assert isinstance(linked_class.after, SchoolClass)
        assert ("ay1", "ay2") == linked_class.after.year_group_ids
        kept_after = keep.of(Action.LINK, RecordKind.PUPIL)[0].after
        moved_after = move.of(Action.LINK, RecordKind.PUPIL)[0].after
        assert isinstance(kept_after, Pupil)
        assert isinstance(moved_after, Pupil)
        assert ("1swans", "swans") == kept_after.class_ids
        assert ("swans",) == moved_after.class_ids


class TestPartialReview:
    def test_review_of_part_of_the_school_leaves_other_synced_records_alone(self) -> None:
        """A synced pupil listed as Not matched by a partial review stays Synced; a complete
        review marks it Out of sync."""
        app = app_pupil()
        link = SyncLink(
            id="pupil:a1", school_id="s1", kind=RecordKind.PUPIL, app_id="a1", mis_id="M1"
        )
        current = records(pupils={"a1": app}, links=(link,))
        lines = [Pairing(kind=RecordKind.PUPIL, status="not_matched", app=app)]
        partial = plan(lines, current, at=NOW)
        assert Action.NONE is partial.changes[0].action
        assert "not in this review" in partial.changes[0].reason
        complete = plan(lines, current, at=NOW, complete=True)
        assert Action.MARK_OUT_OF_SYNC is complete.changes[0].action
