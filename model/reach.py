"""What must be true: the smallest change of one policy lever that reaches a target with a chosen probability.

For a lever value v, P(v) is the share of `runs` runs (drawn parameters and seeds as an ensemble in mode
"both", the same for every v: common random numbers) in which people holding a PHB reach the target by the
date. With common random numbers P rises in steps as a monotone lever rises, so SciPy's bisection
(`scipy.optimize.bisect`) finds the smallest v with P(v) ≥ probability to within `xtol`. The answer is then
costed: the scenario and the scenario with the lever at v, run with the service side on and the same seeds,
give paired differences in spend, double running, decommissioning and closures.
Every evaluation is an ensemble (cached, resumable, local or Dask); the answer is stored as kind "reach".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import numpy as np
import pandas as pd

from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError, draw_parameters, run_ensemble, run_seed
from model.scenario import Scenario

DEFAULT_LEVERS = ("national_push_strength",)
COST_OUTPUTS = ("spend", "double_running", "decommissioned", "closures")


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


def parse_target(text: str) -> int:
    t = str(text).strip().lower().replace(",", "").replace("_", "")
    try:
        return int(float(t[:-1]) * 1000) if t.endswith("k") else int(float(t))
    except ValueError:
        raise EnsembleError(f"TARGET: '{text}' is not a number of people; e.g. 100000 or 100k") from None


def _design(scenario: Scenario, lever: str, value: float, runs: int) -> list[dict]:
    out = []
    for i in range(runs):
        drawn, _ = draw_parameters(scenario, i, "all")
        drawn.pop(lever, None)
        p = reg.BY_NAME[lever]
        v = int(round(value)) if p.kind is int else float(value)
        out.append({"seed": run_seed(scenario.seed, i), "parameters": {**drawn, lever: v}})
    return out


def probability(scenario: Scenario, lever: str, value: float, target: int, by: pd.Timestamp, runs: int,
                store, **how) -> float:
    """P(holders ≥ target by `by`) with the lever at `value` (common random numbers across values)."""
    out = so.parse(f"reach_{target // 1000}k_{by:%Y_%m}") if target % 1000 == 0 else None
    ens = run_ensemble(scenario, runs, design=_design(scenario, lever, value, runs), store=store, services=False,
                       **how)
    nat = ens.tables["national"]
    upto = nat[nat["month"] <= by]
    _ = out
    return float((upto.groupby("run")["holders"].max() >= target).mean())


def reach(scenario: Scenario, target, by, *, probability_wanted: float = 0.8, levers=None, runs: int = 40,
          scale: int | None = 50, xtol: float = 0.01, cost_runs: int = 20, store=None, progress=None,
          **how) -> dict:
    from scipy.optimize import bisect

    from model.store import Store

    target = parse_target(target)
    by = pd.Timestamp(by).to_period("M").to_timestamp()
    if not 0 < probability_wanted < 1:
        raise EnsembleError(f"--probability: {probability_wanted} is not allowed; give a share between 0 and 1")
    levers = list(levers or DEFAULT_LEVERS)
    for lv in levers:
        lever_bounds(lv)
    end = (by + pd.offsets.MonthEnd(0)).date()
    scenario = scenario.with_(until=max(end, scenario.start + dt.timedelta(days=62)))
    if scale is not None:
        scenario = scenario.with_(agent_scale=scale)
    st = store if isinstance(store, Store) else Store(store)
    key = {"scenario": json.loads(scenario.model_dump_json()), "target": target, "by": str(by.date()),
           "p": probability_wanted, "levers": levers, "runs": runs, "xtol": xtol, "cost_runs": cost_runs, "layout": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    eid = f"{scenario.name}-reach-{target // 1000}k-{digest[:10]}"
    if st.has(eid):
        tables, manifest = st.read_entry(eid)
        return {"answers": tables["answers"], "manifest": manifest, "id": eid}
    t0 = time.perf_counter()
    rows, evaluations = [], 0
    for k, lever in enumerate(levers):
        current = float(getattr(scenario.parameters, lever))
        lo, hi = lever_bounds(lever)
        cache: dict[float, float] = {}

        def p_at(v, lever=lever, cache=cache):
            nonlocal evaluations
            v = round(float(v), 6)
            if v not in cache:
                cache[v] = probability(scenario, lever, v, target, by, runs, st, **how)
                evaluations += 1
                if progress is not None:
                    progress(evaluations, evaluations + 1)
            return cache[v]

        p_now, p_hi, p_lo = p_at(current), p_at(hi), p_at(lo)
        up = p_hi >= p_lo  # the direction in which the lever helps
        edge = hi if up else lo
        row = {"lever": lever, "label": reg.BY_NAME[lever].label, "unit": reg.BY_NAME[lever].unit,
               "scenario_value": current, "p_scenario": p_now, "searched_to": edge, "p_at_edge": max(p_hi, p_lo)}
        if p_now >= probability_wanted:
            row.update(value=current, p_value=p_now, status="already reached: no change needed")
        elif max(p_hi, p_lo) < probability_wanted:
            row.update(value=np.nan, p_value=np.nan, status=f"not reachable with this lever alone (at {edge:g}: "
                       f"{max(p_hi, p_lo):.0%})")
        else:
            f = lambda v: p_at(v) - probability_wanted + 1e-9  # noqa: E731 - ≥ counts as reached
            a, b = (current, hi) if up else (lo, current)
            v = bisect(f, a, b, xtol=xtol * (hi - lo))
            # the reached side of the final bracket
            v = max(v, a) if up else min(v, b)
            while p_at(v) < probability_wanted:
                v = v + xtol * (hi - lo) if up else v - xtol * (hi - lo)
            row.update(value=v, p_value=p_at(v), status="found")
        rows.append(row)
    answers = pd.DataFrame(rows)
    costs = [_cost(scenario, r["lever"], r["value"], cost_runs, st, **how) if r["status"] == "found" and cost_runs
             else {} for r in rows]
    for name in COST_OUTPUTS:
        answers[f"{name}_diff"] = [c.get(name, np.nan) for c in costs]
    manifest = {"kind": "reach", "scenario": scenario.name, "seed": scenario.seed, "runs": runs, "mode": "bisection",
                "target": target, "by": str(by.date()), "probability": probability_wanted, "levers": levers,
                "agent_scale": scenario.agent_scale, "evaluations": evaluations, "optimiser": "scipy.optimize.bisect",
                "input_hash": digest, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "wall_seconds": round(time.perf_counter() - t0, 3)}
    manifest = st.write_entry(eid, {"answers": answers}, manifest)
    return {"answers": answers, "manifest": manifest, "id": eid}


def _cost(scenario: Scenario, lever: str, value: float, runs: int, store, **how) -> dict:
    """Paired (same seeds and draws) mean differences in services and money: lever at `value` minus scenario."""
    outs = so.parse_all(COST_OUTPUTS)
    current = float(getattr(scenario.parameters, lever))
    vals = []
    for v in (current, value):
        ens = run_ensemble(scenario, runs, design=_design(scenario, lever, v, runs), store=store, services=True, **how)
        vals.append(so.evaluate(ens.tables, outs))
    return {o.name: float((vals[1][o.name] - vals[0][o.name]).mean()) for o in outs}


def report(res: dict) -> str:
    m, df = res["manifest"], res["answers"]
    lines = [f"What must be true for {m['target']:,} people holding a PHB by {m['by'][:7]} with probability "
             f"{m['probability']:.0%} ({m['scenario']}; {m['runs']} runs per lever value, common random numbers; "
             f"{m['evaluations']} evaluations by bisection; {m['wall_seconds']:.0f} s)"]
    for r in df.itertuples():
        lines.append(f"  {r.label} ({r.lever}, {r.unit}): scenario {r.scenario_value:g} gives {r.p_scenario:.0%}; "
                     + (f"needs {r.value:.3g} ({r.p_value:.0%})" if r.status == "found" else r.status))
        if r.status == "found" and np.isfinite(r.spend_diff):
            lines.append(f"    cost against the scenario (mean of paired runs): spend {r.spend_diff / 1e6:+,.1f} £m, "
                         f"double running {r.double_running_diff / 1e6:+,.1f} £m, decommissioned "
                         f"{r.decommissioned_diff / 1e6:+,.2f} £m a month, closures {r.closures_diff:+.1f}")
    lines.append(f"  Stored as {res['id']}.")
    return "\n".join(lines)


def add_commands(sub) -> None:
    from model.cli import _date, _positive_int
    from model.sensitivity import _run_options

    p = sub.add_parser("reach", help="what must be true: the smallest lever change that reaches a target")
    p.add_argument("target", help="people holding a PHB, e.g. 100000 or 100k")
    p.add_argument("--by", type=_date, required=True, help="date, YYYY-MM-DD")
    p.add_argument("--scenario", default="baseline", help="scenario to change (default baseline)")
    p.add_argument("--probability", type=float, default=0.8, help="chance wanted (default 0.8)")
    p.add_argument("--levers", nargs="+", help=f"levers to search, one at a time (default {' '.join(DEFAULT_LEVERS)})")
    p.add_argument("--runs", type=_positive_int, default=40, help="runs per lever value (default 40)")
    _run_options(p)
    p.set_defaults(handler=cmd_reach)


def cmd_reach(args) -> int:
    from model.cli import _bar
    from model.sensitivity import how_of, load
    from model.store import Store

    scenario = load(args.scenario, args.seed)
    bar, progress = _bar(args, f"reach {args.target}")
    with bar:
        res = reach(scenario, args.target, args.by, probability_wanted=args.probability, levers=args.levers,
                    runs=args.runs, scale=args.scale, store=Store(args.out), progress=progress, **how_of(args))
    print(report(res))
    return 0
