"""What sensitivity, discovery and reach share: the uncertain set, usable design points, runs of a design
through the ensemble machinery (with a no-PHB twin when an output needs one), stored entries, and the
command-line plumbing. One place, so the three analyses read parameters, cache and report alike.

The uncertain set and its ranges come from one function, `parameter_ranges` (the register's plausible ranges
of the parameters the scenario does not fix), to swap for the posterior when one is named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError, run_ensemble, run_seed, uncertain_parameters
from model.scenario import Scenario, ScenarioError


# ---- the uncertain set ---------------------------------------------------------------------------------
def parameter_ranges(scenario: Scenario, names: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Plausible (low, high) of each uncertain parameter the scenario does not fix, in register order."""
    spec = uncertain_parameters(scenario, "all")
    out = {}
    for name, how in spec.items():
        p = reg.BY_NAME[name]
        lo = float(p.low if how.low is None else how.low)
        hi = float(p.high if how.high is None else how.high)
        out[name] = (lo, hi)
    if names:
        unknown = [n for n in names if n not in out]
        if unknown:
            raise EnsembleError(f"parameters: {', '.join(unknown)} are not uncertain in {scenario.name}; allowed: "
                                "register parameters with a range that the scenario does not set")
        out = {n: out[n] for n in names}
    return out


def provenance(name: str) -> str:
    """Where a parameter's value comes from, in a critic's words: fitted, published, or a guess."""
    src = reg.BY_NAME[name].source.lower()
    if src.startswith("calibrated"):
        return "fitted to data"
    if src.startswith(("v:", "v2:", "d:")):
        return "published figure"
    return "assumption"


def parameter_table(names) -> pd.DataFrame:
    rows = []
    for n in names:
        p = reg.BY_NAME[n]
        rows.append({"parameter": n, "label": p.label, "unit": p.unit, "group": p.group, "low": p.low,
                     "high": p.high, "source": p.source, "informed": provenance(n)})
    return pd.DataFrame(rows)


def value_of(name: str, x: float):
    """A number as the parameter takes it: inside what validation accepts, whole where the register says so."""
    p = reg.BY_NAME[name]
    x = max(float(x), float(p.min if p.min is not None else 0.0))
    if p.max is not None:
        x = min(x, float(p.max))
    return int(round(x)) if p.kind is int else float(x)


# ---- usable design points ------------------------------------------------------------------------------
def repaired(scenario: Scenario, values: dict) -> tuple[dict, bool]:
    """A design point the model can run. Structured designs (Morris, Sobol) cannot redraw a point as ensembles
    do, so the one joint limit the ranges can break is mended: a fast-track CHC stay too short for the
    fast-track stock to be fed by the inflow (model/population.py) is raised to 5% above the least that works."""
    from model.rollout import cohort_flows

    try:
        cohort_flows(scenario.with_parameters(**values).parameters)
        return values, False
    except ScenarioError as e:
        if "chc_fast_track_mean_months" not in str(e):
            raise EnsembleError(f"a design point cannot run ({e}); narrow the ranges") from None
    p = scenario.with_parameters(**{k: v for k, v in values.items() if k != "chc_fast_track_mean_months"}).parameters
    least = p.chc_eligible * p.chc_fast_track_share / (p.chc_new_per_quarter / 3)
    values = {**values, "chc_fast_track_mean_months": value_of("chc_fast_track_mean_months", 1.05 * least)}
    try:
        cohort_flows(scenario.with_parameters(**values).parameters)
    except (ScenarioError, ValueError) as e:
        raise EnsembleError(f"a design point cannot run ({e}); narrow the ranges") from None
    return values, True


# ---- running a design ----------------------------------------------------------------------------------
@dataclass
class DesignRun:
    outputs: pd.DataFrame  # one row per design point: the mean over replicates of each output
    noise_sd: pd.Series  # per output: pooled sd between replicates of one point
    ensemble_id: str
    runs: int
    seconds: float
    from_cache: bool
    repaired: int = 0  # design points mended to be usable (see `repaired`)


def per_run_values(scenario: Scenario, design: list[dict], outputs: list[so.Output], progress=None,
                   **how) -> tuple[pd.DataFrame, object]:
    """Each output for each run of `design`; outputs against no PHBs also run the same design (same seeds and
    draws) with no PHBs (model.services.counterfactual_scenario), stored as its own ensemble."""
    how.setdefault("services", so.needs_services(outputs))
    ens = run_ensemble(scenario, len(design), design=design, progress=progress, **how)
    twin = None
    if so.needs_counterfactual(outputs):
        cf_scenario, fixed = so.no_phb_twin(scenario)
        cf_design = [{"seed": d["seed"], "parameters": {**d["parameters"], **fixed}} for d in design]
        twin = run_ensemble(cf_scenario, len(cf_design), design=cf_design, progress=progress,
                            **{**how, "services": True}).tables
    return so.evaluate(ens.tables, outputs, twin), ens


