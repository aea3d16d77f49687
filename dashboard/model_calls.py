"""Every call the dashboard makes into the model, in one place, cached by the scenario YAML.

The dashboard draws; the model computes. Fan charts, probabilities and scenario differences come from
`model.ensemble` (`run_ensemble(...).bands/prob_reaching`, `compare(...).differences`), which also keeps
finished ensembles in the results store, so a second viewer or a restart does not recompute. Streamlit's
cache sits in front of single runs, keyed by the scenario YAML. Ensembles use a small process-wide memo
(`_memo`) instead of `st.cache_data`, because they report progress to a bar on the page while they run and
Streamlit's cache cannot replay an element drawn from inside a cached function.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from model.results import Results
from model.scenario import Scenario, scenario_from_dict
from model.sim import Sim

FAN_MEASURES = ("holders", "received_ytd", "direct_payment")
SERIAL_UP_TO = 12  # ensembles this small run in the server process: faster than starting workers
MODES = ("both", "randomness", "parameters")  # what an ensemble varies; see model/ensemble.py


_MEMO: OrderedDict[tuple, Any] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 32


def _memo(key: tuple, compute: Callable[[], Any]) -> Any:
    """Process-wide least-recently-used cache: every viewer of this server shares it."""
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    value = compute()
    with _MEMO_LOCK:
        _MEMO[key] = value
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


def scenario_of(scenario_yaml: str) -> Scenario:
    return scenario_from_dict(yaml.safe_load(scenario_yaml), source="dashboard")


def _store_options() -> dict[str, Any]:
    """PHB_DASHBOARD_STORE names another results store (tests use a temporary one); default: the model's."""
    where = os.environ.get("PHB_DASHBOARD_STORE")
    return {"store": where} if where else {}


def _ensemble(scenario: Scenario, runs: int, mode: str = "both", progress: Callable[[int, int], None] | None = None):
    from model import ensemble as ens

    # a handful of runs finishes before worker processes would have started
    workers = 1 if runs <= SERIAL_UP_TO else None
    # uptake needs only the patient side: the service side would double the cost of every run
    return ens.run_ensemble(scenario, runs, mode=mode, progress=progress, workers=workers, services=False,
                            **_store_options())


@st.cache_data(show_spinner=False, max_entries=64)
def single_run(scenario_yaml: str) -> Results:
    """One run of exactly this scenario (seed, scale and all)."""
    return Sim(scenario_of(scenario_yaml)).run()


def fan(scenario_yaml: str, runs: int, scale: int, targets: tuple[int, ...], mode: str = "both",
        _progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Bands of the headline measures and the chance of reaching each target, from an ensemble."""
    return _memo(("fan", scenario_yaml, runs, scale, targets, mode),
                 lambda: fan_uncached(scenario_yaml, runs, scale, targets, mode, _progress))


def fan_uncached(scenario_yaml: str, runs: int, scale: int, targets: tuple[int, ...], mode: str = "both",
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    scenario = scenario_of(scenario_yaml).with_(agent_scale=scale)
    e = _ensemble(scenario, runs, mode, progress)
    return {
        "bands": {m: e.bands(m) for m in FAN_MEASURES},
        "cohort_bands": e.bands("holders", table="by_cohort"),
        "prob": {t: e.prob_reaching(t, "holders") for t in targets},
        "runs": runs, "scale": scale, "mode": mode, "from_store": e.from_cache, "id": e.id,
    }


def comparison(scenario_yamls: tuple[str, ...], runs: int, scale: int, at: dt.date, mode: str = "both",
               _progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Scenarios under common random numbers (model.ensemble.compare): per-scenario bands at `at`,
    paired differences from the first (80% intervals), and per-cohort means."""
    return _memo(("compare", scenario_yamls, runs, scale, at, mode),
                 lambda: _comparison(scenario_yamls, runs, scale, at, mode, _progress))


def _comparison(scenario_yamls, runs, scale, at, mode, _progress) -> dict[str, Any]:
    from model import ensemble as ens

    scenarios = [scenario_of(t).with_(agent_scale=scale) for t in scenario_yamls]
    c = ens.compare(scenarios, runs, mode=mode, progress=_progress, workers=1 if runs <= SERIAL_UP_TO else None,
                    services=False, **_store_options())
    month = pd.Timestamp(at).to_period("M").to_timestamp()
    month = min(month, c.ensembles[0].runs_table("national")["month"].max())
    measures = ("holders", "received_ytd", "direct_payment", "spend_gbp")
    levels = []
    for e in c.ensembles:
        for m in measures:
            b = e.bands(m)
            row = b[b["month"] == month].iloc[0]
            levels.append({"scenario": e.scenario.name, "measure": m, "median": row["median"], "p10": row["p10"],
                           "p90": row["p90"], "mean": row["mean"]})
    diffs = pd.concat([c.differences(m, at=month, level=0.8) for m in measures], ignore_index=True)
    cohorts = []
    for e in c.ensembles:
        b = e.bands("holders", table="by_cohort")
        cohorts.append(b[b["month"] == month][["cohort", "mean"]].assign(scenario=e.scenario.name))
    return {"levels": pd.DataFrame(levels), "differences": diffs, "cohort_means": pd.concat(cohorts),
            "month": month, "names": c.names}


@st.cache_data(show_spinner=False, max_entries=16)
def service_run(scenario_yaml: str) -> Results:
    """One run with the no-PHB counterfactual beside it (same random numbers): service tables with
    `x`, `x_cf` and `x_diff` columns, and the closures with dates and places."""
    return Sim(scenario_of(scenario_yaml)).run(counterfactual=True)


def service_differences(scenario_yaml: str, runs: int, scale: int, measures: tuple[str, ...],
                        _progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run minus no-PHB counterfactual for each service measure and month, with 80% intervals over paired
    runs (model.ensemble.compare, chance only, so both arms share every random number)."""
    return _memo(("services", scenario_yaml, runs, scale, measures),
                 lambda: _service_differences(scenario_yaml, runs, scale, measures, _progress))


def _service_differences(scenario_yaml, runs, scale, measures, _progress) -> dict[str, Any]:
    from model import ensemble as ens
    from model.services import counterfactual_scenario

    s = scenario_of(scenario_yaml).with_(agent_scale=scale)
    c = ens.compare([counterfactual_scenario(s).with_(name=f"{s.name}_no_phbs"), s], runs, mode="randomness",
                    progress=_progress, workers=1 if runs <= SERIAL_UP_TO else None, **_store_options())
    table = "extra_services_national"
    months = c.ensembles[1].runs_table(table)["month"].drop_duplicates().sort_values()
    diffs = {m: pd.concat([c.differences(m, at=mo, table=table, level=0.8) for mo in months], ignore_index=True)
             for m in measures}
    qol = c.ensembles[1].bands("ascot_gain_vs_without", table=table)
    return {"differences": diffs, "quality_of_life": qol, "runs": runs, "scale": scale}
