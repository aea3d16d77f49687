"""The CCG: a commissioner that learns to offer personal health budgets.

Each month a CCG grows more ready to offer PHBs: by its own learning, by copying the more advanced CCGs
of its region, and faster when a national push finds it behind its fair share of the target; financial
pressure holds it back. Readiness sets how often it offers and how many support plans it can complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from model.rollout import RolloutModel

MONTHS_PER_YEAR = 12


class CCG(mesa.Agent):
    def __init__(self, model: "RolloutModel", *, index: int, code: str, name: str, region: str,
                 population: float, going_further_faster: bool, pilot: bool, readiness: float,
                 activeness: float, restrictiveness: float, direct_payments: bool, pressure: float):
        super().__init__(model)
        self.index = index  # position in the model's table of organisations
        self.code, self.name, self.region = code, name, region
        self.population = population
        self.going_further_faster, self.pilot = going_further_faster, pilot
        self.readiness = readiness  # 0–1: how far the CCG has built the processes to offer PHBs
        self.activeness = activeness  # how actively, relative to a typical CCG, it offers them
        self.restrictiveness = restrictiveness  # 0–1: limits on what a budget may buy
        self.direct_payments = direct_payments
        self.pressure = pressure  # 0–1: financial pressure
        self.planning_credit = 0.0  # support-planning capacity not yet used this month

    # ---- what the CCG offers -------------------------------------------------------------------
    @property
    def offer_intensity(self) -> float:
        return self.readiness * self.activeness

    def planning_capacity(self) -> float:
        """Support plans the CCG can complete this month (people represented by one agent each)."""
        p = self.model.p
        staff = p.coordinators_per_100k * self.population / 100_000 * self.readiness
        return staff * p.plans_per_coordinator * self.model.activity_factor / self.model.agent_scale

    def target_gap(self) -> float:
        """How far the CCG is behind its population share of the national trajectory (0–1)."""
        fair_share = self.model.target_now() * self.population / self.model._population_now
        if fair_share <= 0:
            return 0.0
        return min(1.0, max(0.0, 1.0 - self.model.holders_of(self.index) / fair_share))

    # ---- the monthly rule (ODD: "CCG learning") --------------------------------------------------
    def step(self) -> None:
        p, m = self.model.p, self.model
        leader = m.regional_leader_readiness[self.region]
        drive = (p.readiness_learning_rate
                 + p.peer_learning_rate * max(0.0, leader - self.readiness)
                 + p.target_response * m.push_strength * self.target_gap())
        brake = 1.0 - p.pressure_brake * self.pressure * (1.0 - p.funding_follows_target * (m.push_strength > 0))
        self.readiness += drive / MONTHS_PER_YEAR * brake * (1.0 - self.readiness)
