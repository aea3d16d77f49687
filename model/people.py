"""Patients as numpy arrays: one array per attribute, a person is an index (Starsim-style).

A national run has well over a million people passing through, so no person is a Python object. Every
change of state goes through `People.move`, which keeps a table of counts by (state, CCG, cohort) in
step with the arrays: that table is what the results read, and what the conservation tests recount.
"""

from __future__ import annotations

from enum import IntEnum

import numba
import numpy as np


class State(IntEnum):
    NOT_ELIGIBLE = 0  # in a cohort whose right to a PHB has not started (wheelchair users before Dec 2019)
    ELIGIBLE = 1
    OFFERED = 2  # offered this month; decides next month
    PLANNING = 3  # accepted; waiting for / in support planning
    NOTIONAL = 4  # holding a PHB as a notional budget
    THIRD_PARTY = 5
    DIRECT_PAYMENT = 6
    DECLINED = 7
    DIED = 8
    RECOVERED = 9
    LOST_ELIGIBILITY = 10


_ONE_STATE = [np.full(1, int(s), np.int8) for s in State]  # `move`'s one state for all (read only)
HOLDING = (State.NOTIONAL, State.THIRD_PARTY, State.DIRECT_PAYMENT)
TRACKED = (State.OFFERED, State.PLANNING)  # small states kept as index lists, so no month scans everyone
LEFT = (State.DIED, State.RECOVERED, State.LOST_ELIGIBILITY)
N_STATES = len(State)

# The same states as plain ints, for the monthly rules' numpy calls (speed only): numpy takes an IntEnum
# member several times more slowly than an int, and each `State.X` is a slow enum-class lookup.
(NOT_ELIGIBLE, ELIGIBLE, OFFERED, PLANNING, NOTIONAL, THIRD_PARTY, DIRECT_PAYMENT, DECLINED, DIED, RECOVERED,
 LOST_ELIGIBILITY) = (int(s) for s in State)
IN_SCOPE = slice(ELIGIBLE, DECLINED + 1)  # rows of `People.counts` for people in an eligible population
HOLDING_ROWS = slice(NOTIONAL, DIRECT_PAYMENT + 1)  # and for holders (the HOLDING states are contiguous)
# every rule that tests "holds a budget" as NOTIONAL <= state <= DIRECT_PAYMENT relies on this
assert tuple(range(NOTIONAL, DIRECT_PAYMENT + 1)) == HOLDING


def holding(state: np.ndarray) -> np.ndarray:
    """Which of these states hold a budget (the HOLDING states are contiguous)."""
    return (state >= NOTIONAL) & (state <= DIRECT_PAYMENT)

# bit flags in People.flags
FAST_TRACK, CARER, CAPACITY, SECTION117 = 1, 2, 4, 8
PACKAGE = 16  # already receives a package (CHC home care, learning disability, s117) that can be re-designated
REDESIGNATED = 32  # holds a budget because the CCG re-designated their package (no take-up decision)
INTEGRATED = 64  # an integrated personal budget (health and social care, in an IPC site)
LAPSES = 128  # a wheelchair budget whose next event is a lapse (not reviewed in time), not a review

INDEXED_FLAGS = (PACKAGE,)  # flags set only at entry whose holders are kept as an index list (speed only)

INF = np.inf
LAST_MONTH = int(np.iinfo(np.int16).max)  # months are held as int16 (a stay can end no later)
MAX_PENCE = int(np.iinfo(np.int32).max)  # monthly budgets are held as int32 pence


