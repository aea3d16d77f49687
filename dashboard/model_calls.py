"""Every call the dashboard makes into the model, in one place, cached by the scenario YAML.

The dashboard draws; the model computes. Fan charts, probabilities and scenario differences come from
`model.ensemble` (`run_ensemble(...).bands/prob_reaching`, `compare(...).differences`), which also keeps
finished ensembles in the results store, so a second viewer or a restart does not recompute. Single runs and
ensembles sit behind a small process-wide memo keyed by the scenario YAML (`_memo`), not `st.cache_data`:
ensembles report progress to a bar on the page while they run, which Streamlit's cache cannot replay, and
a single run's result would be pickled on every store and copied on every hit.

Waits (issue 12): the worker pool is started in the background when the server starts (`start_pool`), so
the first ensemble does not pay for starting processes; the single run a page shows beside its ensemble
(`run_ahead`) runs in a background thread while the ensemble runs in the pool, instead of after it; the arms
of a comparison (services: with and without PHBs) go to the pool together; and the dashboard's ensembles skip
the per-run files written for resuming long ensembles (the finished entry is still stored, so a second
viewer or a restart reads it back). None of this changes a number: runs are the same runs.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import yaml

from model.results import Results
from model.scenario import Scenario, scenario_from_dict
from model.sim import Sim

FAN_MEASURES = ("holders", "received_ytd", "direct_payment")
SERIAL_UP_TO = 4  # ensembles this small run in the server process while the pool is not up: faster than
# starting workers (~3 s); once it is up (started with the server) they go there too (server threads share
# one core, the pool uses every core)
COMPARE_RUNS = 20
# exports (deck, report, presentation mode) reuse what a page already computed; a chart whose page was
# not opened is made at this size, and its title says so (a deck must not wait on minutes of runs)
EXPORT_RUNS, EXPORT_SCALE, EXPORT_CCG_SCALE = 8, 100, 20
SERVICE_MEASURES = ("total_gbp", "closures", "mean_wait_weeks", "utilisation")
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


def memoised(kind: str, *key) -> bool:
    """Whether this server already holds the result (a page drew it): an export can reuse it at no cost."""
    with _MEMO_LOCK:
        return (kind, *key) in _MEMO


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: the same data, ~10x faster


def scenario_of(scenario_yaml: str) -> Scenario:
    return scenario_from_dict(yaml.load(scenario_yaml, Loader=_YAML_LOADER), source="dashboard")


def _store_options() -> dict[str, Any]:
    """PHB_DASHBOARD_STORE names another results store (tests use a temporary one); default: the model's."""
    where = os.environ.get("PHB_DASHBOARD_STORE")
    return {"store": where} if where else {}


def start_pool() -> None:
    """Start the shared worker pool in the background (the app calls this on every page; only the first call
    in a server does anything). PHB_DASHBOARD_POOL=off leaves it to the first large ensemble (tests).
    Never in a process multiprocessing started (app.py guards the call made while such a process boots)."""
    import multiprocessing

    if os.environ.get("PHB_DASHBOARD_POOL", "on").lower() in ("off", "0", "no") or \
            multiprocessing.parent_process() is not None:
        return
    from model.pool import start_local_pool

    start_local_pool()


def _workers(runs: int) -> int | None:
    """A handful of runs finishes in the server process before workers would have started; with the pool up,
    every ensemble goes there (None: the pool, one worker a core)."""
    from model.pool import local_pool_ready

    return 1 if runs <= SERIAL_UP_TO and not local_pool_ready() else None


def from_any_thread(progress: Callable[[int, int], None] | None) -> Callable[[int, int], None] | None:
    """A progress report that may be called from another thread (`compare(together=True)` reports from one
    thread per scenario; `ui.fan_data` from a pooled thread): that thread is attached to this page's script
    run first, as Streamlit asks, even if it last worked for another page (a pooled thread keeps the
    context it was given)."""
    if progress is None:
        return None
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)

    def report(done: int, total: int) -> None:
        if ctx is not None and get_script_run_ctx(suppress_warning=True) is not ctx:
            add_script_run_ctx(threading.current_thread(), ctx)
        progress(done, total)

    return report


