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
    pp = cal.predictive(scenario, recovered, n=40, scale=50, table=table)
    tail = 0.05 / (2 * len(table))  # Bonferroni: all six figures inside a joint 95% band, not each in its own
    lo, hi = pp.quantile(tail).to_numpy(), pp.quantile(1 - tail).to_numpy()
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


def test_fit_series_matches_the_full_results():
    """The fit's lean series are the national table's, by definition (only the other tables are skipped)."""
    from model.sim import Sim

    scenario = load_scenario("as_known_2016").with_(agent_scale=100, until=dt.date(2016, 10, 31))
    lean, full = cal.fit_series(scenario), Sim(scenario).run(services=False).national
    for col in ("holders", "direct_payment", "issued_ytd"):
        np.testing.assert_array_equal(lean[col].to_numpy(float), full[col].to_numpy(float))


def test_ensemble_on_a_calibrated_scenario_uses_its_posterior_unless_prior(tmp_path, monkeypatch):
    import model.posterior as mp
    from model.ensemble import run_ensemble

    monkeypatch.setattr(mp, "POSTERIOR_DIR", tmp_path)
    post = Posterior(pd.DataFrame({"offer_rate_chc": [0.21, 0.22], "take_up_chc": [0.5, 0.5]}),
                     np.array([0.5, 0.5]), {"method": "test"})
    post.save("tiny")
    scenario = load_scenario("as_known_2016").with_(posterior="tiny", agent_scale=200, until=dt.date(2015, 3, 31))
    ens = run_ensemble(scenario, 2, workers=1, services=False, store=None)
    m = ens.manifest
    assert m["posterior"] == f"tiny ({post.digest()})"
    assert set(m["from_posterior_informed"]) | set(m["from_posterior_not_informed"]) == {"offer_rate_chc", "take_up_chc"}
    assert "take_up_chc" in m["from_posterior_informed"]  # a point mass: informed
    assert "offer_rate_chc" not in m["at_register_ranges"] and len(m["at_register_ranges"]) > 10
    assert set(ens.tables["runs"]["offer_rate_chc"]) <= {0.21, 0.22}
    prior = run_ensemble(scenario, 2, workers=1, services=False, store=None, prior=True)
    assert prior.manifest["posterior"] is None and "from_posterior_informed" not in prior.manifest
    assert not set(prior.tables["runs"]["offer_rate_chc"]) <= {0.21, 0.22}
    assert ens.manifest["input_hash"] != prior.manifest["input_hash"]


def test_shipped_scenario_names_a_shipped_posterior_and_a_missing_one_is_a_clear_error(tmp_path, capsys):
    from model.cli import main
    from model.posterior import POSTERIOR_DIR

    scenario = load_scenario("as_known_2016")
    assert scenario.posterior == "as_known_2016"
    post = load_posterior(scenario.posterior)
    assert (POSTERIOR_DIR / f"{scenario.posterior}.json").exists() and len(post.weights) >= 50
    assert post.provenance["digest"] == post.digest() and post.provenance["vintage"] == "2016-10-31"
    missing = tmp_path / "m.yaml"
    missing.write_text("extends: as_known_2016\nname: m\nposterior: nowhere\n")
    assert main(["ensemble", str(missing), "--runs", "2", "--workers", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "phb calibrate" in err and "--prior" in err and "Traceback" not in err


def test_fit_check_is_stored_for_the_dashboard(tmp_path, synthetic, recovered):
    from model import fit_report

    scenario, table = synthetic
    data = fit_report.check(scenario.with_(agent_scale=50), recovered, predictive_n=4, forecast_runs=0)
    assert "z " in data["tension"] or "z_" in data["tension"] or "+" in data["tension"]
    fit_report.save("rec", scenario, recovered, data, directory=tmp_path)
    back = fit_report.load("rec", directory=tmp_path)
    assert back["posterior_digest"] == recovered.digest()
    pd.testing.assert_frame_equal(back["bands"], data["bands"], check_dtype=False)
    assert "<script" not in data["tension"] and (tmp_path / "rec-report.html").exists()


def test_fit_page_shows_the_shipped_posterior():
    pytest.importorskip("streamlit")
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=120)
    at.query_params["preset"] = "as_known_2016"
    at.run()
    at.switch_page("views/fit.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]  # the stored fit check matches the shipped posterior
    charts = at.get("plotly_chart")
    assert len(charts) >= 1 + len(load_posterior("as_known_2016").names)  # figures, then one per parameter
    assert any("pull in opposite directions" in t.value or "same side" in t.value for t in at.text)
