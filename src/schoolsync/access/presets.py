"""Ready role catalogues for the five products schoolsync learns from.

Each preset restates one product's published role model as data (TOML, loaded through
:meth:`RoleCatalogue.from_toml`); ``docs/presets.md`` explains each and the tests replay what the
products' help pages state. Use them as they are or as a starting point for your own TOML.

* :func:`progress_teaching`: 5 trust and 5 school roles. The source text swaps the areas of the
  Coaching and Feedback leader roles; these presets follow the role *names* (a Coaching leader
  sees coaching records, a Feedback leader feedback records). Admins edit another user's
  display name and email.
* :func:`fft_aspire`: freely combined per-permission roles; School setup capped at 4 per
  school (implies Manage data), Manage data at 6; pupil-level and Collaborate permissions
  require school-level reports. Admins never change another user's name or email.
* :func:`boost_insights`: up to two Group Admins per trust; exactly one Access Coordinator per
  school, who ticks each Group Admin's user-management permissions (a per-account grant).
* :func:`schoot`: Administrator and Member across an organisation; a school grants the MAT
  its course progress; only organisations designated as academy trusts get trust-wide views.
* :func:`hodder_admin_hub`: only the Access Co-ordinator configures the MIS sync.

Boost Insights, Schoot and the Hodder Admin Hub do not say whether admins may edit another
user's name or email, so they keep the strict default (``admin_editable_fields`` empty).

Each preset with trust roles names the role an accepted trust admin gets
(``RoleCatalogue.trust_admin_role``: Progress Teaching's Trust Admin, Boost Insights' Group
Admin, Schoot's Administrator), so the trust lifecycle and the service take it from the preset;
FFT Aspire and the Hodder Admin Hub have no trust roles, and no trust admin role.
"""

from __future__ import annotations

from schoolsync.access.catalogue import RoleCatalogue

__all__ = [
    "PRESETS",
    "boost_insights",
    "fft_aspire",
    "hodder_admin_hub",
    "progress_teaching",
    "schoot",
]

PROGRESS_TEACHING_TOML = """
name = "Progress Teaching"
manage_permission = "users.manage"
trust_admin_role = "Trust Admin"
grant_permission = "users.manage"
# "Edit one account: display name, email, roles per school, trust roles".
admin_editable_fields = ["name", "email"]

# A Progress Teaching trust owns its schools: trust roles act at every member school by
# membership alone (no per-school grant).
[[permissions]]
name = "users.manage"
needs_grant = false
[[permissions]]
name = "settings.edit"
needs_grant = false
description = "See and amend settings for any module at the school"
[[permissions]]
name = "trust.settings.edit"
level = "trust"
[[permissions]]
name = "dashboards.view"
needs_grant = false
[[permissions]]
name = "records.school.view"
needs_grant = false
description = "All school records (not individual staff records)"
[[permissions]]
name = "appraisal.records.view"
needs_grant = false
[[permissions]]
name = "coaching.records.view"
needs_grant = false
[[permissions]]
name = "feedback.records.view"
needs_grant = false
[[permissions]]
name = "appraisal.records.delete"
needs_grant = false
[[permissions]]
name = "feedback.records.delete"
needs_grant = false
[[permissions]]
name = "feedback.give"
needs_grant = false
description = "Give feedback, coach or appraise (also needs a relationship with the person)"
[[permissions]]
name = "feedback.receive"
needs_grant = false

[[roles]]
name = "Trust Admin"
scope = "trust"
permissions = ["users.manage", "settings.edit", "trust.settings.edit", "dashboards.view",
  "records.school.view", "appraisal.records.view", "coaching.records.view",
  "feedback.records.view", "appraisal.records.delete", "feedback.records.delete"]
[[roles]]
name = "Trust Leader Appraisal"
scope = "trust"
permissions = ["dashboards.view", "records.school.view", "appraisal.records.view"]
[[roles]]
name = "Trust Leader Coaching"
scope = "trust"
permissions = ["dashboards.view", "records.school.view", "coaching.records.view"]
[[roles]]
name = "Trust Leader Feedback"
scope = "trust"
permissions = ["dashboards.view", "records.school.view", "feedback.records.view"]
[[roles]]
name = "Trust Report Viewer"
scope = "trust"
permissions = ["dashboards.view", "records.school.view"]

[[roles]]
name = "Admin"
scope = "school"
permissions = ["users.manage", "settings.edit", "dashboards.view", "records.school.view",
  "appraisal.records.view", "coaching.records.view", "feedback.records.view"]
[[roles]]
name = "School Leader Appraisal"
scope = "school"
permissions = ["dashboards.view", "records.school.view", "appraisal.records.view"]
[[roles]]
name = "School Leader Coaching"
scope = "school"
permissions = ["dashboards.view", "records.school.view", "coaching.records.view"]
[[roles]]
name = "School Leader Feedback"
scope = "school"
permissions = ["dashboards.view", "records.school.view", "feedback.records.view"]
[[roles]]
name = "Staff"
scope = "school"
permissions = ["dashboards.view", "feedback.give", "feedback.receive"]
"""

