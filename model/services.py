"""The service side: traditional providers, their queues on the SimPy clock, and what PHBs do to them.

Why this shape: ~1,300 providers over 7 years must not add much to a 1.4 s national run, so there is one
SimPy process per service type; each week it draws referrals for all providers of that service at once
(numpy) and serves each provider's FIFO backlog (buckets by weeks waited) up to its capacity. Waits and
utilisation come out of those queues. Once a month, after the CCGs' offers, `ServiceSide.month` works
out who uses which provider, pays providers through the ledger (model/money.py), lets CCGs decommission
and lets each provider apply its viability rule (model/provider.py). Rules: docs/services.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model import parameters as reg
from model.ccg import MONTHS_PER_YEAR
from model.money import LEDGER_ITEMS, PENCE, Ledger
from model.outcomes import HOLD_TYPES, OUTCOME_KEYS, Outcomes, cohort_bed_days, cost_effectiveness
from model.people import HOLDING, State
from model.provider import Provider, step_providers

if TYPE_CHECKING:
    from model.rollout import RolloutModel
    from model.scenario import Scenario

SERVICES = ("chc_home_care", "community_health", "mental_health", "learning_disability", "wheelchair",
            "inpatient")
SERVICE_LABELS = {
    "chc_home_care": "CHC home care", "community_health": "Community health services",
    "mental_health": "Day and community mental-health services",
    "learning_disability": "Learning-disability services", "wheelchair": "Wheelchair services",
    "inpatient": "Inpatient care",
}
INPATIENT = SERVICES.index("inpatient")
# the traditional service a cohort's budget replaces (chc, children, mental_health, learning_disability,
# long_term, wheelchair); every cohort also uses inpatient care
COHORT_SERVICE = (0, 1, 2, 3, 1, 4)
WAIT_BUCKETS = 53  # backlog resolution: weeks waited 0..51, the last bucket holds 52 weeks and over
DAYS_PER_WEEK = 7.0
WEEK_OFFSET = 0.25  # queues run a quarter-day into each week, before the monthly step (at +0.5)
LIVING_NOT_HOLDING = (State.NOT_ELIGIBLE, State.ELIGIBLE, State.OFFERED, State.PLANNING, State.DECLINED)


def counterfactual_scenario(scenario: "Scenario") -> "Scenario":
    """The same scenario with no PHBs: nobody offered, no pilot-legacy holders, every random stream the same."""
    zero = {f"offer_rate_{c}": 0.0 for c in reg.COHORTS}
    return scenario.with_parameters(initial_holders=0, redesignation_rate=0.0, pwb_right_offer_share=0.0, **zero)


class ServiceSide:
    """Provider state as (service, slot) arrays; one slot per CCG open in April 2014."""

    def __init__(self, m: "RolloutModel"):
        self.m, self.p = m, m.p
        p = m.p
        self.rng = m.streams["services"]
        self.start_orgs = np.array(sorted(m.ccg_by_index))
        ns, nj = len(SERVICES), len(self.start_orgs)
        self.n_services, self.n_slots = ns, nj
        self.home = np.tile(self.start_orgs, (ns, 1))
        self.map = np.zeros((len(reg.COHORTS), ns))
        self.map[np.arange(len(reg.COHORTS)), COHORT_SERVICE] = 1.0
        self.cuttable = np.arange(ns) != INPATIENT  # CCGs decommission community services, not beds

        self.outcomes = Outcomes(m)
        self.bed_share = cohort_bed_days(p) / p.inpatient_bed_days_per_year  # inpatient users per person
        people = self._people()
        base = people["all"]  # (orgs, cohorts): everyone, as if nobody held a PHB: contracts predate PHBs
        u0 = self._per_service(base @ self.map[:, :INPATIENT], base @ self.bed_share)[:, self.start_orgs]
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
        self.capacity0 = p.referrals_per_user_year / 52.0 * users0 / p.initial_utilisation  # referrals a week
        self.capacity = self.capacity0.copy()
        self.open = np.ones((ns, nj), bool)
        self.route = np.full((ns, nj), -1)  # where a closed provider's users go (-1: they wait)
        self.income = np.zeros((ns, nj), np.int64)
        self.cost = np.zeros((ns, nj))
        self.double_running = np.zeros((ns, nj), np.int64)
        self.decommissioned = np.zeros((ns, nj), np.int64)
        self.deficit_months = np.zeros((ns, nj), int)
        self.served_users = users0.copy()
        self.demand = p.referrals_per_user_year / 52.0 * users0  # referrals a week, routed to this provider
        self.backlog = steady_backlog(self.demand, self.capacity0, p.arrival_variability)
        # contracts: re-based on a cycle on last year's activity (money.rebase); `displaced_base` is the care
        # budget-holders had already taken out of the contract when it was last set
        self.activity_sum = np.zeros((ns, nj))
        self.activity_months = 0
        self.displaced_base = np.zeros((ns, nj))
        self.rebased = np.zeros((len(m.months), ns, nj), bool)
        self._ages = np.arange(WAIT_BUCKETS, dtype=float)  # weeks waited, by bucket
        self._q = {k: np.zeros((ns, nj)) for k in ("served", "wait", "capacity", "arrivals")}
        codes = m.org_codes
        self.providers = [[Provider(m, self, s, j, codes[self.start_orgs[j]]) for j in range(nj)] for s in range(ns)]

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
        m.env.process(self._queues())

    # ---- who uses what ---------------------------------------------------------------------------
    def _people(self) -> dict[str, np.ndarray]:
        m = self.m
        c = m.people.counts.reshape(-1, m.n_orgs, len(reg.COHORTS)) * m.agent_scale
        holders = c[list(HOLDING)].sum(axis=0).astype(float)
        rest = c[list(LIVING_NOT_HOLDING)].sum(axis=0).astype(float)
        return {"holders": holders, "rest": rest, "all": holders + rest}

    def _per_service(self, community: np.ndarray, inpatient: np.ndarray) -> np.ndarray:
        """(orgs, services) → (services, orgs), stacking the inpatient column."""
        return np.column_stack([community, inpatient]).T

    def _phb_by_org(self) -> np.ndarray:
        m = self.m
        return m.spend.reshape(m.n_orgs, -1).sum(axis=1) * m.agent_scale

    def _cash_spend(self) -> np.ndarray:
        """Third-party and direct-payment money this month by (CCG, cohort), in pence: exactly what leaves contracts."""
        m = self.m
        ppl = m.people
        idx = ppl.where(State.THIRD_PARTY, State.DIRECT_PAYMENT)
        pence = np.bincount(ppl.group[idx], weights=ppl.budget[idx], minlength=m.n_groups).astype(np.int64)
        return pence.reshape(m.n_orgs, -1).astype(float) * m.agent_scale

    def _users(self) -> dict[str, np.ndarray]:
        """This month's users of each provider: the CCG pays for non-holders; holders pay from their PHB."""
        p, m = self.p, self.m
        ppl = self._people()
        rest, held = ppl["rest"], ppl["holders"]
        c = m.people.counts.reshape(-1, m.n_orgs, len(reg.COHORTS)) * m.agent_scale
        notional = c[State.NOTIONAL].astype(float)
        cash = held - notional  # third-party and direct payments: money that leaves the contracts
        spend = m.spend.reshape(m.n_orgs, -1).astype(float) * m.agent_scale
        cash_share = np.divide(cash, held, out=np.zeros_like(cash), where=held > 0)
        zero = np.zeros(m.n_orgs)
        in_beds = (rest @ self.bed_share) + self.outcomes.org_bed_days_holders / p.inpatient_bed_days_per_year
        held_beds = held @ self.bed_share
        by_org = {
            # a notional budget is NHS provision: its holder is served under the contract
            "ccg_users": self._per_service((rest + notional) @ self.map[:, :INPATIENT], in_beds),
            "phb_users": self._per_service(cash @ self.map[:, :INPATIENT] * p.phb_nhs_spend_share, zero),
            "phb_pence": self._per_service(self._cash_spend() @ self.map[:, :INPATIENT], zero),
            "holders_displaced": self._per_service(cash @ self.map[:, :INPATIENT], np.maximum(held_beds - (
                self.outcomes.org_bed_days_holders / p.inpatient_bed_days_per_year), 0.0)),
        }
        s_idx = np.arange(self.n_services)[:, None]
        out = {k: v[s_idx, self.home] * self.weight for k, v in by_org.items()}
        out["ccg_users"] = out["ccg_users"] + self.others
        return out

    # ---- the queues (SimPy) ------------------------------------------------------------------------
    def _queues(self):
        """The weekly queue process: referrals to every provider of every service arrive in one batch
        (a normal approximation to Poisson, so the number of random draws never depends on the state:
        common random numbers with the counterfactual), and each provider serves its backlog oldest first
        up to its capacity. One process for all services keeps a national run at ~370 events."""
        env, p, q = self.m.env, self.p, self._q
        n = self.n_services * self.n_slots
        b = self.backlog.reshape(n, WAIT_BUCKETS)
        yield env.timeout(WEEK_OFFSET)
        self.n_events += 1
        depth = WAIT_BUCKETS  # buckets that may hold someone: only those are worked on each week
        while True:
            lam = self.demand.ravel()
            z = self.rng.standard_normal(n)
            arrivals = np.maximum(lam + np.sqrt(lam) * p.arrival_variability * z, 0.0)
            # the week's work is done bucket-major (row k: people who have waited k weeks, one column per
            # provider), so every sum over the list runs over contiguous memory: ~4x faster than per-provider
            # rows; the ageing by one week is the shift by one row
            full = depth == WAIT_BUCKETS
            depth = depth if full else depth + 1
            w = np.empty((depth, n))
            w[0] = arrivals
            w[1:depth] = b[:, :depth - 1].T
            if full:
                w[-1] += b[:, -1]
            cap = np.where(self.open, self.capacity, 0.0).ravel()
            older = np.empty_like(w)  # people who have waited longer than each bucket: served first
            older[-1] = 0.0
            for k in range(depth - 1, 0, -1):
                older[k - 1] = older[k] + w[k]
            served = np.minimum(np.maximum(cap - older, 0.0), w)
            w -= served
            b[:, :depth] = w.T
            occupied = np.flatnonzero(w.any(axis=1))
            served_depth, depth = depth, int(occupied[-1]) + 1 if len(occupied) else 1
            q["served"] += served.sum(axis=0).reshape(self.demand.shape)
            q["wait"] += (self._ages[:served_depth] @ served).reshape(self.demand.shape)
            q["capacity"] += cap.reshape(self.demand.shape)
            q["arrivals"] += arrivals.reshape(self.demand.shape)
            yield env.timeout(DAYS_PER_WEEK)
            self.n_events += 1

    # ---- the month -------------------------------------------------------------------------------
    def cost_at(self, k: tuple[int, int], capacity_factor: float = 1.0) -> float:
        size = self.capacity[k] * capacity_factor / self.capacity0[k] if self.capacity0[k] > 0 else 0.0
        return self.fixed0[k] * size + self.var_unit[k] * self.served_users[k]

    def month(self, t: int) -> None:
        """The monthly hook, called from RolloutModel.step after the offers (ODD process order)."""
        p, m = self.p, self.m
        self.outcomes.month(t)
        users = self._users()
        self.displaced_now = users["holders_displaced"]
        self._rebase(t, users)
        own = users["ccg_users"] + users["phb_users"]
        served = np.where(self.open, own, 0.0)
        for s in range(self.n_services):
            moved = ~self.open[s] & (self.route[s] >= 0)
            np.add.at(served[s], self.route[s][moved], own[s][moved])
        self.served_users = served
        self.demand = p.referrals_per_user_year / 52.0 * served
        drive = m._org_vector("decommission_drive")
        self._record_queues(t)
        before = self.decommissioned.copy()
        self.ledger.month(self, t, self._phb_by_org(), self.outcomes.org_notional, users, drive)
        size = np.divide(self.capacity, self.capacity0, out=np.zeros_like(self.capacity), where=self.capacity0 > 0)
        self.cost = self.fixed0 * size + self.var_unit * served
        self.deficit_months = np.where(self.open & (self.income < self.cost), self.deficit_months + 1, 0)
        # only providers whose rule can fire act (the rest would return at once): keeps 1,266 agents cheap
        can_grow = (self.demand > self.capacity) & (
            self.income >= self.fixed0 * size * (1.0 + p.capacity_growth_rate) + self.var_unit * served)
        acting = self.open & ((self.deficit_months >= p.viability_months) | can_grow)
        step_providers(self, acting)  # each acting provider's `Provider.step`, over the arrays at once
        r = self.rec
        r["capacity"][t], r["cost"][t], r["users"][t] = self.capacity, self.cost, served
        r["waiting"][t] = self.backlog.sum(axis=2)
        r["income"][t], r["block"][t] = self.income, np.where(self.open, self.block, 0)
        r["double_running"][t], r["decommissioned"][t] = self.double_running, self.decommissioned - before
        r["open"][t], r["home"][t] = self.open, self.home
        o = self.org_rec
        o["holders"][t] = self._people()["holders"].sum(axis=1)
        o["ascot_gain_sum"][t] = self.outcomes.org_ascot
        o["inpatient_bed_days"][t] = np.bincount(self.home[INPATIENT], weights=served[INPATIENT],
                                                 minlength=m.n_orgs) * p.inpatient_bed_days_per_year / MONTHS_PER_YEAR

    def _rebase(self, t: int, users: dict[str, np.ndarray]) -> None:
        """Commissioners re-base block contracts every `contract_rebase_months` from April: on last year's
        activity, less the care budget-holders now buy themselves (the CCG's plans) and less what the CCG
        has decommissioned. Double running therefore ends at re-basing. A provider already in deficit is
        not re-based downwards (provider fragility): its double running goes on, and the output says so."""
        p, m = self.p, self.m
        self.activity_sum += users["ccg_users"] + users["holders_displaced"]
        self.activity_months += 1
        if t == 0:  # pilot-legacy budgets predate April 2014: their care was already out of the contracts
            self.displaced_base = users["holders_displaced"].copy()
            self.block = np.rint(self.block - (1.0 - p.flexible_contract_share) * self.price[:, None]
                                 * self.displaced_base).astype(np.int64)
            return
        date = m.months[t]
        since = (date.year - m.months[0].year) * 12 + date.month - 4
        if t == 0 or date.month != 4 or since % max(int(p.contract_rebase_months), 1) != 0:
            return
        displaced = users["holders_displaced"]
        activity = self.activity_sum / self.activity_months - displaced
        new = np.rint((1.0 - p.flexible_contract_share) * self.price[:, None] * np.maximum(activity, 0.0)).astype(
            np.int64) - self.decommissioned
        new = np.maximum(new, 0)
        fragile = self.deficit_months > 0
        ok = self.open & ~(fragile & (new < self.block))
        self.block = np.where(ok, new, self.block)
        # the contract buys capacity for the activity it funds, at the usual utilisation, plus clearing the
        # waiting list above its steady level within half a year (CCG plans): waits stay in steady state
        funded = np.divide(new, (1.0 - p.flexible_contract_share) * self.price[:, None], out=np.zeros(new.shape),
                           where=self.price[:, None] > 0)
        funded = np.maximum(funded, users["ccg_users"] * (new > 0))  # sized for today's users if more
        referrals = p.referrals_per_user_year / 52.0
        standing = steady_backlog(referrals * funded, referrals * funded / p.initial_utilisation,
                                  p.arrival_variability).sum(axis=2)
        extra = np.maximum(self.backlog.sum(axis=2) - standing, 0.0) / 26.0
        self.capacity = np.where(ok, referrals * funded / p.initial_utilisation + extra, self.capacity)
        self.displaced_base = np.where(ok, displaced, self.displaced_base)
        self.rebased[t] = ok
        self.activity_sum[:] = 0.0
        self.activity_months = 0

    def _record_queues(self, t: int) -> None:
        """Queue statistics of the weeks since the last monthly step (none in the first month)."""
        q, r = self._q, self.rec
        r["mean_wait"][t] = np.divide(q["wait"], q["served"], out=np.full(q["wait"].shape, np.nan),
                                      where=q["served"] > 0)
        r["utilisation"][t] = np.divide(q["served"], q["capacity"], out=np.full(q["wait"].shape, np.nan),
                                        where=q["capacity"] > 0)
        for v in q.values():
            v[:] = 0.0

    def close(self, s: int, j: int) -> None:
        """A provider closes: its contract ends, its waiting list and users go to the open provider of the
        same service with most spare capacity in the region (else in England); if none, they wait."""
        m = self.m
        self.open[s, j] = False
        self.capacity[s, j] = 0.0
        cand = np.flatnonzero(self.open[s])
        region = m.org_region[self.home[s, j]]
        local = cand[m.org_region[self.home[s, cand]] == region]
        pool = local if len(local) else cand
        dest = -1
        waiting = float(self.backlog[s, j].sum())
        if len(pool):
            dest = int(pool[np.argmax(self.capacity[s, pool] - self.demand[s, pool])])
            self.backlog[s, dest] += self.backlog[s, j]
            self.backlog[s, j] = 0.0
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

    def rehome(self, moves: pd.DataFrame) -> None:
        """CCG mergers: each contract passes to the successor that takes most of the old CCG's people."""
        m = self.m
        for from_code, rows in moves.groupby("from_code", sort=True):
            src = m.org_index[from_code]
            dst = m.org_index[rows.sort_values("share", ascending=False, kind="stable")["to_code"].iloc[0]]
            self.home[self.home == src] = dst
            if dst != src:
                self.ledger.market_supply[dst] += self.ledger.market_supply[src]
                self.ledger.market_supply[src] = 0.0
        s_idx = np.repeat(np.arange(self.n_services)[:, None], self.n_slots, axis=1)
        key = s_idx * m.n_orgs + self.home
        total = np.bincount(key.ravel(), weights=self.u0.ravel(), minlength=self.n_services * m.n_orgs)
        self.weight = np.divide(self.u0, total[key], out=np.zeros_like(self.u0), where=total[key] > 0)

    # ---- results -----------------------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        m, r = self.m, self.rec
        months = pd.to_datetime(pd.Series(m.months))
        T = len(m.months)
        gbp = lambda x: x / PENCE  # noqa: E731
        nat = pd.DataFrame({"month": months})
        nat["open_providers"] = r["open"].sum(axis=(1, 2))
        nat["closures"] = (~r["open"]).sum(axis=(1, 2))
        nat["capacity_per_week"] = r["capacity"].sum(axis=(1, 2))
        nat["provider_income_gbp"] = gbp(r["income"].sum(axis=(1, 2)))
        nat["provider_cost_gbp"] = r["cost"].sum(axis=(1, 2)) / PENCE
        nat["users"] = r["users"].sum(axis=(1, 2))
        nat["waiting"] = r["waiting"].sum(axis=(1, 2))
        w, u = _served_weighted(r)
        nat["mean_wait_weeks"], nat["utilisation"] = w, u
        for s, name in enumerate(SERVICES):
            ws, _ = _served_weighted(r, s)
            nat[f"wait_weeks_{name}"] = ws
        nat["inpatient_bed_days"] = self.org_rec["inpatient_bed_days"].sum(axis=1)
        for k in LEDGER_ITEMS:
            nat[f"{k}_gbp"] = gbp(self.ledger.items[k].sum(axis=1))
        nat["decommissioned_recurring_gbp"] = nat["decommissioned_gbp"].cumsum()
        nat["holders"] = self.org_rec["holders"].sum(axis=1)
        nat["ascot_gain_vs_without"] = _ratio(self.org_rec["ascot_gain_sum"].sum(axis=1), nat["holders"].to_numpy())

        s_grid, j_grid = np.meshgrid(np.arange(self.n_services), np.arange(self.n_slots), indexing="ij")
        codes = np.array(m.org_codes)
        # labels as categoricals: 100,000+ rows of repeated codes cost more as strings than the run itself
        prov = pd.DataFrame({
            "month": np.repeat(months.to_numpy(), s_grid.size),
            "code": pd.Categorical.from_codes(r["home"].reshape(T, -1).ravel(), categories=codes),
            "provider": pd.Categorical.from_codes(np.tile(self.start_orgs[j_grid].ravel(), T), categories=codes),
            "service": pd.Categorical.from_codes(np.tile(s_grid.ravel(), T), categories=list(SERVICES)),
        })
        for k in ("open", "capacity", "users", "waiting", "mean_wait", "utilisation"):
            prov[k if k != "mean_wait" else "mean_wait_weeks"] = r[k].reshape(T, -1).ravel()
        prov = prov.rename(columns={"capacity": "capacity_per_week"})
        for k in ("income", "block", "double_running", "decommissioned"):
            prov[f"{k}_gbp"] = gbp(r[k].reshape(T, -1).ravel())
        prov["cost_gbp"] = r["cost"].reshape(T, -1).ravel() / PENCE

        homes = np.zeros((T, m.n_orgs), bool)
        for t in range(T):
            homes[t, np.unique(r["home"][t])] = True
        t_idx, o_idx = np.nonzero(homes)
        led = pd.DataFrame({"month": months.to_numpy()[t_idx], "code": codes[o_idx]})
        for k in LEDGER_ITEMS:
            led[f"{k}_gbp"] = gbp(self.ledger.items[k][t_idx, o_idx])
        for k, v in self.org_rec.items():
            led[k] = v[t_idx, o_idx]
        clos = pd.DataFrame(self.closures, columns=["date", "ccg", "service", "cause", "provider", "users",
                                                    "waiting_moved", "moved_to"])
        by_budgets = np.zeros(T, int)
        if len(clos):
            t_of = {d: i for i, d in enumerate(m.months)}
            np.add.at(by_budgets, [t_of[d] for d in clos["date"][clos["cause"].str.startswith("budgets")]], 1)
        nat["closures_budgets"] = np.cumsum(by_budgets)
        nat["closures_not_budgets"] = nat["closures"] - nat["closures_budgets"]
        nat["contracts_rebased"] = self.rebased.sum(axis=(1, 2))
        clos["date"] = pd.to_datetime(clos["date"])
        return {"services_national": nat, "services_by_provider": prov, "services_ledger": led,
                "services_closures": clos, "services_outcomes": self._outcome_table(months)}

    def _outcome_table(self, months: pd.Series) -> pd.DataFrame:
        """Month × cohort × way held: holders, mean match, ASCOT gain over a year against no budget, inpatient
        bed-days avoided, and the money (£ a month)."""
        r, p = self.outcomes.rec, self.p
        T, n_c, n_k = r["holders"].shape
        out = pd.DataFrame({
            "month": np.repeat(months.to_numpy(), n_c * n_k),
            "cohort": np.tile(np.repeat(np.array(reg.COHORTS), n_k), T),
            "held_as": np.tile(np.array(HOLD_TYPES), T * n_c),
        })
        for k in OUTCOME_KEYS:
            out[k] = r[k].ravel()
        out["mean_match"] = _ratio(out["match_sum"], out["holders"])
        out["ascot_gain_vs_without"] = _ratio(out["ascot_gain_sum"], out["holders"])
        out["inpatient_saved_gbp"] = out["bed_days_saved"] * p.inpatient_cost_per_bed_day
        for k in ("budget", "support", "cash", "notional"):
            out[f"{k}_gbp"] = out.pop(f"{k}_pence") / PENCE
        # what the traditional care a third-party or direct-payment holder no longer uses would have cost
        price = self.outcomes.care_cost / PENCE  # by cohort: what the person's traditional care costs
        cash_holders = np.where(out["held_as"] != "notional", out["holders"], 0.0)
        out["displaced_care_gbp"] = cash_holders * np.tile(np.repeat(price, n_k), T)
        return out


