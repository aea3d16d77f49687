"""The two tables an ensemble keeps of each run (`national`, `by_cohort`), as a run's columns and as tables.

A worker sends back what the tables are made of (`KeptColumns`: the per-month arrays, a few kilobytes of
numpy) rather than two DataFrames: building and pickling the frames was a twentieth of a 1:50 run's CPU in
the worker and the unpickling competed with the runs for the main process's share of the cores. The
ensemble then builds each table once for all its runs (`stacked`), the same table cell for cell, column
order and dtypes included, as building every run's frame and stacking them (tests/test_kept_tables.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model import parameters as reg

N_COHORTS = len(reg.COHORTS)
NAMES = ("national", "by_cohort")


@dataclass
class KeptColumns:
    """One run's kept tables before they are tables: months, and each table's value columns in order."""

    months: np.ndarray  # the run's months (datetime64: [ms] in an ensemble)
    national: dict[str, np.ndarray]  # month by month, in the table's column order (after `month`)
    by_cohort: dict[str, np.ndarray]  # cohort by cohort, month by month within each (after `month`, `cohort`)

    def table(self, name: str) -> pd.DataFrame:
        """The run's own table (`Sim.run(tables="kept")`, resumable runs, a single run's results)."""
        return stacked(name, None, [self])


def stacked(name: str, runs: list[int] | None, parts: list[KeptColumns]) -> pd.DataFrame:
    """Table `name` of every run in `parts`, stacked in the order given, with a `run` column first if `runs`
    is given: one DataFrame made from the concatenated columns, the table `model.ensemble._stack` makes of
    the runs' own tables."""
    rows = [len(p.months) * (1 if name == "national" else N_COHORTS) for p in parts]
    cols: dict[str, np.ndarray] = {}
    if runs is not None:
        cols["run"] = np.repeat(np.array(runs, dtype=np.int64), rows)
    if name == "national":
        cols["month"] = _joined([p.months for p in parts])
    else:
        cols["month"] = _joined([np.tile(p.months, N_COHORTS) for p in parts])
        cols["cohort"] = _joined([cohort_column(len(p.months)) for p in parts])
    for col in getattr(parts[0], name):
        cols[col] = _joined([getattr(p, name)[col] for p in parts])
    return pd.DataFrame(cols)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


@functools.lru_cache(maxsize=8)
def cohort_column(T: int) -> np.ndarray:
    """The by-cohort table's cohort names, T rows each (read-only; pandas copies it into its own column)."""
    out = np.repeat(np.array(reg.COHORTS, object), T)
    out.flags.writeable = False
    return out
