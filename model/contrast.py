"""`phb contrast A B`: what budgets do to traditional services and NHS money, with paired intervals.

Why paired: a difference between two scenarios (or between a scenario and the same scenario with no PHBs) is
far smaller than the run-to-run spread of either. Run i of every arm uses the same seed (common random
numbers, model/ensemble.py), so the difference is taken run by run and its 80% interval is the 10th–90th
percentile of those differences, not of two overlapping bands.

Each scenario is run twice per seed: as given, and as the same scenario with no PHBs
(`model.services.counterfactual_scenario`); "effect of budgets" is the first minus the second. The contrast
of A with B is A's effect minus B's, run by run.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.register.base import COHORTS
from model.service_tables import NET_PARTS
from model.units import MONTHS_PER_YEAR

# What the world without budgets reads: the patients' flows and the dates that make them eligible, the size of
# their care packages (a budget's median is its package's cost), and the providers and their money. Every
# other parameter acts only through offers, budgets, support planning or CCGs' response to PHB targets, so
# with nobody offered a budget it moves nothing (tests/test_services.py sets them all at once to their range
# ends and finds every table identical).
NO_PHB_WORLD_READS = frozenset((
    "right_to_ask_date", "right_to_have_date", "wheelchair_right_date", "pwb_offer_date", "knowledge_date",
    "covid_start", "covid_end",
    *(f"{c}_eligible" for c in COHORTS), *(f"{c}_mean_months" for c in COHORTS if c != "chc"),
    "chc_new_per_quarter", "chc_fast_track_share", "chc_fast_track_mean_months", "chc_death_share",
    "other_death_share", "recovery_share",
    *(f"budget_median_{c}" for c in COHORTS), "budget_log_sd",
    "flexible_contract_share", "other_users_ratio", "referrals_per_user_year", "initial_utilisation",
    "arrival_variability", "fixed_cost_share", "provider_margin", "viability_months", "shrink_step",
    "closure_threshold", "capacity_growth_rate", "contract_rebase_months", "inpatient_bed_days_per_year",
    "inpatient_cost_per_bed_day", *(f"inpatient_bed_days_{c}" for c in COHORTS),
))


def shared_counterfactual(scenario):
    """The scenario's no-PHB twin (`model.services.counterfactual_scenario`) with every parameter the world
    without budgets does not read at its register default, named `no_phbs`: scenarios that differ only in
    how budgets are pushed, offered or taken up have the same twin, so a stored twin is read back instead of
    run again (a lever change on the services page reruns the PHB arm only). The same numbers either way.
    Where the defaults would put dates out of order, only the name is shared."""
    from model import parameters as reg
    from model.services import counterfactual_scenario

    twin = counterfactual_scenario(scenario).with_(name="no_phbs", description="")
    unread = {name: reg.BY_NAME[name].default for name in type(scenario.parameters).model_fields
              if name not in NO_PHB_WORLD_READS}
    try:
        return counterfactual_scenario(twin.with_parameters(**unread))
    except ValueError:
        return twin


# per-run measures over the last 12 months of a run: (column, label, unit, how, scale)
MEASURES = (
    ("decommissioned", "contracts decommissioned (recurring)", "£m a year", "decommissioned_recurring_gbp", "last",
     1e6 / MONTHS_PER_YEAR),
    ("closures", "providers closed since Apr 2014", "providers", "closures", "last", 1.0),
    ("closures_budgets", "  closures budgets played a part in (none without PHBs)", "providers", "closures_budgets",
     "last", 1.0),
    ("wait", "mean wait for a traditional service", "weeks", "mean_wait_weeks", "mean", 1.0),
    ("double_running", "double running", "£m a year", "double_running_gbp", "sum", 1e6),
    ("bed_days", "inpatient bed-days", "thousand", "inpatient_bed_days", "sum", 1e3),
    ("spend", "net cost to the NHS (CCG spend)", "£m a year", "total_gbp", "sum", 1e6),
    ("net_budgets", "  budgets paid out less money reclaimed", "£m a year", ("phb_payments_gbp", "phb_reclaimed_gbp"),
     "sum", 1e6),
    ("net_support", "  support planning and brokerage", "£m a year", "support_gbp", "sum", 1e6),
    ("net_double_running", "  double running", "£m a year", "double_running_gbp", "sum", 1e6),
    ("net_inpatient", "  inpatient care", "£m a year", "contracts_inpatient_gbp", "sum", 1e6),
    ("net_other_services", "  other traditional services", "£m a year", ("contracts_gbp", "contracts_inpatient_gbp"),
     "sum", 1e6),
)
assert tuple(k[len("net_"):] for k, *_ in MEASURES if k.startswith("net_")) == NET_PARTS
LABELS = {k: (label, unit) for k, label, unit, *_ in MEASURES}
INTERVAL = (0.1, 0.9)  # an 80% interval


def per_run(national: pd.DataFrame) -> pd.DataFrame:
    """One row per run: each measure over the run's last 12 months (the `extra_services_national` table)."""
    rows = {}
    for run, nat in national.groupby("run", sort=True):
        nat = nat.sort_values("month")
        year, last = nat.tail(MONTHS_PER_YEAR), nat.iloc[-1]
        row = {}
        for key, _, _, col, how, scale in MEASURES:
            if isinstance(col, tuple):
                series = year[col[0]] - year[col[1]]
                value = series.sum() if how == "sum" else series.mean()
            else:
                value = year[col].sum() if how == "sum" else year[col].mean() if how == "mean" else last[col]
            row[key] = float(value) / scale
        rows[run] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")


