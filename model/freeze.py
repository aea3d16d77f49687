"""The frozen baseline: a small run whose national series are stored in tests/frozen/, so any change to
the numbers the model produces is seen (tests/test_hardening_frozen.py) and accepted on purpose.

    .venv/bin/python -m model.freeze          # regenerate after an intended change to the model
    .venv/bin/python -m model.freeze --check  # compare only; exit 1 and name the differences

The run: baseline at one agent per 50 people, to March 2017, patient side only (a few seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FROZEN = Path(__file__).resolve().parent.parent / "tests" / "frozen" / "baseline_small.csv"
SCALE, UNTIL = 50, dt.date(2017, 3, 31)
COLUMNS = ("holders", "notional", "third_party", "direct_payment", "new_holders", "received_ytd",
           "reported_holders", "issued_ytd", "holders_recurring", "eligible_population", "offers", "declines",
           "spend_gbp")


def current() -> pd.DataFrame:
    """The small run's national series now (the columns of COLUMNS the model has)."""
    from model.scenario import load_scenario
    from model.sim import Sim

    res = Sim(load_scenario("baseline").with_(agent_scale=SCALE, until=UNTIL)).run(services=False)
    nat = res.national
    cols = [c for c in COLUMNS if c in nat.columns]
    out = nat[["month", *cols]].copy()
    out["month"] = pd.to_datetime(out["month"]).dt.strftime("%Y-%m")
    return out.reset_index(drop=True)


def frozen() -> pd.DataFrame:
    return pd.read_csv(FROZEN, dtype={"month": str})


def differences(now: pd.DataFrame, then: pd.DataFrame, rtol: float = 1e-9) -> list[str]:
    """What changed, one line per column (empty when identical up to float rounding)."""
    out = []
    if list(now["month"]) != list(then["month"]):
        return [f"months differ: now {now['month'].iloc[0]}..{now['month'].iloc[-1]} ({len(now)}), frozen "
                f"{then['month'].iloc[0]}..{then['month'].iloc[-1]} ({len(then)})"]
    for c in then.columns.drop("month"):
        if c not in now.columns:
            out.append(f"{c}: missing from the model's national table")
            continue
        a, b = now[c].to_numpy(float), then[c].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=rtol, atol=1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            out.append(f"{c}: {int(bad.sum())} month(s) differ, first {now['month'].iloc[i]}: now {a[i]:g}, "
                       f"frozen {b[i]:g}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.freeze", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the frozen file; do not write")
    args = ap.parse_args(argv)
    now = current()
    if args.check:
        diffs = differences(now, frozen())
        print("\n".join(diffs) if diffs else f"identical to {FROZEN}")
        return 1 if diffs else 0
    FROZEN.parent.mkdir(parents=True, exist_ok=True)
    now.to_csv(FROZEN, index=False, float_format="%.10g")
    print(f"wrote {FROZEN} ({len(now)} months, {len(now.columns) - 1} series)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
