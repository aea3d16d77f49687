"""`Sim`: build the model from a scenario, run it, and hand back named series (Starsim-style)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from model.results import Results, build_results, member_results
from model.rollout import RolloutModel
from model.scenario import Scenario, load_scenario


class Sim:
    def __init__(self, scenario: Scenario | str):
        self.scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.model: RolloutModel | None = None
        self.results: Results | None = None

    def run(self, progress: Callable[[int, int], None] | None = None, trace_memory: bool = False,
            counterfactual: bool = False, services: bool = True, tables: str = "all") -> Results:
        """`counterfactual=True` also runs the same scenario with no PHBs (same random numbers) and reports
        the service side as differences from it; `services=False` runs the patient side alone.
        `tables="kept"`: only what an ensemble keeps of a run (model/results.py `member_results`);
        `tables="columns"`: the same, its two tables left as columns (`Results.kept`), as a worker sends them."""
        if trace_memory:
            tracemalloc.start()
        t0 = time.perf_counter()
        self.model = RolloutModel(self.scenario, services=services)
        t1 = time.perf_counter()
        self.model.run(progress)
        t2 = time.perf_counter()
        timings = {"setup": t1 - t0, "run": t2 - t1}
        if trace_memory:
            timings["peak_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        if tables in ("kept", "columns"):
            self.results = member_results(self.model, timings, frames=tables == "kept")
        else:
            self.results = build_results(self.model, timings)
        self.results.timings["results"] = time.perf_counter() - t2
        if self.model.services is not None:
            self.results.timings["simpy_events"] = self.model.services.env_events
            self.results.timings["service_simpy_events"] = self.model.services.n_events
        if counterfactual and self.model.services is not None:
            from model.services import compare, counterfactual_scenario
            t3 = time.perf_counter()
            cf = RolloutModel(counterfactual_scenario(self.scenario)).run()
            self.results.extra.update(compare(self.results.extra, cf.services.tables()))
            self.results.timings["counterfactual"] = time.perf_counter() - t3
            cf.release()
        self.model.release()
        return self.results