def band(x: pd.Series) -> tuple[float, float, float]:
    x = x.dropna()
    if x.empty:
        return (np.nan, np.nan, np.nan)
    lo, hi = np.quantile(x, INTERVAL)
    return float(x.mean()), float(lo), float(hi)


@dataclass
class Effects:
    """Per-run measures of one scenario, its no-PHB twin, and the paired effect (first minus second)."""
    name: str
    with_phbs: pd.DataFrame
    no_phbs: pd.DataFrame

    @property
    def effect(self) -> pd.DataFrame:
        return self.with_phbs - self.no_phbs


def effects(scenario, runs: int, progress=None, **ensemble_options) -> Effects:
    """Run `scenario` and its no-PHB twin on the same `runs` seeds (model/ensemble.py run_ensemble, mode
    'randomness'), and measure both."""
    from model.ensemble import run_ensemble

    out = []
    for s in (scenario, shared_counterfactual(scenario)):  # A's and B's twins are one when they differ only in levers
        ens = run_ensemble(s, runs, mode="randomness", services=True, progress=progress, **ensemble_options)
        out.append(per_run(ens.runs_table("extra_services_national")))
    return Effects(scenario.name, *out)


def contrast_table(a: Effects, b: Effects) -> pd.DataFrame:
    """Measure × (A's effect, B's effect, A − B) with means and paired 80% intervals; also the no-PHB arms."""
    rows = []
    diff = a.effect - b.effect
    for key, (label, unit) in LABELS.items():
        row = {"measure": key, "label": label, "unit": unit}
        for tag, df in (("a", a.effect), ("b", b.effect), ("diff", diff), ("a_no_phbs", a.no_phbs),
                        ("b_no_phbs", b.no_phbs)):
            row[tag], row[f"{tag}_low"], row[f"{tag}_high"] = band(df[key])
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(m: float, lo: float, hi: float, dp: int) -> str:
    return f"{m:+,.{dp}f} [{lo:+,.{dp}f}, {hi:+,.{dp}f}]"


def contrast_lines(table: pd.DataFrame, a: str, b: str, runs: int, note: str) -> list[str]:
    lines = [f"Effect of budgets on traditional services: {a} against {b}; {runs} paired runs ({note}), last 12 months.",
             "Each cell: mean over runs [80% interval of the run-by-run paired difference]; effect = the run with",
             "PHBs minus the same run (same seed) with no PHBs; the last column is the first effect minus the second.",
             f"  {'':44s} {'unit':10s} {a[:26]:>28s} {b[:26]:>28s} {'difference':>28s}"]
    for _, r in table.iterrows():
        dp = 0 if r["unit"] == "providers" else 2 if r["unit"] == "weeks" else 1
        lines.append(f"  {r['label']:44s} {r['unit']:10s} {_fmt(r['a'], r['a_low'], r['a_high'], dp):>28s} "
                     f"{_fmt(r['b'], r['b_low'], r['b_high'], dp):>28s} "
                     f"{_fmt(r['diff'], r['diff_low'], r['diff_high'], dp):>28s}")
    named = [(s, table.set_index("measure").loc["closures", f"{s}_no_phbs"]) for s in ("a", "b")]
    for tag, n in named:
        if n > 0:
            lines.append(f"  no-PHB run of {a if tag == 'a' else b}: {n:.1f} closures on average, cause not budgets "
                         "(activity drifting from contracts as the population changes)")
    return lines


