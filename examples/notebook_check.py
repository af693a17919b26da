"""A data officer's notebook, as a script: check an MIS export before syncing it.

Each ``# %%`` cell is what you would run in Jupyter. schoolsync's review values (a match
review, a sync plan, a bulk change set, an access table) display themselves as HTML tables in
a notebook (``_repr_html_``) and give plain rows (``to_rows()``) that ``pandas.DataFrame`` takes
directly; pandas is not needed by schoolsync. Here the tables are printed and collected into
``data-check.html``, which you can open in a browser.

Run it from any directory: it writes ``mis-pupils.csv``, ``app-pupils.csv``, ``users.csv`` and
``data-check.html`` there.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schoolsync.access.presets import boost_insights
from schoolsync.bulk import CatalogueChecks, export_users, import_users, read_sheet, write_sheet
from schoolsync.identifiers import upn_problem
from schoolsync.matching import MatchStatus, match_classes, match_pupils, match_year_groups
from schoolsync.sources import PupilColumns, read_tabular
from schoolsync.sync import SchoolRecords, plan
from schoolsync.sync.sample import sample_snapshot
from schoolsync.tables import Tabular
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.world import world
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COLUMNS = ["Adno", "Forename", "Surname", "DOB", "Gender", "UPN", "Year", "Class"]


def show(title: str, value: Tabular, columns: list[str], limit: int = 5) -> str:
    """What a notebook cell shows: here, the first rows as text; returns the HTML table."""
    rows = value.to_rows()
    print(f"\n== {title}: {len(rows)} rows ({value.table_caption() or ''})")
    for row in rows[:limit]:
        print("   " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in columns))
    # With pandas: pandas.DataFrame(rows) is the same table as a DataFrame.
    html = value._repr_html_()
    assert html.startswith('<table class="schoolsync">')
    return f"<h2>{title}</h2>{html}"


def write_exports() -> None:
    """Stand-ins for the two files a data officer has: the MIS export and the app's export."""
    mis = sample_snapshot("oak", pupils=120, staff=0, seed=11)
    classes = {c.id: c.name for c in mis.classes}

    def row(p: Any, adno: str) -> list[str]:
        return [
            adno,
            p.forename,
            p.surname,
            p.date_of_birth.strftime("%d/%m/%Y"),
            p.gender.value,
            str(p.upn or ""),
            p.year_code or "",
            ";".join(classes[c] for c in p.class_ids),
        ]

    mis_rows = [row(p, p.mis_id or p.id) for p in mis.pupils]
    mis_rows[7][5] = mis_rows[3][5]  # a duplicated UPN: the kind of slip a check should catch
    write_sheet("mis-pupils.csv", COLUMNS, mis_rows)
    app_rows = [row(p, f"A{n}") for n, p in enumerate(mis.pupils[5:110])]
    app_rows[0][1] = app_rows[0][1].upper()
    app_rows[1][2] = app_rows[1][2][:-1]  # a typo in a surname
    write_sheet("app-pupils.csv", COLUMNS, app_rows)


# %% Read both exports
write_exports()
mapping = PupilColumns(
    id="Adno",
    forename="Forename",
    surname="Surname",
    date_of_birth="DOB",
    gender="Gender",
    upn="UPN",
    year="Year",
    classes="Class",
)
mis = read_tabular(school_id="oak", pupils="mis-pupils.csv", pupil_columns=mapping)
app = read_tabular(school_id="oak", pupils="app-pupils.csv", pupil_columns=mapping)
print(f"MIS: {len(mis.pupils)} pupils; app: {len(app.pupils)} pupils")

# %% Data checks on the MIS export: identifiers and duplicates
upns = Counter(str(p.upn) for p in mis.pupils if p.upn is not None)
duplicates = sorted(u for u, n in upns.items() if n > 1)
bad = [p.id for p in mis.pupils if p.upn is not None and upn_problem(str(p.upn)) is not None]
no_dob = [p.id for p in mis.pupils if p.date_of_birth is None]
print(f"duplicated UPNs: {len(duplicates)}; bad UPNs: {len(bad)}; no birth date: {len(no_dob)}")
assert len(duplicates) == 1  # the slip written above is found

# %% Match: the review a person works through (Not matched, New, May match, Matched)
review = match_pupils(list(mis.pupils), list(app.pupils))
counts = review.counts()
print({status.label: counts.get(status, 0) for status in MatchStatus})
assert counts[MatchStatus.NOT_MATCHED] == 0
parts = [show("Match review", review, ["status", "mis_name", "app_name", "score", "explanation"])]

# %% The sync plan: what a sync would change, old values shown
store = MemoryStore()
with store.unit_of_work() as uow:
    uow.schools.add(School(id="oak", name="Oakfield Primary"))
    uow.year_groups.put_many(app.year_groups)
    uow.classes.put_many(app.classes)
    uow.pupils.put_many(app.pupils)
    uow.commit()
with store.unit_of_work() as uow:
    current = SchoolRecords.load(uow, "oak")
reviews = [
    match_year_groups(list(mis.year_groups), list(current.year_groups.values())),
    match_classes(list(mis.classes), list(current.classes.values())),
    match_pupils(list(mis.pupils), list(current.pupils.values())),
]
sync_plan = plan(reviews, current, at=NOW)
parts.append(show("Sync plan", sync_plan, ["kind", "action", "name", "field", "old", "new"]))

# %% A bulk user change set and the access table of the trust's group admin
trust = (
    world(boost_insights(), now=NOW)
    .trust("T", name="Northern Lights Trust")
    .school("oak", name="Oakfield Primary", in_trust="T")
    .account("grace")
    .role("grace", "Group Admin")
    .account("amir")
    .role("amir", "Access Coordinator", at="oak")
    .grant("oak", ["users.manage"], accounts=["grace"])
)
users = trust.store()
sheet = read_sheet(export_users(users, "T", "users.csv"))
rows = [list(r) for r in sheet.rows]
rows.append(["new.teacher@oak.example", "New Teacher", "", "Teacher", "", ""])
write_sheet("users.csv", sheet.header, rows)
change_set = import_users(
    users, "T", "users.csv", checks=CatalogueChecks(boost_insights()), at=NOW, actor_id="grace"
)
assert change_set.ok
parts.append(show("Change set", change_set, ["change", "email", "role", "where"]))
parts.append(
    show("Access of grace", trust.index().access_table("grace"), ["school", "permission", "via"])
)

# %% Save everything as one page
Path("data-check.html").write_text("<html><body>" + "".join(parts) + "</body></html>")
print("\nwrote data-check.html")
