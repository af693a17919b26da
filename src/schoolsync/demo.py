"""The ``schoolsync demo`` scenario: a sample trust taken through every main capability.

:func:`run_demo` builds a small trust in an SQLite file and walks it through what a trust's data
officer does: set-up from a School Upload sheet, invitations, a grant, an MIS sync with a review
and an apply, and a bulk user import previewed as a change set. Each step returns a readable
summary. The scenario runs at a fixed moment (no clock reads), so every run prints the same
story, and it starts from a fresh database file each time (re-runnable).

The role model is the Boost Insights preset (group admins, one Access Coordinator per school who
grants the group admins their user-management rights at that school).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.decision import Decision
from schoolsync.access.index import AccessIndex
from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.access.presets import boost_insights
from schoolsync.access.records import record_event, write_events
from schoolsync.bulk import (
    CatalogueChecks,
    apply_change_set,
    export_users,
    import_users,
    read_sheet,
    with_names,
    write_sheet,
)
from schoolsync.clock import FixedClock
from schoolsync.identifiers import Postcode, Urn
from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot, Store
from schoolsync.sources.school_upload import read_school_upload, write_school_upload
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import MisConnection, SchoolRecords, apply, authorise, plan
from schoolsync.sync.sample import evolve_snapshot, sample_snapshot
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.testing.world import world
from schoolsync.trusts import TrustPolicy

__all__ = ["DATABASE_NAME", "DemoResult", "DemoStep", "run_demo", "run_demo_steps"]

#: The database file the demo writes in its directory.
DATABASE_NAME = "schoolsync-demo.sqlite"
#: The moment the demo happens (a Monday morning in spring term).
DEMO_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

TRUST_ID = "nlt"
SCHOOLS = (
    # id, name, postcode, URN, email domain
    ("oak", "Oakfield Primary", "LS1 4AP", "140001", "oakfield.example"),
    ("riv", "Riverside Academy", "HX1 1AA", "140002", "riverside.example"),
    ("hil", "Hillcrest Juniors", "BD1 1AA", "140003", "hillcrest.example"),
)
# id, name, school (None: trust), role
PEOPLE = (
    ("grace", "Grace Hopper", None, "Group Admin"),
    ("amir", "Amir Khan", "oak", "Access Coordinator"),
    ("bea", "Beatrice Okafor", "riv", "Access Coordinator"),
    ("cal", "Callum Reid", "hil", "Access Coordinator"),
    ("dina", "Dina Patel", "oak", "Teacher"),
    ("eli", "Eli Novak", "riv", "Teacher"),
)


@attrs.frozen(kw_only=True)
class DemoStep:
    """One step of the demo: a title and the lines that summarise what happened."""

    title: str
    lines: tuple[str, ...]


@attrs.frozen(kw_only=True)
class DemoResult:
    """Where the demo wrote its database and files, and the summary of every step."""

    directory: Path
    database: Path
    steps: tuple[DemoStep, ...]


def _email(person: str, name: str, school: str | None) -> str:
    domain = next((d for s, _n, _p, _u, d in SCHOOLS if s == school), "northernlights.example")
    first, last = name.lower().split(" ", 1)
    return f"{first}.{last}@{domain}"


def _reset(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / DATABASE_NAME
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    return database


class _Demo:
    """The scenario's state between steps."""

    def __init__(self, directory: Path, store: Store, catalogue: RoleCatalogue) -> None:
        self.directory = directory
        self.store = store
        self.catalogue = catalogue
        self.clock = FixedClock(DEMO_TIME)
        self.notifier = RecordingNotifier()
        counter = itertools.count(1)
        self.lifecycle = TrustLifecycle(
            store=store,
            clock=self.clock,
            notifier=self.notifier,
            policy=TrustPolicy(
                acceptor_roles=frozenset({"Access Coordinator"}),  # type: ignore[arg-type]
            ),
            new_id=lambda kind: f"{kind}-{next(counter)}",
        )

    def index(self) -> AccessIndex:
        with self.store.unit_of_work() as uow:
            return AccessIndex.from_unit_of_work(self.catalogue, uow, now=self.clock.now())

    # -- steps ------------------------------------------------------------------------------

    def sample_trust(self) -> DemoStep:
        """The trust and its schools' existing staff accounts (schoolsync.testing.world)."""
        w = world(self.catalogue, now=self.clock.now()).trust(
            TRUST_ID, name="Northern Lights Trust", designated=True
        )
        for school_id, name, *_ in SCHOOLS:
            w = w.school(school_id, name=name)
        for person, _name, school, role in PEOPLE:
            w = w.account(person).role(person, role, at=school)
        # Real names, emails, URNs and postcodes for the records the builder made.
        for person, name, school, _role in PEOPLE:
            w.records.accounts[person] = attrs.evolve(
                w.records.accounts[person], name=name, email=_email(person, name, school)
            )
        events = list(w.events)
        for school_id, _name, postcode, urn, domain in SCHOOLS:
            before = w.records.schools[school_id]
            after = attrs.evolve(
                before,
                urn=Urn.parse(urn),
                postcode=Postcode.parse(postcode),
                email_pattern=f"{{forename}}.{{surname}}@{domain}",
            )
            w.records.schools[school_id] = after
            events.append(record_event("school", before, after, at=self.clock.now(), actor_id=None))
        with self.store.unit_of_work() as uow:
            write_events(uow, events, w.records)
            uow.commit()
        return DemoStep(
            title="Sample trust",
            lines=(
                "Northern Lights Trust (Boost Insights roles), built with schoolsync.testing.world",
                f"{len(SCHOOLS)} schools, each with its Access Coordinator; "
                f"{len(PEOPLE)} accounts; Grace Hopper is the Group Admin",
            ),
        )

    def school_upload(self) -> DemoStep:
        """The trust lists its schools in a School Upload sheet; each becomes a membership."""
        sheet_path = write_school_upload(
            self.directory / "school-upload.xlsx", [(n, p, u) for _i, n, p, u, _d in SCHOOLS]
        )
        sheet = read_school_upload(sheet_path)
        result = self.lifecycle.add_schools_from_upload(
            TRUST_ID, sheet.rows, file=sheet.file, actor_id="grace"
        )
        return DemoStep(
            title="School Upload",
            lines=(
                f"Read {sheet.file}: {len(sheet.rows)} rows, {len(result.plan.problems)} problems",
                f"{len(result.memberships)} memberships created (invitation not sent); "
                f"{len(result.schools)} new school records (the URNs named existing schools)",
            ),
        )

    def invitations(self) -> DemoStep:
        """Invitations go out; two Access Coordinators accept, one has not answered yet."""
        with self.store.unit_of_work() as uow:
            memberships = {m.school_id: m for m in uow.memberships.list() if m.trust_id == TRUST_ID}
        for school_id, *_ in SCHOOLS:
            self.lifecycle.send_invitation(memberships[school_id].id, actor_id="grace")
        self.clock.advance(timedelta(hours=2))
        self.lifecycle.accept_invitation(memberships["oak"].id, actor_id="amir")
        self.lifecycle.accept_invitation(memberships["riv"].id, actor_id="bea")
        with self.store.unit_of_work() as uow:
            statuses = {
                m.school_id: m.status.value.replace("_", " ")
                for m in uow.memberships.list()
                if m.trust_id == TRUST_ID
            }
        names = {s: n for s, n, *_ in SCHOOLS}
        return DemoStep(
            title="Invitations",
            lines=(
                f"{len(self.notifier.of_kind('trust_invitation'))} invitation message(s) handed "
                "to the Notifier (the library sends no email itself)",
                *(f"{names[s]:<20} {statuses[s]}" for s, *_ in SCHOOLS),
            ),
        )

    def grants(self) -> DemoStep:
        """Grace may see reports by membership, but manages users only where a school granted it."""
        before = self.index().check("grace", "users.manage", "oak")
        reports = self.index().check("grace", "reports.school.view", "oak")
        self.clock.advance(timedelta(minutes=30))
        self.lifecycle.grant(
            TRUST_ID,
            "oak",
            ["users.manage", "users.invite"],
            actor_id="amir",
            account_ids=["grace"],
        )
        after = self.index().check("grace", "users.manage", "oak")
        elsewhere = self.index().check("grace", "users.manage", "riv")
        return DemoStep(
            title="Grants",
            lines=(
                f"reports at Oakfield: {'allowed' if reports else 'denied'} (membership is enough)",
                f"before the grant: users.manage at Oakfield denied: {_why(before)}",
                "Amir (Oakfield's Access Coordinator) ticks Grace's users.manage and users.invite",
                f"after the grant: {'allowed' if after else 'denied'}; "
                f"at Riverside still denied: {_why(elsewhere)}",
            ),
        )

    def mis_sync(self) -> DemoStep:
        """Oakfield's first MIS sync: match, review, plan, apply."""
        self.clock.advance(timedelta(hours=1))
        now = self.clock.now()
        mis = sample_snapshot("oak", pupils=210, staff=14, seed=7, taken_at=now)
        _seed_app_records(self.store, evolve_snapshot(mis, joiners=0, leavers=0, seed=2))
        mis = evolve_snapshot(mis, joiners=6, leavers=5, seed=3, taken_at=now)
        with self.store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "oak")
            app_year_groups = uow.year_groups.list(school_id="oak")
            app_classes = uow.classes.list(school_id="oak")
            app_pupils = uow.pupils.list(school_id="oak")
            app_staff = uow.staff.list(school_id="oak")
        year_groups = match_year_groups(list(mis.year_groups), app_year_groups)
        classes = match_classes(
            list(mis.classes),
            app_classes,
            mis_year_groups=list(mis.year_groups),
            app_year_groups=app_year_groups,
        )
        # Staff are deselected by default (the seed); the demo imports them all.
        staff = match_staff(list(mis.staff), app_staff).select_all_new()
        pupils = match_pupils(list(mis.pupils), app_pupils)
        counts = pupils.counts()
        example = next(
            (
                r
                for r in pupils.pairs()
                if r.mis is not None and r.app is not None and r.mis.forename != r.app.forename
            ),
            None,
        )
        reviewed = pupils.accept_all_may_match()
        sync_plan = plan([year_groups, classes, staff, reviewed], current, at=now)
        connection = authorise(
            MisConnection(school_id="oak", provider="demo MIS", required_scopes={"read"}),
            actor_id="amir",
            granted_scopes={"read"},
            at=now,
            # Boost has no separate MIS permission: its Access Coordinator configures the sync.
            can_configure=lambda account, _permission, school: bool(
                self.index().check(account, "grants.manage", school)
            ),
        )
        report = apply(
            sync_plan,
            self.store,
            connection=connection,
            at=now,
            notifier=self.notifier,
            actor_id="amir",
        )
        names = {"forename", "surname", "date_of_birth"}
        overwrites = sum(1 for c in sync_plan.links if any(f.field in names for f in c.changes))
        order = ("Not matched", "New", "May match", "Matched")
        by_label = {s.label: n for s, n in counts.items()}
        outcomes = ", ".join(f"{n} {k}" for k, n in report.counts().items())
        return DemoStep(
            title="MIS sync (Oakfield Primary)",
            lines=(
                f"MIS feed: {len(mis.pupils)} pupils, {len(mis.staff)} staff, "
                f"{len(mis.classes)} classes; the app held {len(app_pupils)} pupils",
                "pupil review: " + ", ".join(f"{by_label.get(k, 0)} {k}" for k in order),
                *(
                    ()
                    if example is None or example.mis is None or example.app is None
                    else (
                        f"  e.g. {example.mis.forename} {example.mis.surname} (MIS) = "
                        f"{example.app.forename} {example.app.surname} (app): "
                        f"{example.status.label}, score {example.score:.2f}: {example.explanation}",
                    )
                ),
                f"the reviewer confirms the {by_label.get('May match', 0)} May match pair(s) and "
                "imports the New pupils and staff (staff are opt-in)",
                f"plan: {len(sync_plan.creates)} to create, {len(sync_plan.links)} to link "
                f"({overwrites} with names or birth dates the MIS overwrites: it is the master record)",
                f"applied in one unit of work after a backup: {outcomes}",
                f"{len(self.notifier.of_kind('welcome'))} welcome message(s) for new staff, "
                "with emails made from the school's pattern",
            ),
        )

    def bulk_import(self) -> DemoStep:
        """Grace exports the users, edits the file and imports it: a change set, then apply."""
        self.clock.advance(timedelta(hours=1))
        checks = CatalogueChecks(self.catalogue)
        exported = export_users(self.store, TRUST_ID, self.directory / "bulk-user-data.xlsx")
        sheet = read_sheet(exported)
        header = list(sheet.header)
        rows = [list(r) for r in sheet.rows]
        oak = header.index("Oakfield Primary")
        rows.append(["fern.ahmed@oakfield.example", "Fern Ahmed", "", *[""] * (len(header) - 3)])
        rows[-1][oak] = "Teacher"
        rows.append(["gus.moore@oakfield.example", "Gus Moore", "", *[""] * (len(header) - 3)])
        rows[-1][oak] = "Teacher; Access Coordinator"
        first_try = write_sheet(self.directory / "bulk-user-data-edited.xlsx", header, rows)
        preview = import_users(
            self.store, TRUST_ID, first_try, checks=checks, at=self.clock.now(), actor_id="grace"
        )
        problems = [str(p) for p in preview.problems]
        rows[-1][oak] = "Teacher"
        fixed = write_sheet(self.directory / "bulk-user-data-edited.xlsx", header, rows)
        change_set = import_users(
            self.store, TRUST_ID, fixed, checks=checks, at=self.clock.now(), actor_id="grace"
        )
        result = apply_change_set(self.store, change_set, checks=checks, at=self.clock.now())
        return DemoStep(
            title="Bulk import",
            lines=(
                f"exported {len(rows) - 2} users to {exported.name}; added two rows",
                f"first preview: {preview.describe()}",
                *(f"  {p}" for p in problems),
                f"after the fix: {change_set.describe()}",
                f"applied as one audited unit of work: {result.changes_applied} changes, "
                f"{len(result.created_account_ids)} new (pending) accounts",
            ),
        )

    def summary(self) -> DemoStep:
        with self.store.unit_of_work() as uow:
            counts = {
                "accounts": uow.accounts.count(),
                "pupils": uow.pupils.count(),
                "staff": uow.staff.count(),
                "audit events": len(uow.audit.events()),
            }
        return DemoStep(
            title="In the database",
            lines=(", ".join(f"{n} {k}" for k, n in counts.items()),),
        )


