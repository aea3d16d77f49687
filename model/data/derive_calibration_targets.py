"""Derive the calibration targets the model ships from the shared published figures.

Reads `phb_uptake_calibration.csv` (shared/data; figures quoted by Pulse from NHS England, V2 in
DOMAIN.md) and writes `calibration_targets.csv`: the same figures with a `use` column saying which are
fitted (stocks and yearly flows of PHBs) and which are only shown (CCGs' planned numbers and spend).
Run: python -m model.data.derive_calibration_targets [SOURCE_CSV]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[1] / ".." / "shared" / "data" / "phb_uptake_calibration.csv"
FITTED_MEASURES = {"new_phbs_in_year", "phbs_held", "direct_payments_held"}


def derive(source: Path, out: Path) -> None:
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    table["use"] = ["fitted" if m in FITTED_MEASURES else "shown" for m in table["measure"]]
    table.to_csv(out, index=False, lineterminator="\n")


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    if not src.exists():
        sys.exit(f"derive_calibration_targets: no such file {src}")
    derive(src, HERE / "calibration_targets.csv")
    print(f"wrote {HERE / 'calibration_targets.csv'}")
