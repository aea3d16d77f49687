"""The provider: one traditional NHS service of one CCG, which lives or dies by its income.

A provider is a Mesa agent because its viability rule is a decision (ODD: "provider viability"); its
numbers live in the service side's arrays (`ServiceSide`), indexed by (service, slot), so the weekly
queues and the monthly ledger stay vectorised over all providers while `step` reads like the rule.
"""

from __future__ import annotations

import gc

import mesa
import numba
import numpy as np


class Provider(mesa.Agent):
    def __init__(self, model, side, service: int, slot: int, origin_code: str):
        super().__init__(model)
        self.side, self.service, self.slot = side, service, slot
        self.origin_code = origin_code  # the CCG that let the contract in April 2014 (its name in results)

    @classmethod
    def create_all(cls, model, side, origin_codes: list[str]) -> list[list["Provider"]]:
        """Every provider, (service, slot), registered with the model as `mesa.Agent.__init__` registers
        one (the next unique id; the model's agents, agents by type and all-agents set, in creation order),
        but with one update of each registry: 1,266 agents one at a time cost more Mesa bookkeeping than a
        month of the service side. Made with the cycle collector paused (time only: nothing here is garbage):
        ~3,800 objects that live as long as the run otherwise set off a young collection every 700, and
        every tenth of those moves them to the oldest generation, whose full collections cost a run ~4 ms."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return cls._register_all(model, side, origin_codes)
        finally:
            if collecting:
                gc.enable()

    @classmethod
    def _register_all(cls, model, side, origin_codes: list[str]) -> list[list["Provider"]]:
        ids = mesa.Agent._ids[model]
        grid = []
        for s in range(side.n_services):
            row = []
            for j in range(side.n_slots):
                agent = cls.__new__(cls)
                agent.model, agent.unique_id, agent.pos = model, next(ids), None
                agent.side, agent.service, agent.slot, agent.origin_code = side, s, j, origin_codes[j]
                row.append(agent)
            grid.append(row)
        made = dict.fromkeys(a for row in grid for a in row)
        model._agents.update(made)
        if cls in model._agents_by_type:
            model._agents_by_type[cls]._agents.update(made)
        else:
            model._agents_by_type[cls] = mesa.agent.AgentSet(made, random=model.random)
        model._all_agents._agents.update(made)
        return grid

    @property
    def key(self) -> tuple[int, int]:
        return self.service, self.slot

    @property
    def is_open(self) -> bool:
        return bool(self.side.open[self.key])

    @property
    def ccg_index(self) -> int:
        """The commissioner holding the contract now (changes when CCGs merge)."""
        return int(self.side.home[self.key])

    def step(self) -> None:
        """ODD "provider viability": after `viability_months` of income below costs, shed capacity;
        below `closure_threshold` of the starting size, close. A solvent provider whose demand exceeds
        its capacity grows, if its income pays for the extra capacity."""
        s, k, p = self.side, self.key, self.model.p
        if not s.open[k]:
            return
        if s.deficit_months[k] >= p.viability_months:
            s.capacity[k] *= 1.0 - p.shrink_step
            if s.capacity[k] < p.closure_threshold * s.capacity0[k]:
                s.close(*k)
        elif s.demand[k] > s.capacity[k] and s.income[k] >= s.cost_at(k, 1.0 + p.capacity_growth_rate):
            s.capacity[k] *= 1.0 + p.capacity_growth_rate


def step_providers(side, acting: np.ndarray) -> None:
    """`Provider.step` for every acting provider at once (one month's viability rule over the arrays).

    Exactly the result of stepping them one by one in (service, slot) order: capacities change together,
    then closures run in order, each choosing where its waiting list goes while the providers after it
    in that order still have the capacity they had before their own step."""
    p = side.m.p
    before = side.capacity.copy()
    closing = np.zeros(side.capacity.shape, bool)
    act = acting & side.open
    viability_rule(act, side.capacity, side.capacity0, side.fixed0, side.var_unit, side.served_users, side.demand,
                   side.income, side.deficit_months, p.viability_months, p.capacity_growth_rate, p.shrink_step,
                   p.closure_threshold, closing)
    close_in_order(side, closing, before)


def month_viability(side) -> None:
    """The month's provider accounts and viability rule, after the ledger: each provider's costs, its run of
    months with income below costs, and `step_providers` for the providers whose rule can fire (the rest
    would return at once), in one compiled pass (numba) instead of ~25 whole-array steps."""
    p = side.m.p
    before = side.capacity.copy()
    closing = np.zeros(side.capacity.shape, bool)
    provider_month(side.open, side.capacity, side.capacity0, side.fixed0, side.var_unit, side.served_users,
                   side.demand, side.income, side.deficit_months, side.cost, p.viability_months,
                   p.capacity_growth_rate, p.shrink_step, p.closure_threshold, closing)
    close_in_order(side, closing, before)


def close_in_order(side, closing: np.ndarray, before: np.ndarray) -> None:
    """Closures in (service, slot) order, each seeing the later providers' capacity as before their step."""
    cap = side.capacity
    for s, j in zip(*np.nonzero(closing)):
        now = cap[s, j + 1:].copy()
        cap[s, j + 1:] = before[s, j + 1:]
        side.close(s, j)
        cap[s, j + 1:] = now


@numba.njit(cache=True, nogil=True)
def _rule(s, j, cap, capacity0, fixed0, var_unit, served, demand, income, deficit, viability_months, growth,
          shrink_step, closure_threshold, closing):  # pragma: no cover (compiled)
    """`Provider.step` for an acting open provider, as the whole-array steps computed it: shrink after
    `viability_months` in deficit (closing below the threshold), else grow if demand exceeds capacity and
    income pays for the extra."""
    c = cap[s, j]
    if deficit[s, j] >= viability_months:
        cap[s, j] = c * (1.0 - shrink_step)
        closing[s, j] = cap[s, j] < closure_threshold * capacity0[s, j]
        return
    grown = c * (1.0 + growth)
    size = grown / capacity0[s, j] if capacity0[s, j] > 0 else 0.0
    if demand[s, j] > c and float(income[s, j]) >= fixed0[s, j] * size + var_unit[s, j] * served[s, j]:
        cap[s, j] = c * (1.0 + growth)


@numba.njit(cache=True, nogil=True)
def viability_rule(act, cap, capacity0, fixed0, var_unit, served, demand, income, deficit, viability_months,
                   growth, shrink_step, closure_threshold, closing):  # pragma: no cover (compiled)
    """`_rule` for every acting provider (`act`: acting and open); `closing` marks those that close."""
    ns, nj = cap.shape
    for s in range(ns):
        for j in range(nj):
            if act[s, j]:
                _rule(s, j, cap, capacity0, fixed0, var_unit, served, demand, income, deficit, viability_months,
                      growth, shrink_step, closure_threshold, closing)


@numba.njit(cache=True, nogil=True)
def provider_month(open_, cap, capacity0, fixed0, var_unit, served, demand, income, deficit, cost,
                   viability_months, growth, shrink_step, closure_threshold, closing):  # pragma: no cover
    """Each provider's cost this month (`cost`, in place), its months in deficit (`deficit`, in place), and
    `_rule` for those that act: open, and in deficit long enough or able to grow."""
    ns, nj = cap.shape
    for s in range(ns):
        for j in range(nj):
            size = cap[s, j] / capacity0[s, j] if capacity0[s, j] > 0 else 0.0
            cost[s, j] = fixed0[s, j] * size + var_unit[s, j] * served[s, j]
            inc = float(income[s, j])
            deficit[s, j] = deficit[s, j] + 1 if (open_[s, j] and inc < cost[s, j]) else 0
            can_grow = demand[s, j] > cap[s, j] and \
                inc >= fixed0[s, j] * size * (1.0 + growth) + var_unit[s, j] * served[s, j]
            if open_[s, j] and (deficit[s, j] >= viability_months or can_grow):
                _rule(s, j, cap, capacity0, fixed0, var_unit, served, demand, income, deficit, viability_months,
                      growth, shrink_step, closure_threshold, closing)
