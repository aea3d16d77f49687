"""Compare: the edited scenario against the baseline (or up to four scenarios) under common random
numbers: lines over time with 80% bands, paired differences over time with their intervals, service
measures, a headline table in medians, and a waterfall decomposing the difference by group of patients
in the same terms (medians)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, model_calls, state, text, ui
from model import parameters as reg
from model.scenario import available_scenarios

st.title("Compare scenarios")
ui.intro("compare")
choice = state.current()
current = ui.scenario_now()
names = choice.view["compare"].split(",")
options = ["current"] + available_scenarios()
shown = {"current": f"This scenario ({current.name})"}


def _set() -> None:
    picked = st.session_state["opt_compare"]
    if 2 <= len(picked) <= 4:
        choice.view["compare"] = ",".join(picked)


st.session_state.setdefault("opt_compare", names)
picked = st.multiselect("Scenarios (2 to 4; the first is the reference)", options, key="opt_compare",
                        on_change=_set, format_func=lambda n: shown.get(n, n), max_selections=4)
if len(picked) < 2:
    st.warning("Choose at least two scenarios.")
    st.stop()
names = picked

scenarios = [current if n == "current" else state.preset_scenario(n) for n in names]
seen: set[str] = set()
for i, s in enumerate(scenarios):  # the same name twice would merge their rows
    if s.name in seen:
        scenarios[i] = s.with_(name=f"{s.name}_{i + 1}")
    seen.add(scenarios[i].name)
scenarios = [s.with_(until=current.until) for s in scenarios]
runs, scale = min(int(choice.view["runs"]), model_calls.COMPARE_RUNS), int(choice.view["scale"])
label = f"Running {len(scenarios)} scenarios × {runs} runs with common random numbers"
bar, report = ui.progress_bar(label)
out = model_calls.comparison(tuple(s.to_yaml() for s in scenarios), runs, scale, current.until, choice.view["mode"],
                             _progress=report)
bar.empty()

order, ref, month = out["names"], out["names"][0], out["month"]
levels, diffs = out["levels"], out["differences"]
st.caption(f"{runs} runs per scenario at one agent per {scale} people, common random numbers: run i of every "
           "scenario shares its random numbers, so each difference has its own (narrow, paired) interval.")

# the answer first: people holding a PHB over time, and the paired difference
ui.show_chart(charts.compare_over_time(out["bands"], "holders", "People holding a PHB (people; median and "
                                       "80% of runs)", "People"), "compare_lines")
for other in order[1:]:
    d = out["paired"][other]["holders"]
    ui.show_chart(charts.difference_chart(d, f"{other} minus {ref}: people holding a PHB (paired runs, "
                                             "median and 80% interval)", "People"), f"compare_diff_{other}")

headline = {m: text.measure(m) for m in ("holders", "received_ytd", "direct_payment", "spend_gbp")}
rows = []
col_diff = f"Difference from {ref} (80% interval, paired runs)"
for m, lab in headline.items():
    money = m == "spend_gbp"
    f = (lambda v: f"£{v * 12 / 1e6:,.1f}m") if money else (lambda v: f"{v:,.0f}")
    fs = (lambda v: f"{'+' if v >= 0 else '−'}£{abs(v) * 12 / 1e6:,.1f}m") if money else (lambda v: f"{v:+,.0f}")
    for name in order:
        lv = levels[(levels["measure"] == m) & (levels["scenario"] == name)].iloc[0]
        row = {"Measure": lab.replace("(£ per month)", "(£m a year)"), "Scenario": name,
               "Median (80% of runs)": f"{f(lv['median'])} ({f(lv['p10'])} to {f(lv['p90'])})", col_diff: "–"}
        if name != ref:
            dd = diffs[(diffs["measure"] == m) & (diffs["scenario"] == name)].iloc[0]
            row[col_diff] = f"{fs(dd['median_diff'])} ({fs(dd['lo'])} to {fs(dd['hi'])})"
        rows.append(row)
st.subheader(f"Headline numbers, {month:%B %Y}")
ui.table(pd.DataFrame(rows))

# service measures over time, as paired differences
svc_labels = text.labels()["services"]
svc = [m for m in model_calls.SERVICE_MEASURES if m in out["paired"].get(order[1], {})] if len(order) > 1 else []
if svc:
    st.subheader("Traditional services: difference from the reference over time")
    cols = st.columns(2)
    for i, m in enumerate(svc):
        lab, unit = svc_labels[m]
        for other in order[1:]:
            d = out["paired"][other][m]
            if unit.startswith("£"):
                d, unit = d.assign(**{c: d[c] * 12 / 1e6 for c in ("median", "low", "high")}), "£m a year"
            elif unit.startswith("share"):
                d, unit = d.assign(**{c: d[c] * 100 for c in ("median", "low", "high")}), "percentage points"
            with cols[i % 2]:
                ui.show_chart(charts.difference_chart(d, f"{lab}: {other} minus {ref} ({unit})", unit, height=340),
                              f"compare_svc_{m}_{other}")

# what drives the difference: change-factor decomposition by group of patients, in medians
med = out["cohort_medians"]
for other in order[1:]:
    total_ref = float(levels[(levels["measure"] == "holders") & (levels["scenario"] == ref)]["median"].iloc[0])
    total_other = float(levels[(levels["measure"] == "holders") & (levels["scenario"] == other)]["median"].iloc[0])
    paired = out["cohort_paired"][other]
    steps = [(reg.COHORT_LABELS.get(k, k), float(v)) for k, v in paired.items() if abs(v) >= 0.5]
    rest = total_other - total_ref - sum(v for _, v in steps)
    if abs(rest) >= 0.5:
        steps.append(("Medians do not add exactly", rest))
    fig = charts.waterfall_chart((f"{ref} (median)", total_ref), steps, (f"{other} (median)", total_other),
                                 f"What drives the difference, {month:%B %Y}: {ref} to {other}, by group of patients "
                                 "(people holding a PHB; medians, paired runs)", "People")
    ui.show_chart(fig, f"compare_waterfall_{other}")
