"""The register's row type and groups (model/parameters.py gathers the rows from this package)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

Value = float | int | bool | str | dt.date

GROUPS = ("national policy", "CCG behaviour", "patients", "budgets", "providers and money")
COHORTS = ("chc", "children", "mental_health", "learning_disability", "long_term", "wheelchair")
COHORT_LABELS = {
    "chc": "NHS Continuing Healthcare (adults)",
    "children": "Children's continuing care",
    "mental_health": "Mental health (incl. section 117)",
    "learning_disability": "Learning disability and autism",
    "long_term": "Long-term conditions",
    "wheelchair": "Wheelchair users",
}


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    group: str
    unit: str
    default: Value
    low: Value | None  # plausible range, read as an 80% interval
    high: Value | None
    source: str
    min: Value | None = None  # what validation accepts (defaults to 0 / no upper bound)
    max: Value | None = None
    choices: tuple[str, ...] | None = None
    lever: bool = False  # a policy choice the user sets, not an uncertain fact: ensembles never draw it

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def uncertain(self) -> bool:
        """Numeric parameters with a range can be drawn in an ensemble."""
        return isinstance(self.default, (int, float)) and not isinstance(self.default, bool) \
            and self.low is not None and self.high is not None and self.low != self.high and not self.lever


P = Parameter
NP, CB, PT, BU, PM = GROUPS

