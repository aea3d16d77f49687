"""Backtest: a stored forecast (any vintage, any stored ensemble) scored against figures the user uploads,
beside naive forecasts from the same published data. The figures travel in the share link when they fit
(model.backtest.to_link), and always in the downloadable report. Uploaded text is shown only as plain text."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from dashboard import charts, model_calls, state, text, ui
from model import backtest as bt
from model.ensemble import load_ensemble
from model.store import Store, StoreError

st.title("Backtest")
ui.intro("backtest")
view = state.current().view
scenario = ui.scenario_now()

# ---- the forecast: this scenario's fan, or any stored ensemble -------------------------------------------
store = Store(model_calls._store_options().get("store"))
try:
    stored = store.catalogue()
except StoreError:
    stored = pd.DataFrame(columns=["id", "kind"])
stored = stored[stored["kind"] == "ensemble"]
options = [""] + list(stored["id"])
labels = {"": f"This scenario ({scenario.name}), {view['runs']} runs at one agent per {view['scale']} people"}
labels.update({r.id: f"{r.scenario} · {r.runs} runs · 1:{r.agent_scale} · {str(r.created)[:16]} · {r.id}"
               for r in stored.itertuples()})
if view["forecast"] and view["forecast"] not in options:
    st.warning(text.plain(f"link: forecast '{state.show(view['forecast'])}' is not in this results store; showing "
                          "this scenario's forecast instead"))
    view["forecast"] = ""
pick = st.selectbox("Forecast", options, index=options.index(view["forecast"]), format_func=labels.get,
                    key="bt_forecast")
view["forecast"] = pick
if pick:
    ens = load_ensemble(pick, store)
else:
    ui.fan_data(scenario)  # the same cached ensemble the other pages show
    ens = model_calls._ensemble(scenario.with_(agent_scale=int(view["scale"])), int(view["runs"]), view["mode"])
forecast_scenario = ens.scenario
bands = ens.bands("holders")
if not ui.present():
    st.download_button("Download this forecast (CSV)", bands.assign(scenario=forecast_scenario.name).to_csv(index=False),
                       file_name=f"forecast-{forecast_scenario.name}.csv", mime="text/csv", key="dl_forecast",
                       on_click="ignore")

# ---- the actual figures: an upload, else the link's -------------------------------------------------------
upload = st.file_uploader("Actual figures (CSV: period_start, period_end, measure, value; or month, holders)",
                          type=["csv"], key="actuals")
actual = None
if upload is not None:
    try:
        actual = bt.parse_actuals(upload.getvalue().decode("utf-8", errors="replace"), "uploaded file")
    except bt.BacktestError as e:
        st.error(text.plain(e))  # quotes the file: never rendered as Markdown
    if actual is not None:
        code = bt.to_link(actual)
        view["actuals"] = code or ""
        if code is None:
            st.info("These figures do not fit in the share link (more than 8, a cohort, or a period other than a "
                    "month for stocks and the financial year to date for flows): share the downloaded report.")
elif view["actuals"]:
    try:
        actual = bt.from_link(view["actuals"])
        st.caption("Actual figures from the link.")
    except bt.BacktestError as e:
        st.error(text.plain(e))
        view["actuals"] = ""

held = None
if actual is not None:
    h = actual[actual["measure"] == "phbs_held"]
    held = pd.DataFrame({"month": h["period_end"].dt.to_period("M").dt.to_timestamp(), "holders": h["value"]})
pts = text.calibration_points()
fig = charts.fan_chart(bands, f"Forecast ({forecast_scenario.name}) of people holding a PHB against actual figures",
                       "People", targets=text.targets(), points=pts[pts["measure"] == "phbs_held"], actual=held)
ui.show_chart(fig, "backtest")

# ---- scores against naive forecasts ----------------------------------------------------------------------
if actual is not None:
    try:
        scores, detail = bt.backtest(forecast_scenario, actual, ens)
    except bt.BacktestError as e:
        st.error(text.plain(e))
        st.stop()
    model_row = scores.iloc[0]
    c1, c2, c3 = st.columns(3)
    c1.metric("Actual figures inside the 80% band", f"{model_row['coverage_80']:.0%}", help=f"{len(actual)} figure(s)")
    c2.metric("MAPE of the median", f"{model_row['mape']:.1%}")
    best = scores.loc[scores["crps"].idxmin(), "forecast"]
    c3.metric("Lowest CRPS", best.replace("naive: ", ""), help="CRPS for the ensemble; absolute error for a naive "
              "point forecast (its CRPS). Lower is better.")
    st.caption("Coverage of the 50/80/95% bands, MAPE of the median, CRPS (a proper score for the whole band) and "
               "bias (median against actual, as a share), for the model and for naive forecasts made from the "
               "figures published up to the forecast's vintage.")
    ui.table(scores.round(3))
    ui.table(detail.assign(period_start=detail["period_start"].dt.date, period_end=detail["period_end"].dt.date)
             .round(0))
    report = ("<html><head><meta charset='utf-8'><title>Backtest</title></head><body>"
              f"<h1>Backtest: {html.escape(forecast_scenario.name)}</h1><p>Forecast: {html.escape(labels.get(pick, pick))}"
              "</p><h2>Scores</h2>" + scores.to_html(index=False, float_format=lambda x: f"{x:.3f}")
              + "<h2>Figures</h2>" + detail.to_html(index=False, float_format=lambda x: f"{x:,.0f}")
              + "<h2>Actual figures (as uploaded)</h2>" + actual.to_html(index=False) + "</body></html>")
    if not ui.present():
        st.download_button("Download the backtest report (HTML)", report, file_name="backtest.html",
                           mime="text/html", key="dl_backtest", on_click="ignore")