def _ensemble(scenario: Scenario, runs: int, mode: str = "both", progress: Callable[[int, int], None] | None = None):
    from model import ensemble as ens

    # uptake needs only the patient side: the service side would double the cost of every run; the entry is
    # stored after the page has its bands (write_behind), not before
    return ens.run_ensemble(scenario, runs, mode=mode, progress=progress, workers=_workers(runs), services=False,
                            resume=False, write_behind=True, **_store_options())


def with_issued_ytd(national: pd.DataFrame) -> pd.DataFrame:
    """Budgets issued in the financial year to date, per run: the model's `issued_ytd` if it has one,
    else the year's running sum of `new_holders` (the same definition as published "new in year")."""
    if "issued_ytd" in national.columns:
        return national
    if "new_holders" not in national.columns:
        raise ValueError("this model version has neither issued_ytd nor new_holders in its national table")
    month = pd.to_datetime(national["month"])
    fy = (month - pd.DateOffset(months=3)).dt.year
    keys = [national["run"], fy] if "run" in national.columns else [fy]
    out = national.sort_values(["run", "month"] if "run" in national.columns else ["month"])
    return out.assign(issued_ytd=out.groupby(keys)["new_holders"].cumsum())


def bands_of(df: pd.DataFrame, measure: str) -> pd.DataFrame:
    from model.ensemble import bands_of as model_bands

    return model_bands(df, measure)


def month_by_run(df: pd.DataFrame, measure: str) -> pd.DataFrame:
    """`measure` as a month × run matrix of floats: what `pivot_table` gives for a table with one row per
    run and month (months and runs with no value dropped), at a fraction of its cost."""
    return df.pivot(index="month", columns="run", values=measure).astype(float).dropna(how="all").dropna(
        axis=1, how="all")


def paired_over_time(first: pd.DataFrame, other: pd.DataFrame, measure: str, level: float = 0.8) -> pd.DataFrame:
    """Other minus first for each month, paired by run (same seeds): median and interval. Without missing
    values the plain quantiles give the NaN-skipping ones' numbers at a hundredth of their cost."""
    a = month_by_run(first, measure)
    return _paired(a, month_by_run(other, measure).reindex_like(a), level)


