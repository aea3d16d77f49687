"""Calibration: recovers parameters from figures the model itself made, the posterior predictive covers
them, the shipped figure table is derived from the shared data, and ensembles draw from a named posterior."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from model import calibrate as cal
from model import parameters as reg
from model.ensemble import draw_parameters
from model.posterior import Posterior, PosteriorError, load_posterior
from model.scenario import ScenarioError, load_scenario

TRUTH = {"initial_holders": 1_200, "offer_rate_chc": 0.55}


@pytest.fixture(scope="module")
def synthetic():
    """Figures the model generates at known parameters (another seed than the fit's), as sources print them."""
    scenario = load_scenario("baseline").with_(until=dt.date(2016, 10, 31), agent_scale=50)
    scenario = scenario.model_copy(update={"calibrate": list(TRUTH)})
    table = cal.figures(dt.date(2016, 10, 31))
    truth = cal.model_figures(scenario.with_(agent_scale=50), TRUTH, [987654], table)[0]
    cover = np.array([getattr(scenario.parameters, c) for c in table["coverage"]])
    table = table.assign(value=np.round(truth * cover))
    return scenario, table


@pytest.fixture(scope="module")
def recovered(synthetic):
    scenario, table = synthetic
    return cal.fit(scenario, population=30, generations=3, seeds=2, scale=50, workers=1, table=table)


def test_recovers_known_parameters_within_credible_interval(recovered):
    post = recovered
    assert post.names == list(TRUTH)
    assert post.provenance["calibrated"] == list(TRUTH) and post.provenance["seeds"]
    q = post.quantiles((0.025, 0.5, 0.975))
    for name, value in TRUTH.items():
        lo, hi = q.loc[name, "q2"], q.loc[name, "q97"]
        assert lo <= value <= hi, f"{name}: truth {value} outside the 95% credible interval [{lo}, {hi}]"
    m, s, _, _ = cal.prior_spec("initial_holders")  # the data inform the pilot legacy: the posterior narrows
    x = post.draws["initial_holders"].to_numpy(float)
    sd = np.sqrt(np.sum(post.weights * (x - np.sum(post.weights * x)) ** 2))
    assert sd < 0.8 * s


def test_posterior_predictive_covers_the_figures(synthetic, recovered):
    scenario, table = synthetic
    pp = cal.predictive(scenario, recovered, n=20, scale=50, table=table)
    lo, hi = pp.quantile(0.025).to_numpy(), pp.quantile(0.975).to_numpy()
    v = table["value"].to_numpy(float)
    assert np.all((v >= lo) & (v <= hi)), pd.DataFrame({"lo": lo, "value": v, "hi": hi})


def test_figures_carry_how_they_were_produced():
    t = cal.figures(dt.date(2016, 10, 31))
    assert set(t["kind"]) == {"stock", "flow"}
    oct16 = t[t["period_end"] == pd.Timestamp("2016-10-31")].iloc[0]
    assert oct16["coverage"] == "reporting_share" and str(oct16["ccgs_reporting"]) == "185"
    assert set(t.loc[t["measure"] == "new_phbs_in_year", "coverage"]) == {"foi_completeness"}
    assert len(cal.figures(dt.date(2015, 12, 31))) < len(t)  # a vintage sees only what was published by then


def test_shipped_table_is_derived_from_the_shared_data(tmp_path):
    if not cal.SOURCE_FILE.exists():
        pytest.skip("shared data not present")
    cal.derive_figures(cal.SOURCE_FILE, tmp_path / "figures.csv")
    assert (tmp_path / "figures.csv").read_text() == cal.FIGURES_FILE.read_text()


def test_calibrated_parameters_come_from_register_or_scenario():
    base = load_scenario("baseline")
    names = cal.calibrated_names(base)
    assert "offer_rate_chc" in names and "reporting_share" in names
    assert all("calibrated" in reg.BY_NAME[n].source for n in names)
    assert cal.calibrated_names(base.model_copy(update={"calibrate": ["take_up_chc"]})) == ["take_up_chc"]
    with pytest.raises(ValueError):
        base.with_(calibrate=["not_a_parameter"])


def test_ensemble_draws_from_named_posterior_unless_prior(tmp_path, monkeypatch):
    import model.posterior as mp

    monkeypatch.setattr(mp, "POSTERIOR_DIR", tmp_path)
    Posterior(pd.DataFrame({"offer_rate_chc": [0.21, 0.22]}), np.array([0.5, 0.5]), {"method": "test"}).save("tiny")
    scenario = load_scenario("baseline").with_(posterior="tiny")
    drawn = [draw_parameters(scenario, i)[0]["offer_rate_chc"] for i in range(6)]
    assert set(drawn) <= {0.21, 0.22}
    assert draw_parameters(scenario, 3) == draw_parameters(scenario, 3)  # a function of (seed, index)
    prior = [draw_parameters(scenario, i, prior=True)[0]["offer_rate_chc"] for i in range(6)]
    assert not set(prior) <= {0.21, 0.22}
    assert load_posterior("tiny").provenance["method"] == "test"
    with pytest.raises(PosteriorError, match="phb calibrate"):
        draw_parameters(load_scenario("baseline").with_(posterior="missing"), 0)
    assert issubclass(PosteriorError, ScenarioError)