def _why(decision: Decision) -> str:
    """What a denial lacks and who can supply it (the allowed paths, if it was allowed)."""
    if decision.allowed:
        return "; ".join(str(p) for p in decision.paths)
    return str(decision.missing or decision.reason)


def _seed_app_records(store: Store, snapshot: MisSnapshot) -> None:
    """What the app held before its first sync: records typed in by hand, with the usual
    slips (app ids, no MIS ids, a few typos and a missing birth date)."""
    pupils: list[Pupil] = []
    for n, p in enumerate(snapshot.pupils):
        if n % 40 == 39:
            continue  # joined since the app was set up: New in the review
        forename, born, upn = p.forename, p.date_of_birth, p.upn if n % 2 else None
        if n % 25 == 3:
            forename = forename[0] + forename[2:]  # a typing slip
        if n % 60 == 13 and born is not None:
            # a slip, no UPN and the birth year typed wrong: close, but a person must confirm
            forename, upn, born = forename[:-1], None, born.replace(year=born.year + 1)
        pupils.append(
            attrs.evolve(
                p,
                id=f"app-{p.id}",
                mis_id=None,
                forename=forename,
                upn=upn,
                class_ids=tuple(f"app-{c}" for c in p.class_ids),
                date_of_birth=None if n % 50 == 7 else born,
            )
        )
    year_groups = [attrs.evolve(y, id=f"app-{y.id}", mis_id=None) for y in snapshot.year_groups]
    classes = [
        attrs.evolve(
            c,
            id=f"app-{c.id}",
            mis_id=None,
            year_group_ids=tuple(f"app-{y}" for y in c.year_group_ids),
        )
        for c in snapshot.classes
    ]
    with store.unit_of_work() as uow:
        uow.year_groups.put_many(year_groups)
        uow.classes.put_many(classes)
        uow.pupils.put_many(pupils)
        uow.commit()


