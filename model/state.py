"""`RolloutState`: what the submodels read and write of the roll-out model, as a typing Protocol.

Why a Protocol: each submodel (ccg, population, offers, planning, ...) takes the model as an argument and
is called by model/rollout.py. Importing `RolloutModel` for its type, even only for type checkers, made
every submodule and rollout.py import each other. The submodels name this instead; `RolloutModel`
satisfies it, and this module imports nothing of the project.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np


class RolloutState(Protocol):
    """The roll-out model as the submodels see it (model/rollout.py has the full class)."""

    # the scenario and its parameters
    scenario: Any            # model.scenario.Scenario
    p: Any                   # its parameters (model.parameters register names as attributes)
    agent_scale: int         # people per agent
    streams: dict[str, np.random.Generator]  # one random stream per process (SeedSequence tree)
    flows: Any               # cohort inflows and stocks (model.population.cohort_flows)
    cache: dict[str, Any]    # what submodels work out once per run, or hand on within a month

    # the clock
    months: list[dt.date]
    month: int
    events: list[tuple[dt.date, str]]

    # organisations
    geo: Any                 # model.geography.Geography
    org_codes: Sequence[str]  # read-only, shared by the runs of a process
    org_index: Mapping[str, int]
    org_region: np.ndarray
    regions: Sequence[str]
    n_orgs: int
    n_groups: int            # organisations × cohorts
    ccgs: Any                # model.ccg.CCGTable: CCG state as arrays
    ccg_by_index: dict[int, Any]  # the Mesa CCG agents, by organisation index
    policy: Any              # model.policy.Policy
    services: Any            # model.services.ServiceSide, or None when the service side is off

    # people and what accrues to them
    people: Any              # model.people.People: per-person arrays
    recorder: Any            # model.counting.Recorder
    hazard: np.ndarray
    spend: np.ndarray
    planning_credit: np.ndarray
    planning_queue: np.ndarray
    planning_waiting: np.ndarray
    capacity: np.ndarray
    push_strength: float
    activity_factor: float

    def month_of(self, date: dt.date) -> int: ...
    def month_at_event(self) -> int: ...
    def schedule(self, date: dt.date, label: str, action: Callable[[], None]) -> None: ...
    def population_share(self) -> np.ndarray: ...
    def holders_by_org(self) -> np.ndarray: ...
    def recompute_spend(self) -> None: ...
