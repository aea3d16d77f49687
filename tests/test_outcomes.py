"""Outcomes from the matching rule (issue 9): the evaluation's patterns must follow from it, and can fail."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model import parameters as reg
from model.outcomes import adequacy, cost_effectiveness
from model.people import HOLDING
from model.rollout import RolloutModel
from model.scenario import load_scenario
from model.services import counterfactual_scenario
from model.sim import Sim

SHORT = dict(until=dt.date(2017, 3, 31), agent_scale=10)


def short(**pars):
    s = load_scenario("baseline").with_(**SHORT)
    return s.with_parameters(**pars) if pars else s


def mean_gain(m: RolloutModel, months: int = 12) -> float:
    r = m.services.outcomes.rec
    return r["ascot_gain_sum"][-months:].sum() / r["holders"][-months:].sum()


@pytest.fixture(scope="module")
def model():
    return RolloutModel(short()).run()


def _with_vector(m, name, f):
    """Patch one CCG vector the rules read (what a more restrictive CCG would look like)."""
    orig = m._org_vector

    def patched(attr):
        v = orig(attr)
        return f(v) if attr == name else v
    m._org_vector = patched
    return orig


def test_restrictions_lower_the_match_through_the_rule(model):
    o, idx = model.services.outcomes, model.people.where(*HOLDING)
    base = o.match(idx)
    orig = _with_vector(model, "restrictiveness", lambda v: np.minimum(v + 0.5, 1.0))
    try:
        tighter = o.match(idx)
    finally:
        model._org_vector = orig
    assert (tighter <= base + 1e-12).all() and tighter.mean() < base.mean()


def test_larger_budgets_give_larger_gains(model):
    # across people in one run
    o, ppl = model.services.outcomes, model.people
    idx = ppl.where(*HOLDING)
    mt, cohort = o.match(idx), ppl.cohort_of(idx)
    chc = cohort == reg.COHORTS.index("chc")
    big = ppl.budget[idx] > np.median(ppl.budget[idx][chc])
    assert mt[chc & big].mean() > mt[chc & ~big].mean()
    # and across scenarios: the same people, every budget doubled
    doubled = {f"budget_median_{c}": 2 * reg.get(f"budget_median_{c}").default for c in reg.COHORTS}
    assert mean_gain(RolloutModel(short(**doubled)).run()) > mean_gain(model)
    assert adequacy(np.array([0.5, 1.0, 2.0]), 1.0).tolist() == sorted(adequacy(np.array([0.5, 1.0, 2.0]), 1.0))


def test_inpatient_use_falls_more_where_support_is_better_matched(model):
    res = Sim(short()).run(counterfactual=True)
    nat = res.extra["services_national"]
    assert (nat["inpatient_bed_days_diff"] <= 1e-6).all() and nat["inpatient_bed_days_diff"].iloc[-1] < 0
    # by way of holding: direct payments match better than notional budgets, so save more beds a holder
    ce = cost_effectiveness(res.extra["services_outcomes"], by="held_as")
    assert ce.loc["direct_payment", "mean_match"] > ce.loc["notional", "mean_match"]
    out = res.extra["services_outcomes"]
    last = out[out["month"] == out["month"].max()]
    chc = last[last["cohort"] == "chc"].set_index("held_as")
    per = chc["bed_days_saved"] / chc["holders"]
    assert per["direct_payment"] > per["notional"]
    # no match, no fall: the fall comes through the rule
    m = RolloutModel(short(inpatient_reduction_per_match=0.0)).run()
    cf = RolloutModel(counterfactual_scenario(short(inpatient_reduction_per_match=0.0))).run()
    a = m.services.org_rec["inpatient_bed_days"].sum(axis=1)
    b = cf.services.org_rec["inpatient_bed_days"].sum(axis=1)
    assert np.allclose(a, b)


def test_gain_differs_by_group_and_cost_effectiveness_is_reported(model):
    out = model.services.tables()["services_outcomes"]
    ce = cost_effectiveness(out)
    held = ce[ce["holders"] > 0]
    assert held["ascot_gain"].nunique() > 1 and (held["ascot_gain"] > 0).all()
    assert np.isfinite(held["net_cost_per_holder_year"]).all()
    assert set(held["verdict"]) <= {"cost-saving with a gain", "cost-effective", "costs more"}


def test_cost_per_outcome_over_runs_is_each_runs_figure_then_mean_and_interval(model):
    """The ensemble's cost per outcome (model.contrast.cost_per_outcome, all runs grouped at once) is each run's
    own cost_effectiveness, then the mean and 80% interval over runs; runs kept apart even when interleaved."""
    import pandas as pd

    from model.contrast import INTERVAL, cost_per_outcome

    one = model.services.tables()["services_outcomes"]
    scaled = one.assign(holders=one["holders"] * 2, cash_gbp=one["cash_gbp"] * 3)  # a second, different run
    runs = pd.concat([one.assign(run=0), scaled.assign(run=1), one.assign(run=2)]).sort_values(["month", "run"])
    got = cost_per_outcome(runs, "held_as")
    each = pd.concat([cost_effectiveness(r.drop(columns="run"), by="held_as").assign(run=k)
                      for k, r in runs.groupby("run")])
    for key, rows in each.groupby(level=0):
        for col in ("holders", "net_cost_per_holder_year", "ascot_gain"):
            vals = rows[col].to_numpy(float)
            assert np.isclose(got.loc[key, col], vals.mean(), equal_nan=True)
            assert np.isclose(got.loc[key, f"{col}_low"], np.quantile(vals, INTERVAL[0]), equal_nan=True)
    assert got.loc["direct_payment", "holders"] > cost_effectiveness(one, by="held_as").loc["direct_payment", "holders"]