FFT_ASPIRE_TOML = """
name = "FFT Aspire"
manage_permission = "users.manage"
grant_permission = ""  # FFT Aspire has no trust grants
# Admins change job role and permissions, not another user's name or email.
admin_editable_fields = []

[[permissions]]
name = "users.manage"
[[permissions]]
name = "school_setup.manage"
[[permissions]]
name = "data.manage"
[[permissions]]
name = "reports.school.view"
[[permissions]]
name = "reports.pupil_level.view"
description = "Pupil-level data and suppressed/sensitive items"
[[permissions]]
name = "collaborate.groups.view_any"
[[permissions]]
name = "tracking.reports.view"
[[permissions]]
name = "tracking.pupil_reports.view"
[[permissions]]
name = "tracking.assessments.edit"
[[permissions]]
name = "tracking.data.add"

[[roles]]
name = "School setup & Pupil Tracking"
scope = "school"
permissions = ["users.manage", "school_setup.manage"]
implies = ["Manage data"]
max_per_school = 4
[[roles]]
name = "Manage data"
scope = "school"
permissions = ["data.manage"]
max_per_school = 6
[[roles]]
name = "View school-level reports"
scope = "school"
permissions = ["reports.school.view"]
[[roles]]
name = "View pupil-level data"
scope = "school"
permissions = ["reports.pupil_level.view"]
requires = ["View school-level reports"]
[[roles]]
name = "View any Collaborate group"
scope = "school"
permissions = ["collaborate.groups.view_any"]
requires = ["View school-level reports"]
[[roles]]
name = "Pupil tracking: view reports"
scope = "school"
permissions = ["tracking.reports.view"]
[[roles]]
name = "Pupil tracking: view pupil-level reports"
scope = "school"
permissions = ["tracking.pupil_reports.view"]
requires = ["Pupil tracking: view reports"]
[[roles]]
name = "Pupil tracking: create and edit assessments"
scope = "school"
permissions = ["tracking.assessments.edit"]
[[roles]]
name = "Pupil tracking: add pupil assessment data"
scope = "school"
permissions = ["tracking.data.add"]
"""

# Boost Insights: Access Coordinators' user-management ticks become per-account grants.
BOOST_INSIGHTS_TOML = """
name = "Boost Insights"
manage_permission = "users.manage"
trust_admin_role = "Group Admin"  # the admins a group nominates and who accept by link
# The help pages do not say whether admins edit others' names or emails: the strict default.
admin_editable_fields = []
grant_permission = "grants.manage"

[[permissions]]
name = "reports.school.view"
needs_grant = false
description = "View the school's test data and reports (membership is enough)"
[[permissions]]
name = "reports.download"
needs_grant = false
[[permissions]]
name = "trust.reports.compare"
level = "trust"
description = "Produce the group comparison report"
[[permissions]]
name = "users.manage"
description = "Manage the school's users (ticked per group admin by the Access Coordinator)"
[[permissions]]
name = "users.invite"
[[permissions]]
name = "users.deactivate"
[[permissions]]
name = "grants.manage"
description = "Accept the group's invitation and tick group admins' permissions"

[[roles]]
name = "Group Admin"
scope = "trust"
permissions = ["reports.school.view", "reports.download", "trust.reports.compare",
  "users.manage", "users.invite", "users.deactivate"]
max_per_trust = 2
[[roles]]
name = "Access Coordinator"
scope = "school"
permissions = ["grants.manage", "users.manage", "users.invite", "users.deactivate",
  "reports.school.view", "reports.download"]
exactly_one = true
[[roles]]
name = "Teacher"
scope = "school"
permissions = ["reports.school.view"]
"""