def steady_backlog(demand: np.ndarray, capacity: np.ndarray, variability: float) -> np.ndarray:
    """The waiting list a provider has in the long run, so queues start in steady state (no warm-up drain).

    Weekly arrivals have mean λ and variance v²λ; the provider serves up to c > λ a week. The backlog is then
    a random walk with drift λ − c reflected at zero, whose stationary mean is v²λ / (2(c − λ)) people
    (a reflected Brownian motion). It is laid out oldest-first, a week's arrivals to a bucket."""
    spare = np.maximum(capacity - demand, 1e-9)
    mean = np.minimum(variability ** 2 * demand / (2.0 * spare), demand * (WAIT_BUCKETS - 1))
    weeks = np.divide(mean, demand, out=np.zeros_like(mean), where=demand > 0)
    edges = np.arange(WAIT_BUCKETS, dtype=float)
    fill = np.clip(weeks[..., None] - edges, 0.0, 1.0)  # share of a week's arrivals still waiting, by bucket
    return fill * demand[..., None]


def _served_weighted(r: dict, s: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """National mean wait (weeks) and utilisation, weighting providers by people served."""
    mw, ut, cap = r["mean_wait"], r["utilisation"], r["capacity"]
    if s is not None:
        mw, ut, cap = mw[:, s:s + 1], ut[:, s:s + 1], cap[:, s:s + 1]
    served = np.nan_to_num(ut) * cap
    wait = _ratio((np.nan_to_num(mw) * served).sum(axis=(1, 2)), served.sum(axis=(1, 2)))
    return wait, _ratio(served.sum(axis=(1, 2)), cap.sum(axis=(1, 2)))


def _ratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.full(len(a), np.nan), where=b > 0)