def cost_per_outcome(outcomes: pd.DataFrame, by: str | list = "cohort") -> pd.DataFrame:
    """Cost per quality-adjusted outcome across an ensemble's runs (`extra_services_outcomes`, with a `run`
    column): model/outcomes.py cost_effectiveness run by run, then each figure's mean and 80% interval.
    Columns: <figure>, <figure>_low, <figure>_high for holders, ascot_gain, net_cost_per_holder_year, its
    split (net_*) and gbp_per_ascot_point; `verdict` from the means."""
    from model.outcomes import cost_effectiveness

    keys = [by] if isinstance(by, str) else list(by)
    # every run at once, grouped by run too: the runs of an ensemble share their months, so each run's last
    # `months` are the ensemble's (one call, not one a run: a tenth of the time, the same sums)
    df = cost_effectiveness(outcomes.sort_values("run", kind="stable"), by=["run", *keys]).drop(columns=["verdict"])
    g = df.reset_index().groupby(keys, sort=False)
    cols = [c for c in df.columns if c != "run"]
    out = g[cols].mean()
    for q, tag in zip(INTERVAL, ("low", "high")):
        out = out.join(g[cols].quantile(q).add_suffix(f"_{tag}"))
    out["verdict"] = np.where(out["net_cost_per_holder_year"] <= 0, "cost-saving with a gain",
                              np.where(out["gbp_per_ascot_point"] < 20_000, "cost-effective", "costs more"))
    return out


# ---- command line ---------------------------------------------------------------------------------------
def add_commands(sub) -> None:
    from model.arguments import RESULTS_DIR, _nonneg_int, _positive_int, _until

    p = sub.add_parser("contrast", help="effect of budgets on traditional services and NHS money in two "
                                         "scenarios, with paired 80%% intervals (same seeds, PHB minus no-PHB)")
    p.add_argument("scenarios", nargs=2, metavar="SCENARIO", help="two scenario names or YAML files")
    p.add_argument("--runs", type=_positive_int, default=20, help="paired runs (default 20)")
    p.add_argument("--seed", type=_nonneg_int, help="root seed shared by both scenarios (default: the first's)")
    p.add_argument("--until", type=_until, help="last month to simulate, YYYY-MM-DD (up to 2030-03-31)")
    p.add_argument("--scale", type=_positive_int, help="people per patient agent (e.g. 50 for fast runs)")
    p.add_argument("--workers", type=_positive_int, help="worker processes (default: all cores)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results store (default: results/)")
    p.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_contrast)


def cmd_contrast(args: argparse.Namespace) -> int:
    from model.arguments import _bar, scenario_from_args, writable_dir, writable_file
    from model.store import Store

    def scenario(name: str, seed):
        return scenario_from_args(argparse.Namespace(scenario=name, seed=seed, until=args.until, scale=args.scale))

    a = scenario(args.scenarios[0], args.seed)
    b = scenario(args.scenarios[1], a.seed)  # the same seeds in both: paired runs
    writable_dir(args.out)
    if args.csv:
        writable_file(args.csv)
    bar, progress = _bar(args, "contrast")
    options = dict(workers=args.workers, store=Store(args.out))
    with bar:
        ea, eb = effects(a, args.runs, progress, **options), effects(b, args.runs, progress, **options)
    table = contrast_table(ea, eb)
    note = f"seed {a.seed}, 1:{a.agent_scale}, to {a.until:%b %Y}"
    print("\n".join(contrast_lines(table, a.name, b.name, args.runs, note)))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"Table: {args.csv}")
    return 0
