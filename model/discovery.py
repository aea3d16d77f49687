"""Where does it fail? Scenario discovery over a Latin hypercube of the uncertain parameters.

A condition such as "holders_2021_03 < 50000" marks each run as a case of interest; PRIM (the EMA
Workbench's implementation) and a shallow decision tree (scikit-learn) then find boxes of parameter space
where such cases are dense. Each box is reported with its coverage (share of all cases that fall in it) and
density (share of runs in it that are cases) and as a sentence in the register's own labels and units.
Runs go through the ensemble machinery (model/stress_runs.py: cached, resumable, local or Dask); the result
is stored as an entry of kind "discovery".
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from model import parameters as reg
from model import stress_outputs as so
from model.ensemble import EnsembleError, run_seed
from model.scenario import Scenario
from model.stress_runs import (as_store, parameter_ranges, per_run_values, run_command, run_options, scenario_key,
                               stored, value_of)

CLAUSE = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(-?[\d_.,]+(?:e\d+)?)\s*$")
OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def parse_when(text: str) -> tuple[list[tuple[str, str, float]], str]:
    """'a < 1 and b > 2' → clauses and the joining word ('and' or 'or'; one kind per condition)."""
    joins = set(re.findall(r"\s(and|or)\s", text))
    if len(joins) > 1:
        raise EnsembleError(f"--when '{text}': use either 'and' or 'or' between clauses, not both")
    join = joins.pop() if joins else "and"
    clauses = []
    for part in re.split(rf"\s{join}\s", text):
        m = CLAUSE.match(part)
        if not m:
            raise EnsembleError(f"--when: '{part.strip()}' is not a clause; write OUTPUT OP NUMBER, e.g. "
                                "'holders_2021_03 < 50000' (OP one of <, <=, >, >=)")
        so.parse(m[1])
        clauses.append((m[1], m[2], float(m[3].replace(",", "").replace("_", ""))))
    return clauses, join


def flag(cases: pd.DataFrame, clauses, join: str) -> np.ndarray:
    hits = [OPS[op](cases[name].to_numpy(float), v) for name, op, v in clauses]
    return np.logical_and.reduce(hits) if join == "and" else np.logical_or.reduce(hits)


def latin_hypercube(ranges: dict, n: int, seed: int) -> pd.DataFrame:
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(ranges), seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(6,))))
    x = u.random(n)
    lo = np.array([r[0] for r in ranges.values()])
    hi = np.array([r[1] for r in ranges.values()])
    return pd.DataFrame(lo + x * (hi - lo), columns=list(ranges))


def usable_points(scenario: Scenario, ranges: dict, x: pd.DataFrame) -> tuple[list[dict], int]:
    """Hypercube rows as parameter values; a row the model cannot use (e.g. a fast-track stay too short for
    the CHC inflow) is redrawn uniformly from its own stream, as ensembles redraw, and counted."""
    from model.rollout import cohort_flows

    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(7,)))
    lo = np.array([r[0] for r in ranges.values()])
    hi = np.array([r[1] for r in ranges.values()])
    points, redrawn = [], 0
    for row in x.to_numpy():
        for _ in range(100):
            values = {n: value_of(n, v) for n, v in zip(ranges, row)}
            try:
                cohort_flows(scenario.with_parameters(**values).parameters)
                break
            except (ValueError, Exception):  # noqa: BLE001 - ScenarioError or the flows' ValueError
                row, redrawn = lo + rng.random(len(lo)) * (hi - lo), redrawn + 1
        else:
            raise EnsembleError("no usable parameter values in 100 draws; narrow the ranges")
        points.append(values)
    return points, redrawn


# ---- boxes ------------------------------------------------------------------------------------------------
def prim_boxes(x: pd.DataFrame, y: np.ndarray, threshold: float = 0.8, boxes: int = 2, max_dims: int = 3,
               seed: int = 0) -> list[dict]:
    """PRIM (EMA Workbench) on the few parameters an extra-trees classifier finds most informative (with
    a hundred parameters and a few hundred runs PRIM alone would restrict dozens by chance); for each box the
    peeling step with the most coverage at density ≥ threshold and at most `max_dims` restricted parameters."""
    import logging

    from ema_workbench.analysis import prim
    from sklearn.ensemble import ExtraTreesClassifier

    logging.getLogger("EMA").setLevel(logging.ERROR)
    if y.sum() == 0 or y.all():
        return []
    if x.shape[1] > max_dims:
        et = ExtraTreesClassifier(n_estimators=200, min_samples_leaf=3, random_state=seed).fit(x.to_numpy(), y)
        keep = list(x.columns[np.argsort(-et.feature_importances_, kind="stable")[:max_dims]])
        x = x[keep]
    alg = prim.Prim(x.reset_index(drop=True), np.asarray(y, bool), threshold=threshold, peel_alpha=0.05)
    out = []
    for k in range(boxes):
        try:
            box = alg.find_box()
        except Exception:  # noqa: BLE001 - no further box worth finding
            break
        if box is None:
            break
        traj = box.peeling_trajectory
        ok = traj[(traj["density"] >= threshold) & (traj["res_dim"] <= max_dims)]
        if ok.empty:
            ok = traj[traj["res_dim"] <= max_dims]
            ok = ok[ok["density"] == ok["density"].max()]
        i = int(ok["coverage"].idxmax())
        lims = box.box_lims[i]
        full = alg.box_init
        limits = {c: (float(lims[c].iloc[0]), float(lims[c].iloc[1])) for c in x.columns
                  if not np.isclose(lims[c].iloc[0], full[c].iloc[0]) or not np.isclose(lims[c].iloc[1], full[c].iloc[1])}
        if not limits:  # the whole space: nothing more to say
            break
        out.append(_box("PRIM", k + 1, limits, _inside(x, limits), y, x))
    return out


def tree_boxes(x: pd.DataFrame, y: np.ndarray, depth: int = 3, seed: int = 0) -> list[dict]:
    """Leaves of a shallow decision tree where cases are the majority, as boxes."""
    from sklearn.tree import DecisionTreeClassifier

    if y.sum() == 0 or y.all():
        return []
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=max(5, len(y) // 40), random_state=seed)
    tree.fit(x.to_numpy(), y.astype(int))
    t = tree.tree_
    out = []

    def walk(node, limits):
        if t.children_left[node] == -1:
            inside = _inside(x, limits)
            if inside.any() and y[inside].mean() > 0.5:
                out.append(_box("tree", len(out) + 1, dict(limits), inside, y, x))
            return
        name, cut = x.columns[t.feature[node]], float(t.threshold[node])
        lo, hi = limits.get(name, (float(x[name].min()), float(x[name].max())))
        walk(t.children_left[node], {**limits, name: (lo, min(hi, cut))})
        walk(t.children_right[node], {**limits, name: (max(lo, cut), hi)})

    walk(0, {})
    return sorted(out, key=lambda b: -b["coverage"])


def _inside(x: pd.DataFrame, limits: dict) -> np.ndarray:
    ok = np.ones(len(x), bool)
    for c, (lo, hi) in limits.items():
        ok &= (x[c].to_numpy() >= lo) & (x[c].to_numpy() <= hi)
    return ok


def _box(method, k, limits, inside, y, x) -> dict:
    cov = float(y[inside].sum() / max(y.sum(), 1))
    dens = float(y[inside].mean()) if inside.any() else 0.0
    return {"method": method, "box": k, "coverage": cov, "density": dens, "runs_in_box": int(inside.sum()),
            "limits": {c: list(v) for c, v in limits.items()}, "full": {c: [float(x[c].min()), float(x[c].max())]
                                                                        for c in limits}}


def _fmt(name: str, v: float) -> str:
    p = reg.BY_NAME.get(name)
    unit = p.unit if p else ""
    is_share = unit in ("share", "0–1", "share per year") or (p is not None and p.label.lower().startswith("share"))
    if is_share and abs(v) <= 1.5:
        return f"{v:.0%}" + (" a year" if unit == "share per year" else "")  # 'per year' is in such labels
    if unit.startswith("£"):
        return f"£{v:,.0f}" + unit[1:]
    if abs(v) >= 100:
        return f"{v:,.0f} {unit}"
    return f"{v:.3g} {unit}".strip()


def sentence(box: dict, when: str) -> str:
    """A box as a sentence using the register's labels and units."""
    parts = []
    for name, (lo, hi) in box["limits"].items():
        label = reg.BY_NAME[name].label if name in reg.BY_NAME else name
        label = label[0].lower() + label[1:] if label[1:2].islower() else label
        flo, fhi = box["full"][name]
        if lo > flo and hi < fhi:
            parts.append(f"{label} is between {_fmt(name, lo)} and {_fmt(name, hi)}")
        elif lo > flo:
            parts.append(f"{label} is above {_fmt(name, lo)}")
        else:
            parts.append(f"{label} is below {_fmt(name, hi)}")
    where = " and ".join(parts) if parts else "anywhere in the ranges"
    return (f"'{when}' holds in {box['density']:.0%} of runs where {where} "
            f"({box['method']} box {box['box']}: {box['runs_in_box']} runs, covering {box['coverage']:.0%} of all "
            f"runs where it holds).")


