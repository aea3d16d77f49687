"""Traditional services: what PHBs do to everyone else's services, as differences from the same runs with
no PHBs, each with its interval. The answer first (net cost in £m a year, closures, waits), the levers
that move it beside it, then each measure over time.

Reads the service side of the model (model/services.py via model.ensemble.compare); if a model version
has no service tables the page says so plainly."""

from __future__ import annotations

import importlib.util

import pandas as pd
import streamlit as st

from dashboard import charts, service_calls, state, text, ui
from dashboard.views import levers
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
measures = dict(labels["services"])
for s in SERVICES:
    measures[f"wait_weeks_{s}"] = [labels["service_waits"].format(service=SERVICE_LABELS[s]), "weeks"]
runs = min(int(choice.view["runs"]), service_calls.SERVICE_RUNS)
scale = max(int(choice.view["scale"]), service_calls.SERVICE_SCALE)
label = f"Running {runs} paired runs with and without PHBs (one agent per {scale} people)"
bar, report = ui.progress_bar(label)
out = service_calls.service_differences(scenario.to_yaml(), runs, scale, _progress=report)
bar.empty()
diffs = {m: d for m, d in out["differences"].items() if m in measures}
if "total_gbp" not in diffs:
    st.info(text.md("services_unavailable"))
    st.stop()


def plain(x: float, unit: str, sign: str = "", short: bool = False) -> str:
    """£ per month as £m a year; whole providers and people; shares as percentages; weeks to one place.
    `short` drops the unit (inside an interval that already names it)."""
    if x != x:
        return "–"
    mark = ("+" if x > 0 else "−" if x < 0 else "") if sign else ("−" if x < 0 else "")
    if unit.startswith("£"):
        v = abs(x) * 12 / 1e6
        return f"{mark}£{v:,.1f}m" + ("" if short else " a year")
    if unit.startswith("share"):
        v = abs(x) * 100
        return f"{mark}{v:,.1f}" + ("" if short else (" points" if sign else "%"))
    if unit == "weeks":
        return f"{mark}{abs(x):,.1f}" + ("" if short else " weeks")
    if "ASCOT" in unit:
        return f"{mark}{abs(x):,.2f}"
    return f"{mark}{abs(x):,.0f}"


def interval(last: pd.Series, unit: str) -> str:
    return (f"{plain(last['median_diff'], unit, '+')} ({plain(last['lo'], unit, '+', True)} to "
            f"{plain(last['hi'], unit, '+', True)})")


def in_units(d: pd.DataFrame, unit: str) -> tuple[pd.DataFrame, str]:
    if unit.startswith("£"):
        return d.assign(**{c: d[c] * 12 / 1e6 for c in ("median", "low", "high")}), "£m a year"
    if unit.startswith("share"):
        return d.assign(**{c: d[c] * 100 for c in ("median", "low", "high")}), "percentage points"
    return d, unit


end = pd.Timestamp(diffs["total_gbp"]["month"].iloc[-1])
st.subheader(f"By {end:%B %Y}, compared with no PHBs")
head = st.columns(3)
for col, m in zip(head, ("total_gbp", "closures", "mean_wait_weeks")):
    if m in diffs:
        last = diffs[m].iloc[-1]
        unit = measures[m][1]
        col.metric(measures[m][0], plain(last["median_diff"], unit, "+"),
                   help=f"Median of {runs} paired runs; 80% of pairs between {plain(last['lo'], unit, '+')} "
                        f"and {plain(last['hi'], unit, '+')}.")

chart_col, lever_col = st.columns([4, 1])
with lever_col:
    levers.near("services", scenario.parameters.model_dump())
with chart_col:
    d, unit = in_units(diffs["total_gbp"].rename(columns={"median_diff": "median", "lo": "low", "hi": "high"}),
                       measures["total_gbp"][1])
    ui.show_chart(charts.difference_chart(d, f"{measures['total_gbp'][0]}: difference from no PHBs ({unit})", unit),
                  "svc_total_gbp")
    st.caption(f"{runs} paired runs at one agent per {scale} people; each pair shares every random number, so "
               "the difference is what PHBs did. Bands: 80% of paired runs.")

rows = []
for name, (lab, unit) in measures.items():
    if name not in diffs:
        continue
    last = diffs[name].iloc[-1]
    rows.append({"Measure": lab, "With PHBs (median)": plain(last["median_scenario"], unit),
                 "Without PHBs (median)": plain(last["median_first"], unit),
                 "Difference (80% interval)": interval(last, unit)})
st.subheader("Every measure")
ui.table(pd.DataFrame(rows))

# the net cost to the NHS, split: each part a paired difference from no PHBs (its own median and interval, so the
# medians need not add up exactly)
NET_SPLIT = (("budgets_less_reclaimed_gbp", "Budgets paid out, less money reclaimed unspent"),
             ("support_gbp", "Support planning and brokerage"),
             ("double_running_gbp", "Double running (contracts paid for care no longer used)"),
             ("contracts_inpatient_gbp", "Inpatient care"),
             ("contracts_other_gbp", "Other traditional services"),
             ("total_gbp", "Net cost to the NHS"))