SCHOOT_TOML = """
name = "Schoot"
manage_permission = "users.manage"
trust_admin_role = "Administrator"
# The help pages do not say whether admins edit others' names or emails: the strict default.
admin_editable_fields = []
grant_permission = "grants.manage"
requires_designated_trust = true  # only MAT/academy organisations get trust-wide views

[[permissions]]
name = "course_progress.view"
description = "See staff course enrolments and progress (needs the school's grant)"
[[permissions]]
name = "courses.take"
needs_grant = false
[[permissions]]
name = "users.manage"
level = "trust"
description = "Give Admin rights to Members of the organisation"
[[permissions]]
name = "grants.manage"
description = "Select the organisation as the school's Multi Academy Trust"

[[roles]]
name = "Administrator"
scope = "trust"
permissions = ["course_progress.view", "users.manage"]
implies = ["Member"]
[[roles]]
name = "Member"
scope = "trust"
permissions = ["courses.take"]
[[roles]]
name = "School Administrator"
scope = "school"
permissions = ["grants.manage", "course_progress.view"]
"""

HODDER_ADMIN_HUB_TOML = """
name = "Hodder Admin Hub"
manage_permission = "users.manage"
# The help pages do not say whether admins edit others' names or emails: the strict default.
admin_editable_fields = []
grant_permission = "grants.manage"

[[permissions]]
name = "mis_sync.configure"
description = "Set up, authorise and deauthorise the MIS connection"
[[permissions]]
name = "users.manage"
[[permissions]]
name = "data.manage"
[[permissions]]
name = "reports.school.view"
[[permissions]]
name = "assessments.mark"
[[permissions]]
name = "grants.manage"

[[roles]]
name = "Access Co-ordinator"
scope = "school"
permissions = ["mis_sync.configure", "grants.manage"]
implies = ["Administrator"]
exactly_one = true
[[roles]]
name = "Administrator"
scope = "school"
permissions = ["users.manage", "data.manage"]
implies = ["Teacher"]
[[roles]]
name = "Teacher"
scope = "school"
permissions = ["reports.school.view", "assessments.mark"]
"""


def progress_teaching() -> RoleCatalogue:
    """Progress Teaching: Trust Admin, three Trust Leaders, Trust Report Viewer; Admin, three
    School Leaders, Staff (leader areas follow the role names; the source swaps two)."""
    return RoleCatalogue.from_toml(PROGRESS_TEACHING_TOML)


def fft_aspire() -> RoleCatalogue:
    """FFT Aspire: per-permission school roles with caps 4 (setup) and 6 (manage data)."""
    return RoleCatalogue.from_toml(FFT_ASPIRE_TOML)


def boost_insights() -> RoleCatalogue:
    """Boost Insights: two Group Admins per trust, one Access Coordinator per school."""
    return RoleCatalogue.from_toml(BOOST_INSIGHTS_TOML)


def schoot() -> RoleCatalogue:
    """Schoot: Administrator (implies Member) across the organisation; schools grant course progress."""
    return RoleCatalogue.from_toml(SCHOOT_TOML)


def hodder_admin_hub() -> RoleCatalogue:
    """Hodder Admin Hub: only the Access Co-ordinator configures the MIS sync."""
    return RoleCatalogue.from_toml(HODDER_ADMIN_HUB_TOML)


#: Every preset by product name.
PRESETS = {
    "progress_teaching": progress_teaching,
    "fft_aspire": fft_aspire,
    "boost_insights": boost_insights,
    "schoot": schoot,
    "hodder_admin_hub": hodder_admin_hub,
}