def run_demo_steps(
    store: Store,
    directory: str | Path,
    *,
    echo: Callable[[DemoStep], None] | None = None,
) -> tuple[DemoStep, ...]:
    """Run the demo's scenario on *store*, an empty store of any backend (left open).

    :func:`run_demo` is this on a fresh SQLite file; the scenario itself only uses the ports,
    so it tells the same story on every store.

    Args:
        store: the store to fill; it should start empty.
        directory: where the demo's spreadsheets are written (created if missing).
        echo: called with each step as soon as it is done.

    Returns:
        Every step's summary.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    demo = _Demo(target, store, boost_insights())
    # Access decisions and refusals name records by id; the summary names them.
    names = {person: name for person, name, *_ in PEOPLE}
    names |= {school_id: name for school_id, name, *_ in SCHOOLS}
    names[TRUST_ID] = "Northern Lights Trust"
    steps: list[DemoStep] = []
    for step in (
        demo.sample_trust,
        demo.school_upload,
        demo.invitations,
        demo.grants,
        demo.mis_sync,
        demo.bulk_import,
        demo.summary,
    ):
        done = step()
        done = attrs.evolve(done, lines=tuple(with_names(line, names) for line in done.lines))
        steps.append(done)
        if echo is not None:
            echo(done)
    return tuple(steps)


def run_demo(
    directory: str | Path = "schoolsync-demo",
    *,
    echo: Callable[[DemoStep], None] | None = None,
) -> DemoResult:
    """Run the whole demo in *directory* (created if missing; its database is recreated).

    Args:
        directory: where the SQLite database and the demo's spreadsheets are written.
        echo: called with each step as soon as it is done (the CLI prints it).

    Returns:
        The database path and every step's summary.
    """
    target = Path(directory)
    database = _reset(target)
    store = SqliteStore(database)
    try:
        steps = run_demo_steps(store, target, echo=echo)
    finally:
        store.close()
    return DemoResult(directory=target, database=database, steps=steps)
