"""The seed's MIS sync guide (Hodder Admin Hub, points 1-14), walked through end to end.

One school is taken from its first connection to the MIS, through the teacher, year group,
class and pupil panels, to the nightly sync, a new school year and leavers. Each step names
the guide's point it proves (see the table in docs/sync.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from schoolsync.access.presets import hodder_admin_hub
from schoolsync.errors import (
    AccessDeniedError,
    NotFoundError,
    SyncedRecordEditError,
    SyncError,
    ValidationError,
)
from schoolsync.identifiers import Upn
from schoolsync.matching import (
    MatchStatus,
    match_classes,
    match_pupils,
    match_staff,
    match_year_groups,
)
from schoolsync.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot
from schoolsync.sync import (
    Action,
    DataSharing,
    MisConnection,
    Outcome,
    PlanOptions,
    RecordKind,
    RetentionPolicy,
    SchoolRecords,
    SnapshotSource,
    SyncState,
    apply,
    authorise,
    deauthorise,
    edit_record,
    erase,
    generate_emails,
    incremental_sync,
    original_backup_id,
    plan,
    purge_expired,
    restore_deleted,
    rollover_sync,
    set_data_sharing,
    shares_result,
    soft_delete,
    sync_state,
    unmatch,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.testing.world import world
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
SCHOOL = "oak"
KEY = b"the host's tombstone key, 32 bytes"

MIS_YEAR_GROUPS = (
    YearGroup(id="YN", school_id="mis", name="Nursery", nc_year="N1", mis_id="YN"),
    YearGroup(id="Y1", school_id="mis", name="Year 1", nc_year="1", mis_id="Y1"),
    YearGroup(id="Y2", school_id="mis", name="Year 2", nc_year="2", mis_id="Y2"),
)
MIS_CLASSES = (
    SchoolClass(id="C-robins", school_id="mis", name="Robins", year_group_ids=("Y1",)),
    SchoolClass(id="C-swans", school_id="mis", name="Swans", year_group_ids=("Y1", "Y2")),
    SchoolClass(id="C-kites", school_id="mis", name="Kites", year_group_ids=("Y2",)),
    SchoolClass(id="C-hawks", school_id="mis", name="Hawks", year_group_ids=("Y1",)),
)
MIS_STAFF = (
    StaffMember(id="T1", school_id="mis", forename="Ann", surname="Lee", title="Ms"),
    StaffMember(id="T2", school_id="mis", forename="Siân", surname="O'Neill"),
    StaffMember(id="T3", school_id="mis", forename="Joanne", surname="Bloggs"),
    StaffMember(id="T4", school_id="mis", forename="Chris", surname="Cook"),
)


def pupil(school: str, id: str, name: str, born: date, year: str, *classes: str) -> Pupil:
    forename, surname = name.split()
    return Pupil(
        id=id,
        school_id=school,
        forename=forename,
        surname=surname,
        date_of_birth=born,
        year_code=year,
        class_ids=classes,
    )


MIS_PUPILS = (
    attrs.evolve(
        pupil("mis", "P1", "Zoe Smith", date(2019, 5, 1), "1", "C-robins"),
        upn=Upn.parse("A201200119001"),
        pupil_premium=True,
        home_language="ENG",
    ),
    pupil("mis", "P2", "Robert Jones", date(2018, 2, 2), "2", "C-swans"),
    pupil("mis", "P3", "Amy Browne", date(2019, 3, 4), "1", "C-swans"),
    pupil("mis", "P4", "Kit Kite", date(2018, 4, 4), "2", "C-kites"),
)


def feed(**changes: object) -> MisSnapshot:
    values: dict[str, object] = {
        "school_id": SCHOOL,
        "taken_at": NOW,
        "year_groups": MIS_YEAR_GROUPS,
        "classes": MIS_CLASSES,
        "staff": MIS_STAFF,
        "pupils": MIS_PUPILS,
    }
    values.update(changes)
    return MisSnapshot(**values)  # type: ignore[arg-type]


def the_app() -> MemoryStore:
    """What the app holds before its first sync (typed in by hand over the years)."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.schools.add(
            School(id=SCHOOL, name="Oak Primary", email_pattern="{forename}.{surname}@oak.example")
        )
        uow.year_groups.add(YearGroup(id="ay1", school_id=SCHOOL, name="Yr 1", nc_year="1"))
        for cid, name in (("ac-robins", "Robins"), ("ac-1swans", "1Swans"), ("ac-owls", "Owls")):
            uow.classes.add(
                SchoolClass(id=cid, school_id=SCHOOL, name=name, year_group_ids=("ay1",))
            )
        uow.classes.add(SchoolClass(id="ac-2swans", school_id=SCHOOL, name="2Swans"))
        uow.staff.put_many(
            [
                StaffMember(
                    id="as1",
                    school_id=SCHOOL,
                    forename="Ann",
                    surname="Lee",
                    email="ann.lee@oak.example",
                ),
                StaffMember(
                    id="as2",
                    school_id=SCHOOL,
                    forename="Gone",
                    surname="Teacher",
                    email="gone@oak.example",
                ),
                StaffMember(
                    id="as3",
                    school_id=SCHOOL,
                    forename="Jo",
                    surname="Bloggs-Smyth",
                    email="jo@oak.example",
                ),
            ]
        )
        uow.pupils.put_many(
            [
                attrs.evolve(
                    pupil(SCHOOL, "ap1", "ZOE Smith", date(2019, 5, 1), "R", "ac-robins"),
                    email="parent@home.example",
                ),
                pupil(SCHOOL, "ap2", "Rob Jones", date(2018, 2, 2), "2", "ac-2swans"),
                # a copy with another birth date: names are its only evidence (May match)
                pupil(SCHOOL, "ap3", "Amy Brown", date(2019, 6, 3), "1", "ac-1swans"),
            ]
        )
        uow.commit()
    return store


