"""Which commissioning organisations exist when, and how they merge.

Reads the two tables shipped in ``model/data`` (derived from public ONS / NHS
Digital / NHSBSA files by ``model.data.derive_ccg_tables``), so that the
simulation can open and close CCG agents on the real dates: 211 CCGs in April
2013, down to 106 in April 2021, then 42 ICBs from 1 July 2022.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"


def _dates(s: pd.Series) -> pd.Series:
    """ISO strings -> datetime.date (empty -> None), so comparisons with date work."""
    return s.map(lambda v: dt.date.fromisoformat(v) if v else None)


@dataclass(frozen=True, eq=False)  # eq=False: comparing DataFrames with == is ambiguous
class Geography:
    """Organisations (indexed by ODS code) and the dated transitions between them."""

    organisations: pd.DataFrame
    transitions: pd.DataFrame

    def open_on(self, day: dt.date) -> list[str]:
        """Codes open on ``day`` (open_date <= day <= close_date, the last day), sorted. Worked out once per
        day in a process (every run of an ensemble asks for its start date): a fresh list each call."""
        known = self.__dict__.setdefault("_open_on", {})  # frozen dataclass: cache beside its fields
        if day not in known:
            o = self.organisations
            is_open = (o["open_date"] <= day) & o["close_date"].map(lambda c: c is None or day <= c)
            known[day] = tuple(sorted(o.index[is_open]))
        return list(known[day])

    @functools.cached_property
    def indexed(self) -> tuple[tuple[str, ...], Mapping[str, int], np.ndarray, tuple[str, ...]]:
        """Every organisation's code, its index, its region, and the regions, read-only: a model reads them
        at set-up, so they are worked out once per process, not once per run."""
        codes = tuple(self.organisations.index)
        region = np.array(self.organisations["region"].astype(str))
        region.flags.writeable = False
        index = MappingProxyType({c: i for i, c in enumerate(codes)})
        return codes, index, region, tuple(sorted(set(region)))

    @functools.cached_property
    def records(self) -> dict[str, dict]:
        """Each organisation's row as a plain dict: a model looks one up whenever a CCG is created."""
        return self.organisations.to_dict("index")

    def transition_dates(self) -> list[dt.date]:
        """Sorted distinct dates on which organisations merge, split or become ICBs (a fresh list each call)."""
        return list(self._transition_dates)

    @functools.cached_property
    def _transition_dates(self) -> tuple[dt.date, ...]:
        return tuple(sorted(set(self.transitions["date"])))

    def transitions_on(self, day: dt.date) -> pd.DataFrame:
        """Rows (from_code, to_code, share) taking effect on ``day``.

        Each from_code's shares sum to 1: the fraction of its people moving to
        each to_code. Organisations not listed carry on unchanged.
        """
        t = self.transitions
        return t.loc[t["date"] == day, ["from_code", "to_code", "share"]].reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def load_geography() -> Geography:
    """Load the shipped tables once (cached; treat the frames as read-only)."""
    orgs = pd.read_csv(DATA_DIR / "ccgs.csv", dtype=str, keep_default_na=False)
    orgs["open_date"] = _dates(orgs["open_date"])
    orgs["close_date"] = _dates(orgs["close_date"])
    orgs["population"] = orgs["population"].astype(int)
    orgs["going_further_faster"] = orgs["going_further_faster"].astype(int)
    orgs = orgs.set_index("code")

    trans = pd.read_csv(DATA_DIR / "ccg_transitions.csv", dtype=str, keep_default_na=False)
    trans["date"] = _dates(trans["date"])
    trans["share"] = trans["share"].astype(float)
    return Geography(organisations=orgs, transitions=trans)