split = [(lab, out["differences"][k].iloc[-1]) for k, lab in NET_SPLIT if k in out["differences"]]
if split:
    st.subheader(f"Net cost to the NHS in the year to {end:%B %Y}, split")
    ui.table(pd.DataFrame([{"Part": lab, "Difference from no PHBs (80% interval)": interval(last, "£ a month")}
                           for lab, last in split]))
    st.caption("Negative: money saved. Each row is the median of paired runs (PHB run minus the same run with no "
               "PHBs); budgets replace the care holders no longer use, which shows as savings in the services.")


def pounds(x: float, sign: bool = True) -> str:
    if x != x:
        return "–"
    mark = ("+" if x > 0 else "−" if x < 0 else "") if sign else ""
    return f"{mark}£{abs(x):,.0f}"


def per_outcome_table(ce: pd.DataFrame, first: str, names: dict) -> pd.DataFrame:
    rows = []
    for key, r in ce.iterrows():
        if not r["holders"] > 0:
            continue
        ratio = r["gbp_per_ascot_point"]
        rows.append({
            first: names.get(key, str(key).replace("_", " ")),
            "Holders": f"{r['holders']:,.0f}",
            "Quality of life gain a year (ASCOT points)": f"{r['ascot_gain']:+.3f}",
            "Net cost a holder a year (80% interval)": f"{pounds(r['net_cost_per_holder_year'])} "
            f"({pounds(r['net_cost_per_holder_year_low'])} to {pounds(r['net_cost_per_holder_year_high'])})",
            "of which budget less reclaimed": pounds(r["net_budget_minus_package"] + r["net_reclaimed"]),
            "support": pounds(r["net_support"]), "inpatient care": pounds(r["net_inpatient_saved"]),
            "Cost per ASCOT point": "saves money" if r["net_cost_per_holder_year"] <= 0 else pounds(ratio, False),
            "Verdict": r["verdict"]})
    return pd.DataFrame(rows)


if out.get("outcomes") is not None and not out["outcomes"].empty:
    from model.contrast import cost_per_outcome
    from model.parameters import COHORT_LABELS

    st.subheader("Cost per quality-adjusted outcome, by group and by how the budget is held")
    ui.table(per_outcome_table(cost_per_outcome(out["outcomes"], "cohort"), "Group", COHORT_LABELS))
    held_names = {"notional": "Notional budget", "third_party": "Third-party budget", "direct_payment": "Direct payment"}
    ui.table(per_outcome_table(cost_per_outcome(out["outcomes"], "held_as"), "Held as", held_names))
    st.caption(f"Last 12 months of {runs} runs. Net cost a holder a year: the budget less the holder's own "
               "package it replaces and money reclaimed unspent, plus support planning, less inpatient care avoided "
               "(a notional budget is the contract). Cost per ASCOT point: net cost over the gain in care-related "
               "quality of life against no budget. Double running and decommissioning are costs of the transition, "
               "shown in the split above, not per holder.")


panels = []
for name, (lab, unit) in measures.items():
    if name not in diffs or name == "total_gbp":
        continue
    d, shown = in_units(diffs[name].rename(columns={"median_diff": "median", "lo": "low", "hi": "high"}), unit)
    panels.append((d, f"{lab} ({shown})"))
if panels:
    ui.show_chart(charts.difference_grid(panels, "Every measure over time: difference from no PHBs"), "svc_measures")
    st.caption(f"Each panel: median of {runs} paired runs (PHB run minus the same run with no PHBs) and 80% of "
               "pairs, with zero marked.")

if out["quality_of_life"] is not None:
    qol_label, qol_unit = labels["quality_of_life"]
    q = out["quality_of_life"].rename(columns={"p10": "low", "p90": "high"})
    ui.show_chart(charts.difference_chart(q, f"{qol_label} ({qol_unit})", qol_unit), "svc_quality_of_life")


def _place(code_service, names: dict) -> str:
    """'00Q:chc_home_care' -> 'NHS Blackburn with Darwen CCG (CHC home care)'."""
    if not isinstance(code_service, str) or ":" not in code_service:
        return "–" if code_service is None or code_service != code_service else str(code_service)
    code, service = code_service.split(":", 1)
    return f"{names.get(code, code)} ({SERVICE_LABELS.get(service, service)})"


st.subheader("Provider closures (the first of the paired runs, with dates and places)")
clos = out.get("closures")
if clos is None or clos.empty:
    st.write("No traditional provider closed in this run.")
else:
    names = load_geography().organisations["name"].to_dict()
    ui.table(pd.DataFrame({
        "Date": pd.to_datetime(clos["date"]).dt.strftime("%Y-%m-%d"),
        "CCG": clos["ccg"].map(lambda c: names.get(c, c)), "Service": clos["service"].map(SERVICE_LABELS),
        "People using it": clos["users"].map(lambda v: f"{v:,.0f}"),
        "Waiting list moved": clos["waiting_moved"].map(lambda v: f"{v:,.0f}"),
        "Moved to": clos["moved_to"].map(lambda c: _place(c, names))}))