class People:
    """Per-person state for everyone who is or was in an eligible population.

    Arrays grow by doubling; `compact` drops people who have left (their counts stay in `counts`).
    """

    FIELDS = {
        "group": np.intp,  # commissioner index × cohorts + cohort: the unit offers are made in (intp: numpy
        # indexes with it directly; an int16 would be converted on every lookup, the costliest step of a month)
        "state": np.int8,
        "flags": np.uint8,
        "since": np.int16,  # month the person entered their current state
        "exit": np.int16,  # month the person leaves the eligible population (drawn at entry)
        "threshold": np.float32,  # cumulative offer hazard at which the person is offered (inf: not waiting)
        "u_decide": np.float32,  # the person's own uniform draw for the take-up decision (common random numbers)
        "u_type": np.float32,  # and for the way they hold the budget
        "budget": np.int32,  # monthly budget in pence, drawn at entry
        "review": np.int16,  # wheelchair budget: month of its next review or lapse (-1: none)
        "counted_fy": np.int16,  # last financial year (start year) in which the person was counted as receiving
    }

    def __init__(self, n_groups: int, n_cohorts: int, capacity: int = 1024):
        self.n_groups, self.n_cohorts = n_groups, n_cohorts
        self.n = 0
        for name, dtype in self.FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))
        self.counts = np.zeros((N_STATES, n_groups), dtype=np.int64)
        self.created = 0
        self._tracked: dict[int, list[np.ndarray]] = {int(s): [] for s in TRACKED}
        self._flagged: dict[int, list[np.ndarray]] = {bit: [] for bit in INDEXED_FLAGS}

    # ---- views -------------------------------------------------------------------------------
    def org_of(self, idx: np.ndarray) -> np.ndarray:
        return self.group[idx] // self.n_cohorts

    def cohort_of(self, idx: np.ndarray) -> np.ndarray:
        return self.group[idx] % self.n_cohorts

    def where(self, *states: State) -> np.ndarray:
        s = self.state[: self.n]
        if len(states) == 1:
            return np.flatnonzero(s == int(states[0]))
        lo, hi = int(min(states)), int(max(states))
        if list(range(lo, hi + 1)) == sorted(states):
            return np.flatnonzero((s >= lo) & (s <= hi))
        return np.flatnonzero(np.isin(s, states))

    # ---- changes ------------------------------------------------------------------------------
    def add(self, **values: np.ndarray | int) -> np.ndarray:
        """Append people; every field must be given (an array, or one value for all). Returns their indices."""
        k = len(values["group"])
        if self.n + k > len(self.group):
            self._grow(self.n + k)
        idx = np.arange(self.n, self.n + k)
        for name in self.FIELDS:
            getattr(self, name)[self.n: self.n + k] = values[name]
        self.n += k
        self.created += k
        for bit, parts in self._flagged.items():
            parts.append(idx[(values["flags"] & bit) != 0])
        self._tally(idx, +1)
        return idx

    def leaving(self, month: int) -> np.ndarray:
        """People whose stay ends this month (their exit month was drawn when they entered), in index order.
        One scan of the exit months: cheaper than filing each intake under its exit months (a Python
        loop over about a hundred months per intake) at every scale, even full scale (half a millisecond)."""
        return np.flatnonzero(self.exit[: self.n] == month)

    def tracked(self, state: State) -> np.ndarray:
        """Everyone now in one of the small TRACKED states, in index order."""
        parts = self._tracked[state]  # a person enters each tracked state once, so no duplicates
        idx = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, np.int64)
        idx = idx[self.state[idx] == int(state)]  # a new array (a selection), even from one part
        self._tracked[state] = [idx]
        return idx

    def with_flag(self, bit: int) -> np.ndarray:
        """Everyone still in the arrays with one of the INDEXED_FLAGS (set at entry), in index order: a
        monthly rule that needs only them (re-designation of packages) need not scan everyone."""
        parts = self._flagged[bit]
        idx = np.concatenate(parts) if parts else np.empty(0, np.int64)
        self._flagged[bit] = [idx]
        return idx

    def move(self, idx: np.ndarray, to: State | np.ndarray, month: int) -> None:
        """Change the state of `idx` (the only place a state changes), keeping counts in step."""
        if len(idx) == 0:
            return
        if isinstance(to, np.ndarray):
            reached = _move(idx, to.astype(np.int8, copy=False), False, month, self.state, self.since, self.group,
                            self.counts)
            for s, parts in self._tracked.items():
                if reached >> s & 1:  # (a part with nobody adds nothing to the list)
                    parts.append(idx[to == s])
        else:
            _move(idx, _ONE_STATE[int(to)], True, month, self.state, self.since, self.group, self.counts)
            if to in self._tracked:
                self._tracked[to].append(idx)

    def _tally(self, idx: np.ndarray, sign: int) -> None:
        """Add or remove `idx` from the count table."""
        _tally(idx, sign, self.state, self.group, self.counts)

    def recount(self) -> np.ndarray:
        """Counts of people still in the arrays, from scratch: the conservation check."""
        key = self.state[: self.n].astype(np.int64) * self.n_groups + self.group[: self.n]
        return np.bincount(key, minlength=self.counts.size).reshape(self.counts.shape)

    def reassign(self, idx: np.ndarray, new_group: np.ndarray) -> None:
        """Move people to another commissioner (a merger), keeping counts in step."""
        self._tally(idx, -1)
        self.group[idx] = new_group
        self._tally(idx, +1)

    def left_share(self) -> float:
        """Share of the arrays taken by people who have left (compaction drops them)."""
        alive = self.created - self.counts[DIED:].sum()  # everyone created is counted once (fewer rows to add up)
        return 1.0 - alive / self.n if self.n else 0.0

    def compact(self) -> None:
        """Drop people who have left; their counts stay in `counts` as cumulative tallies."""
        keep = np.flatnonzero(self.state[: self.n] < DIED)
        new_index = np.full(self.n, -1, np.int64)
        new_index[keep] = np.arange(len(keep))

        def remap(parts: list[np.ndarray]) -> list[np.ndarray]:
            moved = new_index[np.concatenate(parts)] if parts else np.empty(0, np.int64)
            return [moved[moved >= 0]]

        self._tracked = {s: remap(parts) for s, parts in self._tracked.items()}
        self._flagged = {bit: remap(parts) for bit, parts in self._flagged.items()}
        for name in self.FIELDS:
            _keep_in_place(getattr(self, name), keep)
        self.n = len(keep)

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * len(self.group))
        for name, dtype in self.FIELDS.items():
            old = getattr(self, name)
            new = np.zeros(cap, dtype=dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self.FIELDS)


# ---- the count table kept in step (compiled: a month moves people a few hundred at a time in a dozen
# calls, and numpy's fixed cost per call was most of what a move cost) -------------------------------
@numba.njit(cache=True, nogil=True)
def _move(idx, to, same, month, state, since, group, counts):  # pragma: no cover (compiled)
    """Move `idx` to state `to` (`same`: one state for all, `to[0]`), keeping `counts` (state, group) in step.
    Returns the states reached, as bits (1 << state)."""
    for i in idx:  # every old cell first, as people may share one
        counts[state[i], group[i]] -= 1
    reached = 0
    for k in range(len(idx)):
        i = idx[k]
        s = to[0] if same else to[k]
        state[i] = s
        since[i] = month
        counts[s, group[i]] += 1
        reached |= 1 << s
    return reached


@numba.njit(cache=True, nogil=True)
def _tally(idx, sign, state, group, counts):  # pragma: no cover (compiled)
    """Add (`sign` +1) or remove (-1) people `idx` from the count table."""
    for i in idx:
        counts[state[i], group[i]] += sign


@numba.njit(cache=True, nogil=True)
def _keep_in_place(arr, keep):  # pragma: no cover (compiled)
    """arr[:len(keep)] = arr[keep] without a temporary copy (`keep` is increasing, so keep[j] >= j)."""
    for j in range(len(keep)):
        arr[j] = arr[keep[j]]
