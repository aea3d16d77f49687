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

    # ---- what the CCG offers -------------------------------------------------------------------
    @property
    def offer_intensity(self) -> float:
        return self.readiness * self.activeness

    @property
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

    @property
    def decommission_drive(self) -> float:
        """ODD "CCG decommissioning": how hard the CCG looks for money in its contracts (0–1). Financial
        pressure, plus the pull of the target during a national push; a CCG that has planned for PHBs
        (readiness) knows which contracts to cut, so acts harder (`decommission_readiness_weight`). The
        ledger turns it into pounds (model/money.py)."""
        m = self.model
        weight = m.p.decommission_readiness_weight
        return min(1.0, (self.pressure + m.push_strength * self.target_gap()) * (1.0 + weight * self.readiness))

    # ---- the monthly rule (ODD: "CCG learning") --------------------------------------------------
    def step(self) -> None:
        """readiness += (own learning + learning from regional leaders + push × target gap) per month
        × financial brake × room left to learn. The month's rates are set by the model (_ccgs_learn)."""
        m = self.model
        own = m.learning_rate
        from_peers = m.peer_rate * max(0.0, m.regional_leader_readiness[self.region] - self.readiness)
        from_target = m.push_rate * self.target_gap() if m.push_strength > 0 else 0.0
        brake = 1.0 - m.pressure_weight * self.pressure
        self.readiness += (own + from_peers + from_target) * brake * (1.0 - self.readiness)
