"""What must be true: the smallest change of the policy levers that reaches a target with a chosen probability.

For lever values v, P(v) is the share of `runs` runs (parameters drawn and seeds as an ensemble in mode
"both", the same for every v: common random numbers) in which people holding a PHB reach the target by the
date. Every evaluation of P is an ensemble (cached, resumable, local or Dask).

- One lever: with common random numbers P rises in steps as a monotone lever rises, so SciPy's bisection
  (`scipy.optimize.bisect`) finds the smallest change with P ≥ probability, to within `xtol` of the lever's span.
- Several levers at once: Optuna's TPE sampler (seeded from the scenario's seed, so the search repeats)
  minimises the normalised distance from the scenario, √Σ((v − v₀)/(hi − lo))², under the constraint
  P ≥ probability (infeasible trials rank behind feasible ones). It starts from the scenario and the two
  corners where every lever is at one end; the best feasible point is then pulled back towards the scenario by
  bisection along the straight line between them.

The answer is costed: the scenario and the scenario with the levers changed, run with the service side on and
the same seeds and draws, give paired differences in spend, net cost against no PHBs, double running,
decommissioning and closures. The answer is stored as kind "reach".
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError, draw_parameters, run_ensemble, run_seed
from model.scenario import Scenario
from model.stress_runs import as_store, per_run_values, run_command, run_options, scenario_key, stored

DEFAULT_LEVERS = ("national_push_strength",)
COST_OUTPUTS = ("spend", "net_cost", "double_running", "decommissioned", "closures")
OPTIMISERS = ("auto", "bisect", "optuna")


def lever_bounds(name: str) -> tuple[float, float]:
    """Where a lever may be searched: what validation accepts, else its plausible range widened to twice."""
    p = reg.BY_NAME.get(name)
    if p is None or isinstance(p.default, (bool, str, dt.date)) or p.low is None:
        numeric = [q.name for q in reg.REGISTER if q.lever and isinstance(q.default, (int, float))]
        raise EnsembleError(f"--levers: '{name}' is not a numeric parameter (dates are not searched yet); "
                            f"policy levers: {', '.join(numeric)}, or any numeric register parameter")
    lo = float(p.min) if p.min is not None else float(p.low)
    hi = float(p.max) if p.max is not None else 2 * float(p.high)
    return lo, hi


def parse_target(text) -> int:
    t = str(text).strip().lower().replace(",", "").replace("_", "")
    try:
        return int(float(t[:-1]) * 1000) if t.endswith("k") else int(float(t))
    except ValueError:
        raise EnsembleError(f"TARGET: '{text}' is not a number of people; e.g. 100000 or 100k") from None


def _as_lever(name: str, v: float):
    return int(round(v)) if reg.BY_NAME[name].kind is int else float(v)


def _design(scenario: Scenario, values: dict, runs: int) -> list[dict]:
    """Run i: the ensemble's draw i (all uncertain parameters) with the levers set to `values`."""
    out = []
    for i in range(runs):
        drawn, _ = draw_parameters(scenario, i, "all")
        fixed = {k: _as_lever(k, v) for k, v in values.items()}
        out.append({"seed": run_seed(scenario.seed, i), "parameters": {**drawn, **fixed}})
    return out


def probability(scenario: Scenario, values: dict, target: int, by: pd.Timestamp, runs: int, store, **how) -> float:
    """P(holders ≥ target by `by`) with the levers at `values` (common random numbers across values)."""
    ens = run_ensemble(scenario, runs, design=_design(scenario, values, runs), store=store, services=False, **how)
    nat = ens.tables["national"]
    upto = nat[nat["month"] <= by]
    return float((upto.groupby("run")["holders"].max() >= target).mean())


def distance(values: dict, current: dict, bounds: dict) -> float:
    """The size of a change: each lever's move as a share of its searchable span, combined as a length."""
    return math.sqrt(sum(((values[k] - current[k]) / (bounds[k][1] - bounds[k][0])) ** 2 for k in values))


