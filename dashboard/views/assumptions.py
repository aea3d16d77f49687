"""Assumptions: the whole parameter register as a searchable table, and the ODD summary."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state, text, ui
from model import parameters as reg

st.title("Assumptions")
ui.intro("assumptions")
scenario = ui.scenario_now()
values = scenario.parameters.model_dump()
rows = [{"Parameter": r["label"], "Group": r["group"], "This scenario": state.to_text(values[r["name"]]),
         "Default": state.to_text(r["default"]),
         "Range (80%)": "" if r["low"] is None else f"{state.to_text(r['low'])} to {state.to_text(r['high'])}",
         "Unit": r["unit"], "Source": r["source"]} for r in reg.as_records()]
df = pd.DataFrame(rows)
query = st.text_input("Search", key="assumption_search", placeholder="e.g. take-up, CHC, assumption")
if query:
    mask = df.apply(lambda r: query.lower() in " ".join(map(str, r.values)).lower(), axis=1)
    df = df[mask]
st.caption(f"{len(df)} of {len(rows)} parameters")
ui.table(df, height=600)

st.subheader("How the model works (ODD summary)")
odd = text.odd_summary()
st.markdown(odd if odd else "The ODD description (docs/ODD.md) has not been written yet.")
