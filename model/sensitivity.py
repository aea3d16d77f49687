"""Which assumptions matter: Morris screening, Sobol indices and a one-at-a-time tornado (SALib).

Every design point is run `replicates` times with the same replicate seeds at every point (common random
numbers), and the output used is the mean over replicates, so chance is not read as sensitivity. The noise is
reported beside the indices: for Morris, the μ* that pure noise of the same size would give (the noise floor);
for Sobol and the tornado, the share of the output's variance that is noise and the replicate sd.

Runs go through `model.ensemble.run_ensemble(design=...)`: cached, resumable, local pool or Dask with
identical results; the indices are stored as their own entry (kind "sensitivity") listed by `phb runs list`.
The uncertain set and its ranges come from one function, `parameter_ranges`, to swap for the posterior.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError, run_ensemble, run_seed, uncertain_parameters
from model.scenario import Scenario

METHODS = ("morris", "sobol", "oat")
GROUPINGS = ("register",)


# ---- the uncertain set (swap this for posterior + uninformed parameters) ----------------------------------
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


def _value(name: str, x: float):
    p = reg.BY_NAME[name]
    x = max(float(x), float(p.min if p.min is not None else 0.0))
    if p.max is not None:
        x = min(x, float(p.max))
    return int(round(x)) if p.kind is int else float(x)


# ---- running a design ------------------------------------------------------------------------------------
@dataclass
class DesignRun:
    outputs: pd.DataFrame  # one row per design point: the mean over replicates of each output
    noise_sd: pd.Series  # per output: pooled sd between replicates of one point
    ensemble_id: str
    runs: int
    seconds: float
    from_cache: bool


def run_design(scenario: Scenario, points: list[dict], outputs: list[so.Output], replicates: int = 2,
               progress=None, **how) -> DesignRun:
    """Run each point `replicates` times (replicate seeds shared by all points) and average the outputs."""
    from model.rollout import cohort_flows

    for k, values in enumerate(points):
        try:
            cohort_flows(scenario.with_parameters(**values).parameters)
        except (ValueError, Exception) as e:  # noqa: BLE001 - report which point, not a traceback
            raise EnsembleError(f"design point {k} cannot run ({e}); narrow the ranges") from None
    seeds = [run_seed(scenario.seed, r) for r in range(replicates)]
    design = [{"seed": s, "parameters": values} for values in points for s in seeds]
    how.setdefault("services", so.needs_services(outputs))
    t0 = time.perf_counter()
    ens = run_ensemble(scenario, len(design), design=design, progress=progress, **how)
    seconds = time.perf_counter() - t0
    per_run = so.evaluate(ens.tables, outputs)
    per_run["point"] = per_run["run"] // replicates
    names = [o.name for o in outputs]
    means = per_run.groupby("point", sort=True)[names].mean().reset_index(drop=True)
    if replicates > 1:
        noise = np.sqrt(per_run.groupby("point", sort=True)[names].var(ddof=1).mean())
    else:
        noise = pd.Series(np.nan, index=names)
    return DesignRun(means, noise, ens.id, len(design), seconds, ens.from_cache)


# ---- the three methods -----------------------------------------------------------------------------------
def _problem(ranges: dict, group: str | None) -> dict:
    problem = {"num_vars": len(ranges), "names": list(ranges), "bounds": [list(v) for v in ranges.values()]}
    if group == "register":
        problem["groups"] = [reg.BY_NAME[n].group for n in ranges]
    return problem


def _points(problem: dict, X: np.ndarray) -> list[dict]:
    return [{n: _value(n, x) for n, x in zip(problem["names"], row)} for row in X]


def morris(scenario, outputs, ranges, *, trajectories=10, levels=4, replicates=2, group=None, progress=None,
           **how) -> tuple[pd.DataFrame, DesignRun]:
    from SALib.analyze import morris as ma
    from SALib.sample import morris as ms

    problem = _problem(ranges, group)
    X = ms.sample(problem, trajectories, num_levels=levels, seed=scenario.seed % (2**32))
    run = run_design(scenario, _points(problem, X), outputs, replicates, progress, **how)
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(5,)))
    rows = []
    for o in outputs:
        y = run.outputs[o.name].to_numpy(float)
        res = ma.analyze(problem, X, y, num_levels=levels, seed=scenario.seed % (2**32))
        # noise floor: μ* of pure noise with the sd of a replicate mean
        sd = run.noise_sd[o.name] / np.sqrt(replicates)
        floor = ma.analyze(problem, X, rng.normal(0, sd, len(y)) if sd > 0 else np.zeros(len(y)),
                           num_levels=levels, seed=scenario.seed % (2**32))["mu_star"] if np.isfinite(sd) else None
        for i, name in enumerate(res["names"]):
            rows.append({"output": o.name, "parameter": name, "mu_star": res["mu_star"][i],
                         "mu_star_conf": res["mu_star_conf"][i], "sigma": res["sigma"][i],
                         "noise_mu_star": float(np.median(floor)) if floor is not None else np.nan})
    return _ranked(pd.DataFrame(rows), "mu_star", group), run


def sobol(scenario, outputs, ranges, *, samples=64, replicates=2, group=None, progress=None,
          **how) -> tuple[pd.DataFrame, DesignRun]:
    from SALib.analyze import sobol as sa
    from SALib.sample import sobol as ss

    problem = _problem(ranges, group)
    X = ss.sample(problem, samples, calc_second_order=False, seed=scenario.seed % (2**32))
    run = run_design(scenario, _points(problem, X), outputs, replicates, progress, **how)
    rows = []
    for o in outputs:
        y = run.outputs[o.name].to_numpy(float)
        var = float(np.var(y))
        noise_share = float(run.noise_sd[o.name] ** 2 / replicates / var) if var > 0 else np.nan
        if var == 0:
            res = {"S1": np.zeros(problem["num_vars"]), "S1_conf": np.zeros(problem["num_vars"]),
                   "ST": np.zeros(problem["num_vars"]), "ST_conf": np.zeros(problem["num_vars"]),
                   "names": problem.get("groups") and sorted(set(problem["groups"]), key=problem["groups"].index)
                   or problem["names"]}
        else:
            res = sa.analyze(problem, y, calc_second_order=False, seed=scenario.seed % (2**32))
        names = res.get("names") or (sorted(set(problem["groups"]), key=problem["groups"].index)
                                     if group else problem["names"])
        for i, name in enumerate(names):
            rows.append({"output": o.name, "parameter": name, "S1": res["S1"][i], "S1_conf": res["S1_conf"][i],
                         "ST": res["ST"][i], "ST_conf": res["ST_conf"][i], "noise_share": noise_share})
    return _ranked(pd.DataFrame(rows), "ST", group), run


def oat(scenario, outputs, ranges, *, replicates=2, progress=None, group=None, **how) -> tuple[pd.DataFrame, DesignRun]:
    """Tornado: each parameter at its low and high end, the others at the scenario's values."""
    names = list(ranges)
    points = [{}] + [{n: _value(n, ranges[n][k])} for n in names for k in (0, 1)]
    run = run_design(scenario, points, outputs, replicates, progress, **how)
    rows = []
    for o in outputs:
        y = run.outputs[o.name].to_numpy(float)
        for i, n in enumerate(names):
            lo, hi = y[1 + 2 * i] - y[0], y[2 + 2 * i] - y[0]
            rows.append({"output": o.name, "parameter": n, "base": y[0], "at_low": lo, "at_high": hi,
                         "swing": abs(hi - lo), "noise_sd": run.noise_sd[o.name] / np.sqrt(replicates)})
    return _ranked(pd.DataFrame(rows), "swing", None), run


