"""The Traditional services page's calls into the model: paired runs with and without PHBs
(model.ensemble.compare, chance only, so both arms share every random number) and their differences, measure
by measure. The no-PHB arm is model.contrast.shared_counterfactual: scenarios that differ only in how budgets
are pushed, offered or taken up share it, so after such a lever change it is read back from the store and only
the PHB arm runs. Memo, worker choice and store come from dashboard/model_calls.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from dashboard import model_calls as mc
from model.scenario import Scenario

# the service side costs several times the patient side per run: its pages use fewer, coarser runs
SERVICE_RUNS, SERVICE_SCALE = 12, 50


def service_headline(scenario: Scenario, view: dict) -> pd.DataFrame | None:
    """Net cost to the NHS, run minus no-PHB counterfactual, in £m a year (for exports and slides);
    None if this model version has no service side."""
    import importlib.util

    if importlib.util.find_spec("model.services") is None:
        return None
    out = service_differences(scenario.to_yaml(), min(int(view["runs"]), SERVICE_RUNS),
                              max(int(view["scale"]), SERVICE_SCALE))
    d = out["differences"]["total_gbp"].rename(columns={"median_diff": "median", "lo": "low", "hi": "high"})
    return d.assign(**{c: d[c] * 12 / 1e6 for c in ("median", "low", "high")})


def service_differences(scenario_yaml: str, runs: int, scale: int, measures: tuple[str, ...] = (),
                        _progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run minus no-PHB counterfactual for every service measure and month, with 80% intervals over paired
    runs (model.ensemble.compare, chance only, so both arms share every random number). Columns per
    measure: month, median_diff, lo, hi, median_scenario, median_first."""
    return mc._memo(("services", scenario_yaml, runs, scale),
                 lambda: _service_differences(scenario_yaml, runs, scale, _progress))


def _service_differences(scenario_yaml, runs, scale, _progress) -> dict[str, Any]:
    from model import ensemble as ens
    from model.contrast import shared_counterfactual

    s = mc.scenario_of(scenario_yaml).with_(agent_scale=scale)
    workers = mc._workers(runs)  # on the pool, both arms' runs are handed to it at once
    # the no-PHB arm is shared by every scenario that differs only in how budgets are pushed or taken up: after
    # such a lever change it is read back from the store and only the PHB arm runs
    c = ens.compare([shared_counterfactual(s), s], runs, mode="randomness",
                    progress=mc.from_any_thread(_progress), workers=workers, together=workers is None,
                    resume=False, write_behind=True, **mc._store_options())
    table = "extra_services_national"
    without, with_ = c.ensembles[0].runs_table(table), c.ensembles[1].runs_table(table)
    diffs = service_measures_over_time(without, with_)
    qol = c.ensembles[1].bands("ascot_gain_vs_without", table=table) if "ascot_gain_vs_without" in with_ else None
    outcomes = c.ensembles[1].tables.get("extra_services_outcomes")  # per run, for cost per outcome by cohort
    # the first PHB run's closures with dates and places: one of the runs above, so no extra run is needed
    closures = c.ensembles[1].tables.get("extra_services_closures")
    if closures is not None:
        closures = closures[closures["run"] == closures["run"].min()].drop(columns="run").reset_index(drop=True)
    return {"differences": diffs, "quality_of_life": qol, "runs": runs, "scale": scale, "outcomes": outcomes,
            "closures": closures}


def service_measures_over_time(without: pd.DataFrame, with_: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """`paired_over_time` of every numeric measure (PHB arm minus no-PHB arm), with each arm's median by month
    beside it (columns month, median_diff, lo, hi, median_scenario, median_first). Each arm is pivoted and
    its medians taken once for all measures rather than once a measure: the same numbers, a fifth of the time
    on the services page's critical path."""
    measures = [c for c in with_.columns if c not in ("run", "month") and pd.api.types.is_numeric_dtype(with_[c])]
    wide_first = without.pivot(index="month", columns="run", values=measures).astype(float)
    wide_other = with_.pivot(index="month", columns="run", values=measures).astype(float)
    medians_other, medians_first = with_.groupby("month")[measures].median(), without.groupby("month")[measures].median()
    months = wide_first.index
    same = months.equals(wide_other.index) and wide_first.columns.equals(wide_other.columns)
    if same:  # (month, measure, run) arrays; medians by month in the same month order
        shape = (len(months), len(measures), -1)
        first, other = wide_first.to_numpy().reshape(shape), wide_other.to_numpy().reshape(shape)
        mo, mf = medians_other.reindex(months).to_numpy(), medians_first.reindex(months).to_numpy()
    out = {}
    for k, m in enumerate(measures):
        if same and not (np.isnan(first[:, k]).any() or np.isnan(other[:, k]).any()):
            d = other[:, k] - first[:, k]  # every run has every month: paired_over_time's numbers, from arrays
            lo_q = (1 - 0.8) / 2  # as _paired works it out (not exactly 0.1)
            low, high = np.quantile(d, [lo_q, 1 - lo_q], axis=1)
            out[m] = pd.DataFrame({"month": months, "median_diff": np.median(d, axis=1), "lo": low, "hi": high,
                                   "median_scenario": mo[:, k], "median_first": mf[:, k]})
            continue
        a = wide_first[m].dropna(how="all").dropna(axis=1, how="all")  # runs or months missing: as it drops them
        b = wide_other[m].dropna(how="all").dropna(axis=1, how="all").reindex_like(a)
        d = mc._paired(a, b).rename(columns={"median": "median_diff", "low": "lo", "high": "hi"})
        d["median_scenario"] = medians_other[m].reindex(d["month"]).to_numpy()
        d["median_first"] = medians_first[m].reindex(d["month"]).to_numpy()
        out[m] = d
    return out