class Evaluator:
    """P at lever values, each value computed once; counts the ensembles run and reports progress."""

    def __init__(self, scenario, target, by, runs, store, progress, how):
        self.args = (scenario, target, by, runs, store)
        self.how, self.progress, self.cache = how, progress, {}

    def __call__(self, values: dict) -> float:
        key = tuple(sorted((k, round(float(v), 6)) for k, v in values.items()))
        if key not in self.cache:
            scenario, target, by, runs, store = self.args
            self.cache[key] = probability(scenario, dict(key), target, by, runs, store, **self.how)
            if self.progress is not None:
                self.progress(len(self.cache), len(self.cache) + 1)
        return self.cache[key]


def bisect_lever(p_at: Evaluator, lever: str, current: float, bounds, wanted: float, xtol: float) -> dict:
    """The smallest move of one monotone lever with P ≥ wanted (SciPy's bisection on P − wanted)."""
    from scipy.optimize import bisect

    lo, hi = bounds
    p_now, p_hi, p_lo = p_at({lever: current}), p_at({lever: hi}), p_at({lever: lo})
    up = p_hi >= p_lo  # the direction in which the lever helps
    out = {"p_scenario": p_now, "p_at_edge": max(p_hi, p_lo)}
    if p_now >= wanted:
        return {**out, "values": {lever: current}, "p_value": p_now, "status": "already reached: no change needed"}
    if max(p_hi, p_lo) < wanted:
        return {**out, "values": {lever: np.nan}, "p_value": np.nan,
                "status": f"not reachable with this lever alone (at {hi if up else lo:g}: {max(p_hi, p_lo):.0%})"}
    step = xtol * (hi - lo)
    a, b = (current, hi) if up else (lo, current)
    v = bisect(lambda x: p_at({lever: x}) - wanted + 1e-9, a, b, xtol=step)  # ≥ counts as reached
    v = max(v, a) if up else min(v, b)  # the reached side of the final bracket
    while p_at({lever: v}) < wanted:
        v = v + step if up else v - step
    return {**out, "values": {lever: v}, "p_value": p_at({lever: v}), "status": "found"}


