"""The service side: traditional providers and what PHBs do to them, month by month.

Once a month, after the CCGs' offers, `ServiceSide.month` works out who uses which provider, pays providers
through the ledger (model/money.py), re-bases contracts on their cycle (model/contracts.py), lets CCGs
decommission and lets each provider apply its viability rule (model/provider.py). The weekly queues are
model/queues.py, outcomes model/outcomes.py, the results tables model/service_tables.py; each takes this
side as an argument and none imports this module, so there are no import circles. Rules: docs/services.md.
"""

from __future__ import annotations

import weakref

import numba
import numpy as np
import pandas as pd

from model import parameters as reg
from model.catalogue import COHORT_SERVICE, INPATIENT, LIVING_NOT_HOLDING, SERVICE_LABELS, SERVICES  # noqa: F401
from model.ccg import region_of
from model.contracts import rebase
from model.money import Ledger
from model.outcomes import HOLD_FIRST, HOLD_LAST, Outcomes, cohort_bed_days
from model.people import State
from model.provider import Provider, month_viability
from model.queues import WAIT_BUCKETS, list_depths, move_list, record, steady_backlog, weekly
from model.service_tables import compare, summary_lines, tables  # noqa: F401  (what callers import from here)
from model.units import MONTHS_PER_YEAR, PENCE, WEEKS_PER_YEAR



def counterfactual_scenario(scenario):
    """The same scenario with no PHBs: nobody offered, no pilot-legacy holders, every random stream the same."""
    zero = {f"offer_rate_{c}": 0.0 for c in reg.COHORTS}
    return scenario.with_parameters(initial_holders=0, redesignation_rate=0.0, pwb_right_offer_share=0.0, **zero)


@numba.njit(cache=True, nogil=True)
def serve_routed(open_, route, ccg_users, phb_users, served):  # pragma: no cover (compiled)
    """Each provider's users (`served`, in place): its own if open, plus those of the closed providers
    routed to it, added in slot order (as np.add.at added them)."""
    ns, nj = open_.shape
    for s in range(ns):
        for j in range(nj):
            served[s, j] = ccg_users[s, j] + phb_users[s, j] if open_[s, j] else 0.0
        for j in range(nj):
            if not open_[s, j] and route[s, j] >= 0:
                served[s, route[s, j]] += ccg_users[s, j] + phb_users[s, j]


@numba.njit(cache=True, nogil=True)
def people_by_group(counts, scale, hold_first, hold_last, not_holding, notional_state, holders, rest,
                    notional):  # pragma: no cover (compiled)
    """People by group (CCG × cohort), scaled to the population: holders, the rest alive, notional holders.
    Integer sums (exact), converted to float once."""
    n = counts.shape[1]
    h, r = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for s in range(hold_first, hold_last + 1):  # state by state: each a contiguous row
        for g in range(n):
            h[g] += counts[s, g]
    for s in not_holding:
        for g in range(n):
            r[g] += counts[s, g]
    for g in range(n):
        holders[g] = float(h[g] * scale)
        rest[g] = float(r[g] * scale)
        notional[g] = float(counts[notional_state, g] * scale)


@numba.njit(cache=True, nogil=True)
def record_month(t, capacity, cost, served, lists, depth, income, block, open_, double_running, decommissioned,
                 before, home, r_capacity, r_cost, r_users, r_waiting, r_income, r_block, r_double_running,
                 r_decommissioned, r_open, r_home):  # pragma: no cover (compiled)
    """The month's provider records (`rec[...][t]`), in one pass instead of a dozen whole-array steps:
    copies, the block paid by open providers, this month's decommissioning (`decommissioned` − `before`),
    and the people waiting summed week by week over the weeks in use (`waiting_now`'s numbers)."""
    ns, nj = capacity.shape
    for s in range(ns):
        for j in range(nj):
            r_capacity[t, s, j] = capacity[s, j]
            r_cost[t, s, j] = cost[s, j]
            r_users[t, s, j] = served[s, j]
            r_income[t, s, j] = income[s, j]
            r_block[t, s, j] = block[s, j] if open_[s, j] else 0
            r_double_running[t, s, j] = double_running[s, j]
            r_decommissioned[t, s, j] = decommissioned[s, j] - before[s, j]
            r_open[t, s, j] = open_[s, j]
            r_home[t, s, j] = home[s, j]
            col = s * nj + j
            total = 0.0
            for k in range(depth[col]):
                total += lists[k, col]
            r_waiting[t, s, j] = total


