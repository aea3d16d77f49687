"""Parameter register: outcomes (the matching rule of model/outcomes.py) and inpatient use by cohort."""

from model.register.base import PM, P

BED_DAYS = dict(chc=12.0, children=4.0, mental_health=14.0, learning_disability=5.0, long_term=4.0,
                wheelchair=1.0)

ROWS = (
    P("budget_adequacy", "A budget at the register's median, as a share of the person's need", PM, "share", 1.0,
      0.8, 1.2, "assumption: budgets were set from assessed need (docs/evidence.md); a scenario that scales budgets "
      "changes size relative to need", 0.1, 5.0),
    P("need_tracking_exponent", "How much of a larger-than-median budget is more money relative to need", PM,
      "exponent", 0.5, 0.2, 1.0, "assumption: half of the spread in budgets is need, half generosity "
      "(larger budgets gave bigger gains, V, seed 003)", 0.0, 1.0),
    P("adequacy_saturation", "How fast money beyond need stops adding to the match", PM, "ratio", 1.0, 0.5, 2.0,
      "assumption: diminishing returns above need", 0.05, 10.0),
    P("restriction_match_loss", "Share of the match lost at a fully restrictive CCG", PM, "share", 0.5, 0.2, 0.8,
      "assumption: restrictions stop people buying what they need (restrictive sites worse, V, seed 003)",
      0.0, 1.0),
    P("unknown_budget_match_loss", "Share of the match lost when the budget is not known up front", PM, "share",
      0.3, 0.1, 0.5, "assumption: not knowing the budget up front went with worse outcomes (V, seed 003)", 0.0, 1.0),
    P("support_match_loss", "Share of the match lost with no support planning available", PM, "share", 0.3, 0.1,
      0.5, "assumption: support in planning helped (V, seed 003); size not published", 0.0, 1.0),
    P("unsupported_match", "Match of a holder with neither a carer nor capacity to manage, relative to others",
      PM, "ratio", 0.7, 0.5, 0.9, "assumption: a carer or advocate helps a person use a budget well", 0.0, 1.0),
    P("notional_control", "Choice and control of a notional budget, relative to a direct payment", PM, "ratio",
      0.7, 0.5, 0.9, "assumption: a notional budget is spent by the CCG on the person's behalf", 0.0, 1.0),
    P("third_party_control", "Choice and control of a third-party budget, relative to a direct payment", PM,
      "ratio", 0.9, 0.7, 1.0, "assumption: an organisation holds the money, the person decides", 0.0, 1.0),
    P("ascot_gain_per_match", "Extra ASCOT gain over a year at a full match (match = 1)", PM, "ASCOT points",
      0.074, 0.04, 0.1, "calibrated: the baseline's mean gain is then near the evaluation's +0.057 vs +0.018 "
      "(V, docs/evidence.md E20), which stays a check in docs/validation.md", 0.0, 1.0),
    P("inpatient_reduction_per_match", "Fall in inpatient use at a full match", PM, "share", 0.3, 0.1, 0.5,
      "assumption: better-matched community support avoids admissions (lower indirect costs, V); size not "
      "published", 0.0, 1.0),
    P("contract_rebase_months", "Months between re-basings of a block contract on last year's activity", PM,
      "months", 12, 12, 36, "assumption: NHS contracts are set each April; some run longer", 1, 120),
    *(P(f"inpatient_bed_days_{c}", f"Inpatient bed-days a year per person, {c.replace('_', ' ')}", PM,
        "bed-days per year", v, v * 0.5, v * 2.0, "assumption: complex needs, frequent admissions; not in "
        "docs/evidence.md", 0.0, 365.0) for c, v in BED_DAYS.items()),
)
