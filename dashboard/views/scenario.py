"""Scenario: presets, every lever of the register grouped as in GROUPS, what differs, upload/download."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import state, ui
from model import parameters as reg
from model.scenario import ScenarioError, available_scenarios

st.title("Scenario")
ui.intro("about")
ui.intro("scenario")
choice = state.current()


def _clear_levers() -> None:
    for k in [k for k in st.session_state if str(k).startswith("lever_")]:
        del st.session_state[k]


def _on_preset() -> None:
    choice.preset = st.session_state["preset_box"]
    choice.overrides = {}
    _clear_levers()


def _on_lever(name: str) -> None:
    value = st.session_state[f"lever_{name}"]
    if isinstance(value, dt.datetime):
        value = value.date()
    preset_value = state.preset_scenario(choice.preset).parameters.model_dump()[name]
    if value == preset_value:
        choice.overrides.pop(name, None)
    else:
        choice.overrides[name] = value


def _help(p: reg.Parameter) -> str:
    rng = f"plausible range {state.to_text(p.low)} to {state.to_text(p.high)}" if p.low is not None else \
        f"one of: {', '.join(p.choices or ())}"
    return f"Unit: {p.unit}. Default {state.to_text(p.default)}; {rng}. Source: {p.source}"


presets = available_scenarios()
st.selectbox("Preset", presets, index=presets.index(choice.preset), key="preset_box", on_change=_on_preset,
             help=state.preset_scenario(choice.preset).description)
st.caption(" ".join(state.preset_scenario(choice.preset).description.split()))

scenario = ui.scenario_now()
values = scenario.parameters.model_dump()
for group, params in reg.by_group().items():
    changed = sum(p.name in choice.overrides for p in params)
    with st.expander(f"{group.capitalize()} ({len(params)} levers{f', {changed} changed' if changed else ''})",
                     expanded=changed > 0):
        cols = st.columns(2)
        for i, p in enumerate(params):
            key = f"lever_{p.name}"
            if key not in st.session_state:
                st.session_state[key] = values[p.name]
            kw = dict(key=key, help=_help(p), on_change=_on_lever, args=(p.name,))
            label = f"{p.label} ({p.unit})"
            with cols[i % 2]:
                if p.choices:
                    st.selectbox(label, list(p.choices), **kw)
                elif p.kind is dt.date:
                    st.date_input(label, min_value=p.min, max_value=p.max, format="YYYY-MM-DD", **kw)
                elif p.kind is int:
                    step = max(1, int(10 ** max(0, len(str(int(p.default))) - 2))) if p.default else 1
                    st.number_input(label, min_value=int(p.min), max_value=int(p.max), step=step, **kw)
                else:
                    st.number_input(label, min_value=float(p.min), max_value=float(p.max),
                                    step=0.01 if (p.max or 1) <= 10 else 1.0, format="%.3g", **kw)

st.subheader("What differs from the baseline")
diffs = state.differences_from_baseline(scenario)
if diffs:
    ui.table(pd.DataFrame(diffs))
else:
    st.write("Nothing: this is the baseline.")

st.subheader("Scenario file")
c1, c2 = st.columns(2)
with c1:
    st.download_button("Download scenario (YAML)", scenario.to_yaml(), file_name=f"{scenario.name}.yaml",
                       mime="application/x-yaml", key="dl_yaml", on_click="ignore")
with c2:
    upload = st.file_uploader("Upload a scenario file (YAML)", type=["yaml", "yml"], key="upload_yaml")
    if upload is not None and st.session_state.get("uploaded_id") != upload.file_id:
        try:
            new = state.choice_from_yaml(upload.getvalue(), source=upload.name)
        except ScenarioError as e:
            st.error(str(e))
        else:
            st.session_state["uploaded_id"] = upload.file_id
            new.view = choice.view
            st.session_state["choice"] = new
            _clear_levers()
            st.success(f"Loaded {upload.name}: preset {new.preset} with {len(new.overrides)} change(s).")
            st.rerun()