def search_levers(p_at: Evaluator, current: dict, bounds: dict, wanted: float, trials: int, xtol: float,
                  seed: int) -> dict:
    """The nearest lever values (normalised distance) with P ≥ wanted: Optuna TPE with P as a constraint, then
    bisection along the line from the scenario to the best point found."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed % (2**32), n_startup_trials=min(10, trials))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for start in (current, {k: b[1] for k, b in bounds.items()}, {k: b[0] for k, b in bounds.items()}):
        study.enqueue_trial(start)

    def objective(trial):
        values = {k: (trial.suggest_int(k, int(lo), int(hi)) if reg.BY_NAME[k].kind is int
                      else trial.suggest_float(k, lo, hi)) for k, (lo, hi) in bounds.items()}
        p = p_at(values)
        trial.set_user_attr("p", p)
        trial.set_constraint("shortfall", wanted - p)  # feasible where ≤ 0
        return distance(values, current, bounds)

    study.optimize(objective, n_trials=trials)
    p_now = p_at(current)
    feasible = [t for t in study.trials if t.user_attrs["p"] >= wanted]
    out = {"p_scenario": p_now, "p_at_edge": max(t.user_attrs["p"] for t in study.trials)}
    if p_now >= wanted:
        return {**out, "values": dict(current), "p_value": p_now, "status": "already reached: no change needed"}
    if not feasible:
        return {**out, "values": {k: np.nan for k in current}, "p_value": np.nan,
                "status": f"not reached in {trials} trials (best {out['p_at_edge']:.0%})"}
    best = min(feasible, key=lambda t: (t.value, t.number)).params
    along = lambda s: {k: current[k] + s * (best[k] - current[k]) for k in current}  # noqa: E731
    a, b = 0.0, 1.0
    while b - a > xtol:  # P rises along the line from the scenario (infeasible) to `best` (feasible)
        m = (a + b) / 2
        a, b = (a, m) if p_at(along(m)) >= wanted else (m, b)
    values = {k: _as_lever(k, v) for k, v in along(b).items()}
    return {**out, "values": values, "p_value": p_at(values), "status": "found"}


def reach(scenario: Scenario, target, by, *, probability_wanted: float = 0.8, levers=None, runs: int = 40,
          scale: int | None = 50, xtol: float = 0.01, cost_runs: int = 20, trials: int = 30, optimiser: str = "auto",
          store=None, progress=None, **how) -> dict:
    """Run (or read back) the search; {"answers": one row per lever, "manifest", "id"}."""
    target = parse_target(target)
    by = pd.Timestamp(by).to_period("M").to_timestamp()
    if not 0 < probability_wanted < 1:
        raise EnsembleError(f"--probability: {probability_wanted} is not allowed; give a share between 0 and 1")
    if optimiser not in OPTIMISERS:
        raise EnsembleError(f"--optimiser: '{optimiser}' is not allowed; use one of {', '.join(OPTIMISERS)}")
    levers = list(dict.fromkeys(levers or DEFAULT_LEVERS))
    bounds = {lv: lever_bounds(lv) for lv in levers}
    if optimiser == "bisect" and len(levers) > 1:
        raise EnsembleError("--optimiser bisect searches one lever; name one in --levers, or use optuna")
    method = "optuna" if optimiser == "optuna" or len(levers) > 1 else "bisect"
    end = (by + pd.offsets.MonthEnd(0)).date()
    scenario = scenario.with_(until=max(end, scenario.start + dt.timedelta(days=62)))
    if scale is not None:
        scenario = scenario.with_(agent_scale=scale)
    store = as_store(store)
    key = {"scenario": scenario_key(scenario), "target": target, "by": str(by.date()), "p": probability_wanted,
           "levers": levers, "runs": runs, "xtol": xtol, "cost_runs": cost_runs, "method": method,
           "trials": trials if method == "optuna" else None, "layout": 2}

    def compute():
        p_at = Evaluator(scenario, target, by, runs, store, progress, how)
        current = {lv: float(getattr(scenario.parameters, lv)) for lv in levers}
        if method == "bisect":
            got = bisect_lever(p_at, levers[0], current[levers[0]], bounds[levers[0]], probability_wanted, xtol)
        else:
            got = search_levers(p_at, current, bounds, probability_wanted, trials, xtol, scenario.seed)
        found = got["status"] == "found"
        cost = cost_of(scenario, got["values"], cost_runs, store, **how) if found and cost_runs else {}
        answers = pd.DataFrame([{
            "lever": lv, "label": reg.BY_NAME[lv].label, "unit": reg.BY_NAME[lv].unit, "scenario_value": current[lv],
            "value": float(got["values"][lv]), "searched_from": bounds[lv][0], "searched_to": bounds[lv][1],
            "p_scenario": got["p_scenario"], "p_value": got["p_value"], "p_at_edge": got["p_at_edge"],
            "status": got["status"], "distance": distance(got["values"], current, bounds) if found else np.nan,
            **{f"{name}_diff": cost.get(name, np.nan) for name in COST_OUTPUTS}} for lv in levers])
        manifest = {"scenario": scenario.name, "seed": scenario.seed, "runs": runs, "mode": method, "target": target,
                    "by": str(by.date()), "probability": probability_wanted, "levers": levers,
                    "agent_scale": scenario.agent_scale, "evaluations": len(p_at.cache), "cost_runs": cost_runs,
                    "optimiser": "scipy.optimize.bisect" if method == "bisect" else "optuna TPE (constrained)"}
        return {"answers": answers}, manifest

    return stored(store, "reach", f"{scenario.name}-reach-{target // 1000}k", key, compute)


def cost_of(scenario: Scenario, values: dict, runs: int, store, **how) -> dict:
    """Paired (same seeds and draws) mean differences in services and money: levers at `values` minus scenario."""
    outs = so.parse_all(COST_OUTPUTS)
    current = {k: getattr(scenario.parameters, k) for k in values}
    got = [per_run_values(scenario, _design(scenario, v, runs), outs, store=store, services=True, **how)[0]
           for v in (current, values)]
    return {o.name: float((got[1][o.name] - got[0][o.name]).mean()) for o in outs}


def report(res: dict) -> str:
    m, df = res["manifest"], res["answers"]
    how = (f"{m['evaluations']} evaluations by " + ("bisection" if m["mode"] == "bisect" else "Optuna over "
                                                      f"{len(m['levers'])} levers at once"))
    lines = [f"What must be true for {m['target']:,} people holding a PHB by {m['by'][:7]} with probability "
             f"{m['probability']:.0%} ({m['scenario']}; {m['runs']} runs per lever setting, common random numbers; "
             f"{how}; {m['wall_seconds']:.0f} s)"]
    first = df.iloc[0]
    lines.append(f"  The scenario gives {first.p_scenario:.0%}; " + (
        f"needed ({first.p_value:.0%}; normalised distance {first.distance:.3f}):" if first.status == "found"
        else first.status))
    for r in df.itertuples():
        moved = f"{r.scenario_value:g} → {r.value:.3g}" if r.status == "found" else f"{r.scenario_value:g}"
        lines.append(f"    {r.label} ({r.lever}, {r.unit}): {moved}")
    if first.status == "found" and np.isfinite(first.spend_diff):
        lines.append(f"  Cost against the scenario (mean of {m.get('cost_runs', '')} paired runs): spend "
                     f"{first.spend_diff / 1e6:+,.1f} £m, net cost against no PHBs {first.net_cost_diff / 1e6:+,.1f} £m, "
                     f"double running {first.double_running_diff / 1e6:+,.1f} £m, decommissioned "
                     f"{first.decommissioned_diff / 1e6:+,.2f} £m a month, closures {first.closures_diff:+.1f}")
    lines.append(f"  Stored as {res['id']}.")
    return "\n".join(lines)


def add_commands(sub) -> None:
    from model.arguments import _date, _positive_int

    p = sub.add_parser("reach", help="what must be true: the smallest lever change that reaches a target")
    p.add_argument("target", help="people holding a PHB, e.g. 100000 or 100k")
    p.add_argument("--by", type=_date, required=True, help="date, YYYY-MM-DD")
    p.add_argument("--scenario", default="baseline", help="scenario to change (default baseline)")
    p.add_argument("--probability", type=float, default=0.8, help="chance wanted (default 0.8)")
    p.add_argument("--levers", nargs="+", help=f"levers to search (default {' '.join(DEFAULT_LEVERS)}); one lever "
                                               "is bisected, several are searched together with Optuna")
    p.add_argument("--optimiser", choices=OPTIMISERS, default="auto", help="auto: bisect one lever, Optuna for several")
    p.add_argument("--trials", type=_positive_int, default=30, help="Optuna trials (default 30)")
    p.add_argument("--runs", type=_positive_int, default=40, help="runs per lever setting (default 40)")
    p.add_argument("--cost-runs", type=int, default=20, help="paired runs to cost the answer (default 20; 0: none)")
    run_options(p)
    p.set_defaults(handler=lambda args: run_command(args, args.scenario, f"reach {args.target}", lambda s, **kw: reach(
        s, args.target, args.by, probability_wanted=args.probability, levers=args.levers, runs=args.runs,
        scale=args.scale, cost_runs=args.cost_runs, trials=args.trials, optimiser=args.optimiser, **kw), report))
