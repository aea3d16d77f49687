"""Traditional services: differences from the no-PHB counterfactual, each with its interval.

Reads the service side of the model (model/services.py via Results.extra and model.ensemble.compare);
if a model version has no service tables the page says so plainly."""

from __future__ import annotations

import importlib.util

import pandas as pd
import streamlit as st

from dashboard import charts, model_calls, state, text, ui
from model.geography import load_geography

st.title("Traditional services")
ui.intro("services")
choice = state.current()
scenario = ui.scenario_now()

if importlib.util.find_spec("model.services") is None:
    st.info(text.md("services_unavailable"))
    st.stop()
from model.services import SERVICE_LABELS, SERVICES  # noqa: E402

labels = text.labels()
res = ui.single(scenario)  # cheap check that this model version writes service tables
if "services_national" not in res.extra:
    st.info(text.md("services_unavailable"))
    st.stop()

measures = dict(labels["services"])
for s in SERVICES:
    measures[f"wait_weeks_{s}"] = [labels["service_waits"].format(service=SERVICE_LABELS[s]), "weeks"]
runs, scale = int(choice.view["runs"]), int(choice.view["scale"])
bar = st.progress(0.0, text=f"Running {runs} paired runs with and without PHBs…")
out = model_calls.service_differences(scenario.to_yaml(), runs, scale, tuple(measures),
                                      _progress=lambda d, t: bar.progress(min(d / max(t, 1), 1.0)))
bar.empty()
if not ui.present():
    st.caption(f"{runs} paired runs at one agent per {scale} people; each pair shares every random number, "
               "so the difference is what PHBs did. Bands: 80% of paired runs.")

def fmt(x: float, sign: str = "") -> str:
    a = abs(x)
    return format(x, f"{sign},.0f" if a >= 100 else f"{sign},.2f" if a >= 1 else f"{sign}.3f")


rows = []
for name, (label, unit) in measures.items():
    d = out["differences"][name]
    last = d.iloc[-1]
    rows.append({"Measure": label, "Unit": unit, "With PHBs (median)": fmt(last["median_scenario"]),
                 "Without PHBs (median)": fmt(last["median_first"]),
                 "Difference (80% interval)": f"{fmt(last['median_diff'], '+')} "
                                              f"({fmt(last['lo'], '+')} to {fmt(last['hi'], '+')})"})
st.subheader(f"At {pd.Timestamp(out['differences']['total_gbp']['month'].iloc[-1]):%B %Y}: difference from no PHBs")
ui.table(pd.DataFrame(rows))

for name, (label, unit) in measures.items():
    d = out["differences"][name].rename(columns={"median_diff": "median", "lo": "low", "hi": "high"})
    ui.show_chart(charts.difference_chart(d, f"{label}: difference from no PHBs ({unit})", unit), f"svc_{name}")

qol_label, qol_unit = labels["quality_of_life"]
q = out["quality_of_life"].rename(columns={"p10": "low", "p90": "high"})
ui.show_chart(charts.difference_chart(q, f"{qol_label} ({qol_unit})", qol_unit), "svc_quality_of_life")

def _place(code_service, names: dict) -> str:
    """'00Q:chc_home_care' -> 'NHS Blackburn with Darwen CCG (CHC home care)'."""
    if not isinstance(code_service, str) or ":" not in code_service:
        return "–" if code_service is None or code_service != code_service else str(code_service)
    code, service = code_service.split(":", 1)
    return f"{names.get(code, code)} ({SERVICE_LABELS.get(service, service)})"


if not ui.present():
    st.subheader("Provider closures (one run, with dates and places)")
    run = model_calls.service_run(scenario.with_(agent_scale=scale).to_yaml())
    clos = run.extra.get("services_closures", pd.DataFrame())
    if clos.empty:
        st.write("No traditional provider closed in this run.")
    else:
        names = load_geography().organisations["name"].to_dict()
        ui.table(pd.DataFrame({
            "Date": pd.to_datetime(clos["date"]).dt.strftime("%Y-%m-%d"),
            "CCG": clos["ccg"].map(lambda c: names.get(c, c)), "Service": clos["service"].map(SERVICE_LABELS),
            "People using it": clos["users"].round(0), "Waiting list moved": clos["waiting_moved"].round(0),
            "Moved to": clos["moved_to"].map(lambda c: _place(c, names))}))