USER_KEYS = ("ccg_users", "phb_users", "phb_pence", "holders_displaced")  # what `ServiceSide._users` returns


@numba.njit(cache=True, nogil=True)
def users_by_provider(rest, notional, held, cash_spend, cohort_service, in_beds, displaced_beds, home, weight,
                      others, nhs_share, inpatient, out):  # pragma: no cover (compiled)
    """Each provider's users this month, `out` (USER_KEYS, service, slot): its CCG's people of the cohorts
    the service serves (CCG-paid: the rest and notional holders; third-party and direct-payment holders;
    their money in pence), or inpatient use, times the provider's share of its CCG (`weight`); CCG-paid
    users add the others. Sums over cohorts are of whole people or pence, exact in any order: the
    numbers of the (CCG, cohort) @ (cohort, service) products they replace."""
    ns, nj = home.shape
    for s in range(ns):
        for j in range(nj):
            o, w = home[s, j], weight[s, j]
            if s == inpatient:
                ccg, cash, pence, displaced = in_beds[o], 0.0, 0.0, displaced_beds[o]
                phb = 0.0
            else:
                ccg, cash, pence = 0.0, 0.0, 0.0
                for c in range(len(cohort_service)):
                    if cohort_service[c] == s:
                        ccg += rest[o, c] + notional[o, c]  # a notional budget is NHS provision
                        cash += held[o, c] - notional[o, c]  # third-party and direct payments
                        pence += cash_spend[o, c]
                phb, displaced = cash * nhs_share, cash
            out[0, s, j] = ccg * w + others[s, j]
            out[1, s, j] = phb * w
            out[2, s, j] = pence * w
            out[3, s, j] = displaced * w


@numba.njit(cache=True, nogil=True)
def destination(open_, home, region, capacity, demand, j):  # pragma: no cover (compiled)
    """Where closing provider `j`'s list and users go (one service's slots; -1: none open): the open provider
    with most spare capacity (capacity − demand) in its CCG's region, else in England; the first of equals,
    or the first NaN, as np.argmax over the open slots in order picks."""
    for local in (True, False):
        best, most = -1, 0.0
        for k in range(len(open_)):
            if not open_[k] or (local and region[home[k]] != region[home[j]]):
                continue
            spare = capacity[k] - demand[k]
            if best < 0 or spare > most or (np.isnan(spare) and not np.isnan(most)):
                best, most = k, spare
                if np.isnan(spare):
                    return best
        if best >= 0:
            return best
    return -1


