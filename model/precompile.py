"""Compile the model's numba steps once, into numba's on-disk cache (`model/__pycache__`), at set-up.

About 25 monthly and weekly steps are compiled with numba (people's moves and counts, new people, offers and
decisions, support planning, wheelchair reviews, mergers, the weekly queues, the holders' outcome sums).
Compiling them all takes about 25 s the first time a process uses them; from the cache, a fraction of a
second. `.ci/setup` runs this so that neither the first `phb run` nor each test worker pays the compile:
one coarse run to 2030 with the service side goes through every step (mergers, re-designation, reviews,
compaction). Run it again by hand after changing a compiled step: `python -m model.precompile`.
"""

from __future__ import annotations

import datetime as dt
import time


def main() -> None:
    from model.scenario import load_scenario
    from model.sim import Sim

    t0 = time.perf_counter()
    scenario = load_scenario("baseline").with_(agent_scale=200, until=dt.date(2030, 3, 31))
    Sim(scenario).run(services=True)
    print(f"precompile: the model's compiled steps are cached ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
