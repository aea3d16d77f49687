"""CCG behaviour (ODD 4.2): commissioners that learn to offer personal health budgets.

Every CCG's state lives in one array per attribute (`CCGTable`, indexed by organisation), so a month's
rule runs over all 211 CCGs at once; the Mesa `CCG` agent is a view onto its row, for code and readers
that want one commissioner at a time. The monthly learning rule:

    readiness += (own learning + learning from the region's leaders + national support)
                 × financial brake × room left to learn

How CCGs respond to assurance (their IAF rank and their own plan) is `model/assurance.py`.
"""

from __future__ import annotations

import mesa
import numba
import numpy as np

from model.state import RolloutState

MONTHS_PER_YEAR = 12
# the integrated personal commissioning demonstrators DOMAIN.md names (V2: "e.g. Portsmouth, Luton, Tower
# Hamlets"); the rest of the demonstrators and the early adopters are drawn (register: ipc_*_sites)
NAMED_IPC_DEMONSTRATORS = ("NHS Portsmouth CCG", "NHS Luton CCG", "NHS Tower Hamlets CCG")
FLOAT_FIELDS = ("readiness", "activeness", "restrictiveness", "pressure", "population", "assurance",
                "pwb_switch_month", "redesignating")
BOOL_FIELDS = ("open", "pilot", "going_further_faster", "direct_payments", "ipc")


class CCGTable:
    """One array per CCG attribute, over every organisation the run can meet (closed ones are 0)."""

    def __init__(self, n_orgs: int):
        for name in FLOAT_FIELDS:
            setattr(self, name, np.zeros(n_orgs))
        for name in BOOL_FIELDS:
            setattr(self, name, np.zeros(n_orgs, bool))
        self.ipc_from = np.full(n_orgs, np.inf)  # month the CCG became an IPC site
        self.pwb_switch_month[:] = np.inf  # month it switches wheelchair vouchers to budgets

    def offer_intensity(self, m: RolloutState) -> np.ndarray:
        """How often, relative to a fully ready typical CCG, each CCG offers a budget this month: readiness ×
        activeness, raised by assurance pressure where money allows (model/assurance.py)."""
        return _offer_intensity(self.readiness, self.activeness, self.assurance, m.p.assurance_offer_boost)

    def planning_capacity(self, m: RolloutState) -> np.ndarray:
        """Support plans each CCG can complete this month, in agents (people / agent_scale)."""
        p = m.p
        return _planning_capacity(self.population, self.readiness, p.coordinators_per_100k, 100_000,
                                  1.0 + p.national_support_staff * m.push_strength, p.plans_per_coordinator,
                                  m.activity_factor, m.agent_scale)


# ---- the two rules above, compiled (numba): one pass instead of seven whole-array steps a month, the same
# operations in the same order ------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _offer_intensity(readiness, activeness, assurance, boost):  # pragma: no cover (compiled)
    out = np.empty(len(readiness))
    for o in range(len(readiness)):
        out[o] = readiness[o] * activeness[o] * (1.0 + boost * assurance[o])
    return out


@numba.njit(cache=True, nogil=True)
def _planning_capacity(population, readiness, coordinators_per, per_people, support, plans, activity,
                       agent_scale):  # pragma: no cover (compiled)
    """Coordinators (`coordinators_per` `per_people`) × readiness × national `support` × `plans` each ×
    `activity`, in agents."""
    out = np.empty(len(population))
    for o in range(len(population)):
        out[o] = coordinators_per * population[o] / per_people * readiness[o] * support * plans * activity / agent_scale
    return out


class CCG(mesa.Agent):
    """A view onto one row of the model's CCGTable (so agents and arrays never disagree)."""

    def __init__(self, model: RolloutState, index: int, code: str, name: str, region: str):
        super().__init__(model)
        self.index, self.code, self.name, self.region = index, code, name, region

    def __getattr__(self, attr: str):
        if attr in FLOAT_FIELDS or attr in BOOL_FIELDS:
            return getattr(self.model.ccgs, attr)[self.index]
        raise AttributeError(attr)

    @property
    def offer_intensity(self) -> float:
        return float(self.model.ccgs.offer_intensity(self.model)[self.index])


