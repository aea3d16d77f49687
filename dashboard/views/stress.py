"""Stress test: which assumptions matter (tornado, Morris, Sobol), where the target fails (boxes as sentences
and a pairs plot), and what must be true to reach a target. Each result is read from the results store
when it is there, so a shared link shows it without recomputing; a button computes (with progress) and stores."""

from __future__ import annotations

import datetime as dt
import json
import os

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import ui
from model import parameters as reg
from model import stress_runs
from model.store import Store

st.title("Stress test")
st.markdown("Every answer here comes from the model, with its method named. Sensitivity uses SALib, "
            "scenario discovery the EMA Workbench's PRIM and a scikit-learn decision tree, and the "
            "what-must-be-true search SciPy's bisection on one lever or Optuna on several at once. Runs are "
            "coarse (one agent per 50 people) and stored; the same inputs are read back, not recomputed, and a "
            "shared link opens on the newest stored result of each kind for its scenario.")
scenario = ui.scenario_now()
store = Store(os.environ.get("PHB_DASHBOARD_STORE") or None)  # tests use a temporary store


def latest(kind: str, **match) -> dict | None:
    return stress_runs.latest(store, kind, scenario.name, **match)


newest = {k: latest(k) for k in ("sensitivity", "discovery", "reach")}  # what a shared link opens on


def progress_bar(label: str):
    bar = st.progress(0.0, text=label)
    return bar, lambda d, t: bar.progress(min(d / max(t, 1), 1.0), text=f"{label}: {d} of {t}")


# ---- which assumptions matter ------------------------------------------------------------------------------
st.header("Which assumptions matter")
methods = ("oat", "morris", "sobol")
first = newest["sensitivity"]["manifest"]["method"] if newest["sensitivity"] else "oat"
method = st.radio("Method", methods, index=methods.index(first), horizontal=True, key="stress_method",
                  format_func={"oat": "One at a time (tornado)", "morris": "Morris screening",
                               "sobol": "Sobol indices"}.get)
if st.button("Compute", key="stress_sens_go"):
    from model import sensitivity

    bar, prog = progress_bar("Running the design")
    sensitivity.analyse(scenario, method, ["holders_2021_03"], trajectories=2, samples=8, keep=8, replicates=2,
                        store=store, progress=prog)
    bar.empty()
res = latest("sensitivity", method=method)
if res is None:
    st.info("No stored result for this scenario and method yet: press Compute, or run "
            f"`phb sensitivity {scenario.name} --method {method}`.")
else:
    m, idx = res["manifest"], res["indices"]
    out = st.selectbox("Output", m["outputs"], key="stress_output")
    df = idx[idx["output"] == out].head(15).iloc[::-1]
    label = df["parameter"] + " [" + df.get("informed", pd.Series("", index=df.index)).fillna("") + "]"
    fig = go.Figure()
    if method == "oat":
        fig.add_bar(y=label, x=df["at_low"], orientation="h", name="parameter at its low end")
        fig.add_bar(y=label, x=df["at_high"], orientation="h", name="parameter at its high end")
        fig.update_layout(barmode="overlay", xaxis_title=f"change in {out} from the scenario")
    elif method == "morris":
        fig.add_bar(y=label, x=df["mu_star"], orientation="h", name="μ*",
                    error_x=dict(type="data", array=df["mu_star_conf"]))
        fig.add_vline(x=float(df["noise_mu_star"].iloc[0]), line_dash="dot", annotation_text="noise floor")
        fig.update_layout(xaxis_title=f"Morris μ* of {out}")
    else:
        fig.add_bar(y=label, x=df["ST"], orientation="h", name="total (ST)", error_x=dict(type="data", array=df["ST_conf"]))
        fig.add_bar(y=label, x=df["S1"], orientation="h", name="first order (S1)",
                    error_x=dict(type="data", array=df["S1_conf"]))
        fig.update_layout(barmode="group", xaxis_title=f"Sobol index of {out} (95% intervals)")
    fig.update_layout(height=120 + 28 * len(df))
    ui.show_chart(fig, f"stress_{method}")
    st.caption(f"{m['runs']} runs ({m['design_points']} design points × {m['replicates']} replicate seeds, one agent "
               f"per {m['agent_scale']} people), {m['wall_seconds']:.0f} s; replicate noise sd of {out}: "
               f"{m['noise_sd'].get(out, float('nan')):,.3g}. [assumption] marks a guess: an influential guess is "
               f"where the answer is least secure. Stored as {res['id']}.")

# ---- where does it fail? -----------------------------------------------------------------------------------
st.header("Where does it fail?")
when = st.text_input("Condition", newest["discovery"]["manifest"]["when"] if newest["discovery"] else
                     "holders_2021_03 < 50000", key="stress_when")
if st.button("Search the uncertainty", key="stress_disc_go"):
    from model import discovery

    bar, prog = progress_bar("Latin-hypercube runs")
    try:
        discovery.discover(scenario, when, runs=100, store=store, progress=prog)
    except Exception as e:  # noqa: BLE001 - a bad condition is shown, not raised
        st.error(str(e))
    bar.empty()
found = latest("discovery", when=when)
if found is None:
    st.info("No stored search for this condition yet.")
else:
    m, boxes, cases = found["manifest"], found["boxes"], found["cases"]
    st.markdown(f"'{when}' holds in **{m['share_of_runs']:.0%}** of {m['runs']} runs.")
    for b in boxes.itertuples():
        st.markdown(f"- {b.sentence}")
    dims = list(dict.fromkeys(k for lim in boxes["limits"] for k in json.loads(lim)))[:4]
    if dims:
        fig = px.scatter_matrix(cases, dimensions=dims, color=cases["case"].map({True: "holds", False: "does not"}),
                                height=650)
        fig.update_traces(diagonal_visible=False, marker=dict(size=4))
        ui.show_chart(fig, "stress_pairs")

# ---- what must be true -------------------------------------------------------------------------------------
st.header("What must be true")
shown = newest["reach"]["manifest"] if newest["reach"] else {"target": 100_000, "by": "2021-03-01", "probability": 0.8,
                                                            "levers": ["national_push_strength"]}
c1, c2, c3 = st.columns(3)
target = c1.number_input("People holding a PHB", 10_000, 1_000_000, int(shown["target"]), 10_000, key="stress_target")
by = c2.date_input("By", dt.date.fromisoformat(shown["by"]), key="stress_by")
prob = c3.slider("With probability", 0.5, 0.95, float(shown["probability"]), 0.05, key="stress_prob")
numeric = [p.name for p in reg.REGISTER if p.lever and isinstance(p.default, (int, float)) and p.low is not None]
levers = st.multiselect("Levers (one: bisection; several: searched together with Optuna)", numeric,
                        [x for x in shown["levers"] if x in numeric] or ["national_push_strength"], key="stress_levers")
if st.button("Search the levers", key="stress_reach_go") and levers:
    from model import reach

    bar, prog = progress_bar("Searching the levers")
    reach.reach(scenario, int(target), by, probability_wanted=float(prob), levers=levers, runs=20, xtol=0.02,
                cost_runs=10, trials=15, store=store, progress=prog)
    bar.empty()
got = latest("reach", target=int(target), by=str(pd.Timestamp(by).to_period("M").to_timestamp().date()),
             probability=float(prob), levers=levers)
if got is None:
    st.info("No stored answer for this target, date, probability and levers yet.")
else:
    from model import reach

    st.text(reach.report({"answers": got["answers"], "manifest": got["manifest"], "id": got["id"]}))
