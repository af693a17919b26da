"""Set up a multi-academy trust against the embedded SQLite store, end to end.

Creates a trust and its two admins, reads a School Upload sheet, invites the schools, lets
them grant the trust access, runs a comparison report, revokes a grant, and checks that the
audit log replays to the stored state after the database is reopened.

Run it from any directory: it writes ``trust_setup.sqlite3`` and ``school_upload.csv`` there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from schoolsync.access import AccessIndex, Permission, Role, RoleCatalogue
from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.lifecycle import (
    RecordingGrantListener,
    TrustLifecycle,
    replay_memberships_and_grants,
)
from schoolsync.clock import FixedClock
from schoolsync.sources.school_upload import read_school_upload, write_school_upload
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import TrustPolicy
from schoolsync.views import comparison_report, schools_in_view

CATALOGUE = RoleCatalogue.build(
    [
        Permission(name="reports.school.view"),
        Permission(name="users.manage"),
        Permission(name="grants.manage"),
    ],
    [
        Role(
            name="trust_admin", scope="trust", permissions={"reports.school.view", "users.manage"}
        ),
        Role(name="access_coordinator", scope="school", permissions={"grants.manage"}),
    ],
)


def main() -> None:
    """Walk a new trust through set-up, invitations, grants and a comparison report."""
    db = Path("trust_setup.sqlite3")
    db.unlink(missing_ok=True)
    store = SqliteStore(db)
    clock = FixedClock(datetime(2026, 9, 1, 9, 0, tzinfo=UTC))
    outbox = RecordingNotifier()
    listener = RecordingGrantListener()
    life = TrustLifecycle(
        store,
        clock,
        outbox,
        policy=TrustPolicy(),
        listeners=[listener],
    )

    # 1. The trust and its two admins, each accepting through their emailed link.
    trust = life.create_trust(
        name="Oak Learning Trust", organisation_type="Academies", designated_academy_trust=True
    )
    with store.unit_of_work() as uow:
        for account_id in ("alice", "bob"):
            uow.accounts.add(
                Account(
                    id=account_id,
                    trust_id=trust.id,
                    email=f"{account_id}@oak.example",
                    name=account_id.title(),
                    status=AccountStatus.ACTIVE,
                )
            )
        uow.commit()
    for account_id in ("alice", "bob"):
        token = life.nominate_trust_admin(trust.id, account_id)
        life.accept_trust_admin(trust.id, token)

    # 2. The School Upload sheet.
    upload = write_school_upload(
        "school_upload.csv",
        [
            ("Oakfield Primary", "SW1A 1AA", "100001"),
            ("Elm Academy", "M1 1AE", "100002"),
            ("Ash Primary", "LS1 1UR", "100003"),
        ],
    )
    sheet = read_school_upload(upload)
    result = life.add_schools_from_upload(trust.id, sheet.rows, file=sheet.file)
    ids = {s.name: s.id for s in result.schools}
    names = {school_id: name for name, school_id in ids.items()}
    memberships = {s.name: m.id for s, m in zip(result.schools, result.memberships, strict=True)}
    print(f"{trust.name}: {len(ids)} schools added from {sheet.file}")

    # 3. Each school's Access Coordinator is invited; two accept, Ash has not answered yet.
    with store.unit_of_work() as uow:
        for n, school_id in enumerate(ids.values()):
            uow.accounts.add(
                Account(
                    id=f"ac{n}",
                    trust_id=trust.id,
                    email=f"office{n}@school.example",
                    name="Access Coordinator",
                    status=AccountStatus.ACTIVE,
                )
            )
            uow.assignments.add(
                RoleAssignment(
                    id=f"ra{n}",
                    account_id=f"ac{n}",
                    trust_id=trust.id,
                    role="access_coordinator",
                    school_id=school_id,
                )
            )
        uow.commit()
    for name in ids:
        life.send_invitation(memberships[name], actor_id="alice")
    life.accept_invitation(memberships["Oakfield Primary"], actor_id="ac0")
    life.accept_invitation(memberships["Elm Academy"], actor_id="ac1")
    print(f"invitations sent: {len(outbox.of_kind('trust_invitation'))}")

    # 4. Grants: Oakfield to the whole trust, Elm to alice only, for a year.
    oak = life.grant(trust.id, ids["Oakfield Primary"], {"reports.school.view"}, actor_id="ac0")
    life.grant(
        trust.id,
        ids["Elm Academy"],
        {"reports.school.view", "users.manage"},
        account_ids={"alice"},
        expires_at=clock.now() + timedelta(days=365),
        actor_id="ac1",
    )

    # 5. A comparison report: only schools that granted are asked for data.
    def provider(school_id: str) -> dict[str, object]:
        return {"school": school_id, "pupils": 200 + len(school_id)}

    clock.advance(timedelta(hours=1))
    with store.unit_of_work() as uow:
        for account_id in ("alice", "bob"):
            report = comparison_report(
                account_id,
                "reports.school.view",
                provider,
                uow=uow,
                at=clock.now(),
                catalogue=CATALOGUE,
            )
            print(
                f"{account_id}: {len(report.results)} school(s) in the comparison; left out: "
                + ", ".join(
                    f"{names[r['school_id']]} ({r['reason']})" for r in report.excluded_rows()
                )
            )
        bob_count = len(
            comparison_report(
                "bob", "reports.school.view", provider, uow=uow, at=clock.now(), catalogue=CATALOGUE
            ).results
        )
    assert bob_count == 1

    # 6. Oakfield revokes: denied at once, and the host is told to drop cached views.
    life.revoke_grant(oak.id, actor_id="ac0")
    print(f"event: {listener.events[-1].kind.value} grant {listener.events[-1].grant_id}")
    store.close()

    # 7. Reopen the database: the state is durable and the audit log replays to it.
    store = SqliteStore(db)
    with store.unit_of_work() as uow:
        view = schools_in_view(
            "bob", "reports.school.view", uow=uow, at=clock.now(), catalogue=CATALOGUE
        )
        index = AccessIndex.from_unit_of_work(CATALOGUE, uow, now=clock.now())
        assert view.school_ids == ()
        assert not index.check("bob", "reports.school.view", ids["Oakfield Primary"])
        state = replay_memberships_and_grants(uow.audit.events())
        assert state.memberships == {m.id: m for m in uow.memberships.list()}
        assert state.grants == {g.id: g for g in uow.grants.list()}
        print(f"audit events: {len(uow.audit.events())}; replay matches the stored state")
    store.close()


if __name__ == "__main__":
    main()
