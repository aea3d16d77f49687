"""Compare: two to four scenarios under common random numbers; headline table with differences and
intervals; a waterfall of the difference in people holding a PHB by group of patients."""

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

if not ui.present():
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
runs, scale = int(choice.view["runs"]), int(choice.view["scale"])
bar = st.progress(0.0, text=f"Running {len(scenarios)} scenarios × {runs} runs with common random numbers…")
out = model_calls.comparison(tuple(s.to_yaml() for s in scenarios), runs, scale, current.until, choice.view["mode"],
                             _progress=lambda d, t: bar.progress(min(d / max(t, 1), 1.0)))
bar.empty()

order, ref, month = out["names"], out["names"][0], out["month"]
levels, diffs = out["levels"], out["differences"]
headline = {m: text.measure(m) for m in ("holders", "received_ytd", "direct_payment", "spend_gbp")}
rows = []
for m, label in headline.items():
    for name in order:
        lv = levels[(levels["measure"] == m) & (levels["scenario"] == name)].iloc[0]
        row = {"Measure": label, "Scenario": name,
               "Median (80% of runs)": f"{lv['median']:,.0f} ({lv['p10']:,.0f} to {lv['p90']:,.0f})",
               f"Difference from {ref} (80% interval, paired runs)": "–"}
        if name != ref:
            d = diffs[(diffs["measure"] == m) & (diffs["scenario"] == name)].iloc[0]
            row[f"Difference from {ref} (80% interval, paired runs)"] = \
                f"{d['median_diff']:+,.0f} ({d['lo']:+,.0f} to {d['hi']:+,.0f})"
        rows.append(row)
st.subheader(f"Headline numbers, {month:%B %Y}")
st.caption(f"{runs} runs per scenario at one agent per {scale} people, common random numbers.")
ui.table(pd.DataFrame(rows))

held = levels[levels["measure"] == "holders"].set_index("scenario").loc[order].reset_index()
ui.show_chart(charts.compare_chart(held, f"People holding a PHB, {month:%B %Y} "
                                         "(people; bars: median, whiskers: 80% of runs)", "People"), "compare_bars")

coh = out["cohort_means"].pivot_table(index="cohort", columns="scenario", values="mean")
for other in order[1:]:
    steps = [(reg.COHORT_LABELS.get(k, k), float(coh.loc[k, other] - coh.loc[k, ref])) for k in coh.index]
    fig = charts.waterfall_chart((ref, float(coh[ref].sum())), steps, (other, float(coh[other].sum())),
                                 f"What drives the difference: {ref} to {other}, by group of patients "
                                 "(people holding a PHB, mean of runs)", "People")
    ui.show_chart(fig, f"compare_waterfall_{other}")
