"""The roll-out model: CCGs (Mesa agents) and patients (numpy arrays) on one SimPy clock.

The month is a SimPy process; dated policy events (rights, a national push, CCG mergers, Covid) are
SimPy processes that fire on their dates, so the service side plugs in as more processes. The order of
the monthly rules is the ODD "process overview" (docs/ODD.md).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass

import mesa
import numpy as np
import simpy

from model import parameters as reg
from model.ccg import CCG, MONTHS_PER_YEAR
from model.geography import Geography, load_geography
from model.money import PENCE
from model.people import CAPACITY, CARER, FAST_TRACK, HOLDING, INF, SECTION117, N_STATES, People, State
from model.scenario import Scenario, ScenarioError
from model.services import ServiceSide

COHORTS = reg.COHORTS
N_COHORTS = len(COHORTS)
CHC, CHILDREN, MENTAL_HEALTH, LEARNING_DISABILITY, LONG_TERM, WHEELCHAIR = range(N_COHORTS)
MAX_YEARLY_CHANCE = 0.999  # a yearly chance of 1 has no hazard: -log(1 - p) must stay finite
COMPACT_WHEN_LEFT = 0.3  # drop people who have left once they fill this share of the arrays (speed only)
# one random stream per stochastic process (common random numbers across scenarios)
STREAMS = ("ccg_setup", "population", "entries", "exits", "mergers", "mesa", "services")


def month_starts(start: dt.date, until: dt.date) -> list[dt.date]:
    months, d = [], start.replace(day=1)
    while d <= until:
        months.append(d)
        d = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return months


@dataclass(frozen=True)
class CohortFlows:
    """Stocks and flows that keep each eligible population near its published size."""

    stock: np.ndarray  # people at a time, by cohort
    entries: np.ndarray  # new people per month, by cohort
    mean_months: np.ndarray  # mean stay, by cohort (CHC: the standard, non-fast-track part)
    fast_track_stock_share: float
    fast_track_entry_share: float
    fast_track_months: float


def cohort_flows(p) -> CohortFlows:
    """Derive entry rates and stays from the register (stock / mean stay = entries, in steady state)."""
    chc_entries = p.chc_new_per_quarter / 3
    ft_stock = p.chc_eligible * p.chc_fast_track_share
    ft_entries = ft_stock / p.chc_fast_track_mean_months
    std_entries = chc_entries - ft_entries
    if std_entries <= 0:
        raise ScenarioError(
            "parameters.chc_fast_track_mean_months: too short for chc_eligible × chc_fast_track_share to be "
            f"reached from chc_new_per_quarter; it needs more than {ft_stock / chc_entries:.2f} months"
        )
    std_months = (p.chc_eligible - ft_stock) / std_entries
    stock = np.array([p.chc_eligible, p.children_eligible, p.mental_health_eligible,
                      p.learning_disability_eligible, p.long_term_eligible, p.wheelchair_eligible], float)
    months = np.array([std_months, p.children_mean_months, p.mental_health_mean_months,
                       p.learning_disability_mean_months, p.long_term_mean_months, p.wheelchair_mean_months])
    entries = stock / months
    entries[CHC] = chc_entries
    return CohortFlows(stock, entries, months, p.chc_fast_track_share, ft_entries / chc_entries,
                       p.chc_fast_track_mean_months)


CCG_VECTOR_NAMES = ("readiness", "activeness", "restrictiveness", "direct_payments", "pressure", "population",
                    "offer_intensity", "planning_capacity", "decommission_drive")
_CCG_VECTORS = operator.attrgetter(*CCG_VECTOR_NAMES)


class RolloutModel(mesa.Model):
    """One run of one scenario. `run()` advances the SimPy clock month by month to `until`."""

    def __init__(self, scenario: Scenario, geography: Geography | None = None, services: bool = True):
        seeds = np.random.SeedSequence(scenario.seed).spawn(len(STREAMS))
        self.streams = {name: np.random.default_rng(s) for name, s in zip(STREAMS, seeds)}
        super().__init__(rng=self.streams["mesa"])
        self.scenario, self.p = scenario, scenario.parameters
        self.agent_scale = scenario.agent_scale
        self.geo = geography or load_geography()
        self.months = month_starts(scenario.start, scenario.until)
        self.env = simpy.Environment()
        self.month = 0
        self.events: list[tuple[dt.date, str]] = []
        self.flows = cohort_flows(self.p)

        orgs = self.geo.organisations
        self.org_codes = list(orgs.index)
        self.org_index = {c: i for i, c in enumerate(self.org_codes)}
        self.n_orgs = len(self.org_codes)
        self.n_groups = self.n_orgs * N_COHORTS
        self.people = People(self.n_groups, N_COHORTS, capacity=self._expected_people())
        self.hazard = np.zeros(self.n_groups)  # cumulative offer hazard by group
        self.spend = np.zeros(self.n_groups, dtype=np.int64)  # monthly PHB payments in pence, by group
        self.ccg_by_index: dict[int, CCG] = {}
        self._vectors: dict[str, np.ndarray] = {}  # CCG attributes as arrays, see _org_vector
        self.planning_credit = np.zeros(self.n_orgs)  # each CCG's support-planning capacity not yet used
        self._target_now, self._population_now = 0.0, 1.0  # set each month by _ccgs_learn
        self._holders_by_org = np.zeros(self.n_orgs)
        self.org_region = np.array(orgs["region"].astype(str))
        self.regions = sorted(set(self.org_region))

        # policy state, changed only by dated events
        self.in_scope = np.zeros(N_COHORTS, bool)  # whether the cohort is an eligible population yet
        self.rights = np.zeros(N_COHORTS, int)  # 0 none / discretionary, 1 right to ask, 2 right to have
        self.discretionary = False
        self.chc_default = False
        self.s117_right = False
        self.push_strength = 0.0
        self.push_start_holders = 0.0
        self.activity_factor = 1.0
        self.in_scope[:] = np.arange(N_COHORTS) != WHEELCHAIR  # wheelchair users gain their right later

        self._create_ccgs(self.geo.open_on(scenario.start))
        self.recorder = Recorder(len(self.months), N_STATES, self.n_groups)
        self._seed_population()
        self.recorder.new_financial_year(self.people.counts)
        self.services = ServiceSide(self) if services else None  # providers, queues, money (model/services.py)
        self._schedule_events()
        self.env.process(self._monthly())

    # ---- set-up -----------------------------------------------------------------------------------
    def _expected_people(self) -> int:
        """Room for the starting stock and about a year of newcomers (arrays grow if needed; speed only)."""
        f = self.flows
        return int((f.stock.sum() + f.entries.sum() * 13) / self.agent_scale * 1.1) + 1024

    def _create_ccgs(self, codes: list[str]) -> None:
        p, rng = self.p, self.streams["ccg_setup"]
        n = len(codes)
        pilot = rng.random(n) < p.pilot_site_share
        activeness = np.exp(rng.normal(-p.activeness_spread**2 / 2, p.activeness_spread, n))
        restrict = np.clip(rng.normal(p.restrictiveness_mean, p.restrictiveness_spread, n), 0, 1)
        dp = rng.random(n) < p.direct_payment_ccg_share
        pressure = np.clip(rng.normal(p.financial_pressure_mean, p.financial_pressure_spread, n), 0, 1)
        for i, code in enumerate(codes):
            gff = bool(self.geo.records[code]["going_further_faster"])
            readiness = (p.initial_readiness_gff if gff else
                         p.initial_readiness_pilot if pilot[i] else p.initial_readiness_other)
            self._add_ccg(code, pilot=bool(pilot[i]), readiness=readiness, activeness=float(activeness[i]),
                          restrictiveness=float(restrict[i]), direct_payments=bool(dp[i]),
                          pressure=float(pressure[i]))

    def _add_ccg(self, code: str, population: float | None = None, **policy) -> CCG:
        row = self.geo.records[code]
        population = float(row["population"]) if population is None else population
        ccg = CCG(self, index=self.org_index[code], code=code, name=str(row["name"]), region=str(row["region"]),
                  population=population, going_further_faster=bool(row["going_further_faster"]), **policy)
        self.ccg_by_index[ccg.index] = ccg
        return ccg

    @property
    def open_ccgs(self) -> list[CCG]:
        return [self.ccg_by_index[i] for i in sorted(self.ccg_by_index)]

    @property
    def total_population(self) -> float:
        return sum(c.population for c in self.ccg_by_index.values())

    def target_now(self) -> float:
        return self._target_now

    def _population_share(self) -> np.ndarray:
        share = np.zeros(self.n_orgs)
        for i, c in self.ccg_by_index.items():
            share[i] = c.population
        return share / share.sum()

    def _seed_population(self) -> None:
        """The eligible populations on the start date, and the pilot-legacy holders."""
        rng, f = self.streams["population"], self.flows
        counts = np.zeros((self.n_orgs, N_COHORTS), dtype=np.int64)
        share = self._population_share()
        for k in range(N_COHORTS):
            counts[:, k] = rng.multinomial(int(round(f.stock[k] / self.agent_scale)), share)
        idx = self._new_people(counts.ravel(), rng, initial=True)
        self._seed_initial_holders(idx)

    def _seed_initial_holders(self, idx: np.ndarray) -> None:
        p, rng, ppl = self.p, self.streams["population"], self.people
        n_total = int(round(p.initial_holders / self.agent_scale))
        experienced = np.array([c.pilot or c.going_further_faster for c in self.ccg_by_index.values()])
        exp_orgs = np.array(sorted(self.ccg_by_index))[experienced]
        cohort, org = ppl.cohort_of(idx), ppl.org_of(idx)
        in_pilot = np.isin(org, exp_orgs)
        chc_pool = idx[in_pilot & (cohort == CHC) & ((ppl.flags[idx] & FAST_TRACK) == 0)]
        other_pool = idx[in_pilot & ((cohort == MENTAL_HEALTH) | (cohort == LONG_TERM))]
        n_chc = min(len(chc_pool), int(round(n_total * p.initial_holders_chc_share)))
        n_other = min(len(other_pool), n_total - n_chc)
        chosen = np.concatenate([rng.choice(chc_pool, n_chc, replace=False),
                                 rng.choice(other_pool, n_other, replace=False)])
        self._start_holding(np.sort(chosen))

    def _new_people(self, per_group: np.ndarray, rng: np.random.Generator, initial: bool) -> np.ndarray:
        """Create people: per_group[g] new people in group g, with every attribute drawn once, now."""
        p, f = self.p, self.flows
        group = np.repeat(np.arange(self.n_groups, dtype=np.int16), per_group)
        k = len(group)
        cohort = group % N_COHORTS
        flags = np.zeros(k, np.uint8)
        is_chc = cohort == CHC
        ft_share = f.fast_track_stock_share if initial else f.fast_track_entry_share
        fast = is_chc & (rng.random(k) < ft_share)
        flags[fast] |= FAST_TRACK
        children = cohort == CHILDREN
        flags[(rng.random(k) < p.carer_share) | children] |= CARER  # a child always has a parent or carer
        flags[(rng.random(k) < p.capacity_share) & ~children] |= CAPACITY
        s117 = (cohort == MENTAL_HEALTH) & (rng.random(k) < p.section117_share)
        flags[s117] |= SECTION117
        mean = f.mean_months[cohort]
        mean[fast] = f.fast_track_months
        stay = 1 + np.floor(rng.standard_exponential(k) * mean)  # geometric months, drawn as a floored exponential
        exit_month = np.minimum(self.month + stay, np.iinfo(np.int16).max).astype(np.int16)
        threshold = self.hazard[group] + rng.exponential(1.0, k) / np.where(
            s117 & self.s117_right, p.right_to_have_multiplier, 1.0)
        medians = np.array([getattr(p, f"budget_median_{c}") for c in COHORTS])
        yearly = medians[cohort] * np.exp(p.budget_log_sd * rng.standard_normal(k))
        budget = np.minimum(yearly / MONTHS_PER_YEAR * PENCE, np.iinfo(np.int32).max).astype(np.int32)
        state = np.where(self.in_scope[cohort], State.ELIGIBLE, State.NOT_ELIGIBLE).astype(np.int8)
        return self.people.add(
            group=group, state=state, flags=flags, since=np.full(k, self.month, np.int16), exit=exit_month,
            threshold=threshold, u_decide=rng.random(k, np.float32), u_type=rng.random(k, np.float32),
            budget=budget,
        )

    # ---- the clock ----------------------------------------------------------------------------------
    def day_of(self, date: dt.date) -> float:
        return max(0, (date - self.months[0]).days)

    def _monthly(self):
        for t, first in enumerate(self.months):
            yield self.env.timeout(self.day_of(first) + 0.5 - self.env.now)  # after that day's events
            self.month = t
            self.step()

    def _at(self, date: dt.date, label: str, action: Callable[[], None]):
        yield self.env.timeout(self.day_of(date))
        action()
        self.events.append((date, label))

    def schedule(self, date: dt.date, label: str, action: Callable[[], None]) -> None:
        """Run `action` on `date` (before that month's step); log it as an event of the run."""
        if date <= self.months[-1]:
            self.env.process(self._at(date, label, action))

    def _schedule_events(self) -> None:
        p = self.p
        self.schedule(p.right_to_ask_date, "Right to ask for a PHB (CHC, children)", lambda: self._grant(1))
        self.schedule(p.right_to_have_date, "Right to have a PHB (CHC, children)", lambda: self._grant(2))
        self.schedule(p.extended_offer_date, "Offer extended to other groups at CCG discretion",
                      lambda: setattr(self, "discretionary", True))
        self.schedule(p.national_push_date, "National push towards the target", self._start_push)
        self.schedule(p.chc_default_date, "PHB by default for CHC home care",
                      lambda: setattr(self, "chc_default", True))
        self.schedule(p.section117_right_date, "Right to have: section 117 aftercare", self._grant_s117)
        self.schedule(p.wheelchair_right_date, "Right to have: personal wheelchair budgets", self._grant_wheelchair)
        self.schedule(p.covid_start, "Covid-19 disruption begins",
                      lambda: setattr(self, "activity_factor", 1.0 - p.covid_offer_reduction))
        self.schedule(p.covid_end, "Covid-19 disruption ends", lambda: setattr(self, "activity_factor", 1.0))
        for date in self.geo.transition_dates():
            if date > self.months[0]:
                self.schedule(date, "CCG mergers", lambda d=date: self._merge(d))

    # ---- dated policy events -------------------------------------------------------------------------
    def _grant(self, level: int) -> None:
        self.rights[[CHC, CHILDREN]] = np.maximum(self.rights[[CHC, CHILDREN]], level)

    def _start_push(self) -> None:
        self.push_strength = self.p.national_push_strength
        self.push_start_holders = self.holders_total()

    def _grant_s117(self) -> None:
        """A legal right raises the offer hazard of section 117 people: rescale their remaining threshold."""
        ppl = self.people
        idx = np.flatnonzero((ppl.flags[: ppl.n] & SECTION117).astype(bool) & np.isfinite(ppl.threshold[: ppl.n]))
        h = self.hazard[ppl.group[idx]]
        ppl.threshold[idx] = h + (ppl.threshold[idx] - h) / self.p.right_to_have_multiplier
        self.s117_right = True

    def _grant_wheelchair(self) -> None:
        self.in_scope[WHEELCHAIR] = True
        ppl = self.people
        idx = np.flatnonzero((ppl.state[: ppl.n] == State.NOT_ELIGIBLE) & (ppl.cohort_of(slice(0, ppl.n)) == WHEELCHAIR))
        ppl.move(idx, State.ELIGIBLE, self.month_at_event())

    def month_at_event(self) -> int:
        """The month whose step comes next (events fire just before it)."""
        return int(np.searchsorted([self.day_of(m) for m in self.months], self.env.now, side="left"))

    def _merge(self, date: dt.date) -> None:
        """Real CCG mergers: people, budgets and policy pass to the successor by the stated rule."""
        moves = self.geo.transitions_on(date)
        ppl, rng = self.people, self.streams["mergers"]
        predecessors: dict[str, list[tuple[CCG, float]]] = {}
        closing = sorted(set(moves["from_code"]) - set(moves["to_code"]))
        org = ppl.group[: ppl.n] // N_COHORTS
        new_org = np.arange(self.n_orgs)
        splits = []
        for from_code, rows in moves.groupby("from_code", sort=True):
            src = self.org_index[from_code]
            targets = np.array([self.org_index[c] for c in rows["to_code"]])
            shares = rows["share"].to_numpy(float)
            for c, s in zip(rows["to_code"], shares):
                predecessors.setdefault(c, []).append((self.ccg_by_index[src], s))
            new_org[src] = targets[0]
            if len(targets) > 1:
                splits.append((src, targets, shares / shares.sum()))
        new_org = new_org[org]
        live = ppl.state[: ppl.n] < State.DIED
        for src, targets, shares in splits:  # a boundary move: people go by the share of the area that moves
            sel = np.flatnonzero(live & (org == src))
            new_org[sel] = targets[rng.choice(len(targets), size=len(sel), p=shares)]
        moved = np.flatnonzero(live & (new_org != org))
        old_group = ppl.group[moved].astype(np.int64)
        new_group = new_org[moved] * N_COHORTS + old_group % N_COHORTS
        waiting = np.isfinite(ppl.threshold[moved])  # keep each person's remaining distance to an offer
        ppl.threshold[moved[waiting]] += self.hazard[new_group[waiting]] - self.hazard[old_group[waiting]]
        ppl.reassign(moved, new_group.astype(np.int16))
        for code, preds in sorted(predecessors.items()):
            idx = self.org_index[code]
            if idx in self.ccg_by_index:  # a CCG that continues and takes in others
                if all(c.index != idx for c, _ in preds):
                    preds = preds + [(self.ccg_by_index[idx], 1.0)]
                self.ccg_by_index.pop(idx).remove()
            population = sum(c.population * s for c, s in preds)
            self._add_ccg(code, population=population, **self._successor_policy(preds))
        for code in closing:
            ccg = self.ccg_by_index.pop(self.org_index[code], None)
            if ccg is not None:
                ccg.remove()
        self._vectors.clear()
        self._recompute_spend()
        if self.services is not None:
            self.services.rehome(moves)

    def _successor_policy(self, preds: list[tuple[CCG, float]]) -> dict:
        """A merged CCG's PHB policy: the most advanced predecessor's, or a population-weighted mix."""
        if self.p.merger_policy == "most_advanced":
            lead = max(preds, key=lambda cs: (cs[0].readiness, -cs[0].index))[0]
            return dict(pilot=any(c.pilot for c, _ in preds), readiness=lead.readiness,
                        activeness=lead.activeness, restrictiveness=lead.restrictiveness,
                        direct_payments=lead.direct_payments,
                        pressure=float(np.average([c.pressure for c, _ in preds],
                                                  weights=[c.population * s for c, s in preds])))
        w = np.array([c.population * s for c, s in preds])

        def avg(attr: str) -> float:
            return float(np.average([getattr(c, attr) for c, _ in preds], weights=w))

        return dict(pilot=any(c.pilot for c, _ in preds), readiness=avg("readiness"), activeness=avg("activeness"),
                    restrictiveness=avg("restrictiveness"), direct_payments=avg("direct_payments") >= 0.5,
                    pressure=avg("pressure"))

    def _recompute_spend(self) -> None:
        ppl = self.people
        idx = ppl.where(*HOLDING)
        self.spend = np.bincount(ppl.group[idx], weights=ppl.budget[idx], minlength=self.n_groups).astype(np.int64)

    # ---- monthly rules (ODD: process overview and scheduling) ---------------------------------------
    def step(self) -> None:
        t = self.month
        if t > 0 and self.months[t].month == 4:
            self.recorder.new_financial_year(self.people.counts)
        if self.people.left_share() > COMPACT_WHEN_LEFT:
            self.people.compact()
        self._ccgs_learn()
        self._leave(t)
        self._enter(t)
        self._decide(t)
        self._plan(t)
        self._offer(t)
        if self.services is not None:
            self.services.month(t)
        self.recorder.record(t, self.people.counts, self.spend, self._org_vector("population"))

    def _org_vector(self, attr: str) -> np.ndarray:
        """A CCG attribute for every organisation, as an array (0 where none is open): the vectorised
        patient rules read CCGs this way. All are read in one pass and kept until the CCGs next change
        (their monthly step, or a merger)."""
        if not self._vectors:
            index = np.fromiter(self.ccg_by_index, int, len(self.ccg_by_index))
            rows = np.array([_CCG_VECTORS(c) for c in self.ccg_by_index.values()], float).reshape(len(index), -1)
            for k, name in enumerate(CCG_VECTOR_NAMES):
                v = np.zeros(self.n_orgs)
                v[index] = rows[:, k]
                self._vectors[name] = v
        return self._vectors[attr]

    def holders_by_org(self) -> np.ndarray:
        held = self.people.counts[list(HOLDING)].sum(axis=0)
        return held.reshape(self.n_orgs, N_COHORTS).sum(axis=1) * self.agent_scale

    def holders_of(self, org: int) -> float:
        return self._holders_by_org[org]

    def holders_total(self) -> float:
        return float(self.people.counts[list(HOLDING)].sum() * self.agent_scale)

    def target_trajectory(self) -> float:
        """National holders the push aims for this month: a straight line to the target on its date."""
        p = self.p
        start, end = self.day_of(p.national_push_date), self.day_of(p.national_target_date)
        now = self.day_of(self.months[self.month])
        frac = 1.0 if end <= start else min(1.0, max(0.0, (now - start) / (end - start)))
        return self.push_start_holders + frac * (p.national_target - self.push_start_holders)

    def _ccgs_learn(self) -> None:
        """ODD "CCG learning": this month's regional leaders and national pull, then each CCG's step."""
        p, push = self.p, self.push_strength
        self.learning_rate = p.readiness_learning_rate / MONTHS_PER_YEAR
        self.peer_rate = p.peer_learning_rate / MONTHS_PER_YEAR
        self.push_rate = p.target_response * push / MONTHS_PER_YEAR
        self.pressure_weight = p.pressure_brake * (1.0 - p.funding_follows_target * (push > 0))
        ccgs = self.open_ccgs
        self._holders_by_org = self.holders_by_org()
        self._target_now = self.target_trajectory()
        self._population_now = self.total_population
        ready = np.array([c.readiness for c in ccgs])
        region = np.array([c.region for c in ccgs])
        self.regional_leader_readiness = {}
        for r in self.regions:
            vals = ready[region == r]
            leaders = np.sort(vals)[-max(1, int(round(len(vals) * p.regional_leader_share))):]
            self.regional_leader_readiness[r] = float(np.mean(leaders)) if len(vals) else 0.0
        for c in ccgs:
            c.step()
        self._vectors.clear()

    def _leave(self, t: int) -> None:
        ppl, p = self.people, self.p
        idx = ppl.leaving(t)
        if len(idx) == 0:
            return
        state = ppl.state[idx]
        holding = idx[(state >= min(HOLDING)) & (state <= max(HOLDING))]
        self.spend -= np.bincount(ppl.group[holding], weights=ppl.budget[holding], minlength=self.n_groups).astype(np.int64)
        cohort = ppl.cohort_of(idx)
        fast = (ppl.flags[idx] & FAST_TRACK).astype(bool)
        death = np.where(fast, 1.0, np.where(cohort == CHC, p.chc_death_share, p.other_death_share))
        u = self.streams["exits"].random(len(idx))
        reason = np.where(u < death, State.DIED,
                          np.where(u < death + (1 - death) * p.recovery_share, State.RECOVERED,
                                   State.LOST_ELIGIBILITY))
        self.recorder.exits_from_holding(t, ppl.group[holding])
        ppl.move(idx, reason.astype(np.int8), t)
        ppl.threshold[idx] = INF

    def _enter(self, t: int) -> None:
        if t == 0:
            return
        f = self.flows
        lam = np.outer(self._population_share(), f.entries / self.agent_scale)
        counts = self.streams["entries"].poisson(lam).ravel()
        self._new_people(counts, self.streams["entries"], initial=False)

    def _take_up(self, idx: np.ndarray) -> np.ndarray:
        """Chance that each offered person accepts (ODD: "patient decision")."""
        p, ppl = self.p, self.people
        org, cohort, flags = ppl.org_of(idx), ppl.cohort_of(idx), ppl.flags[idx]
        base = np.array([getattr(p, f"take_up_{c}") for c in COHORTS])[cohort]
        restrict = self._org_vector("restrictiveness")[org]
        queue = ppl.counts[State.PLANNING].reshape(self.n_orgs, N_COHORTS).sum(axis=1)
        cap = self._capacity
        support = np.divide(cap, cap + queue, out=np.zeros(self.n_orgs), where=(cap + queue) > 0)[org]
        in_scope = ppl.counts[State.ELIGIBLE:State.DECLINED + 1].sum(axis=0).reshape(self.n_orgs, N_COHORTS).sum(axis=1)
        held = ppl.counts[list(HOLDING)].sum(axis=0).reshape(self.n_orgs, N_COHORTS).sum(axis=1)
        share = np.divide(held, in_scope, out=np.zeros(self.n_orgs), where=in_scope > 0)
        peer = np.minimum(1.0, share / p.peer_saturation_share)[org]
        carer, capable = (flags & CARER).astype(bool), (flags & CAPACITY).astype(bool)
        prob = (base * (1 - p.restrictiveness_take_up_penalty * restrict)
                * (1 - p.support_take_up_penalty * (1 - support))
                * (1 + p.peer_take_up_boost * peer)
                * np.where(carer, p.carer_take_up_factor, 1.0)
                * np.where(~carer & ~capable, p.unsupported_take_up_factor, 1.0)
                * np.where((flags & FAST_TRACK).astype(bool), p.fast_track_take_up_factor, 1.0))
        return np.clip(prob, 0.0, 1.0)

    def _decide(self, t: int) -> None:
        ppl = self.people
        self._capacity = self._org_vector("planning_capacity")
        idx = ppl.tracked(State.OFFERED)
        if len(idx) == 0:
            return
        accept = ppl.u_decide[idx] < self._take_up(idx)
        self.recorder.declined(t, ppl.group[idx[~accept]])
        ppl.move(idx[~accept], State.DECLINED, t)
        ppl.move(idx[accept], State.PLANNING, t)
        # a personal wheelchair budget is planned within the wheelchair assessment, not by CCG coordinators
        assessed = idx[accept][ppl.cohort_of(idx[accept]) == WHEELCHAIR]
        self.recorder.started(t, ppl.group[assessed], np.zeros(len(assessed)))
        self._start_holding(assessed)

    def _plan(self, t: int) -> None:
        """Support planning, first come first served within each CCG's capacity."""
        ppl = self.people
        idx = ppl.tracked(State.PLANNING)
        # carry over at most planning_carryover_months of capacity, but always enough for one agent, so that a
        # small CCG in a coarse run (one agent for many people) can still start someone's plan
        most = np.maximum(self._capacity * (1.0 + self.p.planning_carryover_months), 1.0)
        credit = self.planning_credit = np.minimum(self.planning_credit + self._capacity, most)
        if len(idx) == 0:
            return
        org = ppl.org_of(idx)
        order = np.lexsort((idx, ppl.since[idx], org))
        idx, org = idx[order], org[order]
        first = np.searchsorted(org, org, side="left")
        rank = np.arange(len(idx)) - first
        # a plan starts once half a person's worth of capacity is there; an agent standing for k people
        # then takes all k of them, leaving the CCG in debt, so throughput holds at any scale
        start_at = 0.5 / self.agent_scale
        n_plans = np.where(credit >= start_at, np.floor(credit - start_at) + 1, 0)
        done = idx[rank < n_plans[org]]
        self.planning_credit -= np.bincount(ppl.org_of(done), minlength=self.n_orgs)
        self.recorder.started(t, ppl.group[done], t - ppl.since[done])
        self._start_holding(done)

    def _start_holding(self, idx: np.ndarray) -> None:
        """A person's budget starts: how they hold it (ODD: "budget type")."""
        p, ppl = self.p, self.people
        if len(idx) == 0:
            return
        flags, cohort, u = ppl.flags[idx], ppl.cohort_of(idx), ppl.u_type[idx].astype(float)
        supported = (flags & (CARER | CAPACITY)).astype(bool)
        dp_offered = self._org_vector("direct_payments")[ppl.org_of(idx)] > 0
        p_dp = np.where(dp_offered & (cohort != WHEELCHAIR),
                        p.direct_payment_preference * np.where(supported, 1.0, p.unsupported_take_up_factor), 0.0)
        rest = np.divide(u - p_dp, 1 - p_dp, out=np.zeros_like(u), where=p_dp < 1)
        kind = np.where(u < p_dp, State.DIRECT_PAYMENT,
                        np.where((rest < p.third_party_share) & (cohort != WHEELCHAIR), State.THIRD_PARTY,
                                 State.NOTIONAL))
        ppl.move(idx, kind.astype(np.int8), self.month)
        ppl.threshold[idx] = INF
        np.add.at(self.spend, ppl.group[idx], ppl.budget[idx].astype(np.int64))

    def offer_rates(self) -> np.ndarray:
        """Yearly chance of an offer, by cohort, at a fully ready typical CCG, under today's policy."""
        p = self.p
        rate = np.array([getattr(p, f"offer_rate_{c}") for c in COHORTS])
        rate[WHEELCHAIR] *= p.wheelchair_assessment_rate
        rights = self.rights
        rate *= np.where(rights == 2, p.right_to_have_multiplier, 1.0)
        rate[[CHC, CHILDREN]] *= rights[[CHC, CHILDREN]] > 0
        if self.chc_default:
            rate[CHC] *= p.chc_default_multiplier
        for k in (MENTAL_HEALTH, LEARNING_DISABILITY, LONG_TERM):
            rate[k] *= self.discretionary
        rate *= self.in_scope
        return rate * self.activity_factor

    def _offer(self, t: int) -> None:
        ppl = self.people
        intensity = self._org_vector("offer_intensity")
        yearly = np.minimum(np.outer(intensity, self.offer_rates()), MAX_YEARLY_CHANCE).ravel()
        self.hazard += -np.log1p(-yearly) / MONTHS_PER_YEAR
        n = ppl.n
        idx = np.flatnonzero(ppl.threshold[:n] <= np.take(self.hazard.astype(np.float32), ppl.group[:n]))
        self.recorder.offered(t, ppl.group[idx])
        ppl.move(idx, State.OFFERED, t)
        ppl.threshold[idx] = INF

    def run(self, progress: Callable[[int, int], None] | None = None) -> "RolloutModel":
        if progress is not None:
            def report():
                for t in range(len(self.months)):
                    yield self.env.timeout(self.day_of(self.months[t]) + 0.75 - self.env.now)
                    progress(t + 1, len(self.months))
            self.env.process(report())
        self.env.run(until=self.day_of(self.months[-1]) + 1)
        return self


    def release(self) -> None:
        """Let Python free this model once nothing else refers to it. Mesa 3 keys a class-level counter
        of agent ids by model (`Agent._ids`), a strong reference that would keep every finished run alive
        in a long-lived process (an ensemble worker, the dashboard). The model stays readable."""
        mesa.Agent._ids.pop(self, None)


class Recorder:
    """Monthly snapshots of counts and flows by group; results.py turns them into named series."""

    def __init__(self, n_months: int, n_states: int, n_groups: int):
        self.counts = np.zeros((n_months, n_states, n_groups), np.int32)
        shape = (n_months, n_groups)
        self.offers = np.zeros(shape, np.int32)
        self.declines = np.zeros(shape, np.int32)
        self.starts = np.zeros(shape, np.int32)
        self.ended = np.zeros(shape, np.int32)  # holders who left the eligible population
        self.wait_months = np.zeros(shape, np.int64)  # summed waits of those who started
        self.spend = np.zeros(shape, np.int64)  # pence paid into PHBs this month
        self.fy_start_holders = np.zeros(shape, np.int32)
        self.population = np.zeros((n_months, n_groups // len(COHORTS)))  # each commissioner's, as merged
        self._fy_holders = np.zeros(n_groups, np.int32)
        self._n_groups = n_groups

    def _add(self, arr: np.ndarray, t: int, groups: np.ndarray, weights=None) -> None:
        arr[t] += np.bincount(groups, weights=weights, minlength=self._n_groups).astype(arr.dtype)

    def offered(self, t, groups): self._add(self.offers, t, groups)
    def declined(self, t, groups): self._add(self.declines, t, groups)
    def exits_from_holding(self, t, groups): self._add(self.ended, t, groups)

    def started(self, t, groups, waits):
        self._add(self.starts, t, groups)
        self._add(self.wait_months, t, groups, waits)

    def new_financial_year(self, counts: np.ndarray) -> None:
        self._fy_holders = counts[list(HOLDING)].sum(axis=0).astype(np.int32)

    def record(self, t: int, counts: np.ndarray, spend: np.ndarray, population: np.ndarray) -> None:
        self.population[t] = population
        self.counts[t] = counts
        self.spend[t] = spend
        self.fy_start_holders[t] = self._fy_holders
