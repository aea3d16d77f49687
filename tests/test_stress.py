"""Stress testing (issue 11): sensitivity ranks what drives uptake and ignores what the model never reads,
PRIM finds a planted box, reach agrees with a bisection by hand, and the local pool and Dask agree."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

from model import discovery, reach, sensitivity
from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError
from model.scenario import load_scenario
from model.store import Store

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="module")
def short():
    """Baseline at 1:50, April 2014 to March 2021 (wheelchair budgets start in 2019)."""
    return load_scenario("baseline").with_(agent_scale=50)


# ---- sensitivity: synthetic model -------------------------------------------------------------------------
def _synthetic(monkeypatch):
    """Replace the model by y = 10·take_up + 1·offer + 0·unused + small noise (replicate seeds shared)."""
    def fake(scenario, points, outputs, replicates=2, progress=None, **how):
        rng = np.random.default_rng(0)
        y = np.array([10 * p["take_up_chc"] + p.get("offer_rate_chc", 0) + 0 * p["pilot_site_share"] for p in points])
        reps = y[:, None] + rng.normal(0, 0.01, (len(y), replicates))
        means = pd.DataFrame({o.name: reps.mean(axis=1) for o in outputs})
        noise = pd.Series({o.name: float(np.sqrt(reps.var(axis=1, ddof=1).mean())) for o in outputs})
        return sensitivity.DesignRun(means, noise, "synthetic", len(points) * replicates, 0.0, False)
    monkeypatch.setattr(sensitivity, "run_design", fake)


RANGES = {"take_up_chc": (0.3, 0.6), "offer_rate_chc": (0.2, 0.6), "pilot_site_share": (0.4, 0.46)}


def test_morris_and_sobol_rank_the_driver_first_and_the_unread_parameter_last(monkeypatch, short):
    _synthetic(monkeypatch)
    outs = so.parse_all(["holders_2021_03"])
    mor, _ = sensitivity.morris(short, outs, RANGES, trajectories=8)
    assert mor["parameter"].tolist() == ["take_up_chc", "offer_rate_chc", "pilot_site_share"]
    assert mor.iloc[-1]["mu_star"] < 0.01 * mor.iloc[0]["mu_star"]
    assert mor.iloc[0]["informed"] == "fitted to data"  # the source is carried beside the rank
    sob, _ = sensitivity.sobol(short, outs, RANGES, samples=256)
    assert sob.iloc[0]["parameter"] == "take_up_chc" and sob.iloc[0]["ST"] > 0.8
    last = sob[sob["parameter"] == "pilot_site_share"].iloc[0]
    assert last["rank"] == 3 and abs(last["ST"]) < 0.02 and abs(last["S1"]) < 0.02
    assert (sob["noise_share"] < 0.01).all()


# ---- sensitivity: the real model --------------------------------------------------------------------------
def test_real_model_morris_ranks_wheelchair_take_up_first_and_a_service_cost_zero(short, tmp_path):
    """inpatient_cost_per_bed_day is read only by the service side, which is off for uptake outputs."""
    res = sensitivity.analyse(short, "morris", ["holders_2021_03"], scale=50, replicates=1, trajectories=2,
                              parameters=["take_up_wheelchair", "inpatient_cost_per_bed_day", "pilot_site_share"],
                              store=Store(tmp_path), workers=2)
    idx = res["indices"]
    assert idx.iloc[0]["parameter"] == "take_up_wheelchair"
    assert idx.iloc[-1]["parameter"] == "inpatient_cost_per_bed_day" and idx.iloc[-1]["mu_star"] == 0
    assert res["manifest"]["runs"] == 8 and res["manifest"]["services"] is False
    again = sensitivity.analyse(short, "morris", ["holders_2021_03"], scale=50, replicates=1, trajectories=2,
                                parameters=["take_up_wheelchair", "inpatient_cost_per_bed_day", "pilot_site_share"],
                                store=Store(tmp_path), workers=2)
    pd.testing.assert_frame_equal(again["indices"], idx)  # read back from the store
    assert set(Store(tmp_path).catalogue()["kind"]) >= {"sensitivity", "ensemble"}


def test_local_pool_and_dask_give_identical_outputs(short, tmp_path):
    s = short.with_(until=dt.date(2015, 9, 30))
    outs = so.parse_all(["holders_2015_09", "received_ytd_2015_09"])
    points = [{"take_up_chc": 0.35}, {"take_up_chc": 0.55}]
    local = sensitivity.run_design(s, points, outs, 2, store=Store(tmp_path / "a"), workers=2)
    dask = sensitivity.run_design(s, points, outs, 2, store=Store(tmp_path / "b"), backend="dask", workers=2)
    pd.testing.assert_frame_equal(local.outputs, dask.outputs)
    assert local.outputs["holders_2015_09"].iloc[1] > local.outputs["holders_2015_09"].iloc[0]


# ---- discovery --------------------------------------------------------------------------------------------
def test_prim_and_tree_recover_a_planted_box():
    rng = np.random.default_rng(3)
    n = 800
    x = pd.DataFrame({"take_up_wheelchair": rng.uniform(0.6, 0.95, n), "coordinators_per_100k": rng.uniform(0.3, 1.2, n),
                      "pilot_site_share": rng.uniform(0.4, 0.46, n)})
    y = ((x.take_up_wheelchair < 0.7) & (x.coordinators_per_100k < 0.6)).to_numpy().copy()
    y ^= rng.random(n) < 0.02  # a little noise
    for box in (discovery.prim_boxes(x, y)[0], discovery.tree_boxes(x, y)[0]):
        assert set(box["limits"]) == {"take_up_wheelchair", "coordinators_per_100k"}
        assert box["limits"]["take_up_wheelchair"][1] == pytest.approx(0.7, abs=0.03)
        assert box["limits"]["coordinators_per_100k"][1] == pytest.approx(0.6, abs=0.08)
        assert box["coverage"] > 0.6 and box["density"] > 0.75
        text = discovery.sentence(box, "holders_2021_03 < 50000")
        assert "take-up when offered, wheelchair users is below" in text and "FTE per 100k" in text


def test_net_cost_reads_the_exposed_total_else_differences_the_no_phb_twin():
    months = pd.to_datetime(["2021-02-01", "2021-03-01"] * 2)
    nat = pd.DataFrame({"run": [0, 0, 1, 1], "month": months, "holders": 1.0})
    svc = nat[["run", "month"]].assign(total_gbp=[10.0, 20.0, 30.0, 40.0])
    twin = {"extra_services_national": svc.assign(total_gbp=[1.0, 2.0, 3.0, 4.0])}
    outs = so.parse_all(["net_cost", "spend"])
    assert so.needs_counterfactual(outs) and outs[0].needs_counterfactual and not outs[1].needs_counterfactual
    got = so.evaluate({"national": nat, "extra_services_national": svc}, outs, twin)
    assert got["net_cost"].tolist() == [27.0, 63.0] and got["spend"].tolist() == [30.0, 70.0]
    kept = svc.assign(net_cost_to_nhs_gbp=[5.0, 5.0, 6.0, 6.0])  # a run that kept its counterfactual
    assert so.evaluate({"national": nat, "extra_services_national": kept}, outs[:1])["net_cost"].tolist() == [10, 12]
    with pytest.raises(so.OutputError, match="no net-cost total"):
        so.evaluate({"national": nat, "extra_services_national": svc}, outs[:1])


def test_net_cost_is_zero_where_the_run_is_its_own_no_phb_twin(short, tmp_path):
    """The twin shares seeds and draws: with PHBs switched off in the point itself, the two runs are one."""
    from model.stress_runs import run_design

    s = short.with_(until=dt.date(2015, 3, 31))
    _, off = so.no_phb_twin(s)
    run = run_design(s, [{}, off], so.parse_all(["net_cost", "spend"]), 1, store=Store(tmp_path), workers=1)
    assert run.outputs["net_cost"].iloc[1] == 0 and run.outputs["spend"].iloc[1] > 0
    assert run.outputs["net_cost"].iloc[0] != 0


def test_conditions_and_outputs_are_checked_with_clear_messages():
    assert discovery.parse_when("holders_2021_03 < 50,000 and closures > 10") == (
        [("holders_2021_03", "<", 50000.0), ("closures", ">", 10.0)], "and")
    with pytest.raises(EnsembleError, match="OUTPUT OP NUMBER"):
        discovery.parse_when("holders_2021_03 is small")
    with pytest.raises(so.OutputError, match="reach_<N>k_YYYY_MM"):
        so.parse("holdings_2021_03")
    nat = pd.DataFrame({"run": [0], "month": [pd.Timestamp("2021-03-01")], "holders": [1.0]})
    with pytest.raises(so.OutputError, match="service side"):
        so.evaluate({"national": nat}, so.parse_all(["closures"]))
    with pytest.raises(so.OutputError, match="no 'issued_ytd' column|outside"):
        so.evaluate({"national": nat}, so.parse_all(["issued_ytd_2021_03"]))


# ---- reach ------------------------------------------------------------------------------------------------
def test_reach_finds_the_lever_value_a_bisection_by_hand_finds(tmp_path):
    s = load_scenario("baseline").with_(agent_scale=50, until=dt.date(2018, 9, 30))
    st = Store(tmp_path)
    # the national push barely moves holders under the support-planning rule of 73ddb81; the wheelchair
    # assessment rate (baseline 0.35 a year) is the lever Morris ranks first
    LEVER = "wheelchair_assessment_rate"
    by = pd.Timestamp("2018-09-01")

    def holders(v):
        from model.ensemble import run_ensemble
        ens = run_ensemble(s, 1, design=reach._design(s, {LEVER: v}, 1), store=st,
                           services=False, workers=1)
        nat = ens.tables["national"]
        return float(nat.loc[nat["month"] == by, "holders"].iloc[0])

    lo_h, hi_h = holders(0.35), holders(1.0)
    assert hi_h > lo_h  # assessing more wheelchair users gives more holders
    target = int((lo_h + hi_h) / 2)
    xtol = 0.05
    res = reach.reach(s, target, "2018-09-30", probability_wanted=0.5, levers=[LEVER], runs=1, scale=50, xtol=xtol,
                      cost_runs=0,
                      store=st, workers=1)
    got = res["answers"].iloc[0]
    assert got["status"] == "found" and got["p_value"] >= 0.5

    a, b = 0.35, 1.0  # by hand: smallest assessment rate whose run reaches the target
    while b - a > xtol:
        m = a + (b - a) / 2
        if reach.probability(s, {LEVER: m}, target, by, 1, st, workers=1) >= 0.5:
            b = m
        else:
            a = m
    assert got["value"] == pytest.approx(b, abs=2 * xtol)
    assert "reach" in set(st.catalogue()["kind"])


def test_reach_over_two_levers_finds_the_nearest_combination(monkeypatch, tmp_path):
    """P = 1 where push + funding ≥ 1.2 (from push 0.3, funding 0): no lever alone can do it; the nearest
    combination in the normalised distance is (0.75, 0.45), at distance 0.9/√2."""
    calls = []

    def fake(scenario, values, target, by, runs, store, **how):
        calls.append(values)
        return float(values["national_push_strength"] + values.get("funding_follows_target", 0.0) >= 1.2)

    monkeypatch.setattr(reach, "probability", fake)
    s = load_scenario("baseline")
    levers = ["national_push_strength", "funding_follows_target"]
    res = reach.reach(s, 100_000, "2021-03-31", levers=levers, trials=40, xtol=0.002, cost_runs=0,
                      store=Store(tmp_path))
    a = res["answers"].set_index("lever")
    assert (a["status"] == "found").all() and a["p_value"].iloc[0] == 1
    assert a.loc[levers, "value"].sum() >= 1.2 - 1e-9
    best = 0.9 / np.sqrt(2)
    assert best - 1e-6 <= a["distance"].iloc[0] <= 1.15 * best
    assert res["manifest"]["mode"] == "optuna" and res["manifest"]["evaluations"] == len(calls)
    single = reach.reach(s, 100_000, "2021-03-31", levers=levers[:1], xtol=0.01, cost_runs=0, store=Store(tmp_path))
    assert single["answers"]["status"].iloc[0].startswith("not reachable")  # one lever alone cannot
    again = reach.reach(s, 100_000, "2021-03-31", levers=levers, trials=40, xtol=0.002, cost_runs=0,
                        store=Store(tmp_path))
    pd.testing.assert_frame_equal(again["answers"], res["answers"])  # read back, not searched again


def test_reach_refuses_a_date_lever():
    with pytest.raises(EnsembleError, match="not a numeric parameter"):
        reach.lever_bounds("right_to_have_date")


# ---- the dashboard page -----------------------------------------------------------------------------------
def test_stress_page_shows_a_stored_result_without_recomputing(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    store = Store(tmp_path)
    s = load_scenario("baseline")
    res = sensitivity.analyse(s, "oat", ["holders_2021_03"], parameters=["take_up_wheelchair", "pilot_site_share"],
                              replicates=1, store=store, workers=2)
    monkeypatch.setenv("PHB_DASHBOARD_STORE", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=240)
    for k, v in {"runs": "4", "scale": "50"}.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/stress.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Stress test"
    assert at.get("plotly_chart"), "the stored tornado is drawn"
    assert any(res["id"] in c.value for c in at.caption)
    at.switch_page("views/assumptions.py").run()  # each parameter's influence beside its source
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value.set_index("Parameter")
    wheel = reg.BY_NAME["take_up_wheelchair"].label
    assert table.loc[wheel, "Influence rank"] == 1 and table.index[0] == wheel  # most influential first
    assert table.loc[wheel, "Informed by"] == "assumption" and table.loc[wheel, "Influence"].startswith("swing")
    assert len(list(tmp_path.glob("*/manifest.json"))) == 2  # nothing new was computed


def test_cli_bad_input_is_one_clear_message(tmp_path, capsys):
    from model.cli import main

    assert main(["discover", "baseline", "--when", "holders is big", "--out", str(tmp_path), "--quiet"]) == 2
    assert "OUTPUT OP NUMBER" in capsys.readouterr().err
    assert main(["sensitivity", "baseline", "--outputs", "holdings_2021_03", "--out", str(tmp_path), "--quiet"]) == 2
    assert "is not known" in capsys.readouterr().err
    assert main(["reach", "lots", "--by", "2021-03-31", "--out", str(tmp_path), "--quiet"]) == 2
    assert "not a number of people" in capsys.readouterr().err
    assert main(["sensitivity", "baseline", "--outputs", "holders_2024_03", "--until", "2021-03-31", "--out",
                 str(tmp_path), "--quiet"]) == 2  # refused before any run
    assert "after the runs end (2021-03-31)" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):  # argparse's own refusal, one line
        main(["discover", "baseline", "--when", "closures > 1", "--until", "2031-01-01", "--out", str(tmp_path)])
    assert "--until: 2031-01-01 is outside" in capsys.readouterr().err and not list(tmp_path.glob("*/manifest.json"))


def _plant(store: Store, eid: str, kind: str, created: str, tables: dict, **manifest) -> str:
    """A stored stress result as the commands write it (the page only reads; nothing here is computed)."""
    store.write_entry(eid, tables, {"kind": kind, "scenario": "baseline", "seed": 1, "runs": 4, "agent_scale": 50,
                                    "created": created, "wall_seconds": 1.0, **manifest})
    return eid


def test_a_share_link_reopens_the_stress_view_it_was_taken_from(tmp_path, monkeypatch):
    """Two stored results of each kind: with no choices the page opens on the newest; a link naming the method,
    output, condition and target opens on the older ones that match, and the address bar carries them back."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    store = Store(tmp_path)
    idx = lambda out, names, mu: pd.DataFrame({  # noqa: E731
        "output": out, "parameter": names, "mu_star": mu, "mu_star_conf": 1.0, "sigma": 1.0, "noise_mu_star": 0.5,
        "at_low": -np.array(mu), "at_high": np.array(mu), "swing": mu, "noise_sd": 0.5, "rank": [1, 2],
        "informed": "assumption"})
    sens = dict(runs=4, design_points=2, replicates=2, noise_sd={"holders_2021_03": 1.0, "closures": 0.1})
    both = pd.concat([idx("holders_2021_03", ["take_up_chc", "pilot_site_share"], [9.0, 1.0]),
                      idx("closures", ["closure_threshold", "take_up_chc"], [5.0, 2.0])])
    old_m = _plant(store, "baseline-sensitivity-morris-aaa", "sensitivity", "2026-01-01T00:00:00",
                   {"indices": both}, method="morris", outputs=["holders_2021_03", "closures"], **sens)
    new_o = _plant(store, "baseline-sensitivity-oat-bbb", "sensitivity", "2026-01-02T00:00:00",
                   {"indices": idx("holders_2021_03", ["take_up_chc", "pilot_site_share"], [9.0, 1.0])},
                   method="oat", outputs=["holders_2021_03"], **sens)
    for when, day, words in (("holders_2021_03 < 80000", "01", "an older box"), ("closures > 3", "02", "newest box")):
        cases = pd.DataFrame({"take_up_chc": [0.3, 0.5], "holders_2021_03": [7e4, 9e4], "case": [True, False]})
        boxes = pd.DataFrame({"method": ["tree"], "box": [1], "coverage": [1.0], "density": [1.0], "runs_in_box": [1],
                              "sentence": [f"'{when}' holds in {words}"], "limits": ['{"take_up_chc": [0.3, 0.4]}'],
                              "full": ["{}"]})
        _plant(store, f"baseline-discovery-{day}", "discovery", f"2026-01-{day}T00:00:00", {"cases": cases,
               "boxes": boxes}, when=when, share_of_runs=0.5)
    for target, levers, day in ((150_000, ["national_push_strength", "funding_follows_target"], "01"),
                                (100_000, ["national_push_strength"], "02")):
        answers = pd.DataFrame([{"lever": n, "label": reg.BY_NAME[n].label, "unit": reg.BY_NAME[n].unit,
                                 "scenario_value": 0.3, "value": 0.5, "p_scenario": 0.4, "p_value": 0.9,
                                 "distance": 0.2, "status": "found", "spend_diff": np.nan} for n in levers])
        _plant(store, f"baseline-reach-{target // 1000}k-{day}", "reach", f"2026-01-{day}T00:00:00",
               {"answers": answers}, mode="optuna" if len(levers) > 1 else "bisect", target=target, by="2021-03-01",
               probability=0.9, levers=levers, evaluations=5)
    before = sorted(p.parent.name for p in tmp_path.glob("*/manifest.json"))
    monkeypatch.setenv("PHB_DASHBOARD_STORE", str(tmp_path))
    app = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")

    at = AppTest.from_file(app, default_timeout=120)  # no choices: the newest of each kind
    at.run()
    at.switch_page("views/stress.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="stress_method").value == "oat" and any(new_o in c.value for c in at.caption)
    assert any("newest box" in m.value for m in at.markdown)
    assert "100,000 people" in at.text[0].value

    link = {"stress_method": "morris", "stress_output": "closures", "stress_when": "holders_2021_03 < 80000",
            "reach_target": "150000", "reach_by": "2021-03-31", "reach_probability": "0.9",
            "reach_levers": "national_push_strength,funding_follows_target"}
    at = AppTest.from_file(app, default_timeout=120)
    for k, v in link.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/stress.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.radio(key="stress_method").value == "morris" and any(old_m in c.value for c in at.caption)
    assert at.selectbox(key="stress_output").value == "closures"
    assert any("an older box" in m.value for m in at.markdown) and not any("newest box" in m.value for m in at.markdown)
    assert "150,000 people" in at.text[0].value and "Optuna over 2 levers" in at.text[0].value
    assert {k: at.query_params[k][0] if isinstance(at.query_params[k], list) else at.query_params[k]
            for k in link} == link  # the address bar carries the view on
    assert sorted(p.parent.name for p in tmp_path.glob("*/manifest.json")) == before  # nothing computed