# ---- the command -----------------------------------------------------------------------------------------
def discover(scenario: Scenario, when: str, *, runs: int = 200, levers=None, scale: int | None = 50,
             threshold: float = 0.8, store=None, progress=None, **how) -> dict:
    """Run (or read back) a Latin hypercube and find the boxes where `when` holds; {"cases", "boxes", ...}."""
    clauses, join = parse_when(when)
    outs = so.parse_all([c[0] for c in clauses])
    scenario = so.scenario_for(scenario, outs, scale)
    ranges = parameter_ranges(scenario)
    for name in levers or []:
        p = reg.BY_NAME.get(name)
        if p is None or not p.lever or p.low is None:
            allowed = [q.name for q in reg.REGISTER if q.lever and q.low is not None]
            raise EnsembleError(f"--levers: '{name}' is not a numeric policy lever; allowed: {', '.join(allowed)}")
        ranges[name] = (float(p.low), float(p.high))
    store = as_store(store)
    key = {"scenario": scenario_key(scenario), "when": when, "runs": runs, "ranges": ranges,
           "threshold": threshold, "layout": 4}

    def compute():
        points, redrawn = usable_points(scenario, ranges, latin_hypercube(ranges, runs, scenario.seed))
        design = [{"seed": run_seed(scenario.seed, i), "parameters": p} for i, p in enumerate(points)]
        values, ens = per_run_values(scenario, design, outs, progress, store=store, **how)
        y = flag(values, clauses, join)
        x = pd.DataFrame(points)
        boxes = prim_boxes(x, y, threshold, seed=scenario.seed % (2**31)) + tree_boxes(x, y, seed=scenario.seed % (2**31))
        for b in boxes:
            b["sentence"] = sentence(b, when)
        cases = pd.concat([x, values.drop(columns="run")], axis=1).assign(case=y)
        box_table = pd.DataFrame([{**{k: v for k, v in b.items() if k not in ("limits", "full")},
                                   "limits": json.dumps(b["limits"]), "full": json.dumps(b["full"])} for b in boxes],
                                 columns=["method", "box", "coverage", "density", "runs_in_box", "sentence", "limits",
                                          "full"])
        manifest = {"scenario": scenario.name, "seed": scenario.seed, "runs": runs, "mode": "lhs", "when": when,
                    "agent_scale": scenario.agent_scale, "until": str(scenario.until), "parameters": list(ranges),
                    "share_of_runs": float(y.mean()), "ensemble": ens.id, "points_redrawn": redrawn,
                    "prim": "ema_workbench.analysis.prim", "threshold": threshold}
        return {"cases": cases, "boxes": box_table}, manifest

    return stored(store, "discovery", f"{scenario.name}-discovery", key, compute)


