"""Outputs a stress test can ask about: one number per run, named so a critic can type them.

    holders_YYYY_MM        people holding a PHB in that month (stock)
    received_ytd_YYYY_MM   people who received a budget in the financial year to that month (2021/22 definition)
    issued_ytd_YYYY_MM, holders_recurring_YYYY_MM, new_holders_YYYY_MM, reported_holders_YYYY_MM   likewise
    reach_100k_YYYY_MM     1 if holders reached 100,000 by that month (its mean over runs is P(target))
    decommissioned         traditional contracts decommissioned by the last month (recurring £ a year)
    closures               providers closed since April 2014, by the last month
    double_running         block payments made for care not used, summed over the run (£)
    spend                  CCG spend on these cohorts' services and budgets, summed over the run (£)
    net_cost               net cost to the NHS against the same run with no PHBs, summed over the run (£)

net_cost reads the net-cost total the service tables expose when the no-PHB counterfactual was kept with the
run; ensembles do not keep it, so the same design is also run with no PHBs (same seeds and draws: a twin) and
the total spend of the two is differenced. The money split (budgets, support, double running, savings) is
the service side's; this reads only its total, and says so clearly when the tables have none.

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
AGAINST_NO_PHBS = {"net_cost": ("total_gbp",)}  # output: total columns differenced against the no-PHB twin
NET_TOTALS = ("net_cost_to_nhs_gbp", "net_cost_gbp")  # net totals a run with its counterfactual may expose
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
    needs_counterfactual: bool = False


def parse(name: str) -> Output:
    """What an output name means; a bad name gets one message listing the forms allowed."""
    if name in SERVICE_OUTPUTS:
        _, _, label, unit = SERVICE_OUTPUTS[name]
        return Output(name, label, unit, None, True, name in AGAINST_NO_PHBS)
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


def needs_counterfactual(outputs: list[Output]) -> bool:
    return any(o.needs_counterfactual for o in outputs)


def no_phb_twin(scenario):
    """The scenario with no PHBs (as the service side's own counterfactual) and the parameters that make it so,
    which a design point must not undo."""
    from model.services import counterfactual_scenario

    cf = counterfactual_scenario(scenario)
    mine, theirs = scenario.parameters.model_dump(), cf.parameters.model_dump()
    return cf, {k: v for k, v in theirs.items() if mine[k] != v}


def last_month_needed(outputs: list[Output]) -> pd.Timestamp | None:
    """The latest month any output reads (None if one needs the whole run)."""
    months = [o.month for o in outputs]
    return None if any(m is None for m in months) else max(months)


def evaluate(tables: dict[str, pd.DataFrame], outputs: list[Output],
             twin: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per run, one column per output, from an ensemble's per-run tables (and, for outputs against no
    PHBs, the tables of the same runs with no PHBs)."""
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
            if o.needs_counterfactual:
                out[o.name] = _against_no_phbs(o, svc, twin).reindex(runs).to_numpy(float)
                continue
            if col not in svc.columns:
                raise OutputError(f"output '{o.name}': column '{col}' is not in the service tables")
            out[o.name] = _per_run(svc, col, how).reindex(runs).to_numpy(float)
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


def _per_run(svc: pd.DataFrame, col: str, how: str) -> pd.Series:
    g = svc.sort_values(["run", "month"], kind="stable").groupby("run", sort=True)[col]
    return g.last() if how == "last" else g.sum()


def _against_no_phbs(o: Output, svc: pd.DataFrame, twin) -> pd.Series:
    """A net total the tables expose, else the run's total less its no-PHB twin's, summed over the run."""
    for col in NET_TOTALS:
        if col in svc.columns:
            return _per_run(svc, col, "sum")
    totals = [c for c in AGAINST_NO_PHBS[o.name] if c in svc.columns]
    other = None if twin is None else twin.get("extra_services_national")
    if not totals or other is None or totals[0] not in other.columns:
        raise OutputError(f"output '{o.name}': the service tables expose no net-cost total (looked for "
                          f"{', '.join(NET_TOTALS)}, or {', '.join(AGAINST_NO_PHBS[o.name])} beside a no-PHB twin "
                          f"run); service columns available: {', '.join(c for c in svc.columns if c.endswith('_gbp'))}")
    return _per_run(svc, totals[0], "sum") - _per_run(other, totals[0], "sum")


def _check_month(nat: pd.DataFrame, o: Output) -> None:
    first, last = nat["month"].min(), nat["month"].max()
    if not first <= o.month <= last:
        raise OutputError(f"output '{o.name}': {o.month:%b %Y} is outside the runs ({first:%b %Y} to {last:%b %Y})")


def scenario_for(scenario, outputs: list[Output], scale: int | None = None):
    """The scenario cut to what the outputs need: end at the last month read, coarse agents."""
    last = last_month_needed(outputs)
    late = [o for o in outputs if o.month is not None and o.month > pd.Timestamp(scenario.until)]
    if late:
        raise OutputError(f"output '{late[0].name}' reads {late[0].month:%b %Y}, after the runs end ({scenario.until}); "
                          f"end the runs later (--until) or choose an earlier month")
    changes = {}
    if last is not None:
        end = (last + pd.offsets.MonthEnd(0)).date()
        if end < scenario.until:
            changes["until"] = end
    if scale is not None:
        changes["agent_scale"] = scale
    return scenario.with_(**changes) if changes else scenario
