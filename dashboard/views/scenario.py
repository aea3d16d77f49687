"""Scenario: presets, every lever of the register grouped as in GROUPS, what differs, upload/download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state, text, ui
from dashboard.views import levers
from model import parameters as reg
from model.scenario import ScenarioError, available_scenarios


def clean(message: str) -> str:
    """Validation messages in plain words: no "Value error," prefixes, no "a int"."""
    return (message.replace("Value error, ", "").replace("Value error,", "").replace(" a int", " a whole number")
            .replace(" a float", " a number"))


st.title("Scenario")
ui.intro("scenario")
choice = state.current()


def _on_preset() -> None:
    choice.preset = st.session_state["preset_box"]
    choice.overrides, choice.seed, choice.until = {}, None, None
    choice.name = choice.description = None
    levers.forget_all()


def _group_title(group: str) -> str:
    return group[:1].upper() + group[1:]  # "CCG behaviour", not "Ccg behaviour"


presets = available_scenarios()
st.selectbox("Preset", presets, index=presets.index(choice.preset), key="preset_box", on_change=_on_preset,
             help=state.preset_scenario(choice.preset).description)
st.caption(" ".join(state.preset_scenario(choice.preset).description.split()))

scenario = ui.scenario_now()
values = scenario.parameters.model_dump()
for group, params in reg.by_group().items():
    changed = sum(p.name in choice.overrides for p in params)
    with st.expander(f"{_group_title(group)} ({len(params)} levers{f', {changed} changed' if changed else ''})",
                     expanded=changed > 0):
        cols = st.columns(2)
        for i, p in enumerate(params):
            with cols[i % 2]:
                levers.lever(p, values[p.name], "lever_")

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
            st.error(text.plain(clean(str(e))))  # quotes the file: never Markdown or HTML
        else:
            st.session_state["uploaded_id"] = upload.file_id
            new.view = choice.view
            st.session_state["choice"] = new
            levers.forget_all()
            st.session_state.pop("preset_box", None)
            st.session_state["upload_note"] = (f"Loaded {upload.name}: scenario {new.name or new.preset}, based on "
                                               f"{new.preset}, with {len(new.overrides)} lever(s) changed.")
            st.rerun()
    if "upload_note" in st.session_state:
        st.success(text.plain(st.session_state.pop("upload_note")))  # names the file: shown as text
