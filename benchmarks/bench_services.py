"""Time the national baseline run with the service side on against the patient side alone.

Fastest of several repeats (set-up and run timed separately, after Mesa's benchmarks), and the SimPy
event count of a run. The target (core model issue): a national run in at most 2 s on one core.
Run: .venv/bin/python benchmarks/bench_services.py [repeats]
"""

from __future__ import annotations

import sys
import time

from model.rollout import RolloutModel
from model.scenario import load_scenario


def time_run(services: bool, repeats: int) -> tuple[float, float, RolloutModel]:
    scenario = load_scenario("baseline")
    best_setup = best_run = float("inf")
    model = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = RolloutModel(scenario, services=services)
        t1 = time.perf_counter()
        model.run()
        t2 = time.perf_counter()
        best_setup, best_run = min(best_setup, t1 - t0), min(best_run, t2 - t1)
    return best_setup, best_run, model


def main(repeats: int = 5) -> None:
    print(f"national baseline run, 2014-04 to 2021-03, fastest of {repeats}")
    off = time_run(False, repeats)
    on = time_run(True, repeats)
    for label, (setup, run, _) in (("patient side alone", off), ("with the service side", on)):
        print(f"  {label:24s} set-up {setup:5.2f} s  run {run:5.2f} s  total {setup + run:5.2f} s")
    side = on[2].services
    print(f"  service side adds {on[0] + on[1] - off[0] - off[1]:+.2f} s; "
          f"SimPy events per run: {side.env_events} (service queues: {side.n_events}); "
          f"providers: {side.n_services * side.n_slots}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