def _ranked(df: pd.DataFrame, key: str, group) -> pd.DataFrame:
    df = df.sort_values(["output", key], ascending=[True, False], kind="stable")
    df["rank"] = df.groupby("output").cumcount() + 1
    if not group:
        info = parameter_table(df["parameter"].unique())[["parameter", "label", "unit", "source", "informed"]]
        df = df.merge(info, on="parameter", how="left")
    return df.reset_index(drop=True)


# ---- the stored analysis ---------------------------------------------------------------------------------
def analyse(scenario: Scenario, method: str, outputs=None, *, group=None, parameters=None, keep=12,
            scale: int | None = 50, replicates=2, trajectories=10, samples=64, store=None, progress=None,
            **how) -> dict:
    """Run (or read back) one sensitivity analysis; return {"indices", "manifest", "id"}."""
    from model.store import Store

    if method not in METHODS:
        raise EnsembleError(f"method: '{method}' is not allowed; use one of {', '.join(METHODS)}")
    if group is not None and group not in GROUPINGS:
        raise EnsembleError(f"group: '{group}' is not allowed; use one of {', '.join(GROUPINGS)}")
    outs = so.parse_all(outputs)
    scenario = so.scenario_for(scenario, outs, scale)
    st = store if isinstance(store, Store) else Store(store)
    ranges = parameter_ranges(scenario, parameters)
    screened = None
    if method == "sobol" and parameters is None and group is None:  # Sobol on what Morris screening keeps
        screen = analyse(scenario, "morris", [outs[0].name], scale=None, replicates=replicates,
                         trajectories=trajectories, store=st, progress=progress, **how)
        top = screen["indices"].query("output == @outs[0].name").head(keep)["parameter"].tolist()
        ranges = {n: ranges[n] for n in top}
        screened = screen["id"]
    key = {"scenario": json.loads(scenario.model_dump_json()), "method": method, "outputs": [o.name for o in outs],
           "group": group, "ranges": ranges, "replicates": replicates, "trajectories": trajectories,
           "samples": samples, "how": {k: v for k, v in how.items() if k in ("services",)}, "layout": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    eid = f"{scenario.name}-sensitivity-{method}-{digest[:10]}"
    if st.has(eid):
        tables, manifest = st.read_entry(eid)
        return {"indices": tables["indices"], "outputs": tables.get("outputs"), "manifest": manifest, "id": eid}
    t0 = time.perf_counter()
    fn = {"morris": morris, "sobol": sobol, "oat": oat}[method]
    opts = {"morris": dict(trajectories=trajectories), "sobol": dict(samples=samples), "oat": {}}[method]
    indices, run = fn(scenario, outs, ranges, replicates=replicates, group=group, progress=progress,
                      store=st, **opts, **how)
    manifest = {"kind": "sensitivity", "method": method, "scenario": scenario.name, "seed": scenario.seed,
                "runs": run.runs, "mode": method, "agent_scale": scenario.agent_scale, "until": str(scenario.until),
                "outputs": [o.name for o in outs], "group": group, "parameters": list(ranges),
                "replicates": replicates, "trajectories": trajectories if method == "morris" else None,
                "samples": samples if method == "sobol" else None, "screened_by": screened,
                "ensemble": run.ensemble_id, "design_points": len(run.outputs), "services": how.get("services",
                so.needs_services(outs)), "noise_sd": {k: float(v) for k, v in run.noise_sd.items()},
                "input_hash": digest, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "wall_seconds": round(time.perf_counter() - t0, 3), "runs_from_cache": run.from_cache}
    manifest = st.write_entry(eid, {"indices": indices, "outputs": run.outputs}, manifest)
    return {"indices": indices, "outputs": run.outputs, "manifest": manifest, "id": eid}


def report(result: dict, top: int = 10) -> str:
    m, df = result["manifest"], result["indices"]
    method = m["method"]
    key = {"morris": "mu_star", "sobol": "ST", "oat": "swing"}[method]
    lines = [f"{method.capitalize()} sensitivity of {m['scenario']} ({m['runs']} runs = {m['design_points']} design "
             f"points × {m['replicates']} replicate seeds; 1 agent = {m['agent_scale']} people; "
             f"{m['wall_seconds']:.0f} s)"]
    for out, g in df.groupby("output", sort=False):
        lines.append(f"  {out}  (replicate noise sd {m['noise_sd'].get(out, float('nan')):,.3g})")
        for r in g.head(top).itertuples():
            label = getattr(r, "label", None) or r.parameter
            informed = getattr(r, "informed", "") or ""
            if method == "morris":
                val = f"μ* {r.mu_star:>10,.3g} ±{r.mu_star_conf:,.2g}  σ {r.sigma:,.3g}  (noise μ* {r.noise_mu_star:,.2g})"
            elif method == "sobol":
                val = f"ST {r.ST:5.2f} ±{r.ST_conf:.2f}  S1 {r.S1:5.2f} ±{r.S1_conf:.2f}"
            else:
                val = f"low {r.at_low:>+10,.0f}  high {r.at_high:>+10,.0f}  (noise sd {r.noise_sd:,.3g})"
            lines.append(f"   {r.rank:2d}. {r.parameter:32s} {val}  [{informed}] {label}")
        _ = key
    lines.append(f"  Stored as {result['id']} (runs: {m['ensemble']}).")
    return "\n".join(lines)


def add_commands(sub) -> None:
    from model.cli import _positive_int

    p = sub.add_parser("sensitivity", help="which assumptions matter: Morris, Sobol or one-at-a-time (SALib)")
    p.add_argument("scenario", help="a scenario name or a YAML file")
    p.add_argument("--method", choices=METHODS, default="morris")
    p.add_argument("--outputs", nargs="+", help=f"outputs (default: {' '.join(so.DEFAULT_OUTPUTS)})")
    p.add_argument("--group", choices=GROUPINGS, help="indices for groups of parameters (register groups)")
    p.add_argument("--parameters", nargs="+", help="analyse only these parameters")
    p.add_argument("--keep", type=_positive_int, default=12, help="Sobol: parameters kept from Morris screening of the first output (default 12)")
    p.add_argument("--trajectories", type=_positive_int, default=10, help="Morris trajectories (default 10)")
    p.add_argument("--samples", type=_positive_int, default=64, help="Sobol base samples (a power of 2; default 64)")
    p.add_argument("--replicates", type=_positive_int, default=2, help="seeds per design point (default 2)")
    _run_options(p)
    p.set_defaults(handler=cmd_sensitivity)


def _run_options(p) -> None:
    from pathlib import Path

    from model.cli import RESULTS_DIR, _positive_int

    p.add_argument("--scale", type=_positive_int, default=50, help="people per patient agent (default 50: coarse)")
    p.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    p.add_argument("--dask", action="store_true", help="run on a local Dask cluster")
    p.add_argument("--workers", type=_positive_int, help="worker processes (default: all cores)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results store (default: results/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def load(scenario_name: str, seed):
    from model.scenario import load_scenario

    s = load_scenario(scenario_name)
    return s if seed is None else s.with_(seed=seed)


def how_of(args) -> dict:
    return dict(backend="dask" if args.dask else "local", workers=args.workers)


def cmd_sensitivity(args) -> int:
    from model.cli import _bar
    from model.store import Store

    scenario = load(args.scenario, args.seed)
    bar, progress = _bar(args, f"{args.method} {scenario.name}")
    with bar:
        res = analyse(scenario, args.method, args.outputs, group=args.group, parameters=args.parameters,
                      keep=args.keep, scale=args.scale, replicates=args.replicates, trajectories=args.trajectories,
                      samples=args.samples, store=Store(args.out), progress=progress, **how_of(args))
    print(report(res))
    return 0