NATIONAL_KEYS = ("month",)
COMPARED = ("open_providers", "closures", "capacity_per_week", "provider_income_gbp", "users", "waiting",
            "mean_wait_weeks", "utilisation", *(f"wait_weeks_{s}" for s in SERVICES), "inpatient_bed_days",
            "closures_budgets", "closures_not_budgets",
            *(f"{k}_gbp" for k in LEDGER_ITEMS), "decommissioned_recurring_gbp")


def compare(run: dict[str, pd.DataFrame], cf: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Service tables with the no-PHB counterfactual beside the run: `x`, `x_cf`, `x_diff`."""
    out = dict(run)
    nat = run["services_national"].copy()
    c = cf["services_national"]
    for k in COMPARED:
        nat[f"{k}_cf"] = c[k].to_numpy()
        nat[f"{k}_diff"] = nat[k].to_numpy() - c[k].to_numpy()
    nat["net_cost_to_nhs_gbp"] = nat["total_gbp_diff"]
    # the split (adds up exactly): budgets paid out less money reclaimed, support, double running, and the
    # change in traditional contracts (negative: savings, inpatient beds among them)
    nat["net_budgets_gbp"] = nat["phb_payments_gbp_diff"] - nat["phb_reclaimed_gbp_diff"]
    nat["net_support_gbp"] = nat["support_gbp_diff"]
    nat["net_double_running_gbp"] = nat["double_running_gbp_diff"]
    nat["net_traditional_gbp"] = nat["contracts_gbp_diff"]
    out["services_national"] = nat
    prov = run["services_by_provider"].copy()
    cp = cf["services_by_provider"]
    for k in ("open", "capacity_per_week", "mean_wait_weeks", "income_gbp", "users"):
        prov[f"{k}_cf"] = cp[k].to_numpy()
        if k != "open":
            prov[f"{k}_diff"] = prov[k].to_numpy() - cp[k].to_numpy()
    out["services_by_provider"] = prov
    led = run["services_ledger"].copy()
    merged = led[["month", "code"]].merge(cf["services_ledger"][["month", "code", "total_gbp"]], how="left",
                                          on=["month", "code"])
    led["total_gbp_cf"] = merged["total_gbp"].to_numpy()
    led["net_cost_to_nhs_gbp"] = led["total_gbp"] - led["total_gbp_cf"]
    out["services_ledger"] = led
    return out


def summary_lines(extra: dict[str, pd.DataFrame]) -> list[str]:
    """A few lines for `phb run`: the service side at the end of the run, against no PHBs if run."""
    nat = extra.get("services_national")
    if nat is None or nat.empty:
        return []
    last, year = nat.iloc[-1], nat.tail(MONTHS_PER_YEAR)
    has_cf = "total_gbp_cf" in nat
    lines = [f"Traditional services ({last['month']:%b %Y}; last 12 months; "
             + ("difference from the same run with no PHBs)" if has_cf else "no counterfactual run)")]

    def fmt(label: str, col: str, how: str, unit: str, scale: float = 1.0, dp: int = 1) -> None:
        def get(c):
            return (year[c].sum() if how == "sum" else year[c].mean() if how == "mean" else last[c]) / scale
        val = get(col)
        if has_cf:
            cf = get(f"{col}_cf")
            lines.append(f"  {label:46s} {val:>9,.{dp}f} {unit:9s} (no PHBs {cf:>9,.{dp}f}; {val - cf:>+8,.{dp}f})")
        else:
            lines.append(f"  {label:46s} {val:>9,.{dp}f} {unit}")

    fmt("mean wait for a traditional service", "mean_wait_weeks", "mean", "weeks", dp=2)
    fmt("providers closed since Apr 2014", "closures", "last", "providers", dp=0)
    fmt("  of which caused by budgets", "closures_budgets", "last", "providers", dp=0)
    fmt("double running (block paid, care not used)", "double_running_gbp", "sum", "£m a year", 1e6)
    fmt("contracts decommissioned (recurring)", "decommissioned_recurring_gbp", "last", "£m a year", 1e6 / 12)
    fmt("inpatient bed-days", "inpatient_bed_days", "sum", "thousand", 1e3)
    fmt("CCG spend on these cohorts' services", "total_gbp", "sum", "£m a year", 1e6)
    if has_cf:
        if last["closures_not_budgets_cf"] > 0:
            lines.append(f"  no-PHB run: {last['closures_not_budgets_cf']:.0f} closures, cause not budgets "
                         "(activity drifting from contracts as the population changes)")
        parts = {k: year[f"net_{k}_gbp"].sum() / 1e6 for k in ("budgets", "support", "double_running", "traditional")}
        lines.append("  net cost to the NHS £{:+,.1f}m a year = budgets {:+,.1f} + support {:+,.1f} + double running "
                     "{:+,.1f} + traditional services {:+,.1f}".format(sum(parts.values()), *parts.values()))
    paid = max(year["phb_payments_gbp"].sum(), 1)
    lines.append(f"  budget money spent outside the NHS {year['phb_outside_gbp'].sum() / paid:.0%}, reclaimed unspent "
                 f"{year['phb_reclaimed_gbp'].sum() / paid:.0%}; on items a critic calls non-evidence-based "
                 f"{year['non_evidence_gbp'].sum() / paid:.1%}")
    out = extra.get("services_outcomes")
    if out is not None and not out.empty:
        ce = cost_effectiveness(out, reclaimed_share=year["phb_reclaimed_gbp"].sum() / paid)
        lines.append("  quality of life (ASCOT gain a year vs without a budget) and net cost, by cohort:")
        for c, r in ce.iterrows():
            if r["holders"] > 0:
                lines.append(f"    {c:20s} {r['ascot_gain']:+.3f}  £{r['net_cost_per_holder_year']:>+8,.0f} a holder a "
                             f"year  ({r['verdict']})")
    return lines
