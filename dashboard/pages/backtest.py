"""Backtest: this scenario's forecast against actual figures the user uploads as CSV, overlaid."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from dashboard import charts, text, ui

st.title("Backtest")
ui.intro("backtest")
scenario = ui.scenario_now()
data = ui.fan_data(scenario)
bands = data["bands"]["holders"]


def read_actuals(raw: bytes, name: str) -> pd.DataFrame:
    """Parse an uploaded CSV of actual figures; ValueError with a plain message if it is not usable."""
    try:
        df = pd.read_csv(io.BytesIO(raw))
    except Exception as e:  # pandas raises many types for unreadable files
        raise ValueError(f"{name}: not a readable CSV file ({type(e).__name__})") from None
    cols = {c.strip().lower(): c for c in df.columns}
    missing = [c for c in ("month", "holders") if c not in cols]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}; the file needs columns month and "
                         f"holders (found: {', '.join(map(str, df.columns)) or 'none'})")
    out = pd.DataFrame({"month": pd.to_datetime(df[cols["month"]], errors="coerce"),
                        "holders": pd.to_numeric(df[cols["holders"]], errors="coerce")})
    bad = out[out.isna().any(axis=1)]
    if len(bad):
        row = int(bad.index[0]) + 2
        raise ValueError(f"{name}: row {row} has a month that is not a date or holders that is not a number "
                         f"({len(bad)} bad row(s)); use dates like 2019-03-31 and whole numbers")
    if (out["holders"] < 0).any():
        raise ValueError(f"{name}: holders must not be negative")
    out["month"] = out["month"].dt.to_period("M").dt.to_timestamp()
    return out.sort_values("month")


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
