"""Traditional services: differences from the no-PHB counterfactual, each with its interval.

The service side is being added to the model (model/services.py, tables in Results.extra). This page
draws whatever service tables the model provides and says plainly when there are none.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import streamlit as st

from dashboard import charts, state, text, ui

st.title("Traditional services")
ui.intro("services")
scenario = ui.scenario_now()

if importlib.util.find_spec("model.services") is None:
    st.info(text.md("services_unavailable"))
    st.stop()

res = ui.single(scenario, scale=int(state.current().view["scale"]))
tables = {k: v for k, v in res.extra.items() if isinstance(v, pd.DataFrame) and "month" in v.columns}
if not tables:
    st.info(text.md("services_unavailable"))
    st.stop()

for name, df in tables.items():
    st.subheader(text.measure(name))
    numeric = [c for c in df.columns if c != "month" and pd.api.types.is_numeric_dtype(df[c])]
    if {"median", "low", "high"} <= set(df.columns):
        ui.show_chart(charts.difference_chart(df, f"{text.measure(name)}: difference from no PHBs",
                                              "Difference"), f"svc_{name}")
        continue
    group = next((c for c in ("service", "cohort", "region", "type") if c in df.columns), None)
    for col in numeric[:4]:
        frame = df if group else df.assign(_g=text.measure(col))
        ui.show_chart(charts.lines_chart(frame.groupby(["month", group or "_g"], as_index=False)[col].sum(),
                                         col, group or "_g", {}, f"{text.measure(col)} ({name})",
                                         text.measure(col)), f"svc_{name}_{col}")