class ServiceSide:
    """Provider state as (service, slot) arrays; one slot per CCG open in April 2014."""

    def __init__(self, m):
        self.m, self.p = m, m.p
        p = m.p
        self.rng = m.streams["services"]
        self.start_orgs = np.array(sorted(m.ccg_by_index))
        ns, nj = len(SERVICES), len(self.start_orgs)
        self.n_services, self.n_slots = ns, nj
        self.cohort_service = np.array(COHORT_SERVICE, np.int64)
        self.not_holding = np.array(LIVING_NOT_HOLDING, np.int64)
        self.home = np.tile(self.start_orgs, (ns, 1))
        self.map = np.zeros((len(reg.COHORTS), ns))
        self.map[np.arange(len(reg.COHORTS)), COHORT_SERVICE] = 1.0
        self.inpatient = INPATIENT  # the ledger splits inpatient contracts from the rest (model/money.py)
        self.cuttable = np.arange(ns) != INPATIENT  # CCGs decommission community services, not beds

        self.outcomes = Outcomes(m)
        self.bed_share = cohort_bed_days(p) / p.inpatient_bed_days_per_year  # inpatient users per person
        people = self._people()
        base = people["all"]  # (orgs, cohorts): everyone, as if nobody held a PHB: contracts predate PHBs
        u0 = np.column_stack([base @ self.map[:, :INPATIENT], base @ self.bed_share]).T[:, self.start_orgs]
        self.weight = np.ones((ns, nj))
        self.u0 = u0
        self.others = p.other_users_ratio * u0
        users0 = u0 + self.others
        mean_budget = np.array([getattr(p, f"budget_median_{c}") for c in reg.COHORTS]) \
            * np.exp(p.budget_log_sd ** 2 / 2) / MONTHS_PER_YEAR * PENCE
        stock = m.flows.stock
        self.price = np.empty(ns)  # pence per user-month: a budget is set at what the person's care costs
        for s in range(INPATIENT):
            k = np.flatnonzero(self.map[:, s])
            w = stock[k] if stock[k].sum() > 0 else None  # a scenario may empty a cohort
            self.price[s] = np.average(mean_budget[k], weights=w)
        self.price[INPATIENT] = p.inpatient_bed_days_per_year / MONTHS_PER_YEAR * p.inpatient_cost_per_bed_day * PENCE
        value0 = self.price[:, None] * users0
        self.block = np.rint((1.0 - p.flexible_contract_share) * value0).astype(np.int64)
        cost0 = value0 / (1.0 + p.provider_margin)
        self.fixed0 = p.fixed_cost_share * cost0
        self.var_unit = (1.0 - p.fixed_cost_share) * self.price[:, None] / (1.0 + p.provider_margin) \
            * np.ones((1, nj))
        self.capacity0 = p.referrals_per_user_year / WEEKS_PER_YEAR * users0 / p.initial_utilisation  # referrals a week
        self.capacity = self.capacity0.copy()
        self.open = np.ones((ns, nj), bool)
        self.route = np.full((ns, nj), -1)  # where a closed provider's users go (-1: they wait)
        self.income = np.zeros((ns, nj), np.int64)
        self.cost = np.zeros((ns, nj))
        self.double_running = np.zeros((ns, nj), np.int64)
        self.decommissioned = np.zeros((ns, nj), np.int64)
        self.deficit_months = np.zeros((ns, nj), int)
        self.served_users = users0.copy()
        self.demand = p.referrals_per_user_year / WEEKS_PER_YEAR * users0  # referrals a week, routed to this provider
        # waiting lists, bucket-major (weeks waited, service, slot): the weekly queue works on whole buckets
        self.waiting_list = np.ascontiguousarray(np.moveaxis(
            steady_backlog(self.demand, self.capacity0, p.arrival_variability), -1, 0))
        self.list_depth = list_depths(self.waiting_list.reshape(WAIT_BUCKETS, -1))  # rows each list uses
        # contracts: re-based on a cycle on last year's activity (money.rebase); `displaced_base` is the care
        # budget-holders had already taken out of the contract when it was last set
        self.activity_sum = np.zeros((ns, nj))
        self.activity_months = 0
        self.displaced_base = np.zeros((ns, nj))
        self.rebased = np.zeros((len(m.months), ns, nj), bool)
        self._q = {k: np.zeros((ns, nj)) for k in ("served", "wait", "capacity", "arrivals")}
        codes = m.org_codes
        self.providers = Provider.create_all(m, self, [codes[o] for o in self.start_orgs])

        T, n_orgs = len(m.months), m.n_orgs
        self.ledger = Ledger(T, n_orgs)
        phb0 = self._phb_by_org()
        self.ledger.market_supply[:] = p.initial_market_share * phb0 * (1.0 - p.phb_nhs_spend_share)
        shape = (T, ns, nj)
        self.rec = {k: np.zeros(shape) for k in ("capacity", "cost", "users", "waiting", "mean_wait", "utilisation")}
        self.rec.update({k: np.zeros(shape, np.int64) for k in ("income", "block", "double_running", "decommissioned")})
        self.rec["open"] = np.zeros(shape, bool)
        self.rec["home"] = np.zeros(shape, int)
        self.org_rec = {k: np.zeros((T, n_orgs)) for k in ("holders", "ascot_gain_sum", "inpatient_bed_days")}
        self.displaced_now = np.zeros((ns, nj))
        self.closures: list[dict] = []
        self.n_events = 0  # SimPy events of the service side
        self.env_events = 0  # all SimPy events of the run scheduled from here on (core and services)
        schedule = m.env.schedule

        def counting_schedule(event, priority=1, delay=0):
            self.env_events += 1
            schedule(event, priority, delay)
        m.env.schedule = counting_schedule
        self._weeks = weekly(self)
        m.env.process(self._weeks)

    # ---- who uses what ---------------------------------------------------------------------------
    def _people(self) -> dict[str, np.ndarray]:
        """This month's people by (CCG, cohort): holders, notional holders, the rest alive, and everyone.
        Whole people, summed over states before scaling (`people_by_group`): the numbers of scaling first."""
        m = self.m
        shape = (m.n_orgs, len(reg.COHORTS))
        holders, rest, notional = np.empty(shape), np.empty(shape), np.empty(shape)
        people_by_group(m.people.counts, m.agent_scale, HOLD_FIRST, HOLD_LAST, self.not_holding, int(State.NOTIONAL),
                        holders.reshape(-1), rest.reshape(-1), notional.reshape(-1))
        return {"holders": holders, "rest": rest, "all": holders + rest, "notional": notional}

    def _phb_by_org(self) -> np.ndarray:
        m = self.m
        return m.spend.reshape(m.n_orgs, -1).sum(axis=1) * m.agent_scale

    def _cash_spend(self) -> np.ndarray:
        """Third-party and direct-payment money this month by (CCG, cohort), in pence: exactly what leaves
        contracts (summed by `Outcomes.month` over this month's holders, in index order)."""
        m = self.m
        pence = self.outcomes.cash_by_group.astype(np.int64)
        return pence.reshape(m.n_orgs, -1).astype(float) * m.agent_scale

    def _users(self, ppl: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """This month's users of each provider (`ppl`: this month's `_people()`): the CCG pays for
        non-holders; holders pay from their PHB. Worked out by (CCG, service) and looked up for every
        provider through the CCG now holding its contract (`users_by_provider`, compiled)."""
        p = self.p
        rest, held, notional = ppl["rest"], ppl["holders"], ppl["notional"]
        holder_beds = self.outcomes.org_bed_days_holders / p.inpatient_bed_days_per_year
        in_beds = (rest @ self.bed_share) + holder_beds
        displaced_beds = np.maximum(held @ self.bed_share - holder_beds, 0.0)
        out = np.empty((len(USER_KEYS), self.n_services, self.n_slots))
        users_by_provider(rest, notional, held, self._cash_spend(), self.cohort_service, in_beds, displaced_beds,
                          self.home, self.weight, self.others, p.phb_nhs_spend_share, INPATIENT, out)
        return dict(zip(USER_KEYS, out))

    # ---- the month -------------------------------------------------------------------------------
    def cost_at(self, k: tuple[int, int], capacity_factor: float = 1.0) -> float:
        size = self.capacity[k] * capacity_factor / self.capacity0[k] if self.capacity0[k] > 0 else 0.0
        return self.fixed0[k] * size + self.var_unit[k] * self.served_users[k]

    def month(self, t: int) -> None:
        """The monthly hook, called from RolloutModel.step after the offers (ODD process order)."""
        p, m = self.p, self.m
        self.outcomes.month(t)
        people = self._people()
        users = self._users(people)
        self.displaced_now = users["holders_displaced"]
        rebase(self, t, users)
        served = self.served_users  # in place: the month's users of each open provider, closed ones' routed
        serve_routed(self.open, self.route, users["ccg_users"], users["phb_users"], served)
        self.demand = p.referrals_per_user_year / WEEKS_PER_YEAR * served
        drive = m._org_vector("decommission_drive")
        record(self, t)
        before = self.decommissioned.copy()
        self.ledger.month(self, t, self._phb_by_org(), self.outcomes.org_notional, users, drive)
        # costs, months in deficit, and each acting provider's `Provider.step`, over the arrays at once (only
        # providers whose rule can fire act; the rest would return at once): keeps 1,266 agents cheap
        month_viability(self)
        r = self.rec
        record_month(t, self.capacity, self.cost, served, self.waiting_list.reshape(WAIT_BUCKETS, -1), self.list_depth,
                     self.income, self.block, self.open, self.double_running, self.decommissioned, before, self.home,
                     r["capacity"], r["cost"], r["users"], r["waiting"], r["income"], r["block"], r["double_running"],
                     r["decommissioned"], r["open"], r["home"])
        o = self.org_rec
        o["holders"][t] = people["holders"].sum(axis=1)
        o["ascot_gain_sum"][t] = self.outcomes.org_ascot
        o["inpatient_bed_days"][t] = np.bincount(self.home[INPATIENT], weights=served[INPATIENT],
                                                 minlength=m.n_orgs) * p.inpatient_bed_days_per_year / MONTHS_PER_YEAR

    @property
    def backlog(self) -> np.ndarray:
        """The waiting lists as (service, slot, weeks waited): a view, so writes go to `waiting_list`."""
        return np.moveaxis(self.waiting_list, 0, -1)

    def waiting(self) -> np.ndarray:
        """People waiting at each provider (summed over a contiguous copy, in the order a run always used)."""
        return np.ascontiguousarray(self.backlog).sum(axis=2)

    def close(self, s: int, j: int) -> None:
        """A provider closes: its contract ends, its waiting list and users go to the open provider of the
        same service with most spare capacity in the region (else in England); if none, they wait."""
        m = self.m
        self.open[s, j] = False
        self.capacity[s, j] = 0.0
        dest = destination(self.open[s], self.home[s], region_of(m), self.capacity[s], self.demand[s], j)
        waiting = float(self.waiting_list[:, s, j].sum())  # (the list's weeks, as `backlog[s, j]`, without moveaxis)
        if dest >= 0:
            move_list(self, s, j, dest)
            self.route[s][self.route[s] == j] = dest
        self.route[s, j] = dest
        self.closures.append(dict(
            date=m.months[m.month], ccg=m.org_codes[self.home[s, j]], service=SERVICES[s], cause=self._cause(s, j),
            provider=f"{self.providers[s][j].origin_code}:{SERVICES[s]}", users=float(self.served_users[s, j]),
            waiting_moved=waiting if dest >= 0 else 0.0,
            moved_to="" if dest < 0 else f"{self.providers[s][dest].origin_code}:{SERVICES[s]}"))

    def _cause(self, s: int, j: int) -> str:
        """Why a provider closed, in words: budgets, or a named cause that is not budgets."""
        if self.decommissioned[s, j] > 0:
            return "budgets: decommissioned to fund budgets"
        if self.displaced_now[s, j] > 0.01 * (self.u0[s, j] + self.others[s, j]):
            return "budgets: users moved to budgets"
        if self.served_users[s, j] > self.u0[s, j] + self.others[s, j]:
            return "not budgets: activity above its contract (population change)"
        return "not budgets: income below costs (population change)"

    def rehome(self, heirs: list[tuple[int, int]]) -> None:
        """CCG mergers: each contract passes to the successor that takes most of the old CCG's people
        (`heirs`: (old CCG, successor) index pairs, in code order; model/mergers.py works them out once)."""
        m = self.m
        for src, dst in heirs:
            self.home[self.home == src] = dst
            if dst != src:
                self.ledger.market_supply[dst] += self.ledger.market_supply[src]
                self.ledger.market_supply[src] = 0.0
        s_idx = np.repeat(np.arange(self.n_services)[:, None], self.n_slots, axis=1)
        key = s_idx * m.n_orgs + self.home
        total = np.bincount(key.ravel(), weights=self.u0.ravel(), minlength=self.n_services * m.n_orgs)
        self.weight = np.divide(self.u0, total[key], out=np.zeros_like(self.u0), where=total[key] > 0)

    def release(self, model) -> None:
        """Point back at the model, and let the providers point back at this side, through weak proxies
        (`model`: one to the model), so that neither waits for a full garbage collection (RolloutModel.release).
        The weekly process ends (its frame holds this side, and the clock's pending week holds it) and the
        clock's event counter is unwrapped: the run is over."""
        self._weeks.close()
        vars(self.m.env).pop("schedule", None)
        self.m = self.outcomes.m = model
        me = weakref.proxy(self)
        for row in self.providers:
            for provider in row:
                provider.side = me

    # ---- results -----------------------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        return tables(self)
