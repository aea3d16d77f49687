"""What an ensemble would cost if every per-run overhead vanished (issue 12): the floor under the ensemble
targets that no way of running the model (batched, vectorised, compiled) can go below without changing its
rules.

An ensemble of R runs at 1:S does two kinds of work:
- the people's work: R/S full-scale runs' worth of patient-months (50 runs at 1:50 have the people of one
  full-scale run). Estimated as (full-scale run − coarse run) × S / (S − 1): what a full run costs beyond a
  coarse one is its people, if a person costs the same at any scale;
- the work each run does whatever its scale, which batching shares out but cannot remove: its random draws
  by group (new entrants, 1,266 Poisson draws a month) and by provider (weekly referrals, 1,266 normal draws
  a week), and the weekly queues of 1,266 providers (people are counted as floats there, so a queue costs the
  same at 1:50 as at full scale). Timed here in place (the compiled queue step, wrapped) and by drawing the
  same numbers alone.

floor = people's work + R × per-run work. Everything else a run costs now (Python calls per month, CCG and
provider bookkeeping, results) is what a batched model would remove; the floor says how far that could go.

Writes benchmarks/results/floor.json. Run:
    .venv/bin/python benchmarks/bench_floor.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import load_average  # noqa: E402
from model import queues  # noqa: E402
from model.scenario import load_scenario  # noqa: E402
from model.sim import Sim  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "floor.json"
GROUPS, PROVIDERS = 211 * 6, 1266  # April 2014's organisations × cohorts; providers (6 services × 211)


def cpu_of(scenario, services: bool, repeats: int, queue_clock: list | None = None) -> float:
    """Median CPU-seconds of a run made alone (`Sim.run(tables="kept")`, what an ensemble member does)."""
    times = []
    for i in range(repeats):
        if queue_clock is not None:
            queue_clock.clear()
        c0 = time.process_time()
        Sim(scenario.with_(seed=1000 + i)).run(services=services, tables="kept")
        times.append(time.process_time() - c0)
    return float(np.median(times))


def draws_cpu(months: int, weeks: int) -> float:
    """CPU-seconds of one run's draws by group and by provider, made alone with the same sizes."""
    rng, lam = np.random.default_rng(0), np.full(GROUPS, 0.3)
    c0 = time.process_time()
    for _ in range(months):
        rng.poisson(lam)
    for _ in range(weeks):
        rng.standard_normal(PROVIDERS)
    return time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3, help="runs timed per figure (median)")
    args = ap.parse_args()
    if args.repeats < 1:
        print("--repeats must be at least 1", file=sys.stderr)
        return 2
    clock: list[float] = []
    inner = queues.queue_week

    def timed_queue_week(*a):
        t = time.process_time()
        inner(*a)
        clock.append(time.process_time() - t)

    queues.queue_week = timed_queue_week  # the weekly process looks it up in the module each week
    base = load_scenario("baseline")
    report: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "load_average_before": load_average(),
                    "repeats": args.repeats}
    cases = {  # target: (until, scale, runs, services, the target's own figure)
        "50 runs at 1:50 with services vs one full run with its counterfactual (ratio, CPU)":
            (dt.date(2021, 3, 31), 50, 50, True),
        "1,000 runs at 1:10 with services on 2 cores (s)": (dt.date(2021, 3, 31), 10, 1000, True),
        "the dashboard's 50-run fan at 1:50, patient side, to March 2024, on 2 cores (s, runs alone)":
            (dt.date(2024, 3, 31), 50, 50, False),
    }
    full_cache: dict = {}
    for what, (until, scale, runs, services) in cases.items():
        s = base.with_(until=until)
        key = (until, services)
        if key not in full_cache:
            Sim(s.with_(agent_scale=50)).run(services=services, tables="kept")  # warm: compiled steps, geography
            full = cpu_of(s.with_(agent_scale=1), services, args.repeats)
            full_cache[key] = full
        full = full_cache[key]
        coarse = cpu_of(s.with_(agent_scale=scale), services, args.repeats, clock)
        queue_s = float(sum(clock)) if services else 0.0
        months = (until.year - 2014) * 12 + until.month - 3
        weeks = len(clock) if services else 0
        draw_s = draws_cpu(months, weeks)
        people = (full - coarse) * scale / (scale - 1)
        per_run = draw_s + queue_s
        floor = people * runs / scale + runs * per_run
        row = {"until": str(until), "scale": scale, "runs": runs, "services": services,
               "full_scale_run_cpu_s": round(full, 3), "coarse_run_cpu_s_now": round(coarse, 4),
               "people_work_per_full_run_cpu_s": round(people, 3),
               "per_run_draws_cpu_s": round(draw_s, 4), "per_run_queues_cpu_s": round(queue_s, 4),
               "ensemble_now_cpu_s": round(runs * coarse, 2), "ensemble_floor_cpu_s": round(floor, 2)}
        if services and scale == 50:
            cf = base.with_(until=until, agent_scale=1)
            c0 = time.process_time()
            Sim(cf).run(counterfactual=True)  # what `phb run` does, as bench_ensemble times it
            full_cf = time.process_time() - c0
            row.update(full_run_with_counterfactual_cpu_s=round(full_cf, 3), target_ratio=0.6,
                       ratio_now=round(runs * coarse / full_cf, 2), ratio_floor=round(floor / full_cf, 2))
        else:
            row.update(target_s=90 if services else 2.0, wall_now_on_2_cores_s=round(runs * coarse / 2, 1),
                       wall_floor_on_2_cores_s=round(floor / 2, 1))
        report[what] = row
        print(what, json.dumps(row), flush=True)
    report["load_average_after"] = load_average()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1))
    print(f"written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
