"""The traditional services the PHB cohorts use, and which one each cohort's budget replaces.

Its own module so that the service side, its queues, contracts and tables share the list without importing
one another."""

from model.people import State

SERVICES = ("chc_home_care", "community_health", "mental_health", "learning_disability", "wheelchair",
            "inpatient")
SERVICE_LABELS = {
    "chc_home_care": "CHC home care", "community_health": "Community health services",
    "mental_health": "Day and community mental-health services",
    "learning_disability": "Learning-disability services", "wheelchair": "Wheelchair services",
    "inpatient": "Inpatient care",
}
INPATIENT = SERVICES.index("inpatient")
# the traditional service a cohort's budget replaces (chc, children, mental_health, learning_disability,
# long_term, wheelchair); every cohort also uses inpatient care
COHORT_SERVICE = (0, 1, 2, 3, 1, 4)
LIVING_NOT_HOLDING = (State.NOT_ELIGIBLE, State.ELIGIBLE, State.OFFERED, State.PLANNING, State.DECLINED)
