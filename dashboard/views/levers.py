"""Levers wherever they are needed: the end date and seed in the sidebar on every page, and the few
parameters that move a chart drawn beside it. Every copy of a lever writes the same `Choice`, and a
change drops the other copies' widget state so they redraw with the new value (one truth, many views)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import state
from model import parameters as reg

PREFIXES = ("lever_", "side_", "near_")
# the levers that move each page's headline chart, drawn beside it
NEAR = {
    "uptake": ("national_push_strength", "national_push_date", "funding_follows_target", "take_up_chc"),
    "services": ("decommission_propensity", "flexible_contract_share", "decommission_max_share"),
    "ccg": ("restrictiveness_mean", "activeness_spread", "merger_policy"),
}
UNTIL_MIN, UNTIL_MAX = dt.date(2015, 4, 30), dt.date(2030, 3, 31)


def _forget(name: str, keep: str = "") -> None:
    for prefix in PREFIXES:
        key = f"{prefix}{name}"
        if key != keep and key in st.session_state:
            del st.session_state[key]


def set_lever(name: str, value) -> None:
    """Record a parameter value against the preset (equal to the preset: no override)."""
    choice = state.current()
    if isinstance(value, dt.datetime):
        value = value.date()
    if value == state.preset_scenario(choice.preset).parameters.model_dump()[name]:
        choice.overrides.pop(name, None)
    else:
        choice.overrides[name] = value


def _on_change(key: str, name: str) -> None:
    set_lever(name, st.session_state[key])
    _forget(name, keep=key)


def changes(choice: state.Choice) -> int:
    """What the sidebar counts: levers, the end date and the seed, each against the preset."""
    return len(choice.overrides) + (choice.seed is not None) + (choice.until is not None)


def help_text(p: reg.Parameter) -> str:
    rng = (f"plausible range {state.to_text(p.low)} to {state.to_text(p.high)}" if p.low is not None else
           f"one of: {', '.join(p.choices or ())}")
    return f"Unit: {p.unit}. Default {state.to_text(p.default)}; {rng}. Source: {p.source}"


def lever(p: reg.Parameter, value, prefix: str) -> None:
    """One widget for one parameter, typed and bounded by the register."""
    key = f"{prefix}{p.name}"
    if key not in st.session_state:
        st.session_state[key] = value
    kw = dict(key=key, help=help_text(p), on_change=_on_change, args=(key, p.name))
    label = f"{p.label} ({p.unit})"
    if p.choices:
        st.selectbox(label, list(p.choices), format_func=lambda v: str(v).replace("_", " "), **kw)
    elif p.kind is dt.date:
        st.date_input(label, min_value=p.min, max_value=p.max, format="YYYY-MM-DD", **kw)
    elif p.kind is int:
        step = max(1, int(10 ** max(0, len(str(int(p.default))) - 2))) if p.default else 1
        st.number_input(label, min_value=int(p.min), max_value=int(p.max), step=step, **kw)
    else:
        st.number_input(label, min_value=float(p.min), max_value=float(p.max),
                        step=0.01 if (p.max or 1) <= 10 else 1.0, format="%.2f" if (p.max or 1) <= 10 else "%.0f",
                        **kw)


def near(page: str, values: dict) -> None:
    """The levers that move this page's headline chart (draw inside a column beside it)."""
    st.markdown("**Levers for this chart**")
    for name in NEAR[page]:
        lever(reg.BY_NAME[name], values[name], "near_")
    end_date_and_seed(prefix="near_")


def _on_until(key: str) -> None:
    choice = state.current()
    value = st.session_state[key]
    preset = state.preset_scenario(choice.preset)
    choice.until = None if value == preset.until else value
    _forget("until", keep=key)


def _on_seed(key: str) -> None:
    choice = state.current()
    value = int(st.session_state[key])
    preset = state.preset_scenario(choice.preset)
    choice.seed = None if value == preset.seed else value
    _forget("seed", keep=key)


def end_date_and_seed(prefix: str = "side_") -> None:
    """End date and seed as controls: the 2023/24 and 2030 questions need no hand-edited link."""
    choice = state.current()
    preset = state.preset_scenario(choice.preset)
    until = choice.until or preset.until
    seed = preset.seed if choice.seed is None else choice.seed
    st.session_state.setdefault(f"{prefix}until", until)
    st.session_state.setdefault(f"{prefix}seed", int(seed))
    st.date_input("End date", min_value=UNTIL_MIN, max_value=UNTIL_MAX, format="YYYY-MM-DD",
                  key=f"{prefix}until", on_change=_on_until, args=(f"{prefix}until",),
                  help="The last month simulated: 2024-03-31 answers the 200,000-by-2023/24 question, "
                       "2030-03-31 the million-by-2030 one.")
    st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=f"{prefix}seed",
                    on_change=_on_seed, args=(f"{prefix}seed",),
                    help="The root of every random number: the same seed gives the same runs.")


def forget_all() -> None:
    """After a preset change or an upload: every lever widget redraws from the new choice."""
    for k in [k for k in st.session_state if str(k).startswith(PREFIXES)]:
        del st.session_state[k]
