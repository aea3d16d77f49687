"""Parameter register: providers and money (the service side). One line per number, with its unit, range and source."""

import datetime as dt

from model.register.base import PM, P

D = dt.date

ROWS = (
    P("flexible_contract_share", "Share of traditional contract value that follows the patient", PM, "share",
      0.2, 0.05, 0.5, "assumption: most community and CHC money sat in block contracts (evidence E25)", 0.0, 1.0),
    P("decommission_propensity", "How readily a CCG decommissions services to fund PHBs", PM, "0–1", 0.3,
      0.1, 0.6, "assumption: some CCGs cut services to fund budgets (seed 004); extent unknown", 0.0, 1.0),
    P("decommission_max_share", "Largest share of a block contract a CCG decommissions in a year", PM,
      "share per year", 0.15, 0.05, 0.3, "assumption: contracts are renegotiated yearly; notice periods limit cuts",
      0.0, 1.0),
    P("other_users_ratio", "Users of the same traditional services outside the PHB cohorts, per cohort user",
      PM, "ratio", 1.0, 0.5, 3.0, "assumption: community services serve many people never offered a PHB",
      0.0, 20.0),
    P("referrals_per_user_year", "New referrals (episodes) per service user a year", PM, "per year", 2.0, 1.0,
      6.0, "assumption: reviews, new packages and re-referrals; sets the queue's arrival rate", 0.1, 52.0),
    P("initial_utilisation", "Demand as a share of traditional services' capacity in April 2014", PM, "share",
      0.99, 0.95, 1.0, "assumption: NHS community services ran at capacity with standing waiting lists", 0.1, 1.0),
    P("arrival_variability", "Week-to-week variability of referrals relative to Poisson", PM, "ratio", 1.0,
      0.5, 2.0, "assumption: Poisson-like referrals; >1 for seasonal or clustered demand", 0.0, 5.0),
    P("fixed_cost_share", "Share of a provider's costs that do not fall when activity falls", PM, "share",
      0.6, 0.4, 0.8, "assumption: staff on contracts, buildings; the reason block contracts exist", 0.0, 1.0),
    P("provider_margin", "Providers' income above costs in April 2014", PM, "share", 0.02, 0.0, 0.05,
      "assumption: NHS and voluntary providers run near break-even", 0.0, 0.5),
    P("viability_months", "Months of income below costs before a provider sheds capacity", PM, "months", 6,
      3, 12, "assumption: reserves and a yearly contract round carry a provider a few months", 1, 60),
    P("shrink_step", "Share of capacity a provider in sustained deficit sheds each month", PM, "per month",
      0.05, 0.02, 0.1, "assumption: staff leave or are not replaced; services close wards or sessions",
      0.0, 1.0),
    P("closure_threshold", "A provider closes when capacity falls below this share of its April 2014 level",
      PM, "share", 0.6, 0.4, 0.8, "assumption: below about 60% of its size a service is no longer viable "
      "(a Mind centre in Essex closed, seed 004, V2)", 0.0, 1.0),
    P("capacity_growth_rate", "Monthly capacity growth of a solvent provider whose demand exceeds capacity",
      PM, "per month", 0.02, 0.0, 0.05, "assumption: recruiting takes months; growth only when income pays for it",
      0.0, 1.0),
    P("market_development_rate", "Yearly growth of non-NHS supply (personal assistants, voluntary sector)",
      PM, "per year", 0.5, 0.2, 1.0, "assumption: markets for personal assistants grew over years, not months",
      0.0, 5.0),
    P("initial_market_share", "Non-NHS supply in April 2014, as a share of budget-holders' outside spending",
      PM, "share", 1.0, 0.5, 2.0, "assumption: pilot-era supply covered the pilot-legacy holders", 0.0, 10.0),
    P("phb_nhs_spend_share", "Share of budget-holders' spending that goes to NHS providers", PM, "share",
      0.35, 0.2, 0.5, "assumption: budget-holders buy more outside conventional NHS providers (seed 003, V); "
      "size not published", 0.0, 1.0),
    P("non_traditional_share", "Share of budget-holders' spending on items the evaluation calls non-traditional",
      PM, "share", 0.2, 0.1, 0.35, "assumption: gym, courses, equipment, therapies (seed 002, V); size not "
      "published", 0.0, 1.0),
    P("non_evidence_share", "Share of budget-holders' spending a critic would call non-evidence-based", PM,
      "share", 0.02, 0.005, 0.06, "assumption: holidays, consoles, a summer house reported as anecdotes "
      "(seed 004, V2); a small subset of non-traditional", 0.0, 1.0),
    P("support_cost_per_holder", "Support planning, reviews and brokerage a holder costs a year (not wheelchair "
      "budgets, issued at the standard assessment)", PM, "£ per year", 450.0, 250.0, 900.0,
      "assumption: a few days of a support planner's time a year, whatever the budget's size (baseline 2020/21: "
      "about £19m a year by `phb findings` on 24 Nov 2026, against £61m under the former 7%-of-budget rule)", 0.0, 10_000.0),
    P("third_party_fee_share", "A third party's management fee, as a share of the budget it holds", PM, "share",
      0.08, 0.04, 0.12, "assumption: typical managed-account fees", 0.0, 1.0),
    P("inpatient_bed_days_per_year", "Inpatient bed-days per person a year in the PHB cohorts", PM,
      "bed-days per year", 6.0, 3.0, 12.0, "assumption: complex needs, frequent admissions; not in docs/evidence.md; "
      "at least 0.5: the service side divides by it", 0.5, 365.0),
    P("inpatient_cost_per_bed_day", "Cost of an inpatient bed-day", PM, "£", 350.0, 300.0, 450.0,
      "assumption: NHS reference costs of the period, not in docs/evidence.md", 0.0, 5_000.0),
    P("ascot_gain_phb", "Care-related quality of life (ASCOT) gain over a year with a PHB", PM, "ASCOT points",
      0.057, 0.04, 0.07, "V: +0.057 with a PHB (evidence E20)", -1.0, 1.0),
    P("ascot_gain_without", "ASCOT gain over a year without a PHB (controls)", PM, "ASCOT points", 0.018,
      0.01, 0.025, "V: +0.018 without (evidence E20)", -1.0, 1.0),
)
