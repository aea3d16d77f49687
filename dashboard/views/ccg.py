"""CCG variation: PHBs per 100,000 by CCG in a chosen month (ranked and funnel), by region; follows
the real mergers as the month changes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, state, text, ui

st.title("CCG variation")
ui.intro("ccg")
choice = state.current()
scenario = ui.scenario_now()
scale = int(choice.view["ccg_scale"])
res = ui.single(scenario, scale=scale)
months = sorted(pd.to_datetime(res.by_ccg["month"]).dt.strftime("%Y-%m").unique())
if choice.view["month"] not in months:
    choice.view["month"] = ""
chosen = choice.view["month"] or months[-1]

if not ui.present():
    def _set_month() -> None:
        m = st.session_state["opt_month"]
        choice.view["month"] = "" if m == months[-1] else m

    def _set_scale() -> None:
        choice.view["ccg_scale"] = int(st.session_state["opt_ccg_scale"])

    st.session_state.setdefault("opt_month", chosen)
    st.session_state.setdefault("opt_ccg_scale", scale)
    c1, c2 = st.columns([3, 1])
    c1.select_slider("Month", months, key="opt_month", on_change=_set_month)
    c2.number_input("People per agent", 1, 1000, key="opt_ccg_scale", on_change=_set_scale,
                    help="1 simulates every person; a coarser scale adds chance variation between CCGs.")

df = res.by_ccg[pd.to_datetime(res.by_ccg["month"]).dt.strftime("%Y-%m") == chosen]
st.markdown(f"**{len(df)} commissioning organisations** open in {pd.Timestamp(chosen + '-01'):%B %Y}.")
ui.show_chart(charts.funnel_chart(df, f"PHBs per 100,000 population by CCG, {pd.Timestamp(chosen + '-01'):%B %Y} "
                                      "(funnel plot, 95% and 99.8% limits)"), "ccg_funnel")
ui.show_chart(charts.ranked_ccg_chart(df, f"CCGs ranked by PHBs per 100,000 population, "
                                          f"{pd.Timestamp(chosen + '-01'):%B %Y}"), "ccg_ranked")
reg_df = res.by_region[pd.to_datetime(res.by_region["month"]).dt.strftime("%Y-%m") == chosen]
if not ui.present():
    st.subheader("By NHS region")
    ui.table(reg_df[["region", "population", "holders", "holders_per_100k"]].rename(columns={
        "region": "Region", "population": "Population", "holders": text.measure("holders"),
        "holders_per_100k": text.measure("holders_per_100k")}).round(1))
