"""CCG variation: find a CCG by name and see where it stands; PHBs per 100,000 by CCG in a chosen month
(funnel plot and ranked chart), every CCG over time in small multiples by NHS region; follows the real
mergers as the month changes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, state, text, ui
from dashboard.views import levers

st.title("CCG variation")
ui.intro("ccg")
choice = state.current()
scenario = ui.scenario_now()
scale = int(choice.view["ccg_scale"])
res = ui.single(scenario, scale=scale)
by_ccg = res.by_ccg.assign(ym=pd.to_datetime(res.by_ccg["month"]).dt.strftime("%Y-%m"))
months = sorted(by_ccg["ym"].unique())
if choice.view["month"] not in months:
    choice.view["month"] = ""
chosen = choice.view["month"] or months[-1]


def _set_month() -> None:
    m = st.session_state["opt_month"]
    choice.view["month"] = "" if m == months[-1] else m


def _set_scale() -> None:
    choice.view["ccg_scale"] = int(st.session_state["opt_ccg_scale"])


st.session_state.setdefault("opt_month", chosen)
st.session_state.setdefault("opt_ccg_scale", scale)
df = by_ccg[by_ccg["ym"] == chosen].sort_values("holders_per_100k", ascending=False).reset_index(drop=True)
when = f"{pd.Timestamp(chosen + '-01'):%B %Y}"
c1, c2, c3 = st.columns([3, 2, 1])
c1.select_slider("Month", months, key="opt_month", on_change=_set_month)
find = c2.selectbox("Find a CCG by name", sorted(df["name"]), index=None, key="ccg_find",
                    placeholder="Type part of a name, e.g. Leeds")
c3.number_input("People per agent", 1, 1000, key="opt_ccg_scale", on_change=_set_scale,
                help="1 simulates every person; a coarser scale adds chance variation between CCGs.")

if find:
    row = df[df["name"] == find].iloc[0]
    rank = int(df.index[df["name"] == find][0]) + 1
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("PHBs per 100,000", f"{row['holders_per_100k']:,.1f}")
    m2.metric("Rank", f"{rank:,} of {len(df):,}", help="1 = the highest rate")
    m3.metric(text.measure("holders"), f"{row['holders']:,.0f}")
    m4.metric("Population", f"{row['population']:,.0f}")
    st.caption(f"{find}, {row['region']}, {when}.")

st.markdown(f"**{len(df):,} commissioning organisations** open in {when}.")
chart_col, lever_col = st.columns([4, 1])
with lever_col:
    levers.near("ccg", scenario.parameters.model_dump())
with chart_col:
    ui.show_chart(charts.funnel_chart(df, f"PHBs per 100,000 population by CCG, {when} "
                                          "(funnel plot, 95% and 99.8% limits)"), "ccg_funnel")
ui.show_chart(charts.region_small_multiples(by_ccg[by_ccg["month"] <= df["month"].iloc[0]],
                                            f"PHBs per 100,000 population, every CCG over time, by NHS region "
                                            f"(to {when})", highlight=find), "ccg_regions")
ui.show_chart(charts.ranked_ccg_chart(df, f"CCGs ranked by PHBs per 100,000 population, {when}", highlight=find),
              "ccg_ranked")
reg_df = res.by_region[pd.to_datetime(res.by_region["month"]).dt.strftime("%Y-%m") == chosen]
st.subheader("By NHS region")
ui.table(pd.DataFrame({
    "Region": reg_df["region"], "Population": reg_df["population"].map(lambda v: f"{v:,.0f}"),
    text.measure("holders"): reg_df["holders"].map(lambda v: f"{v:,.0f}"),
    text.measure("holders_per_100k"): reg_df["holders_per_100k"].map(lambda v: f"{v:,.1f}")}))