def _paired(a: pd.DataFrame, b: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Median and interval over runs of b − a, month by month (month × run matrices, the same runs)."""
    d = (b - a).to_numpy(float)
    lo_q = (1 - level) / 2
    if d.size and not np.isnan(d).any():
        median, (low, high) = np.median(d, axis=1), np.quantile(d, [lo_q, 1 - lo_q], axis=1)
    else:
        median, low, high = (np.nanmedian(d, axis=1), np.nanquantile(d, lo_q, axis=1),
                             np.nanquantile(d, 1 - lo_q, axis=1))
    return pd.DataFrame({"month": a.index, "median": median, "low": low, "high": high})


def _single(scenario_yaml: str) -> Results:
    return Sim(scenario_of(scenario_yaml)).run(services=False)


_AHEAD_KINDS: dict[str, Callable[[str], Results]] = {"single": _single}
_AHEAD: OrderedDict[tuple[str, str], Future] = OrderedDict()  # (kind, scenario YAML) -> the run under way
_AHEAD_LOCK = threading.Lock()
_AHEAD_KEEP = 8  # runs started ahead and never collected (the viewer left) are dropped beyond this many
_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="phb-ahead")


def run_ahead(kind: str, scenario_yaml: str) -> None:
    """Start the single run a page will show (`single_run`) in a background thread now, so
    it runs while the page's ensemble runs in the pool rather than after it. The page then asks for it as
    usual and gets this run's result (the same run: same scenario, same seed)."""
    key = (kind, scenario_yaml)
    with _AHEAD_LOCK:
        if memoised("single", scenario_yaml) or key in _AHEAD:
            return
        _AHEAD[key] = _BACKGROUND.submit(_AHEAD_KINDS[kind], scenario_yaml)
        for old in [k for k, f in _AHEAD.items() if f.done()][:max(0, len(_AHEAD) - _AHEAD_KEEP)]:
            del _AHEAD[old]


def _collect(kind: str, scenario_yaml: str) -> Results:
    """The run started ahead, waited for; or, if none was (or it has not begun), run here and now."""
    with _AHEAD_LOCK:
        fut = _AHEAD.pop((kind, scenario_yaml), None)
    if fut is not None and not fut.cancel():
        return fut.result()
    return _AHEAD_KINDS[kind](scenario_yaml)


def single_run(scenario_yaml: str) -> Results:
    """One run of exactly this scenario (seed, scale and all), patient side only: the pages that use it
    (uptake by type and region, CCG variation) need nothing else, at half the cost of a full run. Kept in
    the process-wide memo, not `st.cache_data`: that pickles the result on every store and copies it on
    every hit (~90 ms of server CPU a lever change, on the cores the runs use); callers only read it."""
    return _memo(("single", scenario_yaml), lambda: _collect("single", scenario_yaml))


def single_run_done(scenario_yaml: str) -> bool:
    return memoised("single", scenario_yaml)


def fan(scenario_yaml: str, runs: int, scale: int, targets: tuple[int, ...], mode: str = "both",
        _progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Bands of the headline measures and the chance of reaching each target, from an ensemble."""
    return _memo(("fan", scenario_yaml, runs, scale, targets, mode),
                 lambda: fan_uncached(scenario_yaml, runs, scale, targets, mode, _progress))


def fan_uncached(scenario_yaml: str, runs: int, scale: int, targets: tuple[int, ...], mode: str = "both",
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    scenario = scenario_of(scenario_yaml).with_(agent_scale=scale)
    e = _ensemble(scenario, runs, mode, progress)
    national = with_issued_ytd(e.runs_table("national"))
    return {
        "bands": {**{m: e.bands(m) for m in FAN_MEASURES}, "issued_ytd": bands_of(national, "issued_ytd")},
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
    workers = _workers(runs)
    c = ens.compare(scenarios, runs, mode=mode, progress=from_any_thread(_progress), workers=workers,
                    together=workers is None, services=True, resume=False, write_behind=True,
                    **_store_options())
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
    # over time: each scenario's bands and its paired difference from the first, people and services
    bands, paired = {}, {}
    first = c.ensembles[0]
    for e in c.ensembles:
        nat = e.runs_table("national")
        svc = e.tables.get("extra_services_national")
        bands[e.scenario.name] = {m: bands_of(nat, m) for m in measures}
        if svc is not None:
            bands[e.scenario.name].update({m: bands_of(svc, m) for m in SERVICE_MEASURES if m in svc.columns})
        if e is not first:
            paired[e.scenario.name] = {m: paired_over_time(first.runs_table("national"), nat, m) for m in measures}
            if svc is not None:
                fsvc = first.tables["extra_services_national"]
                paired[e.scenario.name].update({m: paired_over_time(fsvc, svc, m) for m in SERVICE_MEASURES
                                                if m in svc.columns})
    # per run and cohort, for a decomposition in medians
    coh_runs = {e.scenario.name: e.runs_table("by_cohort") for e in c.ensembles}
    cohort_medians = []
    for name, df in coh_runs.items():
        at_m = df[df["month"] == month]
        cohort_medians.append(at_m.groupby("cohort")["holders"].median().rename(name))
    diffs_by_cohort = {}
    ref_c = coh_runs[c.names[0]]
    for name in c.names[1:]:
        a = ref_c[ref_c["month"] == month].pivot_table(index="cohort", columns="run", values="holders")
        b = coh_runs[name][coh_runs[name]["month"] == month].pivot_table(index="cohort", columns="run",
                                                                          values="holders").reindex_like(a)
        diffs_by_cohort[name] = (b - a).median(axis=1)
    return {"levels": pd.DataFrame(levels), "differences": diffs, "cohort_means": pd.concat(cohorts),
            "cohort_medians": pd.concat(cohort_medians, axis=1), "cohort_paired": diffs_by_cohort,
            "bands": bands, "paired": paired, "month": month, "names": c.names}


def chances_by_due(prob: dict[int, pd.DataFrame], due: list) -> list[tuple[float | None, dt.date, str]]:
    """For each (target, due date, label): the chance of having reached it by the due month, or None when
    the runs end before that month."""
    out = []
    for value, when, label in due:
        df = prob.get(int(value))
        month = pd.Timestamp(when).to_period("M").to_timestamp()
        if df is None or pd.to_datetime(df["month"]).max() < month:
            out.append((None, when, label))
            continue
        row = df[pd.to_datetime(df["month"]) == month]
        out.append((float(row["probability"].iloc[0]), when, label))
    return out
