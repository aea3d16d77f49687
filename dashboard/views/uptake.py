"""Uptake: the chance of reaching each target by its due date first, then the fan chart with the levers
that move it beside it, and breakdowns by group of patients, way of holding and region. The year-to-date
view sets like against like: budgets issued in the year against published "new in year" figures."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, model_calls, state, text, ui
from dashboard.views import levers
from model import parameters as reg

st.title("Uptake")
ui.intro("uptake")
choice = state.current()
scenario = ui.scenario_now()
values = scenario.parameters.model_dump()
labels = text.labels()

with st.expander("Ensemble: runs, scale and what varies", expanded=False):
    c1, c0, c2, c3 = st.columns([2, 2, 1, 1])

    def _set(key: str) -> None:
        choice.view[key] = st.session_state[f"opt_{key}"]

    for key in ("view", "runs", "scale", "mode"):
        st.session_state.setdefault(f"opt_{key}", choice.view[key])
    c1.radio("Show", ["stock", "ytd"], format_func=labels["views"].get, key="opt_view", on_change=_set,
             args=("view",), horizontal=True)
    c0.selectbox("What varies between runs", list(labels["modes"]), format_func=labels["modes"].get,
                 key="opt_mode", on_change=_set, args=("mode",),
                 help="Chance: the random course of each run. Assumptions: parameters drawn from their ranges.")
    c2.number_input("Runs in the ensemble", 2, 500, step=10, key="opt_runs", on_change=_set, args=("runs",),
                    help="More runs give smoother bands and take longer.")
    c3.number_input("People per agent", 1, 1000, step=5, key="opt_scale", on_change=_set, args=("scale",),
                    help="A coarser scale runs faster; 1 simulates every person.")

view = choice.view["view"]
ui.single_ahead(scenario, scale=int(choice.view["scale"]))  # the one run drawn below, while the ensemble runs
top, bottom = st.container(), st.container()


def one_run_charts() -> None:
    """How PHBs are held and where, from one run: drawn while the ensemble above still runs."""
    with bottom:
        res = ui.single(scenario, scale=int(choice.view["scale"]))

        types = res.by_type.groupby(["month", "type"], as_index=False)["holders"].sum()
        tot = types.groupby("month")["holders"].transform("sum")
        types["share"] = types["holders"] / tot.where(tot > 0)
        ui.show_chart(charts.lines_chart(types, "share", "type", labels["types"],
                                         "How PHBs are held: share by type (%, one run)", "Share", percent=True),
                      "uptake_type")

        region_col = "holders_per_100k" if view == "stock" else "received_ytd"
        ui.show_chart(charts.lines_chart(res.by_region, region_col, "region", {},
                                         f"{text.measure(region_col)} by NHS region "
                                         f"({'per 100,000' if view == 'stock' else 'people'}, one run)",
                                         "PHBs per 100,000" if view == "stock" else "People"),
                      "uptake_region")


with top:
    # laid out before the runs, filled after: the levers beside the chart are drawn at once (not after the
    # runs), and once the ensemble is in, the fan goes to the browser first and the chances above it next
    chances = st.container()
    chart_col, lever_col = st.columns([4, 1])
    with lever_col:
        levers.near("uptake", values)
    with chart_col:  # the progress bar stands where the chart is redrawn
        data = ui.fan_data(scenario, meanwhile=one_run_charts)
        pts = text.calibration_points()
        if view == "stock":
            fan = charts.fan_chart(data["bands"]["holders"], f"{text.measure('holders')} (people)", "People",
                                   targets=text.targets(), points=pts[pts["measure"] == "phbs_held"])
            bands = data["bands"]["holders"]
        else:
            # published "new in year" is a count of budgets issued in the year: set it at the year's end,
            # against budgets issued in the year to date (not everyone who received one)
            pub = pts[pts["measure"] == "new_phbs_in_year"].assign(
                month=lambda d: d["period_end"].dt.to_period("M").dt.to_timestamp())
            bands = data["bands"]["issued_ytd"]
            fan = charts.fan_chart(bands, "PHBs issued in the financial year to date (budgets)", "Budgets",
                                   points=pub)
        ui.show_chart(fan, "uptake_fan")
        last = bands.iloc[-1]
        st.caption(f"{data['runs']:,} runs at one agent per {data['scale']:,} people; varying: "
                   f"{labels['modes'][data['mode']].lower()}"
                   f"{' (read back from the results store)' if data['from_store'] else ''}. "
                   f"{pd.Timestamp(last['month']):%B %Y}: median {last['median']:,.0f} "
                   f"(95% of runs {last['p2_5']:,.0f} to {last['p97_5']:,.0f}).")

    with chances:  # the answer first on the page: the chance of each target by its due date
        st.subheader("Chance of reaching each target by its due date")
        cols = st.columns(len(labels["due"]))
        for col, (value, due, label) in zip(cols, model_calls.chances_by_due(data["prob"], labels["due"])):
            if value is None:
                col.metric(label, "after the end date", help=f"The runs end in {scenario.until:%B %Y}; move the "
                                                              "end date to see this target.")
            else:
                col.metric(label, f"{value:.0%}", help=f"Share of {data['runs']} runs with at least that many "
                                                       f"people holding a PHB by {due:%B %Y}.")

    if view == "ytd":
        ui.show_chart(charts.fan_chart(data["bands"]["received_ytd"], f"{text.measure('received_ytd')} (people)",
                                       "People"), "uptake_received")
        st.caption(text.md("ytd_received"))

    ui.show_chart(charts.probability_chart(data["prob"], dict(text.targets()),
                                           "Chance that people holding a PHB have reached each target (%)"),
                  "uptake_prob")

    ui.show_chart(charts.lines_chart(data["cohort_bands"], "median", "cohort", reg.COHORT_LABELS,
                                     "People holding a PHB by group of patients (people, median of runs)", "People",
                                     stacked=True), "uptake_cohort")

