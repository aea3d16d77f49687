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

from dashboard import state, text, ui
from model import stress_runs
from model.store import Store

st.title("Stress test")
st.markdown("Every answer here comes from the model, with its method named. Sensitivity uses SALib, "
            "scenario discovery the EMA Workbench's PRIM and a scikit-learn decision tree, and the "
            "what-must-be-true search SciPy's bisection on one lever or Optuna on several at once. Runs are "
            "coarse (one agent per 50 people) and stored; the same inputs are read back, not recomputed. A "
            "shared link carries the method, output, condition and target shown here and opens on the stored "
            "result that matches them (or, with none chosen, on the newest stored result of each kind).")
scenario = ui.scenario_now()
view = state.current().view  # the stress choices travel in the link (state.VIEW_RULES)
store = Store(os.environ.get("PHB_DASHBOARD_STORE") or None)  # tests use a temporary store


def latest(kind: str, test=None, **match) -> dict | None:
    return stress_runs.latest(store, kind, scenario.name, test, **match)


newest = {k: latest(k) for k in ("sensitivity", "discovery", "reach")}  # what a link with no choices opens on


def month_start(day) -> str:
    return str(pd.Timestamp(day).to_period("M").to_timestamp().date())


# ---- which assumptions matter ------------------------------------------------------------------------------
st.header("Which assumptions matter")
methods = ("oat", "morris", "sobol")
first = view["stress_method"] or (newest["sensitivity"]["manifest"]["method"] if newest["sensitivity"] else "oat")
method = st.radio("Method", methods, index=methods.index(first), horizontal=True, key="stress_method",
                  format_func={"oat": "One at a time (tornado)", "morris": "Morris screening",
                               "sobol": "Sobol indices"}.get)
view["stress_method"] = method
if st.button("Compute", key="stress_sens_go"):
    from model import sensitivity

    bar, prog = ui.progress_bar("Running the design")
    sensitivity.analyse(scenario, method, ["holders_2021_03"], trajectories=2, samples=8, keep=8, replicates=2,
                        store=store, progress=prog)
    bar.empty()
wanted = st.session_state.get("stress_output") or view["stress_output"]
res = (latest("sensitivity", lambda m: wanted in m["outputs"], method=method) if wanted else None) \
    or latest("sensitivity", method=method)
if res is None:
    st.info("No stored result for this scenario and method yet: press Compute, or run "
            f"`phb sensitivity {scenario.name} --method {method}`.")
else:
    m, idx = res["manifest"], res["indices"]
    if wanted and wanted not in m["outputs"]:
        st.warning(text.plain(f"No stored {method} result for this scenario has the output "
                              f"'{state.show(wanted)}'; showing {m['outputs'][0]}"))
        st.session_state.pop("stress_output", None)
    outs = list(m["outputs"])
    out = st.selectbox("Output", outs, index=outs.index(wanted) if wanted in outs else 0, key="stress_output")
    view["stress_output"] = out
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
when = st.text_input("Condition", view["stress_when"] or (newest["discovery"]["manifest"]["when"] if newest["discovery"]
                                                         else "holders_2021_03 < 50000"), key="stress_when")
if state.VIEW_RULES["stress_when"][1](when) is not None:  # a condition the link can carry
    view["stress_when"] = when
if st.button("Search the uncertainty", key="stress_disc_go"):
    from model import discovery

    bar, prog = ui.progress_bar("Latin-hypercube runs")
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
numeric = state.reach_lever_names()
shown = {"target": view["reach_target"] or shown["target"], "by": view["reach_by"] or shown["by"],
         "probability": view["reach_probability"] or shown["probability"],
         "levers": view["reach_levers"].split(",") if view["reach_levers"] else shown["levers"]}
c1, c2, c3 = st.columns(3)
target = c1.number_input("People holding a PHB", 10_000, 1_000_000, min(max(int(shown["target"]), 10_000), 1_000_000),
                         10_000, key="stress_target")
by = c2.date_input("By", dt.date.fromisoformat(shown["by"]), min_value=dt.date(2015, 4, 1),
                   max_value=dt.date(2030, 3, 31), key="stress_by")
prob = c3.slider("With probability", 0.5, 0.95, min(max(float(shown["probability"]), 0.5), 0.95), 0.01,
                 key="stress_prob")
levers = st.multiselect("Levers (one: bisection; several: searched together with Optuna)", numeric,
                        [x for x in shown["levers"] if x in numeric] or ["national_push_strength"], max_selections=4,
                        key="stress_levers")
view.update(reach_target=int(target), reach_by=by.isoformat(), reach_probability=str(round(float(prob), 2)),
            reach_levers=",".join(levers) if levers else view["reach_levers"])
if st.button("Search the levers", key="stress_reach_go") and levers:
    from model import reach

    bar, prog = ui.progress_bar("Searching the levers")
    reach.reach(scenario, int(target), by, probability_wanted=float(prob), levers=levers, runs=20, xtol=0.02,
                cost_runs=10, trials=15, store=store, progress=prog)
    bar.empty()
got = latest("reach", target=int(target), by=month_start(by), probability=round(float(prob), 2), levers=levers)
if got is None:
    st.info("No stored answer for this target, date, probability and levers yet.")
else:
    from model import reach

    st.text(reach.report({"answers": got["answers"], "manifest": got["manifest"], "id": got["id"]}))
