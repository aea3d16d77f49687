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
    deciding = ccgs.open & ((ccgs.redesignating > 0) | (ccgs.ipc & (ccgs.ipc_from <= t)))
    if not deciding.any() or p.redesignation_rate <= 0:
        return
    packaged = ppl.with_flag(PACKAGE)  # in index order, as a scan of everyone would give them
    cand = _candidates(packaged, ppl.state, ppl.group, N_COHORTS, deciding)
    if len(cand) == 0:
        return
    monthly = 1.0 - (1.0 - min(p.redesignation_rate, 0.999)) ** (1 / MONTHS_PER_YEAR)
    chosen = cand[m.streams["redesignation"].random(len(cand)) < monthly]
    flags = ppl.flags[chosen] | REDESIGNATED
    flags = np.where(ccgs.ipc[ppl.org_of(chosen)], flags | INTEGRATED, flags)
    ppl.flags[chosen] = flags
    m.planning_credit -= p.redesignation_planning_weight * np.bincount(ppl.org_of(chosen), minlength=m.n_orgs)
    hold(m, chosen, NOTIONAL)


@numba.njit(cache=True, nogil=True)
def _candidates(packaged, state, group, n_cohorts, deciding):  # pragma: no cover (compiled: one pass)
    """People with a package, eligible or having declined an offer, whose CCG is re-designating (index order)."""
    out = np.empty(len(packaged), np.int64)
    k = 0
    for i in packaged:
        if (state[i] == ELIGIBLE or state[i] == DECLINED) and deciding[group[i] // n_cohorts]:
            out[k] = i
            k += 1
    return out[:k].copy()