def create_ccgs(m: RolloutState, codes: list[str]) -> None:
    """The CCGs of April 2014, each with its drawn policy (ODD 5, initialisation)."""
    p, rng, t = m.p, m.streams["ccg_setup"], m.ccgs
    n = len(codes)
    idx = np.array([m.org_index[c] for c in codes])
    pilot = rng.random(n) < p.pilot_site_share
    gff = np.array([bool(m.geo.records[c]["going_further_faster"]) for c in codes])
    t.open[idx], t.pilot[idx], t.going_further_faster[idx] = True, pilot, gff
    t.population[idx] = [float(m.geo.records[c]["population"]) for c in codes]
    t.activeness[idx] = np.exp(rng.normal(-p.activeness_spread**2 / 2, p.activeness_spread, n))
    t.restrictiveness[idx] = np.clip(rng.normal(p.restrictiveness_mean, p.restrictiveness_spread, n), 0, 1)
    t.direct_payments[idx] = rng.random(n) < p.direct_payment_ccg_share
    t.pressure[idx] = np.clip(rng.normal(p.financial_pressure_mean, p.financial_pressure_spread, n), 0, 1)
    t.readiness[idx] = np.where(gff, p.initial_readiness_gff,
                                np.where(pilot, p.initial_readiness_pilot, p.initial_readiness_other))
    # wheelchair budgets: each CCG switches on its own date, spread over the roll-out window (a ramp)
    t.pwb_switch_month[idx] = rng.random(n) * p.pwb_rollout_months
    # integrated personal commissioning: named demonstrators first, then drawn ones, then early adopters
    names = np.array([str(m.geo.records[c]["name"]) for c in codes])
    order = np.argsort(~np.isin(names, NAMED_IPC_DEMONSTRATORS) * 1.0 + rng.random(n), kind="stable")
    m.ipc_demonstrators = idx[order[: p.ipc_demonstrator_sites]]
    m.ipc_early_adopters = idx[order[p.ipc_demonstrator_sites: p.ipc_demonstrator_sites + p.ipc_early_adopter_sites]]
    for code in codes:
        add_agent(m, code)


def add_agent(m: RolloutState, code: str) -> CCG:
    row = m.geo.records[code]
    ccg = CCG(m, index=m.org_index[code], code=code, name=str(row["name"]), region=str(row["region"]))
    m.ccg_by_index[ccg.index] = ccg
    return ccg


def region_of(m: RolloutState) -> np.ndarray:
    """Each organisation's region as its position in `m.regions` (built once per run: comparing the
    region names of every organisation each month was most of the learning and assurance rules' cost)."""
    codes = m.cache.get("region_of")
    if codes is None:
        codes = m.cache["region_of"] = np.searchsorted(np.array(m.regions), m.org_region)
    return codes


def regional_leaders(m: RolloutState, share: float) -> np.ndarray:
    """For every open CCG, the mean readiness of the leading `share` of open CCGs in its region (0 if closed).
    One sort of all open CCGs by region then readiness; each region's leaders are the end of its run."""
    t, region = m.ccgs, region_of(m)
    members = np.flatnonzero(t.open)
    order = members[np.lexsort((t.readiness[members], region[members]))]
    bounds = np.searchsorted(region[order], np.arange(len(m.regions) + 1))
    return _leader_means(order, bounds, t.readiness, share)


@numba.njit(cache=True, nogil=True)
def _leader_means(order, bounds, readiness, share):  # pragma: no cover (compiled)
    """Each region's leaders' mean readiness, for its members (a loop over regions, compiled)."""
    leader = np.zeros(len(readiness))
    for r in range(len(bounds) - 1):
        a, b = bounds[r], bounds[r + 1]
        if b > a:
            top = readiness[order[b - max(1, int(round((b - a) * share))):b]]
            mean = _numpy_sum(top, 0, len(top)) / len(top)
            for k in range(a, b):
                leader[order[k]] = mean
    return leader


def learn(m: RolloutState) -> None:
    """ODD "CCG learning", for every open CCG at once (see the module docstring): the rule is
    `_learn_rule`, compiled (one pass a month instead of some twenty small whole-array steps)."""
    p, t = m.p, m.ccgs
    brake_push = 1.0 - p.funding_follows_target * (m.push_strength > 0)
    readiness = np.empty(len(t.readiness))
    _learn_rule(t.open, region_of(m), len(m.regions), t.readiness, p.regional_leader_share, t.pressure, t.ipc,
                p.readiness_learning_rate, p.peer_learning_rate, p.national_support_rate * m.push_strength,
                p.ipc_readiness_rate, p.pressure_brake, brake_push, float(MONTHS_PER_YEAR), readiness)
    t.readiness = readiness


@numba.njit(cache=True, nogil=True)
def _learn_rule(open_, region, n_regions, readiness, share, pressure, ipc, own, peer_rate, national, ipc_rate,
                pressure_brake, brake_push, months, out):  # pragma: no cover (compiled)
    """Readiness after a month's learning (`out`), operation for operation as the whole-array rule:
    gain = (own + peer × max(0, leaders' mean − readiness) + national + IPC) / 12 × brake × (1 − readiness),
    for open CCGs. The leaders' mean is `regional_leaders`': the top `share` of each region's open CCGs by
    readiness, summed in ascending order (numpy's pairwise sum), whatever order ties come in (equal values)."""
    n = len(readiness)
    leader = np.zeros(n)
    members = np.empty(n, np.int64)
    for r in range(n_regions):
        k = 0
        for o in range(n):
            if open_[o] and region[o] == r:
                members[k] = o
                k += 1
        if k == 0:
            continue
        values = np.sort(readiness[members[:k]])
        top = values[k - max(1, int(round(k * share))):]
        mean = _numpy_sum(top, 0, len(top)) / len(top)
        for i in range(k):
            leader[members[i]] = mean
    for o in range(n):
        x = leader[o] - readiness[o]
        from_peers = peer_rate * (0.0 if 0.0 >= x else x)  # np.maximum(0.0, x)
        brake = 1.0 - pressure_brake * pressure[o] * brake_push
        gain = (own + from_peers + national + ipc[o] * ipc_rate) / months * brake * (1.0 - readiness[o])
        out[o] = readiness[o] + gain if open_[o] else readiness[o]


