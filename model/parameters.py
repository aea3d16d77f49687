"""The parameter register: every number the model uses, with its unit, range and source.

One line per parameter, Covasim-style. The scenario schema, the model, the docs and the dashboard all
read this table, so a label or a range is written once. `low`/`high` is the plausible range (read as an
80% interval by the ensembles); `min`/`max` is what validation accepts. Sources cite DOMAIN.md
(V: official source, V2: secondary, D: derived) or say "assumption" with a one-line reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

Value = float | int | bool | str | dt.date

GROUPS = ("national policy", "CCG behaviour", "patients", "budgets", "providers and money")
COHORTS = ("chc", "children", "mental_health", "learning_disability", "long_term", "wheelchair")
COHORT_LABELS = {
    "chc": "NHS Continuing Healthcare (adults)",
    "children": "Children's continuing care",
    "mental_health": "Mental health (incl. section 117)",
    "learning_disability": "Learning disability and autism",
    "long_term": "Long-term conditions",
    "wheelchair": "Wheelchair users",
}


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    group: str
    unit: str
    default: Value
    low: Value | None  # plausible range, read as an 80% interval
    high: Value | None
    source: str
    min: Value | None = None  # what validation accepts (defaults to 0 / no upper bound)
    max: Value | None = None
    choices: tuple[str, ...] | None = None
    lever: bool = False  # a policy choice the user sets, not an uncertain fact: ensembles never draw it

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def uncertain(self) -> bool:
        """Numeric parameters with a range can be drawn in an ensemble."""
        return isinstance(self.default, (int, float)) and not isinstance(self.default, bool) \
            and self.low is not None and self.high is not None and self.low != self.high and not self.lever


D = dt.date
P = Parameter
NP, CB, PT, BU, PM = GROUPS

REGISTER: tuple[Parameter, ...] = (
    # ---- national policy: dates and levers -------------------------------------------------------
    P("right_to_ask_date", "Right to ask for a PHB (CHC, children's continuing care)", NP, "date",
      D(2014, 4, 1), D(2014, 4, 1), D(2014, 4, 1), "V: DOMAIN.md timeline, Apr 2014", D(2013, 4, 1), D(2030, 3, 1)),
    P("right_to_have_date", "Right to have a PHB (CHC, children's continuing care)", NP, "date",
      D(2014, 10, 1), D(2014, 10, 1), D(2014, 10, 1), "V: DOMAIN.md timeline, 1 Oct 2014", D(2013, 4, 1), D(2030, 3, 1)),
    P("extended_offer_date", "Offer extended to long-term conditions, mental health, learning disability",
      NP, "date", D(2015, 4, 1), D(2015, 4, 1), D(2016, 4, 1), "V2: NHS England commitment, Apr 2015",
      D(2013, 4, 1), D(2030, 3, 1)),
    P("section117_right_date", "Legal right extended to section 117 aftercare", NP, "date",
      D(2019, 12, 1), D(2019, 12, 1), D(2019, 12, 1), "V: HC written statement 31 Oct 2019, from Dec 2019",
      D(2013, 4, 1), D(2030, 3, 1)),
    P("wheelchair_right_date", "Personal wheelchair budgets: wheelchair users eligible", NP, "date",
      D(2019, 12, 1), D(2019, 12, 1), D(2019, 12, 1), "V: HC written statement 31 Oct 2019, from Dec 2019",
      D(2013, 4, 1), D(2030, 3, 1)),
    P("chc_default_date", "PHB by default for CHC home care", NP, "date", D(2019, 4, 1), D(2019, 4, 1),
      D(2020, 4, 1), "assumption: NHS England planning guidance dated it Apr 2019; not in DOMAIN.md",
      D(2013, 4, 1), D(2031, 3, 31)),
    P("right_to_have_multiplier", "Rise in offer rate when a right to have applies", NP, "ratio",
      1.5, 1.1, 2.5, "assumption: a legal right makes CCGs offer more; no published effect size", 1.0, 10.0),
    P("chc_default_multiplier", "Rise in CHC offer rate under PHB-by-default", NP, "ratio", 2.0, 1.2, 4.0,
      "assumption: default offers reach most home-care CHC people; no published effect size", 1.0, 10.0),
    P("national_push_date", "National push and funding begins", NP, "date", D(2016, 4, 1), D(2016, 4, 1),
      D(2016, 4, 1), "V: mandate 2016–2021 (DOMAIN.md timeline)", D(2013, 4, 1), D(2030, 3, 1)),
    P("national_push_strength", "Strength of the national push on CCGs", NP, "0–1", 0.3, 0.1, 0.6,
      "assumption: 2016 planning guidance set milestones but little money; 0 = none, 1 = all-out",
      0.0, 1.0, lever=True),
    P("national_target", "National target for people holding a PHB", NP, "people", 50_000, 50_000, 100_000,
      "V: mandate 50,000–100,000 by March 2021", 0, 2_000_000, lever=True),
    P("national_target_date", "Date the national target is due", NP, "date", D(2021, 3, 31),
      D(2021, 3, 31), D(2021, 3, 31), "V: mandate, by March 2021", D(2014, 4, 1), D(2030, 3, 31)),
    P("covid_start", "Covid-19 disruption starts", NP, "date", D(2020, 3, 1), D(2020, 3, 1), D(2020, 3, 1),
      "V: DOMAIN.md timeline, Mar 2020", D(2013, 4, 1), D(2031, 3, 31)),
    P("covid_end", "Covid-19 disruption ends", NP, "date", D(2021, 6, 30), D(2021, 3, 31), D(2021, 12, 31),
      "V: DOMAIN.md timeline, 2020/21; end month an assumption", D(2013, 4, 1), D(2031, 3, 31)),
    P("covid_offer_reduction", "Share of offers and support planning lost during Covid-19", NP, "share",
      0.4, 0.2, 0.6, "assumption: routine activity disrupted (V); size not published", 0.0, 1.0),
    P("funding_follows_target", "Share of CCGs' financial pressure offset by national funding in a push",
      NP, "share", 0.0, 0.0, 0.5, "assumption: baseline had no ring-fenced money; a push scenario adds it",
      0.0, 1.0, lever=True),
    # ---- CCG behaviour --------------------------------------------------------------------------
    P("pilot_site_share", "Share of CCGs that inherit pilot experience", CB, "share", 0.44, 0.4, 0.46,
      "D: 64–70 of 152 PCTs piloted (seed 001: about half); the site list is not in the shared data",
      0.0, 1.0),
    P("initial_readiness_gff", "Starting readiness, 'going further, faster' sites", CB, "0–1", 0.6, 0.4,
      0.8, "assumption: named Nov 2012 to show how to mainstream PHBs (seed 000)", 0.0, 1.0),
    P("initial_readiness_pilot", "Starting readiness, former pilot areas", CB, "0–1", 0.3, 0.2, 0.45,
      "assumption: pilots ran 2009–12 on a small scale (seed 001)", 0.0, 1.0),
    P("initial_readiness_other", "Starting readiness, other CCGs", CB, "0–1", 0.08, 0.03, 0.15,
      "assumption: no prior experience; regional learning hubs from 2013 (seed 000)", 0.0, 1.0),
    P("readiness_learning_rate", "Own learning: yearly gain in readiness", CB, "per year", 0.081, 0.06,
      0.25, "calibrated: fitted to shared/data/phb_uptake_calibration.csv (model/calibration.py)",
      0.0, 2.0),
    P("peer_learning_rate", "Learning from more advanced CCGs in the same region", CB, "per year", 0.2,
      0.05, 0.5, "assumption: regional learning networks spread practice; no published rate", 0.0, 2.0),
    P("regional_leader_share", "Share of a region's CCGs that others learn from (the most advanced)", CB,
      "share", 0.25, 0.1, 0.5, "assumption: CCGs copy successful neighbours, here the region's leading quarter",
      0.01, 1.0),
    P("target_response", "How strongly a CCG behind its share of the target speeds up", CB, "per year",
      0.6, 0.2, 1.2, "assumption: CCGs respond to milestones in planning guidance", 0.0, 5.0),
    P("pressure_brake", "How far financial pressure holds a CCG back", CB, "0–1", 0.5, 0.2, 0.8,
      "assumption: austerity (seed 004) slows new commitments", 0.0, 1.0),
    P("financial_pressure_mean", "Mean financial pressure on CCGs", CB, "0–1", 0.3, 0.15, 0.5,
      "assumption: many CCGs in deficit 2015–19; no single index published", 0.0, 1.0),
    P("financial_pressure_spread", "Spread of financial pressure between CCGs", CB, "0–1", 0.15, 0.05, 0.25,
      "assumption: standard deviation of a clipped normal", 0.0, 0.5),
    P("activeness_spread", "Spread between CCGs in how actively they offer", CB, "log-sd", 0.4, 0.2, 0.7,
      "assumption: PHBs per head varied several-fold between CCGs (DOMAIN.md, partial reporting)",
      0.0, 2.0),
    P("restrictiveness_mean", "Mean restrictiveness on what a budget may buy", CB, "0–1", 0.3, 0.15, 0.5,
      "assumption: evaluation found restrictive and permissive sites (seed 003)", 0.0, 1.0),
    P("restrictiveness_spread", "Spread of restrictiveness between CCGs", CB, "0–1", 0.15, 0.05, 0.25,
      "assumption: standard deviation of a clipped normal", 0.0, 0.5),
    P("direct_payment_ccg_share", "Share of CCGs that offer direct payments", CB, "share", 0.85, 0.7, 0.95,
      "assumption: direct payments lawful nationally from 2013 (seed 000); most CCGs offered them",
      0.0, 1.0),
    P("coordinators_per_100k", "Care coordinators per 100,000 population at full readiness", CB,
      "FTE per 100k", 0.6, 0.3, 1.2, "assumption: brokerage teams of a few staff per CCG", 0.0, 10.0),
    P("plans_per_coordinator", "Support plans a coordinator completes", CB, "plans per month", 6.0, 3.0,
      10.0, "assumption: a plan takes several meetings; 1–2 a week", 0.1, 50.0),
    P("planning_carryover_months", "How long unused support-planning capacity can be carried over", CB,
      "months", 1.0, 0.0, 3.0, "assumption: coordinators' spare time is lost within weeks", 0.0, 24.0),
    P("decommission_readiness_weight", "Extra drive to decommission at a fully PHB-ready CCG", PM, "ratio",
      1.0, 0.5, 2.0, "assumption: a CCG that has planned for PHBs knows which contracts to cut", 0.0, 5.0),
    P("merger_policy", "Policy a merged CCG takes", CB, "rule", "most_advanced", None, None,
      "assumption: merged CCGs kept the more developed PHB offer; 'population_weighted' averages",
      choices=("most_advanced", "population_weighted")),
    # ---- patients: eligible populations ---------------------------------------------------------
    P("chc_eligible", "Adults eligible for NHS CHC at a point in time", PT, "people", 62_000, 54_000,
      63_000, "V: 61,636–62,854 in 2014/15–2015/16; 54,411 in 2017/18 (V2)", 0, 1_000_000),
    P("chc_new_per_quarter", "People newly eligible for CHC", PT, "people per quarter", 25_301, 22_000,
      27_000, "V: 25,301 newly eligible in Q2 2015/16", 0, 1_000_000),
    P("chc_fast_track_share", "Fast-track (end of life) share of people eligible for CHC", PT, "share",
      0.33, 0.28, 0.36, "V: about a third of CHC; 17,297 of 54,411 in Q4 2017/18 (V2)", 0.0, 0.9),
    P("children_eligible", "Children in continuing care", PT, "people", 5_500, 3_500, 8_000,
      "assumption: 'up to 56,000' with the right to ask (seed 000) less ~50,000 CHC adults", 0, 100_000),
    P("children_mean_months", "Mean time a child stays in continuing care", PT, "months", 36, 24, 60,
      "assumption: long-term complex needs, leave at 18 or on recovery", 1, 240),
    P("mental_health_eligible", "People in mental-health services who could be offered a PHB", PT,
      "people", 80_000, 40_000, 150_000, "assumption: eligibility at CCG discretion (DOMAIN.md)", 0, 2_000_000),
    P("mental_health_mean_months", "Mean time in the eligible mental-health group", PT, "months", 24, 12,
      48, "assumption: episodes of secondary care", 1, 240),
    P("section117_share", "Share of the mental-health group under section 117 aftercare", PT, "share",
      0.25, 0.15, 0.4, "assumption: no national count is collected (DOMAIN.md)", 0.0, 1.0),
    P("learning_disability_eligible", "People with learning disability or autism who could be offered a PHB",
      PT, "people", 40_000, 20_000, 80_000, "assumption: eligibility at CCG discretion (DOMAIN.md)", 0,
      1_000_000),
    P("learning_disability_mean_months", "Mean time in the eligible learning-disability group", PT,
      "months", 72, 36, 120, "assumption: lifelong needs; leave through death or moving", 1, 480),
    P("long_term_eligible", "People with long-term conditions who could benefit", PT, "people", 300_000,
      150_000, 600_000, "assumption: a small share of ~15m with a long-term condition (DOMAIN.md: size as assumption)",
      0, 20_000_000),
    P("long_term_mean_months", "Mean time in the eligible long-term-conditions group", PT, "months", 60, 36,
      120, "assumption: chronic conditions", 1, 480),
    P("wheelchair_eligible", "People relying on NHS wheelchair services in England", PT, "people", 500_000,
      420_000, 560_000, "D: ~1.2m UK wheelchair users, about half NHS (V/V2), × 0.84 England share", 0,
      5_000_000),
    P("wheelchair_mean_months", "Mean time a person uses NHS wheelchair services", PT, "months", 96, 60,
      144, "assumption: long-term users", 1, 600),
    P("wheelchair_assessment_rate", "Share of wheelchair users assessed or reviewed each year", PT,
      "per year", 0.35, 0.2, 0.5, "assumption: a personal wheelchair budget is offered at assessment", 0.0,
      1.0),
    P("chc_fast_track_mean_months", "Mean time a fast-track CHC person stays eligible", PT, "months", 3.0,
      2.6, 4.5, "assumption: end of life, reviewed at 3 months; above ~2.4, the shortest stay that lets 25,301 "
      "new a quarter (V) sustain a fast-track third of 62,000 (V)", 0.25, 24.0),
    # offer rates: yearly chance of being offered at a fully ready, typical CCG once the cohort is in scope
    P("offer_rate_chc", "Yearly offer chance, CHC, at a fully ready CCG", PT, "per year", 0.44, 0.2, 0.6,
      "calibrated: fitted to shared/data/phb_uptake_calibration.csv (model/calibration.py)", 0.0, 0.99),
    P("offer_rate_children", "Yearly offer chance, children's continuing care", PT, "per year", 0.3, 0.15,
      0.5, "assumption: same footing as CHC, slightly lower", 0.0, 0.99),
    P("offer_rate_mental_health", "Yearly offer chance, mental health", PT, "per year", 0.08, 0.03, 0.2,
      "assumption: discretionary; seven demonstrator sites only from 2015 (seed 002)", 0.0, 0.99),
    P("offer_rate_learning_disability", "Yearly offer chance, learning disability and autism", PT,
      "per year", 0.1, 0.04, 0.25, "assumption: discretionary; Transforming Care push", 0.0, 0.99),
    P("offer_rate_long_term", "Yearly offer chance, long-term conditions", PT, "per year", 0.02, 0.005,
      0.05, "assumption: discretionary and small-scale", 0.0, 0.99),
    P("offer_rate_wheelchair", "Share of wheelchair assessments with a budget offer", PT, "share", 0.6,
      0.3, 0.9, "assumption: personal wheelchair budgets became the standard offer", 0.0, 1.0),
    P("take_up_chc", "Chance a CHC person offered a PHB takes it up", PT, "share", 0.40, 0.3, 0.6,
      "calibrated: fitted to shared/data/phb_uptake_calibration.csv (model/calibration.py)", 0.0, 1.0),
    P("take_up_children", "Take-up when offered, children's continuing care", PT, "share", 0.5, 0.3, 0.7,
      "assumption: families often want control (seed 001 pathfinders)", 0.0, 1.0),
    P("take_up_mental_health", "Take-up when offered, mental health", PT, "share", 0.4, 0.2, 0.6,
      "assumption: evaluation found benefit for mental health (seed 003)", 0.0, 1.0),
    P("take_up_learning_disability", "Take-up when offered, learning disability and autism", PT, "share",
      0.4, 0.2, 0.6, "assumption: needs a representative; see capacity rules", 0.0, 1.0),
    P("take_up_long_term", "Take-up when offered, long-term conditions", PT, "share", 0.3, 0.15, 0.5,
      "assumption: smaller budgets, less to gain", 0.0, 1.0),
    P("take_up_wheelchair", "Take-up when offered, wheelchair users", PT, "share", 0.8, 0.6, 0.95,
      "assumption: a notional wheelchair budget costs the person little effort", 0.0, 1.0),
    P("fast_track_take_up_factor", "Take-up of fast-track (end of life) people relative to other CHC", PT,
      "ratio", 0.3, 0.1, 0.6, "assumption: little time to plan at the end of life", 0.0, 1.0),
    P("carer_share", "Share of people with a family carer or advocate", PT, "share", 0.55, 0.4, 0.7,
      "assumption: equity concern that budgets favour those with carers (DOMAIN.md)", 0.0, 1.0),
    P("capacity_share", "Share of people able to manage a budget themselves", PT, "share", 0.5, 0.3, 0.7,
      "assumption: many CHC and learning-disability people lack capacity", 0.0, 1.0),
    P("carer_take_up_factor", "Take-up with a carer or advocate, relative to without", PT, "ratio", 1.4,
      1.1, 2.0, "assumption: carers help with planning and paperwork", 0.5, 5.0),
    P("unsupported_take_up_factor", "Take-up with neither capacity nor carer, relative to others", PT,
      "ratio", 0.5, 0.3, 0.8, "assumption: no one to manage the budget", 0.0, 1.0),
    P("restrictiveness_take_up_penalty", "Take-up lost at a fully restrictive CCG", PT, "share", 0.6, 0.3,
      0.9, "assumption: restrictive sites worsened outcomes (V, seed 003); size not published", 0.0, 1.0),
    P("peer_take_up_boost", "Take-up gain once enough local eligible people hold a PHB", PT,
      "ratio", 0.3, 0.1, 0.8, "assumption: word of mouth among people and families", 0.0, 5.0),
    P("peer_saturation_share", "Share of local eligible people holding a PHB at which word of mouth is full",
      PT, "share", 0.1, 0.05, 0.3, "assumption: a few neighbours with a budget is enough to hear of it",
      0.001, 1.0),
    P("support_take_up_penalty", "Take-up lost where support planning is swamped", PT, "share", 0.3, 0.1,
      0.6, "assumption: information and brokerage make the offer real", 0.0, 1.0),
    P("direct_payment_preference", "Chance a person able to manage money chooses a direct payment", PT,
      "share", 0.89, 0.7, 0.98, "calibrated: ~3,700 of ~4,700 held as direct payments (seed 004)", 0.0, 1.0),
    P("third_party_share", "Share of the rest managed by a third party rather than notionally", PT,
      "share", 0.25, 0.1, 0.4, "assumption: third-party arrangements less common than notional", 0.0, 1.0),
    P("initial_holders", "People holding a PHB in April 2014 (pilot legacy)", PT, "people", 2_800, 1_000,
      3_500, "calibrated: fitted to shared/data/phb_uptake_calibration.csv (model/calibration.py)", 0,
      100_000),
    P("initial_holders_chc_share", "CHC share of the pilot-legacy holders", PT, "share", 0.6, 0.4, 0.8,
      "assumption: CHC was the largest pilot group with the biggest gains (seed 000)", 0.0, 1.0),
    P("chc_death_share", "Share of standard CHC leavers who die (the rest recover or lose eligibility)",
      PT, "share", 0.6, 0.4, 0.8, "assumption: CHC is for the most complex, often deteriorating needs",
      0.0, 1.0),
    P("other_death_share", "Share of leavers of other cohorts who die", PT, "share", 0.15, 0.05, 0.3,
      "assumption: most leave through recovery, moving or reassessment", 0.0, 1.0),
    P("recovery_share", "Share of leavers who do not die who leave through recovery", PT, "share", 0.5,
      0.3, 0.7, "assumption: the rest lose eligibility at reassessment", 0.0, 1.0),
    P("reporting_share", "Share of the true count that voluntary CCG returns captured", PT, "share",
      0.885, 0.8, 0.95, "D: 185 of 209 CCGs reported in Oct 2016", 0.0, 1.0),
    # ---- budgets: heavy-tailed, by cohort --------------------------------------------------------
    P("budget_median_chc", "Median yearly budget, CHC", BU, "£ per year", 18_000, 12_000, 25_000,
      "D: CCGs planned >£120m for 4,800 people in 2015/16, ~£25,000 a head (V2), mostly CHC", 0, 1_000_000),
    P("budget_median_children", "Median yearly budget, children's continuing care", BU, "£ per year",
      15_000, 8_000, 25_000, "assumption: continuing-care packages similar to CHC", 0, 1_000_000),
    P("budget_median_mental_health", "Median yearly budget, mental health", BU, "£ per year", 500, 300,
      1_500, "D: fitted with the pilot mix so about half of pilot budgets are under £1,000 (V2)", 0, 1_000_000),
    P("budget_median_learning_disability", "Median yearly budget, learning disability", BU, "£ per year",
      8_000, 3_000, 20_000, "assumption: between CHC and long-term conditions", 0, 1_000_000),
    P("budget_median_long_term", "Median yearly budget, long-term conditions", BU, "£ per year", 450, 250,
      1_000, "D: fitted with the pilot mix so about half of pilot budgets are under £1,000 (V2)", 0, 1_000_000),
    P("budget_median_wheelchair", "Median yearly value of a personal wheelchair budget", BU, "£ per year",
      700, 400, 1_500, "assumption: chair cost spread over its life", 0, 1_000_000),
    P("budget_log_sd", "Spread of budgets within a cohort", BU, "log-sd", 1.0, 0.7, 1.3,
      "D: fitted so the pilot mix gives ~half under £1,000 and ~7% over £50,000 (V2; tests/test_budgets.py)",
      0.0, 3.0),
    P("pilot_mix_chc_share", "CHC share of the evaluation's budget-holders (for the budget fit only)", BU,
      "share", 0.35, 0.2, 0.45, "assumption: CHC was one of six pilot groups and held the large budgets", 0.0, 1.0),
    P("pilot_mix_mental_health_share", "Mental-health share of the evaluation's budget-holders (budget fit only)",
      BU, "share", 0.25, 0.15, 0.35, "assumption: one of six pilot groups; the rest had long-term conditions",
      0.0, 1.0),
    # ---- providers and money (the service side) --------------------------------------------------
    P("flexible_contract_share", "Share of traditional contract value that follows the patient", PM, "share",
      0.2, 0.05, 0.5, "assumption: most community and CHC money sat in block contracts (DOMAIN.md)", 0.0, 1.0),
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
    P("initial_wait_weeks", "Waiting list of traditional services in April 2014, in weeks of referrals", PM,
      "weeks", 6.0, 2.0, 12.0, "assumption: community-service waits of several weeks; not in DOMAIN.md", 0.0, 52.0),
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
    P("support_cost_share", "Support planning and brokerage cost, as a share of PHB payments", PM, "share",
      0.07, 0.03, 0.12, "assumption: brokerage and support teams, a few per cent of budgets", 0.0, 1.0),
    P("inpatient_bed_days_per_year", "Inpatient bed-days per person a year in the PHB cohorts", PM,
      "bed-days per year", 6.0, 3.0, 12.0, "assumption: complex needs, frequent admissions; not in DOMAIN.md",
      0.0, 365.0),
    P("inpatient_cost_per_bed_day", "Cost of an inpatient bed-day", PM, "£", 350.0, 300.0, 450.0,
      "assumption: NHS reference costs of the period, not in DOMAIN.md", 0.0, 5_000.0),
    P("inpatient_reduction_phb", "Fall in inpatient use for budget-holders", PM, "share", 0.15, 0.05, 0.3,
      "V: evaluation found lower indirect costs, inpatient care fell (DOMAIN.md); size an assumption. A fall: "
      "min 0", 0.0, 1.0),
    P("ascot_gain_phb", "Care-related quality of life (ASCOT) gain over a year with a PHB", PM, "ASCOT points",
      0.057, 0.04, 0.07, "V: +0.057 with a PHB (DOMAIN.md, evaluation)", -1.0, 1.0),
    P("ascot_gain_without", "ASCOT gain over a year without a PHB (controls)", PM, "ASCOT points", 0.018,
      0.01, 0.025, "V: +0.018 without (DOMAIN.md, evaluation)", -1.0, 1.0),
    P("restrictive_ascot_penalty", "Share of the extra ASCOT gain lost at a fully restrictive CCG", PM, "share",
      0.5, 0.2, 0.9, "assumption: restrictive sites tended to worsen outcomes (V, seed 003); size not published",
      0.0, 1.0),
)

BY_NAME: dict[str, Parameter] = {p.name: p for p in REGISTER}
assert len(BY_NAME) == len(REGISTER), "duplicate parameter names in the register"


def defaults() -> dict[str, Value]:
    return {p.name: p.default for p in REGISTER}


def get(name: str) -> Parameter:
    return BY_NAME[name]


def by_group() -> dict[str, list[Parameter]]:
    return {g: [p for p in REGISTER if p.group == g] for g in GROUPS}


def as_records() -> list[dict[str, Any]]:
    """The register as plain rows, for tables in the docs and the dashboard."""
    return [
        dict(name=p.name, label=p.label, group=p.group, unit=p.unit, default=p.default, low=p.low,
             high=p.high, source=p.source)
        for p in REGISTER
    ]


def markdown_table() -> str:
    """The register as the Markdown page docs/parameters.md (regenerate: python -m model.parameters)."""
    lines = ["# Parameter register", "",
             "Generated from `model/parameters.py` by `python -m model.parameters > docs/parameters.md`; "
             "a test fails if this page and the register differ. Range = plausible low–high, read as an "
             "80% interval by ensembles. Sources: V official, V2 secondary, D derived (see DOMAIN.md), "
             "assumption (with its reason), calibrated (fitted by model/calibration.py).", ""]
    for group, params in by_group().items():
        lines += [f"## {group.capitalize()}", "", "| parameter | meaning | unit | default | range | source |",
                  "|---|---|---|---|---|---|"]
        for p in params:
            rng = f"{p.low} – {p.high}" if p.low is not None and p.low != p.high else \
                (", ".join(p.choices) if p.choices else "fixed")
            kind = " (policy lever)" if p.lever else ""
            lines.append(f"| `{p.name}` | {p.label}{kind} | {p.unit} | {p.default} | {rng} | {p.source} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(), end="")
