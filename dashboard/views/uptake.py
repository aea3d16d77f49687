"""Uptake: fan chart of holders with targets and published figures, chance of reaching each target,
and breakdowns by cohort, PHB type and region (stock or financial-year-to-date views)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, state, text, ui
from model import parameters as reg

st.title("Uptake")
ui.intro("uptake")
choice = state.current()
scenario = ui.scenario_now()

if not ui.present():
    labels = text.labels()["views"]
    c1, c0, c2, c3 = st.columns([2, 2, 1, 1])

    def _set(key: str) -> None:
        choice.view[key] = st.session_state[f"opt_{key}"]

    for key in ("view", "runs", "scale", "mode"):
        st.session_state.setdefault(f"opt_{key}", choice.view[key])
    c1.radio("Show", ["stock", "ytd"], format_func=labels.get, key="opt_view", on_change=_set, args=("view",),
             horizontal=True)
    c0.selectbox("What varies between runs", list(text.labels()["modes"]), format_func=text.labels()["modes"].get,
                 key="opt_mode", on_change=_set, args=("mode",),
                 help="Chance: the random course of each run. Assumptions: parameters drawn from their ranges.")
    c2.number_input("Runs in the ensemble", 2, 500, step=10, key="opt_runs", on_change=_set, args=("runs",),
                    help="More runs give smoother bands and take longer.")
    c3.number_input("People per agent", 1, 1000, step=5, key="opt_scale", on_change=_set, args=("scale",),
                    help="A coarser scale runs faster; 1 simulates every person.")

data = ui.fan_data(scenario)
view = choice.view["view"]
measure = "holders" if view == "stock" else "received_ytd"
pts = text.calibration_points()
pts = pts[pts["measure"] == ("phbs_held" if view == "stock" else "new_phbs_in_year")]
title = text.measure(measure)
fan = charts.fan_chart(data["bands"][measure], f"{title} (people)", "People", targets=text.targets(), points=pts)
ui.show_chart(fan, "uptake_fan")
bands = data["bands"][measure]
last = bands.iloc[-1]
st.caption(f"{data['runs']} runs at one agent per {data['scale']} people; varying: "
           f"{text.labels()['modes'][data['mode']].lower()}{' (read back from the results store)' if data['from_store'] else ''}. "
           f"{pd.Timestamp(last['month']):%B %Y}: median {last['median']:,.0f} "
           f"(95% of runs {last['p2_5']:,.0f} to {last['p97_5']:,.0f}).")

ui.show_chart(charts.probability_chart(data["prob"], dict(text.targets()),
                                       "Chance that people holding a PHB have reached each target (%)"),
              "uptake_prob")

ui.show_chart(charts.lines_chart(data["cohort_bands"], "median", "cohort", reg.COHORT_LABELS,
                                 "People holding a PHB by group of patients (people, median of runs)", "People",
                                 stacked=True), "uptake_cohort")

res = ui.single(scenario, scale=int(choice.view["scale"]))

types = res.by_type.groupby(["month", "type"], as_index=False)["holders"].sum()
tot = types.groupby("month")["holders"].transform("sum")
types["share"] = types["holders"] / tot.where(tot > 0)
ui.show_chart(charts.lines_chart(types, "share", "type", text.labels()["types"],
                                 "How PHBs are held: share by type (%, one run)", "Share", percent=True),
              "uptake_type")

region_col = "holders_per_100k" if view == "stock" else "received_ytd"
ui.show_chart(charts.lines_chart(res.by_region, region_col, "region", {},
                                 f"{text.measure(region_col)} by NHS region ({'per 100,000' if view == 'stock' else 'people'}, one run)",
                                 "PHBs per 100,000" if view == "stock" else "People"),
              "uptake_region")
