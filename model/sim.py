"""`Sim`: build the model from a scenario, run it, and hand back named series (Starsim-style)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from model.results import Results, build_results
from model.rollout import RolloutModel
from model.scenario import Scenario, load_scenario


class Sim:
    def __init__(self, scenario: Scenario | str):
        self.scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.model: RolloutModel | None = None
        self.results: Results | None = None

    def run(self, progress: Callable[[int, int], None] | None = None, trace_memory: bool = False) -> Results:
        if trace_memory:
            tracemalloc.start()
        t0 = time.perf_counter()
        self.model = RolloutModel(self.scenario)
        t1 = time.perf_counter()
        self.model.run(progress)
        t2 = time.perf_counter()
        timings = {"setup": t1 - t0, "run": t2 - t1}
        if trace_memory:
            timings["peak_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        self.results = build_results(self.model, timings)
        self.results.timings["results"] = time.perf_counter() - t2
        return self.results