def run_design(scenario: Scenario, points: list[dict], outputs: list[so.Output], replicates: int = 2,
               progress=None, **how) -> DesignRun:
    """Run each point `replicates` times (replicate seeds shared by all points) and average the outputs."""
    mended = 0
    usable = []
    for values in points:
        values, fixed = repaired(scenario, values)
        usable.append(values)
        mended += fixed
    seeds = [run_seed(scenario.seed, r) for r in range(replicates)]
    design = [{"seed": s, "parameters": values} for values in usable for s in seeds]
    t0 = time.perf_counter()
    per_run, ens = per_run_values(scenario, design, outputs, progress, **how)
    seconds = time.perf_counter() - t0
    per_run["point"] = per_run["run"] // replicates
    names = [o.name for o in outputs]
    means = per_run.groupby("point", sort=True)[names].mean().reset_index(drop=True)
    if replicates > 1:
        noise = np.sqrt(per_run.groupby("point", sort=True)[names].var(ddof=1).mean())
    else:
        noise = pd.Series(np.nan, index=names)
    return DesignRun(means, noise, ens.id, len(design), seconds, ens.from_cache, mended)


# ---- stored entries ------------------------------------------------------------------------------------
def as_store(store):
    """A Store from a Store, a folder or None (the default results folder)."""
    from model.store import Store

    return store if isinstance(store, Store) else Store(store)


def stored(store, kind: str, name: str, key: dict, compute: Callable[[], tuple[dict, dict]]) -> dict:
    """Read the entry for `key` back from the store, or compute it (tables, manifest) and store it.
    Returns {table name: DataFrame, ..., "manifest", "id"}."""
    st = as_store(store)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    eid = f"{name}-{digest[:10]}"
    if st.has(eid):
        tables, manifest = st.read_entry(eid)
        return {**tables, "manifest": manifest, "id": eid}
    t0 = time.perf_counter()
    tables, manifest = compute()
    manifest = {"kind": kind, **manifest, "input_hash": digest,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "wall_seconds": round(time.perf_counter() - t0, 3)}
    manifest = st.write_entry(eid, tables, manifest)
    return {**tables, "manifest": manifest, "id": eid}


def scenario_key(scenario: Scenario) -> dict:
    return json.loads(scenario.model_dump_json())


# ---- the command line ----------------------------------------------------------------------------------
def run_options(p, until: bool = False) -> None:
    from pathlib import Path

    from model.arguments import RESULTS_DIR, _positive_int, _until

    p.add_argument("--scale", type=_positive_int, default=50, help="people per patient agent (default 50: coarse)")
    p.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    p.add_argument("--dask", action="store_true", help="run on a local Dask cluster")
    p.add_argument("--workers", type=_positive_int, help="worker processes (default: all cores)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results store (default: results/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if until:
        p.add_argument("--until", type=_until, help="end the runs here, YYYY-MM-DD (default: the last month an output "
                       "reads, else the scenario's end); service outputs are totals to this date")


def run_command(args, scenario_name: str, label: str, compute: Callable, report: Callable[[dict], str]) -> int:
    """Load the scenario, run `compute(scenario, store=, progress=, backend=, workers=)` under a progress bar,
    print its report."""
    from model.arguments import _bar
    from model.scenario import load_scenario
    from model.store import Store

    scenario = load_scenario(scenario_name)
    changes = {k: v for k, v in (("seed", args.seed), ("until", getattr(args, "until", None))) if v is not None}
    if changes:
        try:
            scenario = scenario.with_(**changes)
        except ValueError as e:
            from model.arguments import _first_error
            raise ScenarioError(f"command line: {_first_error(e)}") from None
    bar, progress = _bar(args, f"{label} {scenario.name}")
    with bar:
        res = compute(scenario, store=Store(args.out), progress=progress,
                      backend="dask" if args.dask else "local", workers=args.workers)
    print(report(res))
    return 0


def latest(store, kind: str, scenario_name: str, test: Callable[[dict], bool] | None = None, **match) -> dict | None:
    """The newest stored result of `kind` for the scenario whose manifest matches `match` (and passes `test`, if
    given), read, never run."""
    st = as_store(store)
    cat = st.catalogue()
    if cat.empty:
        return None
    for eid in cat[(cat["kind"] == kind) & (cat["scenario"] == scenario_name)]["id"]:
        m = st.manifest(eid)
        if all(m.get(k) == v for k, v in match.items()) and (test is None or test(m)):
            tables, manifest = st.read_entry(eid)
            return {**tables, "manifest": manifest, "id": eid}
    return None
