"""The pilot evaluation's patterns (issue 9), checked as consequences of the rules, not imposed.
Restrictive sites worse and larger budgets bigger gains: tests/test_take_up.py and tests/test_outcomes.py.
Here: CHC and mental health the cost-effective groups, and no overall cost difference with lower indirect
costs; and the paired contrast `phb contrast` is built on (model/contrast.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model.cli import main
from model.contrast import MEASURES, contrast_table, effects
from model.outcomes import cost_effectiveness
from model.scenario import load_scenario
from model.service_tables import NET_PARTS
from model.sim import Sim

SHORT = dict(until=dt.date(2018, 3, 31), agent_scale=10)


def short(**pars):
    s = load_scenario("baseline").with_(**SHORT)
    return s.with_parameters(**pars) if pars else s


@pytest.fixture(scope="module")
def paired():
    return Sim(short()).run(counterfactual=True).extra


def test_chc_and_mental_health_are_the_cost_effective_groups(paired):
    ce = cost_effectiveness(paired["services_outcomes"])
    ce = ce[ce["holders"] > 0]
    # the two groups with most inpatient use save most beds a holder, and on balance cost nothing or save
    top = set(ce["inpatient_saved_per_holder_year"].nlargest(2).index)
    assert top == {"chc", "mental_health"}
    assert (ce.loc[["chc", "mental_health"], "net_cost_per_holder_year"] <= 0).all()
    # and even before money reclaimed unspent (a supply shortage, not a benefit), they are the two groups with
    # a personal budget-planning process whose beds saved pay for their support
    before = ce["net_cost_per_holder_year"] - ce["net_reclaimed"]
    planned = before.drop("wheelchair")  # a wheelchair budget is issued at the standard assessment
    assert set(planned.nsmallest(2).index) == {"chc", "mental_health"}
    assert (planned[["chc", "mental_health"]] <= 0).all()
    # the split adds up to the net cost
    parts = ce[[c for c in ce.columns if c.startswith("net_") and c != "net_cost_per_holder_year"]].sum(axis=1)
    assert np.allclose(parts, ce["net_cost_per_holder_year"])


def test_without_fewer_admissions_chc_and_mental_health_lose_their_advantage(paired):
    base = cost_effectiveness(paired["services_outcomes"])
    flat = cost_effectiveness(Sim(short(inpatient_reduction_per_match=0.0)).run().extra["services_outcomes"])
    for c in ("chc", "mental_health"):
        assert flat.loc[c, "inpatient_saved_per_holder_year"] == 0
        assert flat.loc[c, "net_cost_per_holder_year"] > base.loc[c, "net_cost_per_holder_year"]


def test_no_overall_cost_difference_with_lower_indirect_costs(paired):
    year = paired["services_national"].tail(12)
    net, spend = year["net_cost_to_nhs_gbp"].sum(), year["total_gbp_cf"].sum()
    assert abs(net) < 0.02 * spend  # within 2% of what CCGs spend on these cohorts' services
    assert year["net_inpatient_gbp"].sum() < 0 and year["inpatient_bed_days_diff"].sum() < 0
    assert year["net_budgets_gbp"].sum() > 0  # direct costs higher
    parts = sum(year[f"net_{k}_gbp"] for k in NET_PARTS)
    assert np.allclose(parts, year["net_cost_to_nhs_gbp"], atol=0.02)  # the split adds up (pence rounding)


def test_paired_effects_have_no_budget_effects_in_the_no_phb_arm():
    s = load_scenario("cuts_fund_phbs").with_(until=dt.date(2016, 3, 31), agent_scale=200)
    e = effects(s, 2, store=None, workers=1)
    assert list(e.with_phbs.index) == list(e.no_phbs.index) == [0, 1]
    for k in ("decommissioned", "double_running", "net_budgets", "net_support", "closures_budgets"):
        assert (e.no_phbs[k] == 0).all(), k
    assert (e.effect["decommissioned"] > 0).all()
    t = contrast_table(e, e).set_index("measure")
    assert set(t.index) == {m[0] for m in MEASURES}
    assert (t["diff"] == 0).all()  # a scenario against itself differs by nothing, run by run
    assert pd.api.types.is_float_dtype(t["a_low"])


def test_contrast_refuses_an_unknown_scenario(capsys):
    assert main(["contrast", "no_such_scenario", "baseline", "--runs", "1", "--quiet"]) == 2
    assert "no_such_scenario" in capsys.readouterr().err
