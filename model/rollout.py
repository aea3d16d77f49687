"""The roll-out model: wiring the submodels to one SimPy clock (ODD 3, process overview and scheduling).

CCGs are Mesa agents over arrays (model/ccg.py), patients numpy arrays (model/people.py). The month is
a SimPy process; dated policy events (model/policy.py) and mergers (model/mergers.py) are SimPy
processes that fire on their dates, so the service side (model/services.py) plugs in as more processes.
Each submodel lives in its own module, named for its ODD section; this module only calls them in order.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable

import mesa
import numpy as np
import simpy

from model import (
    assurance,
    ccg,
    offers,
    planning,
    population,
    redesignation,
    wheelchair,
)
from model.ccg import CCG, CCGTable
from model.checks import check_month, enabled
from model.counting import Recorder
from model.geography import Geography, load_geography
from model.mergers import merge
from model.people import HOLDING, HOLDING_ROWS, N_STATES, People
from model.policy import Policy
from model.population import (  # noqa: F401 (re-exported)
    CHC,
    CHILDREN,
    COHORTS,
    LEARNING_DISABILITY,
    LONG_TERM,
    MENTAL_HEALTH,
    N_COHORTS,
    WHEELCHAIR,
    cohort_flows,
)
from model.scenario import Scenario
from model.services import ServiceSide

COMPACT_WHEN_LEFT = 0.3  # drop people who have left once they fill this share of the arrays (speed only)
# one random stream per stochastic process (common random numbers across scenarios); new ones go last
STREAMS = ("ccg_setup", "population", "entries", "exits", "mergers", "mesa", "services", "planning",
           "wheelchair", "redesignation", "assurance")


def month_starts(start: dt.date, until: dt.date) -> list[dt.date]:
    months, d = [], start.replace(day=1)
    while d <= until:
        months.append(d)
        d = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return months


class RolloutModel(mesa.Model):
    """One run of one scenario. `run()` advances the SimPy clock month by month to `until`."""

    def __init__(self, scenario: Scenario, geography: Geography | None = None, services: bool = True,
                 check: Callable[["RolloutModel"], None] | None = None):
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
        self.check = check  # a per-month consistency check (debug mode; on in tests)
        self.checking = enabled()  # people, money and stocks checked every month (PHB_CHECKS=1; on in tests)
        self.cache: dict[str, object] = {}  # what submodels work out once per run (or hand on within a month)

        self.org_codes, self.org_index, self.org_region, self.regions = self.geo.indexed
        self.n_orgs = len(self.org_codes)
        self.n_groups = self.n_orgs * N_COHORTS
        self.people = People(self.n_groups, N_COHORTS, capacity=population.expected_people(self))
        self.hazard = np.zeros(self.n_groups)  # cumulative offer hazard by group
        self.spend = np.zeros(self.n_groups, dtype=np.int64)  # monthly PHB payments in pence, by group
        self.planning_credit = np.zeros(self.n_orgs)  # each CCG's support-planning capacity not yet used
        self.capacity = np.zeros(self.n_orgs)
        self.planning_queue = np.zeros(self.n_orgs)  # people expected to be waiting for a plan (agents)
        self.planning_waiting = np.zeros(self.n_orgs)  # people really waiting after last month's plans
        self.push_strength = 0.0
        self.activity_factor = 1.0
        self.policy = Policy(self)
        self.ccgs = CCGTable(self.n_orgs)
        self.ccg_by_index: dict[int, CCG] = {}

        ccg.create_ccgs(self, self.geo.open_on(scenario.start))
        self.recorder = Recorder(self.months, N_STATES, self.n_groups, self.people)
        population.seed(self)
        self.recorder.new_financial_year(0)
        self.services = ServiceSide(self) if services else None  # providers, queues, money (model/services.py)
        self.policy.schedule()
        for date in self.geo.transition_dates():
            if date > self.months[0]:
                self.schedule(date, "CCG mergers", lambda d=date: merge(self, d))
        self.env.process(self._monthly())

    # ---- the clock ------------------------------------------------------------------------------
    def day_of(self, date: dt.date) -> float:
        return max(0, (date - self.months[0]).days)

    def month_of(self, date: dt.date) -> int:
        return (date.year - self.months[0].year) * 12 + date.month - self.months[0].month

    def month_at_event(self) -> int:
        """The month whose step comes next (events fire just before it)."""
        return int(np.searchsorted([self.day_of(m) for m in self.months], self.env.now, side="left"))

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

    # ---- the monthly rules, in ODD order ------------------------------------------------------------
    def step(self) -> None:
        t = self.month
        if t > 0 and self.months[t].month == 4:
            self.recorder.new_financial_year(t)
        if self.people.left_share() > COMPACT_WHEN_LEFT:
            self.people.compact()
        ccg.learn(self)  # 4.2 CCG learning
        assurance.monitor(self)  # 4.3 assurance and planning (quarterly)
        population.leave(self, t)  # 4.1 eligible populations
        population.enter(self, t)
        planning.accrue(self, offers.take_up)
        offers.decide(self, t)  # 4.4 offers and decisions (last month's offers)
        planning.plan(self, t)  # 4.5 support planning
        redesignation.redesignate(self, t)  # 4.6 re-designation of packages
        wheelchair.review(self, t)  # 4.7 wheelchair budgets: reviews and lapses
        offers.offer(self, t)  # 4.4 this month's offers
        if self.services is not None:
            self.services.month(t)
        self.recorder.record(t, self.people.counts, self.spend, self.populations()[0])
        if self.check is not None:
            self.check(self)
        if self.checking:
            check_month(self)

    # ---- what other parts read --------------------------------------------------------------------
    @property
    def open_ccgs(self) -> list[CCG]:
        return [self.ccg_by_index[i] for i in sorted(self.ccg_by_index)]

    @property
    def total_population(self) -> float:
        return float(self.ccgs.population[self.ccgs.open].sum())

    def population_share(self) -> np.ndarray:
        """Each organisation's share of the population of the open ones (not to be written to)."""
        return self.populations()[1]

    def populations(self) -> tuple[np.ndarray, np.ndarray]:
        """Each organisation's population (0 where none is open) and its share. Worked out again only after a
        merger, which drops them (model/mergers.py): populations and open CCGs change nowhere else, so the
        numbers are those of working them out each time."""
        known = self.cache.get("populations")
        if known is None:
            pop = np.where(self.ccgs.open, self.ccgs.population, 0.0)
            known = self.cache["populations"] = (pop, pop / pop.sum())
            for shared in known:  # handed to every caller until the next merger: none may write to them
                shared.flags.writeable = False
        return known

    def _org_vector(self, attr: str) -> np.ndarray:
        """A CCG attribute for every organisation, as an array (0 where none is open): what the service side reads."""
        if attr == "decommission_drive":
            return self.decommission_drive()
        if attr == "offer_intensity":
            return self.ccgs.offer_intensity(self)
        if attr == "planning_capacity":
            return self.ccgs.planning_capacity(self)
        return np.where(self.ccgs.open, getattr(self.ccgs, attr), 0).astype(float)

    def decommission_drive(self) -> np.ndarray:
        """How hard each CCG looks for money in its contracts (0–1): financial pressure, plus assurance
        pressure during a push; a CCG that has planned for PHBs knows which contracts to cut."""
        t = self.ccgs
        drive = (t.pressure + self.push_strength * t.assurance) * (1.0 + self.p.decommission_readiness_weight * t.readiness)
        return np.where(t.open, np.minimum(1.0, drive), 0.0)

    def holders_by_org(self) -> np.ndarray:
        held = self.people.counts[HOLDING_ROWS].sum(axis=0)
        # each CCG's cohorts added up (whole numbers: the same in any order; numpy's sum over a short last axis
        # took three times as long)
        return np.einsum("oc->o", held.reshape(self.n_orgs, N_COHORTS)) * float(self.agent_scale)

    def holders_total(self) -> float:
        return float(self.people.counts[list(HOLDING)].sum() * self.agent_scale)

    def recompute_spend(self) -> None:
        ppl = self.people
        idx = ppl.where(*HOLDING)
        self.spend = np.bincount(ppl.group[idx], weights=ppl.budget[idx], minlength=self.n_groups).astype(np.int64)

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
        in a long-lived process (an ensemble worker, the dashboard). And the model's parts point back at it
        (agents, the policy, the service side; Mesa's wrapped `step`): cycles that wait for a full garbage
        collection, rare in a process with pandas loaded, so each finished run's arrays stayed allocated and
        the next runs faulted in fresh memory (a fifth of a 1:50 run's CPU time). The back-references become
        weak proxies, so the model is freed when dropped; it stays readable while anything holds it."""
        mesa.Agent._ids.pop(self, None)
        vars(self).pop("step", None)  # Mesa's wrapper (a bound method kept on the model); runs are not stepped again
        vars(self).pop("_user_step", None)
        me = weakref.proxy(self)
        for agent in self._agents:
            agent.model = me
        self.policy.m = me
        if self.services is not None:
            self.services.release(me)
