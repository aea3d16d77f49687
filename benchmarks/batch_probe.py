"""How much of a patient-side run's fixed cost per month a batched model would remove (docs/batching.md).

Builds R runs at 1:50 (patient side, seeds 1000 + r) and advances each to `--month` months, then times a few
compiled steps and draw sites two ways:
- alone: called R times, once on each run's arrays (what R separate runs pay);
- flat: called once on the R runs' arrays laid end to end, CCG index r × n_orgs + o, group r × n_groups + g
  (what a batched model whose CCG index space is R × n_orgs would pay).
The flat call of a kernel with a national reduction (planning._expected's cohort means) is not the same
arithmetic as the R calls: it is timed only to show the cost. Draws cannot be flattened (each run keeps its
own generator): "flat" for a draw site is R draws on R generators in a Python loop, against one draw on one.

Not a timed test; run with nice:
    PYTHONPATH=. nice -n 19 .venv/bin/python benchmarks/batch_probe.py [--runs 50] [--month 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import model  # noqa: E402
from model import ccg, offers, planning  # noqa: E402
from model.people import OFFERED  # noqa: E402
from model.rollout import RolloutModel  # noqa: E402
from model.scenario import load_scenario  # noqa: E402


def best_us(fn, repeats: int, inner: int) -> float:
    """Best of `repeats` of `inner` calls, in microseconds per call of `fn`."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--month", type=int, default=60, help="months to advance each run first (60: March 2019)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print("model from", model.__file__, "| load", os.getloadavg())
    base = load_scenario("baseline").with_(agent_scale=50)
    c0 = time.process_time()
    runs = []
    for r in range(args.runs):
        m = RolloutModel(base.with_(seed=1000 + r), services=False)
        m.env.run(until=m.day_of(m.months[args.month]) + 1)  # steps 0..month
        runs.append(m)
    print(f"built and advanced {args.runs} runs to month {args.month}: {time.process_time() - c0:.2f} CPU-s")
    R, n_orgs, n_groups = args.runs, runs[0].n_orgs, runs[0].n_groups
    n_coh = runs[0].people.n_cohorts

    # ---- the runs' arrays laid end to end --------------------------------------------------------------
    ns = [m.people.n for m in runs]
    thr = np.concatenate([m.people.threshold[: m.people.n] for m in runs])
    grp = np.concatenate([m.people.group[: m.people.n] + r * n_groups for r, m in enumerate(runs)])
    haz = np.concatenate([m.hazard for m in runs])
    counts = np.concatenate([m.people.counts for m in runs], axis=1)
    cap = np.concatenate([m.ccgs.planning_capacity(m) for m in runs])
    queue = np.concatenate([m.planning_queue for m in runs])
    offered = [m.people.tracked(OFFERED) for m in runs]
    chances = [offers.take_up(m, idx) for m, idx in zip(runs, offered)]
    og = np.concatenate([m.people.group[idx] + r * n_groups for r, (m, idx) in enumerate(zip(runs, offered))])
    ch = np.concatenate(chances)
    rise = [np.full(n_groups, 0.002) for _ in runs]
    elig = [m.people.counts[1] for m in runs]
    region = ccg.region_of(runs[0])
    n_regions = len(runs[0].regions)
    t0 = runs[0].ccgs
    flat_open = np.tile(t0.open, R)
    flat_region = np.concatenate([region + r * n_regions for r in range(R)])
    flat_ready = np.concatenate([m.ccgs.readiness for m in runs])
    flat_press = np.concatenate([m.ccgs.pressure for m in runs])
    flat_ipc = np.concatenate([m.ccgs.ipc for m in runs])
    print(f"people per run {int(np.mean(ns))} (total {sum(ns)}), offered per run {np.mean([len(o) for o in offered]):.0f}")

    def learn_args(m):
        t = m.ccgs
        return (t.open, region, n_regions, t.readiness, 0.2, t.pressure, t.ipc, 0.1, 0.1, 0.01, 0.1, 0.5, 1.0, 12.0,
                np.empty(n_orgs))

    flat_learn = (flat_open, flat_region, R * n_regions, flat_ready, 0.2, flat_press, flat_ipc, 0.1, 0.1, 0.01, 0.1,
                  0.5, 1.0, 12.0, np.empty(R * n_orgs))
    cases = {
        "offers._due_offers (scan of everyone)": (
            lambda: [offers._due_offers(m.people.threshold, m.hazard, m.people.group, m.people.n) for m in runs],
            lambda: offers._due_offers(thr, haz, grp, len(thr))),
        "offers._ccg_terms (by CCG)": (
            lambda: [offers._ccg_terms(m.people.counts, c, m.planning_queue, n_orgs, n_coh, 0.1)
                     for m, c in zip(runs, np.split(cap, R))],
            lambda: offers._ccg_terms(counts, cap, queue, R * n_orgs, n_coh, 0.1)),
        "planning._expected (by group; national means)": (
            lambda: [planning._expected(-np.expm1(-rs), e, m.people.group[o], c, n_coh, 5, np.zeros(n_coh),
                                        np.zeros(n_orgs)) for m, rs, e, o, c in zip(runs, rise, elig, offered, chances)],
            lambda: planning._expected(-np.expm1(-np.concatenate(rise)), np.concatenate(elig), og, ch, n_coh, 5,
                                       np.zeros(n_coh), np.zeros(R * n_orgs))),
        "planning._shares (by CCG)": (
            lambda: [planning._shares(m.planning_credit, m.planning_queue) for m in runs],
            lambda: planning._shares(np.concatenate([m.planning_credit for m in runs]), queue)),
        "ccg._learn_rule (regions as R x n_regions)": (
            lambda: [ccg._learn_rule(*learn_args(m)) for m in runs],
            lambda: ccg._learn_rule(*flat_learn)),
        "draw: entries.poisson(lam) per run (generator each)": (
            lambda: [m.streams["entries"].poisson(np.full(n_groups, 0.3)) for m in runs],
            lambda: runs[0].streams["entries"].poisson(np.full(R * n_groups, 0.3))),
        "draw: exits.random(k), k ~ 30": (
            lambda: [m.streams["exits"].random(30) for m in runs],
            lambda: runs[0].streams["exits"].random(30 * R)),
        "whole step: offers.offer(m, t) (Python + numpy + numba)": (
            lambda: [offers.offer(m, args.month) for m in runs], None),
        "whole month: the SimPy clock to the next month": (
            lambda: [m.env.run(until=m.day_of(m.months[m.month + 1]) + 1) for m in runs], None),
    }
    print(f"\n{'per month, R = %d' % R:58s} {'alone R calls':>14s} {'flat 1 call':>12s} {'saved':>7s}")
    for name, (alone, flat) in cases.items():
        inner = 1 if name.startswith("whole") else 20
        reps = 3 if name.startswith("whole") else args.repeats
        a = best_us(alone, reps, inner)
        if flat is None:
            print(f"{name:58s} {a:12.0f}us {'':>12s} {'':>7s}  ({a / R:.1f} us a run)")
            continue
        f = best_us(flat, args.repeats, inner)
        print(f"{name:58s} {a:12.0f}us {f:10.0f}us {1 - f / a:6.0%}  ({a / R:.1f} vs {f / R:.1f} us a run)")
    # ---- where a month goes, step by step (the rules rollout.step calls, wrapped in timers) ----------------
    from model import assurance, population, redesignation, wheelchair
    from model.counting import Recorder
    spent: dict[str, float] = {}

    def timed(owner, name):
        fn = getattr(owner, name)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        setattr(owner, name, wrapper)
        return fn

    steps = [(ccg, "learn"), (assurance, "monitor"), (population, "leave"), (population, "enter"),
             (planning, "accrue"), (offers, "decide"), (planning, "plan"), (redesignation, "redesignate"),
             (wheelchair, "review"), (offers, "offer"), (Recorder, "record")]
    originals = [(o, n, timed(o, n)) for o, n in steps]
    months = 12
    t = time.perf_counter()
    for _ in range(months):
        for m in runs:
            m.env.run(until=m.day_of(m.months[m.month + 1]) + 1)
    whole = (time.perf_counter() - t) / (months * R) * 1e6
    for o, n, fn in originals:
        setattr(o, n, fn)
    print(f"\na month of one run, by step (us, mean of {months} months x {R} runs from month {runs[0].month - months}):")
    for name, s_ in spent.items():
        print(f"  {name:12s} {s_ / (months * R) * 1e6:7.1f}")
    print(f"  {'(the rest)':12s} {whole - sum(spent.values()) / (months * R) * 1e6:7.1f}   of {whole:.1f} in all")
    print("\nCPU-s in all:", round(time.process_time(), 2), "| load", os.getloadavg())


if __name__ == "__main__":
    main()
