"""Observation and counting (ODD 4.8): the same people counted as each published series counts them.

- stock: people holding a budget on a date (a wheelchair budget only while it is live);
- issued: budgets issued (new, re-designated, or at a wheelchair assessment) in a month / year to date;
- received in the year to date (the official definition from 2021/22): everyone who held an ongoing
  budget at the start of the financial year or was issued one since, and wheelchair budgets issued or
  reviewed in the year; each person once a year (`People.counted_fy`);
- recurring: a critic's strict count, budgets with a recurring funding stream (not wheelchair budgets);
- reported: what reporting CCGs would have returned (coverage × what they count).
"""

from __future__ import annotations

import datetime as dt

import numba
import numpy as np

from model import parameters as reg
from model.people import REDESIGNATED, holding

WHEELCHAIR = reg.COHORTS.index("wheelchair")
REDESIGNATED_BIT = np.uint8(REDESIGNATED)  # as the flags are held


def financial_year(month: dt.date) -> int:
    return month.year if month.month >= 4 else month.year - 1


class Recorder:
    """Monthly snapshots of counts and flows by group; results.py turns them into named series."""

    def __init__(self, months: list[dt.date], n_states: int, n_groups: int, people):
        n_months = len(months)
        self.fy = np.array([financial_year(mo) for mo in months], np.int16)
        self.people = people
        self.counts = np.zeros((n_months, n_states, n_groups), np.int32)
        shape = (n_months, n_groups)
        self.offers = np.zeros(shape, np.int32)
        self.declines = np.zeros(shape, np.int32)
        self.starts = np.zeros(shape, np.int32)  # budgets issued (all ways in)
        self.redesignated = np.zeros(shape, np.int32)  # of which re-designated packages
        self.reviews = np.zeros(shape, np.int32)  # wheelchair budgets reviewed
        self.lapses = np.zeros(shape, np.int32)  # wheelchair budgets that lapsed unreviewed
        self.received = np.zeros(shape, np.int32)  # people counted as receiving for the first time this FY
        self.ended = np.zeros(shape, np.int32)  # holders who left the eligible population
        self.planned = np.zeros(shape, np.int32)  # people whose support plan was completed
        self.wait_months = np.zeros(shape, np.int64)  # summed waits of those planned
        self.spend = np.zeros(shape, np.int64)  # pence paid into PHBs this month
        self.population = np.zeros((n_months, n_groups // len(reg.COHORTS)))  # each commissioner's, as merged
        self._n_groups = n_groups

    @staticmethod
    def _add(arr: np.ndarray, t: int, groups: np.ndarray, weights=None) -> None:
        """Count people (or whole-number `weights`) into month t of a flow by their groups (compiled: a
        rule adds a few hundred people at a time, and numpy's fixed cost per call was most of the cost)."""
        if len(groups):
            if weights is None:
                _count_into(arr[t], groups)
            else:
                _weigh_into(arr[t], groups, np.asarray(weights, np.int64))

    def offered(self, t, groups): self._add(self.offers, t, groups)
    def declined(self, t, groups): self._add(self.declines, t, groups)
    def exits_from_holding(self, t, groups): self._add(self.ended, t, groups)
    def lapsed(self, t, groups): self._add(self.lapses, t, groups)

    def waited(self, t, groups, waits):
        self._add(self.planned, t, groups)
        self._add(self.wait_months, t, groups, waits)

    def _receive(self, t: int, idx: np.ndarray) -> None:
        """People counted as receiving a budget this financial year for the first time (once a year each)."""
        ppl = self.people
        _first_receipts(idx, ppl.group, ppl.counted_fy, self.fy[t], self.received[t])

    def issued(self, t: int, idx: np.ndarray) -> None:
        """Budgets issued: all of them, those re-designated, and their holders' first receipt this year."""
        ppl = self.people
        _issue(idx, ppl.group, ppl.flags, REDESIGNATED_BIT, self.starts[t], self.redesignated[t], ppl.counted_fy,
               self.fy[t], self.received[t])

    def reviewed(self, t: int, idx: np.ndarray) -> None:
        _count_people(idx, self.people.group, self.reviews[t])
        self._receive(t, idx)

    def new_financial_year(self, t: int) -> None:
        """Everyone holding an ongoing budget on 1 April has received one this year; a wheelchair budget
        counts only when it is issued or reviewed."""
        ppl = self.people
        s = ppl.state[: ppl.n]
        idx = np.flatnonzero(holding(s))
        self._receive(t, idx[ppl.cohort_of(idx) != WHEELCHAIR])

    def record(self, t: int, counts: np.ndarray, spend: np.ndarray, population: np.ndarray) -> None:
        self.population[t] = population
        self.counts[t] = counts
        self.spend[t] = spend


def year_to_date(flow: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Running totals of a monthly flow (months first) that restart each April."""
    out = np.array(flow, dtype=np.float64, copy=True)
    for t in range(1, len(out)):
        if fy[t] == fy[t - 1]:
            out[t] += out[t - 1]
    return out


def reported(holders: np.ndarray, wheelchair_holders: np.ndarray, p) -> np.ndarray:
    """What CCG returns would show: coverage of reporting CCGs × (ongoing budgets + the share of live
    wheelchair budgets they count)."""
    return p.reporting_share * (holders - wheelchair_holders * (1.0 - p.pwb_reported_share))


@numba.njit(cache=True, nogil=True)
def _count_into(row, groups):  # pragma: no cover (compiled)
    for g in groups:
        row[g] += 1


@numba.njit(cache=True, nogil=True)
def _weigh_into(row, groups, weights):  # pragma: no cover (compiled)
    for k in range(len(groups)):
        row[groups[k]] += weights[k]


@numba.njit(cache=True, nogil=True)
def _count_people(idx, group, row):  # pragma: no cover (compiled)
    for i in idx:
        row[group[i]] += 1


@numba.njit(cache=True, nogil=True)
def _issue(idx, group, flags, bit, row, flagged_row, counted_fy, fy, received_row):  # pragma: no cover (compiled)
    """Count people `idx` into `row` by group, those with flag `bit` also into `flagged_row`, and those not yet
    counted in financial year `fy` into `received_row` (`_first_receipts`, in the same pass: one call, not two)."""
    for i in idx:
        row[group[i]] += 1
        if flags[i] & bit:
            flagged_row[group[i]] += 1
        if counted_fy[i] != fy:
            counted_fy[i] = fy
            received_row[group[i]] += 1


@numba.njit(cache=True, nogil=True)
def _first_receipts(idx, group, counted_fy, fy, row):  # pragma: no cover (compiled)
    """Count into `row` the people of `idx` not yet counted in financial year `fy`, and mark them counted."""
    for i in idx:
        if counted_fy[i] != fy:
            counted_fy[i] = fy
            row[group[i]] += 1
