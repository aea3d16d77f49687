"""Outputs a stress test can ask about: one number per run, named so a critic can type them.

    holders_YYYY_MM        people holding a PHB in that month (stock)
    received_ytd_YYYY_MM   people who received a budget in the financial year to that month (2021/22 definition)
    issued_ytd_YYYY_MM, holders_recurring_YYYY_MM, new_holders_YYYY_MM, reported_holders_YYYY_MM   likewise
    reach_100k_YYYY_MM     1 if holders reached 100,000 by that month (its mean over runs is P(target))
    decommissioned         traditional contracts decommissioned by the last month (recurring £ a year)
    closures               providers closed since April 2014, by the last month
    double_running         block payments made for care not used, summed over the run (£)
    spend                  CCG spend on these cohorts' services and budgets, summed over the run (£)
    net_cost               spend minus the same run with no PHBs (£): only where the counterfactual was kept

A name the run's tables cannot give is refused with a message saying what is available and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.scenario import ScenarioError

NATIONAL = ("holders", "received_ytd", "issued_ytd", "holders_recurring", "new_holders", "reported_holders",
            "direct_payment", "notional", "third_party")
DATED = re.compile(r"^(?P<measure>[a-z_]+?)_(?P<year>20\d\d)_(?P<month>0[1-9]|1[0-2])$")
REACH = re.compile(r"^reach_(?P<k>\d+)k_(?P<year>20\d\d)_(?P<month>0[1-9]|1[0-2])$")
SERVICE_OUTPUTS = {  # name: (services_national column, how, label, unit)
    "decommissioned": ("decommissioned_recurring_gbp", "last", "contracts decommissioned", "£ a month, recurring"),
    "closures": ("closures", "last", "providers closed since April 2014", "providers"),
    "double_running": ("double_running_gbp", "sum", "double running (block paid, care not used)", "£"),
    "spend": ("total_gbp", "sum", "CCG spend on these cohorts", "£"),
    "net_cost": ("net_cost_to_nhs_gbp", "sum", "net cost to the NHS against no PHBs", "£"),
}
DEFAULT_OUTPUTS = ("holders_2021_03", "received_ytd_2021_03", "reach_50k_2021_03", "reach_100k_2021_03",
                   "holders_2024_03", "received_ytd_2024_03", "reach_200k_2024_03",
                   "decommissioned", "closures", "double_running", "spend")
UPTAKE_OUTPUTS = ("holders_2021_03", "received_ytd_2021_03", "reach_50k_2021_03", "reach_100k_2021_03")


class OutputError(ScenarioError):
    """An output name that cannot be computed: the message lists what can."""


@dataclass(frozen=True)
class Output:
    name: str
    label: str
    unit: str
    month: pd.Timestamp | None  # the month it is read at (None: the whole run)
    needs_services: bool


def parse(name: str) -> Output:
    """What an output name means; a bad name gets one message listing the forms allowed."""
    if name in SERVICE_OUTPUTS:
        _, _, label, unit = SERVICE_OUTPUTS[name]
        return Output(name, label, unit, None, True)
    m = REACH.match(name)
    if m:
        month = pd.Timestamp(int(m["year"]), int(m["month"]), 1)
        return Output(name, f"reached {int(m['k']):,}k holders by {month:%b %Y}", "1 = yes", month, False)
    m = DATED.match(name)
    if m and m["measure"] in NATIONAL:
        month = pd.Timestamp(int(m["year"]), int(m["month"]), 1)
        return Output(name, f"{m['measure'].replace('_', ' ')} in {month:%b %Y}", "people", month, False)
    raise OutputError(f"output '{name}' is not known; use MEASURE_YYYY_MM with MEASURE one of {', '.join(NATIONAL)}, "
                      f"reach_<N>k_YYYY_MM, or one of {', '.join(SERVICE_OUTPUTS)}")


def parse_all(names) -> list[Output]:
    names = list(names) if names else list(DEFAULT_OUTPUTS)
    return [parse(n) for n in names]


def needs_services(outputs: list[Output]) -> bool:
    return any(o.needs_services for o in outputs)


def last_month_needed(outputs: list[Output]) -> pd.Timestamp | None:
    """The latest month any output reads (None if one needs the whole run)."""
    months = [o.month for o in outputs]
    return None if any(m is None for m in months) else max(months)


def evaluate(tables: dict[str, pd.DataFrame], outputs: list[Output]) -> pd.DataFrame:
    """One row per run, one column per output, from an ensemble's per-run tables."""
    nat = tables["national"]
    runs = np.sort(nat["run"].unique())
    out = pd.DataFrame({"run": runs})
    for o in outputs:
        if o.needs_services:
            col, how, _, _ = SERVICE_OUTPUTS[o.name]
            svc = tables.get("extra_services_national")
            if svc is None:
                raise OutputError(f"output '{o.name}' needs the service side; these runs were made without it "
                                  "(drop --no-services or choose uptake outputs)")
            if col not in svc.columns:
                why = " (it needs the no-PHB counterfactual, which ensembles do not run; use 'spend')" \
                    if o.name == "net_cost" else ""
                raise OutputError(f"output '{o.name}': column '{col}' is not in the service tables{why}")
            g = svc.sort_values(["run", "month"], kind="stable").groupby("run", sort=True)[col]
            vals = g.last() if how == "last" else g.sum()
            out[o.name] = vals.reindex(runs).to_numpy(float)
            continue
        if o.name.startswith("reach_"):
            k = int(REACH.match(o.name)["k"]) * 1000
            upto = nat[nat["month"] <= o.month]
            _check_month(nat, o)
            out[o.name] = (upto.groupby("run", sort=True)["holders"].max().reindex(runs) >= k).to_numpy(float)
            continue
        measure = DATED.match(o.name)["measure"]
        if measure not in nat.columns:
            raise OutputError(f"output '{o.name}': the model's national table has no '{measure}' column in this "
                              f"version (available: {', '.join(c for c in NATIONAL if c in nat.columns)})")
        _check_month(nat, o)
        rows = nat[nat["month"] == o.month].set_index("run")[measure]
        out[o.name] = rows.reindex(runs).to_numpy(float)
    return out


def _check_month(nat: pd.DataFrame, o: Output) -> None:
    first, last = nat["month"].min(), nat["month"].max()
    if not first <= o.month <= last:
        raise OutputError(f"output '{o.name}': {o.month:%b %Y} is outside the runs ({first:%b %Y} to {last:%b %Y})")


def scenario_for(scenario, outputs: list[Output], scale: int | None = None):
    """The scenario cut to what the outputs need: end at the last month read, coarse agents."""
    import datetime as dt

    last = last_month_needed(outputs)
    changes = {}
    if last is not None:
        end = (last + pd.offsets.MonthEnd(0)).date()
        if end < scenario.until:
            changes["until"] = end
    if scale is not None:
        changes["agent_scale"] = scale
    _ = dt
    return scenario.with_(**changes) if changes else scenario
