"""Backtests: a perfect forecast scores better than the naive ones, scores are proper, bad files are refused."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from model.backtest import BacktestError, backtest, crps, read_actuals
from model.cli import main
from model.scenario import load_scenario

MONTHS = pd.date_range("2014-04-01", "2021-03-01", freq="MS")
SCENARIO = load_scenario("baseline")


def fake_ensemble(truth: np.ndarray, runs: int = 40, spread: float = 0.03) -> SimpleNamespace:
    """An ensemble whose runs scatter around a known series (no simulation needed)."""
    rng = np.random.default_rng(1)
    frames = []
    for r in range(runs):
        held = truth * np.exp(rng.normal(0, spread))
        frames.append(pd.DataFrame({"run": r, "month": MONTHS, "holders": held, "direct_payment": 0.7 * held,
                                    "new_holders": np.gradient(held).clip(0), "received_ytd": held * 0.3}))
    nat = pd.concat(frames, ignore_index=True)
    return SimpleNamespace(runs=runs, tables={"national": nat}, runs_table=lambda name="national": nat)


def write_actuals(path, truth: np.ndarray, months=("2018-03-01", "2019-03-01", "2021-03-01")):
    rows = [{"period_start": m, "period_end": (pd.Timestamp(m) + pd.offsets.MonthEnd(0)).date().isoformat(),
             "measure": "phbs_held", "value": round(float(truth[MONTHS.get_loc(pd.Timestamp(m))]))} for m in months]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_crps_is_zero_for_a_perfect_ensemble_and_grows_with_error():
    assert crps(np.full(20, 5.0), 5.0) == pytest.approx(0.0)
    assert crps(np.full(20, 5.0), 7.0) == pytest.approx(2.0)  # a point forecast: the absolute error
    x = np.random.default_rng(0).normal(0, 1, 2000)
    assert crps(x, 0.0) < crps(x, 2.0)
    assert crps(x, 0.0) == pytest.approx(0.2337, abs=0.02)  # N(0,1) at its centre: (sqrt(2) - 1)/sqrt(pi)


def test_perfect_forecast_beats_naive_forecasts(tmp_path):
    t = np.arange(len(MONTHS))
    truth = 2500 + 8000 * (1 - np.exp(-t / 30)) + 300 * t  # bends: neither a line nor an exponential
    actuals = read_actuals(write_actuals(tmp_path / "a.csv", truth))
    scores, detail = backtest(SCENARIO, actuals, fake_ensemble(truth))
    model = scores.iloc[0]
    assert model["forecast"] == "model (ensemble)"
    assert model["coverage_95"] == 1.0 and model["mape"] < 0.05
    naive = scores.iloc[1:]
    assert len(naive) == 3 and (naive["crps"] > model["crps"]).all() and (naive["mape"] > model["mape"]).all()
    assert set(detail.columns) >= {"value", "model_median", "linear trend", "line to milestone"}


def test_a_biased_forecast_shows_its_bias_and_misses_its_bands(tmp_path):
    truth = np.linspace(2000, 60_000, len(MONTHS))
    actuals = read_actuals(write_actuals(tmp_path / "a.csv", truth))
    scores, _ = backtest(SCENARIO, actuals, fake_ensemble(truth * 1.5))
    assert scores.iloc[0]["bias"] == pytest.approx(0.5, abs=0.05)
    assert scores.iloc[0]["coverage_80"] == 0.0


@pytest.mark.parametrize("content, message", [
    ("period_start,measure,value\n2019-03-01,phbs_held,1\n", "missing column"),
    ("period_start,period_end,measure,value\n2019-03-01,2019-03-31,people_happy,1\n", "measure 'people_happy'"),
    ("period_start,period_end,measure,value\n2019-13-01,2019-03-31,phbs_held,1\n", "not a date"),
    ("period_start,period_end,measure,value\n2019-03-01,2019-03-31,phbs_held,lots\n", "not a number"),
    ("period_start,period_end,measure,value\n", "no rows"),
])
def test_bad_actuals_file_gets_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(BacktestError, match=message):
        read_actuals(path)


def test_cli_refuses_bad_actuals_without_traceback(tmp_path, capsys):
    assert main(["backtest", "baseline", "--actuals", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


def test_two_column_upload_reads_as_monthly_holders():
    from model.backtest import parse_actuals

    t = parse_actuals("month,holders\n2019-03-31,71000\n", "upload")
    r = t.iloc[0]
    assert (r["measure"], r["period_start"], r["period_end"], r["value"]) == \
        ("phbs_held", pd.Timestamp("2019-03-01"), pd.Timestamp("2019-03-31"), 71000.0)
    with pytest.raises(BacktestError, match="upload, row 2"):
        parse_actuals("month,holders\n[x](http://e.vil),1\n", "upload")


def test_actuals_travel_in_a_link_and_come_back_the_same():
    from model.backtest import from_link, parse_actuals, to_link

    text = ("period_start,period_end,measure,value\n2019-03-01,2019-03-31,phbs_held,71000\n"
            "2020-04-01,2021-03-31,phbs_issued_in_year,24000\n")
    t = parse_actuals(text)
    code = to_link(t)
    assert code == "h1903-71000_i2103-24000" and len(code) <= 100
    back = from_link(code)
    cols = ["period_start", "period_end", "measure", "value"]
    pd.testing.assert_frame_equal(back[cols], t[cols])
    odd = parse_actuals("period_start,period_end,measure,value\n2019-01-01,2019-03-31,phbs_held,71000\n")
    assert to_link(odd) is None  # a quarter's mean stock has no place in the compact form: the report carries it
    many = pd.concat([t] * 5, ignore_index=True)
    assert to_link(many) is None  # more than 8 figures
    for bad in ("h1913-5", "x1903-5", "h1903-5_", "h1903-0", "<b>1903-5"):
        with pytest.raises(BacktestError, match="link: 'actuals'"):
            from_link(bad)


def test_dashboard_link_keeps_actuals_and_drops_bad_ones():
    from dashboard.state import parse_params, to_params

    choice, errors = parse_params({"actuals": "h1903-71000", "forecast": "abc-1.x"})
    assert not errors and to_params(choice)["actuals"] == "h1903-71000" and choice.view["forecast"] == "abc-1.x"
    choice, errors = parse_params({"actuals": "h1903-71000](javascript:x)", "forecast": "../etc"})
    assert len(errors) == 2 and choice.view["actuals"] == "" and choice.view["forecast"] == ""


def test_backtest_page_scores_figures_from_the_link_against_naive_forecasts(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PHB_DASHBOARD_STORE", str(tmp_path / "store"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=240)
    for k, v in {"runs": "4", "scale": "100", "actuals": "h1610-10824_h1903-40000"}.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/backtest.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any(t.get("name") == "Actual (uploaded)" for t in __import__("json").loads(
        at.get("plotly_chart")[0].proto.spec)["data"])
    scores = at.dataframe[0].value
    assert list(scores["forecast"])[:1] == ["model (ensemble)"] and len(scores) == 4
    assert at.session_state["choice"].view["actuals"] == "h1610-10824_h1903-40000"
    at.get("file_uploader")[0].upload("evil.csv", b"month,holders\n**[x](http://e.vil)**,1\n", "text/csv").run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "e.vil" in shown and "`" in shown  # quoted as a code span: never rendered as a link
