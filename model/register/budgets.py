"""Parameter register: budgets: heavy-tailed, by cohort. One line per number, with its unit, range and source."""

import datetime as dt

from model.register.base import BU, P

D = dt.date

ROWS = (
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
)
