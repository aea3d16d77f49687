"""Assumptions: the whole parameter register as a searchable table, each parameter's influence beside its
source (from the newest stored sensitivity result for this scenario; read, never computed here), and the ODD
summary. An influential guess is where a critic should look first."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from dashboard import state, text, ui
from model import parameters as reg
from model.sensitivity import influence
from model.stress_runs import latest, provenance

st.title("Assumptions")
ui.intro("assumptions")
scenario = ui.scenario_now()
values = scenario.parameters.model_dump()
store = os.environ.get("PHB_DASHBOARD_STORE") or None  # tests use a temporary store
results = {m: latest(store, "sensitivity", scenario.name, method=m) for m in ("morris", "sobol", "oat")}
results = {m: influence(r).set_index("parameter") for m, r in results.items() if r is not None}
ranked_by = next(iter(results), None)  # Morris ranks every uncertain parameter; Sobol only what screening kept


def influence_of(name: str) -> tuple[int | None, str]:
    rank = int(results[ranked_by].loc[name, "rank"]) if ranked_by and name in results[ranked_by].index else None
    return rank, "; ".join(t.loc[name, "text"] for t in results.values() if name in t.index)


rows = []
for r in reg.as_records():
    rank, said = influence_of(r["name"])
    rows.append({"Parameter": r["label"], "Group": r["group"], "This scenario": state.to_text(values[r["name"]]),
                 "Default": state.to_text(r["default"]),
                 "Range (80%)": "" if r["low"] is None else f"{state.to_text(r['low'])} to {state.to_text(r['high'])}",
                 "Unit": r["unit"], "Informed by": provenance(r["name"]), "Influence rank": rank, "Influence": said,
                 "Source": r["source"]})
df = pd.DataFrame(rows)
if results:
    t = results[ranked_by]
    st.caption(f"Influence on {t['output'].iloc[0]} from the newest stored sensitivity results for {scenario.name} "
               f"({', '.join(results)}); the rank is {ranked_by.capitalize()}'s, 1 mattering most of the {len(t)} "
               "parameters analysed. 'Informed by' says whether the data fitted the value, a published figure gave "
               "it, or it is an assumption: an influential assumption is where the answer is least secure. The "
               "Stress test page has the charts.")
    if st.toggle("Most influential first", value=True, key="assumption_by_influence"):
        df = df.sort_values("Influence rank", na_position="last", kind="stable")
else:
    st.caption(f"No stored sensitivity result for {scenario.name} yet: run `phb sensitivity {scenario.name}` "
               "or use the Stress test page, and each parameter's influence appears here.")
query = st.text_input("Search", key="assumption_search", placeholder="e.g. take-up, CHC, assumption")
if query:
    mask = df.apply(lambda r: query.lower() in " ".join(map(str, r.values)).lower(), axis=1)
    df = df[mask]
st.caption(f"{len(df)} of {len(rows)} parameters")
ui.table(df, height=600)

st.subheader("How the model works (ODD summary)")
odd = text.odd_summary()
st.markdown(odd if odd else "The ODD description (docs/ODD.md) has not been written yet.")