def load(store: MemoryStore) -> SchoolRecords:
    with store.unit_of_work() as uow:
        return SchoolRecords.load(uow, SCHOOL)


def test_the_guide_end_to_end() -> None:
    """Every numbered point of the guide can be done through the library, in order."""
    store = the_app()
    access = (
        world(hodder_admin_hub(), now=NOW)
        .trust("T")
        .school(SCHOOL, in_trust="T")
        .account("coordinator")
        .role("coordinator", "Access Co-ordinator", at=SCHOOL)
        .account("teacher")
        .role("teacher", "Teacher", at=SCHOOL)
        .index()
    )

    # 1. Only the Access Co-ordinator may set up the connection.
    # 3. Required scopes must all be granted; optional ones may be.
    connection = MisConnection(
        school_id=SCHOOL,
        provider="assembly",
        required_scopes={"students.read", "staff.read"},
        optional_scopes={"assessments.write"},
        sharing_scope="assessments.write",
    )
    required = {"students.read", "staff.read"}
    with pytest.raises(AccessDeniedError):
        authorise(
            connection,
            actor_id="teacher",
            granted_scopes=required,
            at=NOW,
            can_configure=access.check,
        )
    with pytest.raises(ValidationError, match="required scope"):
        authorise(
            connection,
            actor_id="coordinator",
            granted_scopes={"staff.read"},
            at=NOW,
            can_configure=access.check,
        )
    connection = authorise(
        connection,
        actor_id="coordinator",
        granted_scopes=required,
        at=NOW,
        can_configure=access.check,
    )
    assert connection.is_active
    # 3. Data sharing needs the optional scope; with it, results (and, if chosen, historical
    #    ones) are shared as soon as they exist.
    with pytest.raises(SyncError):
        set_data_sharing(
            connection,
            DataSharing(share_results=True),
            actor_id="coordinator",
            at=NOW,
            can_configure=access.check,
        )
    connection = authorise(
        connection,
        actor_id="coordinator",
        granted_scopes=required | {"assessments.write"},
        at=NOW,
        can_configure=access.check,
    )
    connection = set_data_sharing(
        connection,
        DataSharing(share_results=True),
        actor_id="coordinator",
        at=NOW,
        can_configure=access.check,
    )
    assert shares_result(connection)
    assert not shares_result(connection, historical=True)
    # 3. Deauthorising stops all syncing.
    stopped = deauthorise(connection, actor_id="coordinator", at=NOW, can_configure=access.check)
    with pytest.raises(SyncError, match="syncing is stopped"):
        incremental_sync(
            SnapshotSource(snapshot=feed()),
            None,
            store,
            school_id=SCHOOL,
            connection=stopped,
            at=NOW,
        )
    assert not shares_result(stopped)

    mis = feed()
    current = load(store)

    # 5. Teachers: every MIS member of staff is listed, none selected for import by default,
    #    in review order Not matched, New, May match, Matched. Staff without birth dates or
    #    emails on both sides have names as their only evidence: May match, for a person.
    staff = match_staff(mis.staff, list(current.staff.values()))
    assert [r.status for r in staff.results] == [
        MatchStatus.NOT_MATCHED,
        MatchStatus.NEW,
        MatchStatus.NEW,
        MatchStatus.MAY_MATCH,
        MatchStatus.MAY_MATCH,
    ]
    assert staff.to_import() == ()
    # 5. Match by hand with a partial-name filter; Unmatch undoes a wrong match.
    (jo,) = [r for r in staff.filter("bloggs") if r.app is not None]
    assert jo.app is not None
    assert jo.app.id == "as3"
    staff = staff.unmatch(mis="T3")
    assert staff.result_for(mis="T3").status is MatchStatus.NEW
    staff = staff.match("T3", "as3")
    assert staff.result_for(mis="T3").status is MatchStatus.MATCHED
    staff = staff.select("T2")  # import Siân; Chris Cook is not wanted
    # 6. Batch-create email addresses from the school's format.
    batch = generate_emails(staff.to_import(), "{forename}.{surname}@oak.example")
    assert dict(batch.generated) == {"T2": "sian.oneill@oak.example"}

    # 8. Year groups: MIS names supersede; Nursery excluded; those already in the app cannot
    #    be unticked; "started this year / last year" sets each year group's cohort.
    years = match_year_groups(mis.year_groups, list(current.year_groups.values()))
    assert [y.name for y in years.excluded] == ["Nursery"]
    with pytest.raises(ValidationError, match="cannot be unticked"):
        years.deselect("Y1")

    # 9. Classes: same names match automatically; others by hand; untick unwanted ones;
    #    mixed-year classes: create an app class mirroring the MIS class first.
    with store.unit_of_work() as uow:
        uow.classes.add(
            SchoolClass(id="ac-swans", school_id=SCHOOL, name="Swans", year_group_ids=("ay1",))
        )
        uow.commit()
    current = load(store)
    classes = match_classes(
        mis.classes,
        list(current.classes.values()),
        mis_year_groups=mis.year_groups,
        app_year_groups=list(current.year_groups.values()),
    )
    assert classes.result_for(mis="C-robins").status is MatchStatus.MATCHED
    # The mirror class has one of the two year groups: a May match the person confirms.
    assert classes.result_for(mis="C-swans").app.id == "ac-swans"  # type: ignore[union-attr]
    classes = classes.confirm("C-swans").match("C-hawks", "ac-owls").deselect("C-kites")
    with store.unit_of_work() as uow:  # a description helps identify the class later
        owls = uow.classes.require("ac-owls")
        uow.classes.put(attrs.evolve(owls, description="Year 1, the old Owls"))
        uow.commit()
    current = load(store)

    # 10. Pupils: review a subset (the classes chosen), same statuses; Deselect all toggles.
    chosen = {"C-robins", "C-swans", "C-hawks"}
    pupils = match_pupils(
        [p for p in mis.pupils if chosen & set(p.class_ids)], list(current.pupils.values())
    )
    assert {r.status for r in pupils.results} == {MatchStatus.MATCHED, MatchStatus.MAY_MATCH}
    assert pupils.deselect_all_new().select_all_new().selected == pupils.selected

    sync_plan = plan(
        [years, classes, staff, pupils],
        current,
        at=NOW,
        options=PlanOptions(started_this_year=False, replace_app_classes=True),
    )
    # 10. What will be overwritten is shown (old value struck out, new value from the MIS).
    zoe = sync_plan.for_app("ap1")
    assert zoe is not None
    assert zoe.action is Action.LINK
    struck = {c.field: (c.old, c.new) for c in zoe.changes}
    assert struck["forename"] == ("ZOE", "Zoe")
    assert struck["year_code"] == ("R", "1")
    assert "email" not in struck
    assert any(r["field"] == "forename" and r["old"] == "ZOE" for r in sync_plan.to_rows())
    # 5. The leaver on the staff side is Not matched: kept, untouched.
    assert sync_plan.for_app("as2") is not None
    assert sync_plan.for_app("as2").action is Action.NONE  # type: ignore[union-attr]

    # 6. Save and sync: imports and matches; new teachers get a welcome email.
    notifier = RecordingNotifier()
    report = apply(sync_plan, store, connection=connection, at=NOW, notifier=notifier)
    assert [m.to for m in notifier.of_kind("welcome")] == ["sian.oneill@oak.example"]
    assert report.for_mis("T4") is not None
    assert report.for_mis("T4").outcome is Outcome.SKIPPED  # type: ignore[union-attr]
    after = load(store)
    # 2. / 4. The MIS is the master: held fields come from it.
    zoe_now = after.pupils["ap1"]
    assert (zoe_now.forename, zoe_now.year_code, zoe_now.upn) == ("Zoe", "1", MIS_PUPILS[0].upn)
    assert zoe_now.pupil_premium
    assert zoe_now.home_language == "ENG"
    assert zoe_now.email == "parent@home.example"
    # 8. Cohorts: pupils started the school year last year (autumn 2025): Year 1 joined
    #    Reception in September 2024.
    yr1 = after.year_groups["ay1"]
    assert (yr1.name, yr1.intake_year) == ("Year 1", 2024)
    assert not any(y.nc_year == "N1" for y in after.year_groups.values())
    # 9. Mixed-year class: pupils re-allocated from 1Swans/2Swans to Swans; Kites unticked.
    assert after.pupils["ap2"].class_ids == ("ac-swans",)
    assert after.pupils["ap3"].class_ids == ("ac-swans",)
    assert not any(c.name == "Kites" for c in after.classes.values())
    hawks = after.classes["ac-owls"]
    assert (hawks.name, hawks.year_group_ids, hawks.description) == (
        "Hawks",
        ("ay1",),
        "Year 1, the old Owls",
    )
    # 10. A backup of every overwritten record was taken before the sync.
    with store.unit_of_work() as uow:
        backup = uow.backups.require(original_backup_id(RecordKind.PUPIL, "ap1"))
    assert backup.data["forename"] == "ZOE"

    # 11. Sync status: Synced records refuse edits except the email; app-only are editable.
    with store.unit_of_work() as uow:
        assert sync_state(uow, RecordKind.STAFF, "as1") is SyncState.SYNCED
        assert sync_state(uow, RecordKind.STAFF, "as2") is None
        ann = uow.staff.require("as1")
        with pytest.raises(SyncedRecordEditError):
            edit_record(uow, attrs.evolve(ann, surname="Lee-Smith"))
        # 6. Email is the only field a synced record may change in the app.
        edit_record(uow, attrs.evolve(ann, email="a.lee@oak.example"))
        edit_record(uow, attrs.evolve(uow.staff.require("as2"), surname="Teacher-Gone"))
        uow.commit()

    # 7. Unmatch after import: original data restored, the MIS record New again.
    unmatch(store, RecordKind.PUPIL, "ap3", at=NOW)
    with store.unit_of_work() as uow:
        amy = uow.pupils.require("ap3")
        assert (amy.surname, amy.date_of_birth, amy.class_ids) == (
            "Brown",
            date(2019, 6, 3),
            ("ac-1swans",),
        )
        assert sync_state(uow, RecordKind.PUPIL, "ap3") is None
    assert load(store).link_of_mis(RecordKind.PUPIL, "P3") is None
    again = match_pupils(list(mis.pupils), list(load(store).pupils.values()))
    assert again.unmatch(mis="P3").result_for(mis="P3").status is MatchStatus.NEW

    # 12. Nightly: a new pupil in a synced class is imported; a new teacher is only listed,
    #     and gets a welcome (verification) email once imported by hand. 11. A record gone
    #     from the MIS becomes Out of sync (and editable in the app). 2. MIS changes reach
    #     synced records.
    tomorrow = NOW + timedelta(days=1)
    joiner = attrs.evolve(MIS_PUPILS[0], id="P5", forename="Max", upn=None)
    newcomer = StaffMember(id="T5", school_id="mis", forename="Pat", surname="New")
    nightly_feed = feed(
        taken_at=tomorrow,
        pupils=(attrs.evolve(MIS_PUPILS[0], surname="Smith-Hall"), MIS_PUPILS[1], joiner),
        staff=(*MIS_STAFF[:2], newcomer),  # Joanne Bloggs (T3) has left
    )
    nightly = incremental_sync(
        SnapshotSource(snapshot=nightly_feed),
        NOW,
        store,
        school_id=SCHOOL,
        connection=connection,
        at=tomorrow,
        force=True,
    )
    assert nightly.for_mis("P5").outcome is Outcome.CREATED  # type: ignore[union-attr]
    assert nightly.for_mis("T5").outcome is Outcome.NEEDS_REVIEW  # type: ignore[union-attr]
    assert nightly.for_app("ap1").outcome is Outcome.UPDATED  # type: ignore[union-attr]
    assert load(store).pupils["ap1"].surname == "Smith-Hall"
    assert nightly.for_app("as3").outcome is Outcome.OUT_OF_SYNC  # type: ignore[union-attr]
    with store.unit_of_work() as uow:
        assert sync_state(uow, RecordKind.STAFF, "as3") is SyncState.OUT_OF_SYNC
        edit_record(uow, attrs.evolve(uow.staff.require("as3"), surname="Bloggs"))  # editable
        uow.commit()
    current = load(store)
    by_hand = match_staff(nightly_feed.staff, list(current.staff.values())).select("T5")
    notifier = RecordingNotifier()
    apply(
        plan([by_hand], current, at=tomorrow),
        store,
        connection=connection,
        at=tomorrow,
        notifier=notifier,
    )
    assert [m.to for m in notifier.of_kind("welcome")] == ["pat.new@oak.example"]
    # Running the same nightly sync again changes nothing.
    assert not incremental_sync(
        SnapshotSource(snapshot=nightly_feed),
        NOW,
        store,
        school_id=SCHOOL,
        connection=connection,
        at=tomorrow,
    ).changed

    # 13. New school year: after the MIS rolls over, synced pupils move to their new class
    #     and year group; new classes are imported.
    september = datetime(2026, 9, 3, 2, tzinfo=UTC)
    new_year = feed(
        taken_at=september,
        year_groups=MIS_YEAR_GROUPS,
        classes=(SchoolClass(id="C26-2", school_id="mis", name="2 Oak", year_group_ids=("Y2",)),),
        pupils=(
            attrs.evolve(MIS_PUPILS[0], surname="Smith-Hall", year_code="2", class_ids=("C26-2",)),
            attrs.evolve(joiner, year_code="2", class_ids=("C26-2",)),
        ),
        staff=nightly_feed.staff,
    )
    rollover = rollover_sync(
        SnapshotSource(snapshot=new_year),
        store,
        school_id=SCHOOL,
        connection=connection,
        at=september,
        top_year="2",
        force=True,
    )
    moved = load(store).pupils["ap1"]
    new_class = load(store).link_of_mis(RecordKind.CLASS, "C26-2")
    assert new_class is not None
    assert (moved.year_code, moved.class_ids) == ("2", (new_class.app_id,))
    assert rollover.for_app("ap2").outcome is Outcome.LEAVER  # type: ignore[union-attr]

    # 14. Leavers: kept until deleted; a deletion is recoverable for 6 months, then gone.
    deleted = soft_delete(store, RecordKind.PUPIL, "ap2", at=september)
    assert deleted.purge_after == datetime(2027, 3, 3, 2, tzinfo=UTC)
    restore_deleted(store, deleted.id, at=september + timedelta(days=170))
    deleted = soft_delete(store, RecordKind.PUPIL, "ap2", at=september)
    assert purge_expired(store, at=deleted.purge_after - timedelta(seconds=1)).purged == ()
    assert purge_expired(store, at=deleted.purge_after).purged == ("ap2",)
    with pytest.raises(NotFoundError):
        restore_deleted(store, deleted.id, at=deleted.purge_after)
    # 14. Immediate deletion on request: erased now, and not silently re-imported.
    assert RetentionPolicy().months == 6
    erase(store, RecordKind.PUPIL, "ap1", key=KEY, at=september, school_id=SCHOOL)
    with store.unit_of_work() as uow:
        assert uow.pupils.get("ap1") is None
    blocked = incremental_sync(
        SnapshotSource(snapshot=new_year),
        september,
        store,
        school_id=SCHOOL,
        connection=connection,
        at=september,
        options=PlanOptions(tombstone_key=KEY),
    )
    assert blocked.for_mis("P1").outcome is Outcome.BLOCKED_ERASED  # type: ignore[union-attr]