def report(res: dict) -> str:
    m = res["manifest"]
    lines = [f"Scenario discovery on {m['scenario']}: '{m['when']}' holds in {m['share_of_runs']:.0%} of {m['runs']} "
             f"runs (Latin hypercube over {len(m['parameters'])} parameters; 1 agent = {m['agent_scale']} people; "
             f"{m['wall_seconds']:.0f} s)"]
    if res["boxes"].empty:
        lines.append("  No box found: the condition holds in no runs, or in all of them.")
    for b in res["boxes"].itertuples():
        lines.append(f"  - {b.sentence}")
    lines.append(f"  Stored as {res['id']}.")
    return "\n".join(lines)


def add_commands(sub) -> None:
    from model.arguments import _positive_int

    p = sub.add_parser("discover", help="where does it fail? PRIM and a decision tree over a Latin hypercube")
    p.add_argument("scenario", help="a scenario name or a YAML file")
    p.add_argument("--when", required=True, help="condition on outputs, e.g. \"holders_2021_03 < 50000\"")
    p.add_argument("--runs", type=_positive_int, default=200, help="Latin-hypercube runs (default 200)")
    p.add_argument("--levers", nargs="+", help="also vary these policy levers over their register ranges")
    p.add_argument("--threshold", type=float, default=0.8, help="PRIM: least density of a box (default 0.8)")
    run_options(p, until=True)
    p.set_defaults(handler=lambda args: run_command(args, args.scenario, "discover", lambda s, **kw: discover(
        s, args.when, runs=args.runs, levers=args.levers, scale=args.scale, threshold=args.threshold, **kw), report))
