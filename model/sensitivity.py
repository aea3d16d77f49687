"""Which assumptions matter: Morris screening, Sobol indices and a one-at-a-time tornado (SALib).

Every design point is run `replicates` times with the same replicate seeds at every point (common random
numbers), and the output used is the mean over replicates, so chance is not read as sensitivity. The noise is
reported beside the indices: for Morris, the μ* that pure noise of the same size would give (the noise floor);
for Sobol and the tornado, the share of the output's variance that is noise and the replicate sd.

Runs go through `model.ensemble.run_ensemble(design=...)` (model/stress_runs.py): cached, resumable, local
pool or Dask with identical results; the indices are stored as their own entry (kind "sensitivity") listed by
`phb runs list`. Sobol runs on the parameters that Morris screening of the same outputs keeps, so the
screening's runs are read back, not repeated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError
from model.scenario import Scenario
from model.stress_runs import (DesignRun, as_store, parameter_ranges, parameter_table, provenance, run_design,  # noqa: F401
                               run_command, run_options, scenario_key, stored, value_of)

METHODS = ("morris", "sobol", "oat")
GROUPINGS = ("register",)


# ---- the three methods -----------------------------------------------------------------------------------
def _problem(ranges: dict, group: str | None) -> dict:
    problem = {"num_vars": len(ranges), "names": list(ranges), "bounds": [list(v) for v in ranges.values()]}
    if group == "register":
        problem["groups"] = [reg.BY_NAME[n].group for n in ranges]
    return problem


def _points(problem: dict, X: np.ndarray) -> list[dict]:
    return [{n: value_of(n, x) for n, x in zip(problem["names"], row)} for row in X]


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
    points = [{}] + [{n: value_of(n, ranges[n][k])} for n in names for k in (0, 1)]
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
    """Run (or read back) one sensitivity analysis; return {"indices", "outputs", "manifest", "id"}."""
    if method not in METHODS:
        raise EnsembleError(f"method: '{method}' is not allowed; use one of {', '.join(METHODS)}")
    if group is not None and group not in GROUPINGS:
        raise EnsembleError(f"group: '{group}' is not allowed; use one of {', '.join(GROUPINGS)}")
    outs = so.parse_all(outputs)
    scenario = so.scenario_for(scenario, outs, scale)
    store = as_store(store)
    ranges = parameter_ranges(scenario, parameters)
    screened = None
    if method == "sobol" and parameters is None and group is None:  # Sobol on what Morris screening keeps
        screen = analyse(scenario, "morris", [o.name for o in outs], scale=None, replicates=replicates,
                         trajectories=trajectories, store=store, progress=progress, **how)
        top = screen["indices"].query("output == @outs[0].name").head(keep)["parameter"].tolist()
        ranges = {n: ranges[n] for n in top}
        screened = screen["id"]
    key = {"scenario": scenario_key(scenario), "method": method, "outputs": [o.name for o in outs],
           "group": group, "ranges": ranges, "replicates": replicates, "trajectories": trajectories,
           "samples": samples, "how": {k: v for k, v in how.items() if k in ("services",)}, "layout": 2}

    def compute():
        fn = {"morris": morris, "sobol": sobol, "oat": oat}[method]
        opts = {"morris": dict(trajectories=trajectories), "sobol": dict(samples=samples), "oat": {}}[method]
        indices, run = fn(scenario, outs, ranges, replicates=replicates, group=group, progress=progress,
                          store=store, **opts, **how)
        manifest = {"method": method, "scenario": scenario.name, "seed": scenario.seed, "runs": run.runs,
                    "mode": method, "agent_scale": scenario.agent_scale, "until": str(scenario.until),
                    "outputs": [o.name for o in outs], "group": group, "parameters": list(ranges),
                    "replicates": replicates, "trajectories": trajectories if method == "morris" else None,
                    "samples": samples if method == "sobol" else None, "screened_by": screened,
                    "ensemble": run.ensemble_id, "design_points": len(run.outputs), "points_repaired": run.repaired,
                    "services": how.get("services", so.needs_services(outs)),
                    "noise_sd": {k: float(v) for k, v in run.noise_sd.items()}, "runs_from_cache": run.from_cache}
        return {"indices": indices, "outputs": run.outputs}, manifest

    return stored(store, "sensitivity", f"{scenario.name}-sensitivity-{method}", key, compute)


def influence(result: dict, output: str | None = None) -> pd.DataFrame:
    """Per parameter, for one output of a stored analysis: rank, the method's measure with its interval, and a
    short text ("μ* 12,300 ± 2,100", "total Sobol 0.41 (0.30 to 0.52)", "swing 8,000")."""
    m, df = result["manifest"], result["indices"]
    output = output if output in set(df["output"]) else ("holders_2021_03" if "holders_2021_03" in set(df["output"])
                                                          else df["output"].iloc[0])
    g = df[df["output"] == output]
    if m["method"] == "morris":
        value, half = g["mu_star"], g["mu_star_conf"]
        text = [f"μ* {v:,.3g} ± {h:,.2g}" for v, h in zip(value, half)]
    elif m["method"] == "sobol":
        value, half = g["ST"], g["ST_conf"]
        text = [f"total Sobol {v:.2f} ({v - h:.2f} to {v + h:.2f})" for v, h in zip(value, half)]
    else:
        value, half = g["swing"], g["noise_sd"]
        text = [f"swing {v:,.3g} (noise sd {h:,.2g})" for v, h in zip(value, half)]
    return pd.DataFrame({"parameter": g["parameter"].to_numpy(), "rank": g["rank"].to_numpy(),
                         "value": value.to_numpy(float), "half_width": half.to_numpy(float), "text": text,
                         "output": output, "method": m["method"], "of": len(g)})


def report(result: dict, top: int = 10) -> str:
    m, df = result["manifest"], result["indices"]
    method = m["method"]
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
    lines.append(f"  Stored as {result['id']} (runs: {m['ensemble']}).")
    return "\n".join(lines)


def add_commands(sub) -> None:
    from model.arguments import _positive_int

    p = sub.add_parser("sensitivity", help="which assumptions matter: Morris, Sobol or one-at-a-time (SALib)")
    p.add_argument("scenario", help="a scenario name or a YAML file")
    p.add_argument("--method", choices=METHODS, default="morris")
    p.add_argument("--outputs", nargs="+", help=f"outputs (default: {' '.join(so.DEFAULT_OUTPUTS)}; also net_cost)")
    p.add_argument("--group", choices=GROUPINGS, help="indices for groups of parameters (register groups)")
    p.add_argument("--parameters", nargs="+", help="analyse only these parameters")
    p.add_argument("--keep", type=_positive_int, default=12,
                   help="Sobol: parameters kept from Morris screening of the first output (default 12)")
    p.add_argument("--trajectories", type=_positive_int, default=10, help="Morris trajectories (default 10)")
    p.add_argument("--samples", type=_positive_int, default=64, help="Sobol base samples (a power of 2; default 64)")
    p.add_argument("--replicates", type=_positive_int, default=2, help="seeds per design point (default 2)")
    run_options(p, until=True)
    p.set_defaults(handler=lambda args: run_command(args, args.scenario, args.method, lambda s, **kw: analyse(
        s, args.method, args.outputs, group=args.group, parameters=args.parameters, keep=args.keep, scale=args.scale,
        replicates=args.replicates, trajectories=args.trajectories, samples=args.samples, **kw), report))
