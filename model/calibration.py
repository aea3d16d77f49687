"""Fit the baseline to the published uptake figures of 2014–2016.

Method: least squares on log ratios between the model's figures (as CCGs would have reported them:
true count × `reporting_share`) and each published figure in `phb_uptake_calibration.csv`, over the
few register parameters marked "calibrated", by Nelder–Mead from the register defaults. Every trial
uses the same seed (common random numbers), so the loss is a smooth-ish function of the parameters.
The fitted values are then written into the register by hand, with the loss, so the fit is visible.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from model.results import Results
from model.scenario import Scenario, load_scenario

CALIBRATION_FILE = Path(__file__).resolve().parent / "data" / "calibration_targets.csv"
FITTED = ("offer_rate_chc", "take_up_chc", "initial_holders", "readiness_learning_rate", "redesignation_threshold",
          "assurance_rank_response", "ipc_readiness_rate",
          "direct_payment_preference")
FIT_UNTIL = dt.date(2016, 10, 31)


def targets() -> pd.DataFrame:
    """The published figures the baseline is fitted to (planned figures are shown, not fitted)."""
    t = pd.read_csv(CALIBRATION_FILE, parse_dates=["period_start", "period_end"])
    return t[t["use"] == "fitted"].reset_index(drop=True)


def modelled(results: Results, row: pd.Series, reporting_share: float) -> float:
    """The model's value of one published figure, over the same period and definition."""
    n = results.national
    in_period = (n["month"] >= row["period_start"]) & (n["month"] <= row["period_end"])
    if row["measure"] == "new_phbs_in_year":
        return float(n.loc[in_period, "new_holders"].sum()) * reporting_share
    column = {"phbs_held": "holders", "direct_payments_held": "direct_payment"}[row["measure"]]
    return float(n.loc[in_period, column].mean()) * reporting_share


def comparison(results: Results, scenario: Scenario) -> pd.DataFrame:
    t = targets()
    t["model"] = [modelled(results, row, scenario.parameters.reporting_share) for _, row in t.iterrows()]
    t["log_ratio"] = np.log(t["model"] / t["value"])
    return t[["period_start", "period_end", "measure", "value", "model", "log_ratio"]]


def loss(results: Results, scenario: Scenario) -> float:
    return float((comparison(results, scenario)["log_ratio"] ** 2).sum())


def fit(scenario: Scenario | None = None, max_evaluations: int = 200) -> tuple[dict[str, float], float]:
    from scipy.optimize import minimize

    from model.sim import Sim

    base = (scenario or load_scenario("baseline")).with_(until=FIT_UNTIL)
    x0 = np.array([getattr(base.parameters, name) for name in FITTED], float)

    def objective(scaled: np.ndarray) -> float:
        values = {n: (int(round(v)) if n == "initial_holders" else float(v)) for n, v in zip(FITTED, scaled * x0)}
        try:
            trial = base.with_parameters(**values)
        except ValueError:
            return 1e6  # outside the register's allowed range
        return loss(Sim(trial.with_(agent_scale=4)).run(services=False), trial)

    best = minimize(objective, np.ones(len(x0)), method="Nelder-Mead",
                    options={"maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-4, "initial_simplex": None})
    fitted = {n: float(v) for n, v in zip(FITTED, best.x * x0)}
    return fitted, float(best.fun)


if __name__ == "__main__":
    values, final = fit()
    for k, v in values.items():
        print(f"{k:28s} {v:.4g}")
    print(f"loss (sum of squared log ratios): {final:.4f}")
