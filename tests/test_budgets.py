"""Budgets: drawn per person from heavy-tailed distributions fitted to the pilot evaluation's figures."""

from __future__ import annotations

import datetime as dt

import numpy as np

from model import parameters as reg
from model.people import HOLDING
from model.rollout import COHORTS, RolloutModel
from model.scenario import load_scenario


def pilot_budgets(n: int = 200_000) -> np.ndarray:
    """Yearly budgets of a pilot-like mix of holders, drawn as the model draws them."""
    p = reg.defaults()
    rng = np.random.default_rng(1)
    shares = {"chc": p["pilot_mix_chc_share"], "mental_health": p["pilot_mix_mental_health_share"]}
    shares["long_term"] = 1 - sum(shares.values())
    cohort = rng.choice(list(shares), size=n, p=list(shares.values()))
    median = np.array([p[f"budget_median_{c}"] for c in cohort])
    return median * np.exp(p["budget_log_sd"] * rng.standard_normal(n))


def test_pilot_mix_reproduces_the_evaluations_budget_spread():
    b = pilot_budgets()
    assert 0.45 <= (b < 1_000).mean() <= 0.55  # about half under £1,000 a year (V2)
    assert 0.04 <= (b > 50_000).mean() <= 0.09  # 78 of 1,171 over £50,000 (6.7%)
    assert 0.002 <= (b > 150_000).mean() <= 0.012  # 7 of 1,171 over £150,000 (0.6%)


def test_model_budgets_are_heavy_tailed_and_ordered_by_need():
    model = RolloutModel(load_scenario("baseline").with_(until=dt.date(2014, 6, 30), agent_scale=5))
    ppl = model.people
    yearly = ppl.budget[: ppl.n] * 12 / 100
    cohort = ppl.cohort_of(np.arange(ppl.n))
    medians = {c: np.median(yearly[cohort == k]) for k, c in enumerate(COHORTS)}
    assert medians["chc"] > medians["learning_disability"] > medians["mental_health"] > medians["long_term"]
    chc = yearly[cohort == 0]
    assert chc.mean() > 1.3 * np.median(chc)  # right-skewed: mean well above median


def test_spend_is_the_sum_of_holders_budgets_to_the_penny():
    model = RolloutModel(load_scenario("baseline").with_(until=dt.date(2016, 6, 30), agent_scale=5))
    model.run()
    ppl = model.people
    held = np.isin(ppl.state[: ppl.n], HOLDING)
    assert model.spend.sum() == ppl.budget[: ppl.n][held].astype(np.int64).sum()
    assert model.recorder.spend[-1].sum() == model.spend.sum()