def successor(m: RolloutState, index: int, preds: list[tuple[int, float]]) -> None:
    """A merged CCG's PHB policy: the most advanced predecessor's, or a population-weighted mix."""
    t = m.ccgs
    rows = np.array([i for i, _ in preds], np.int64)
    shares = np.array([s for _, s in preds], float)
    mix = m.p.merger_policy != "most_advanced"
    _succeed(index, rows, shares, mix, t.population, t.readiness, t.activeness, t.restrictiveness, t.assurance,
             t.redesignating, t.pressure, t.direct_payments, t.pilot, t.going_further_faster, t.ipc, t.ipc_from,
             t.pwb_switch_month, t.open)


@numba.njit(cache=True, nogil=True)
def _succeed(index, rows, shares, mix, population, readiness, activeness, restrictiveness, assurance, redesignating,
             pressure, direct_payments, pilot, going_further_faster, ipc, ipc_from, pwb_switch_month,
             open_):  # pragma: no cover (compiled: some eighty successors a run, each a few dozen numpy calls before)
    """`successor` for CCG `index` from predecessors `rows` (each bringing `shares` of its population):
    population-weighted means (as np.average computes them) or the most ready predecessor's values
    (ties: the lowest index); pressure always the mean; pilot, fast-track and IPC status if any had it."""
    n = len(rows)
    w = np.empty(n)
    for k in range(n):
        w[k] = population[rows[k]] * shares[k]
    total = _numpy_sum(w, 0, n)
    population[index] = total
    lead = rows[0]
    for k in range(1, n):
        r = rows[k]
        if readiness[r] > readiness[lead] or (readiness[r] == readiness[lead] and r < lead):
            lead = r
    values = np.empty(n)
    for arr in (readiness, activeness, restrictiveness, assurance, redesignating):
        if mix:
            for k in range(n):
                values[k] = arr[rows[k]] * w[k]
            arr[index] = _numpy_sum(values, 0, n) / total
        else:
            arr[index] = arr[lead]
    for k in range(n):
        values[k] = pressure[rows[k]] * w[k]
    pressure[index] = _numpy_sum(values, 0, n) / total
    if mix:
        for k in range(n):
            values[k] = direct_payments[rows[k]] * w[k]
        direct_payments[index] = _numpy_sum(values, 0, n) / total >= 0.5
    else:
        direct_payments[index] = direct_payments[lead]
    any_pilot = any_gff = any_ipc = False
    first_ipc, first_switch = np.inf, np.inf
    for r in rows:
        any_pilot |= pilot[r]
        any_gff |= going_further_faster[r]
        any_ipc |= ipc[r]
        first_ipc = min(first_ipc, ipc_from[r])
        first_switch = min(first_switch, pwb_switch_month[r])  # the first predecessor's service carries on
    pilot[index], going_further_faster[index], ipc[index] = any_pilot, any_gff, any_ipc
    ipc_from[index], pwb_switch_month[index] = first_ipc, first_switch
    open_[index] = True


@numba.njit(cache=True, nogil=True)
def _numpy_sum(a, lo, n):  # pragma: no cover (compiled)
    """The sum of a[lo:lo + n] exactly as numpy's `sum` of a contiguous float array computes it (pairwise:
    halves down to blocks of at most 128, each summed with eight partial sums), so the compiled rule gives
    numpy's numbers to the last bit. The halving is walked with an explicit stack (numba's cache cannot
    reload a recursive function's callers)."""
    if n <= 128:
        return _block_sum(a, lo, n)
    los, ns = np.empty(64, np.int64), np.empty(64, np.int64)
    stage, left = np.zeros(64, np.int64), np.empty(64)
    top = 0
    los[0], ns[0] = lo, n
    while True:
        if ns[top] > 128:  # split: the left half first
            half = ns[top] // 2
            half -= half % 8
            stage[top] = 1
            los[top + 1], ns[top + 1], stage[top + 1] = los[top], half, 0
            top += 1
            continue
        v = _block_sum(a, los[top], ns[top])
        top -= 1
        while True:  # hand the finished half to its parent
            if stage[top] == 1:  # the left half: store it and do the right half
                left[top], stage[top] = v, 2
                half = ns[top] // 2
                half -= half % 8
                los[top + 1], ns[top + 1], stage[top + 1] = los[top] + half, ns[top] - half, 0
                top += 1
                break
            v = left[top] + v  # both halves done
            if top == 0:
                return v
            top -= 1


@numba.njit(cache=True, nogil=True)
def _block_sum(a, lo, n):  # pragma: no cover (compiled)
    """numpy's sum of a block of at most 128: a plain loop under 8, else eight partial sums."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r = a[lo:lo + 8].copy()
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res
