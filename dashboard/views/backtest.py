"""Backtest: this scenario's forecast against actual figures the user uploads as CSV, overlaid."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, text, ui
from dashboard.state import read_actuals

st.title("Backtest")
ui.intro("backtest")
scenario = ui.scenario_now()
data = ui.fan_data(scenario)
bands = data["bands"]["holders"]


forecast = bands.assign(scenario=scenario.name)
if not ui.present():
    st.download_button("Download this forecast (CSV)", forecast.to_csv(index=False),
                       file_name=f"forecast-{scenario.name}.csv", mime="text/csv", key="dl_forecast",
                       on_click="ignore")
upload = st.file_uploader("Actual figures (CSV with columns month, holders)", type=["csv"], key="actuals")
actual = None
if upload is not None:
    try:
        actual = read_actuals(upload.getvalue(), upload.name)
    except ValueError as e:
        st.error(str(e))
pts = text.calibration_points()
fig = charts.fan_chart(bands, "Forecast people holding a PHB against actual figures (people)", "People",
                       targets=text.targets(), points=pts[pts["measure"] == "phbs_held"], actual=actual)
ui.show_chart(fig, "backtest")
if actual is not None:
    merged = actual.merge(bands, on="month", how="inner")
    if len(merged):
        inside = ((merged["holders"] >= merged["p10"]) & (merged["holders"] <= merged["p90"])).mean()
        st.metric("Actual figures inside the forecast's 80% band", f"{inside:.0%}",
                  help=f"{len(merged)} month(s) overlap the forecast")
    else:
        st.warning("None of the uploaded months fall inside the forecast period.")
