"""Re-designation of existing packages (ODD 4.6): a way into a budget that is a CCG's decision.

People already receiving a package (CHC home care, learning-disability and section 117 packages) can have
it re-designated as a notional budget once their CCG decides to: a CCG under assurance pressure
(model/assurance.py) or an integrated personal commissioning site (for its groups, as integrated
personal budgets). There is no patient take-up decision; each re-designation uses a fraction
(`redesignation_planning_weight`) of a support plan's worth of the CCG's planning capacity.
"""

from __future__ import annotations

import numba
import numpy as np

from model.people import DECLINED, ELIGIBLE, INTEGRATED, NOTIONAL, PACKAGE, REDESIGNATED
from model.planning import hold
from model.population import N_COHORTS
from model.state import RolloutState

MONTHS_PER_YEAR = 12


def redesignate(m: RolloutState, t: int) -> None:
    p, ppl, ccgs = m.p, m.people, m.ccgs
    if p.redesignation_rate <= 0:
        return
    packaged = ppl.with_flag(PACKAGE)  # in index order, as a scan of everyone would give them
    cand = _candidates(packaged, ppl.state, ppl.group, N_COHORTS, ccgs.open, ccgs.redesignating, ccgs.ipc,
                       ccgs.ipc_from, t)
    if len(cand) == 0:
        return
    monthly = 1.0 - (1.0 - min(p.redesignation_rate, 0.999)) ** (1 / MONTHS_PER_YEAR)
    chosen = cand[m.streams["redesignation"].random(len(cand)) < monthly]
    m.planning_credit -= p.redesignation_planning_weight * _mark(chosen, ppl.flags, ppl.group, N_COHORTS, ccgs.ipc,
                                                                 m.n_orgs)
    hold(m, chosen, NOTIONAL)


# ---- the rule's passes, compiled (numba): a dozen numpy calls a month on a few hundred people cost more than
# the work; the same operations, in the same order -----------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _candidates(packaged, state, group, n_cohorts, open_, redesignating, ipc, ipc_from, t):  # pragma: no cover
    """People with a package, eligible or having declined an offer, whose CCG is re-designating (index order):
    an open CCG under assurance pressure past the threshold, or an IPC site from its start. Nobody (and no
    scan) while no CCG is."""
    deciding = np.empty(len(open_), np.bool_)
    anyone = False
    for o in range(len(open_)):
        deciding[o] = open_[o] and (redesignating[o] > 0 or (ipc[o] and ipc_from[o] <= t))
        anyone = anyone or deciding[o]
    out = np.empty(len(packaged) if anyone else 0, np.int64)
    k = 0
    if anyone:
        for i in packaged:
            if (state[i] == ELIGIBLE or state[i] == DECLINED) and deciding[group[i] // n_cohorts]:
                out[k] = i
                k += 1
    return out[:k].copy()


@numba.njit(cache=True, nogil=True)
def _mark(chosen, flags, group, n_cohorts, ipc, n_orgs):  # pragma: no cover (compiled)
    """Flag the chosen as re-designated (and integrated, in an IPC site); returns how many by CCG (as
    np.bincount counts them)."""
    by_org = np.zeros(n_orgs, np.int64)
    for i in chosen:
        o = group[i] // n_cohorts
        flags[i] = flags[i] | REDESIGNATED | (INTEGRATED if ipc[o] else 0)
        by_org[o] += 1
    return by_org
