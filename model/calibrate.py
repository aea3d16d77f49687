"""`phb calibrate SCENARIO`: fit the scenario's uncertain parameters to the published figures, with honest noise.

Method: ABC-SMC (pyabc). Each particle is run with several seeds (common to all particles, from the
scenario's seed), so model noise is averaged, and its size (the spread between seeds) is added to the
observation error rather than mistaken for signal. The simulated figure is what its source would have
printed (the observation model, model/register/observation.py):

- a stock (`phbs_held`, `direct_payments_held`) is the model's mean count over the period × the coverage of
  the returns: `reporting_share` where the figure states how many CCGs reported, `early_reporting_share`
  for NHS England's earlier statements of unknown coverage (coverage may change over time);
- a flow (`new_phbs_in_year`, FOI) is the budgets issued in the period × `foi_completeness`;
- every figure carries a lognormal error (`observation_error`) plus the model's own seed-to-seed spread.

The fitted parameters come from the scenario's `calibrate:` list, or else from every register row whose
source says "calibrated", so the set follows the register when the model's structure changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from model import parameters as reg
from model.register.observation import ROWS as OBSERVATION_ROWS
from model.posterior import Posterior, prior_spec  # noqa: F401 (prior_spec: callers read it from here too)
from model.scenario import Scenario, ScenarioError

DATA_DIR = Path(__file__).resolve().parent / "data"
FIGURES_FILE = DATA_DIR / "calibration_figures.csv"
SOURCE_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "phb_uptake_calibration.csv"
FITTED_MEASURES = {"new_phbs_in_year": "flow", "phbs_held": "stock", "direct_payments_held": "stock"}
EVIDENCE = {  # (measure, period_end) → entry in docs/evidence.md
    ("new_phbs_in_year", "2015-03-31"): "E1", ("phbs_held", "2015-11-30"): "E2",
    ("direct_payments_held", "2015-11-30"): "E2", ("phbs_planned_by_ccgs", "2016-03-31"): "E3",
    ("planned_spend_gbp", "2016-03-31"): "E3", ("new_phbs_in_year", "2016-03-31"): "E1",
    ("phbs_held", "2016-05-31"): "E4", ("phbs_held", "2016-10-31"): "E5",
}
OBSERVATION = {p.name for p in OBSERVATION_ROWS}  # parameters of the observation model, not of the roll-out
SEEDS = 3
DEFAULT_SCALE = 50  # people per agent in a fit: a run to Oct 2016 takes ~0.1 CPU-s (docs/validation.md)


class CalibrationError(ScenarioError):
    """Bad calibration input: the message names the file or option and what is allowed."""


# ---- the figures -----------------------------------------------------------------------------------------
def derive_figures(source: Path = SOURCE_FILE, out: Path = FIGURES_FILE) -> pd.DataFrame:
    """The shipped table: published figures with how each was produced (stock/flow, coverage) and its evidence."""
    raw = source.read_bytes()
    t = pd.read_csv(source, dtype=str, keep_default_na=False)
    t["kind"] = [FITTED_MEASURES.get(m, "shown") for m in t["measure"]]
    t["coverage"] = ["foi_completeness" if k == "flow" else ("reporting_share" if c else "early_reporting_share")
                     if k == "stock" else "" for k, c in zip(t["kind"], t["ccgs_reporting"])]
    t["evidence"] = [EVIDENCE.get((m, e), "") for m, e in zip(t["measure"], t["period_end"])]
    t["use"] = ["fitted" if k != "shown" else "shown" for k in t["kind"]]
    t = t.drop(columns=["source"])
    header = (f"# derived from phb_uptake_calibration.csv sha256={hashlib.sha256(raw).hexdigest()} by "
              "python -m model.calibrate --derive; sources in docs/evidence.md\n")
    out.write_text(header + t.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    return t


def figures(vintage: dt.date | None = None, path: Path = FIGURES_FILE) -> pd.DataFrame:
    """The fitted figures dated up to the vintage (the scenario's knowledge date)."""
    t = pd.read_csv(path, comment="#", parse_dates=["period_start", "period_end"], keep_default_na=False)
    t = t[t["use"] == "fitted"]
    if vintage is not None:
        t = t[t["period_end"] <= pd.Timestamp(vintage)]
    return t.reset_index(drop=True)


def vintage(scenario: Scenario) -> dt.date:
    """The knowledge date: the scenario's `knowledge_date` parameter where the register has one, else its end."""
    return getattr(scenario.parameters, "knowledge_date", None) or scenario.until


def fit_window(scenario: Scenario, table: pd.DataFrame, scale: int) -> Scenario:
    """The scenario as a fit runs it: coarse, and only up to the last figure (a fraction of a second a run)."""
    last = table["period_end"].max().date()
    return scenario.with_(agent_scale=scale, until=min(scenario.until, last) if last > scenario.start else last)


def data_hash(path: Path = FIGURES_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# ---- the model's value of a figure, by definition ---------------------------------------------------------
def series_value(national: pd.DataFrame, measure: str, start, end) -> float:
    """The model's true value of one published measure over a period (stock: mean; flow: sum or year-to-date)."""
    n = national
    months = n["month"]
    inside = (months >= pd.Timestamp(start).to_period("M").to_timestamp()) & (months <= pd.Timestamp(end))
    if not inside.any():
        raise CalibrationError(f"the model's series do not cover {start:%Y-%m-%d}–{end:%Y-%m-%d}; run to a later date")
    if measure in ("phbs_held", "direct_payments_held"):
        col = "holders" if measure == "phbs_held" else "direct_payment"
        return float(n.loc[inside, col].mean())
    if measure in ("new_phbs_in_year", "phbs_issued_in_year"):
        if "issued_ytd" in n.columns:
            return float(n.loc[inside, "issued_ytd"].iloc[-1])
        return float(n.loc[inside, "new_holders"].sum())
    if measure == "phbs_received_ytd":
        return float(n.loc[inside, "received_ytd"].iloc[-1])
    raise CalibrationError(f"measure '{measure}' has no model series; allowed: phbs_held, direct_payments_held, "
                           "new_phbs_in_year, phbs_issued_in_year, phbs_received_ytd")


# ---- which parameters, and their prior -------------------------------------------------------------------
def calibrated_names(scenario: Scenario) -> list[str]:
    """The scenario's `calibrate:` list, else every register row whose source says it is calibrated."""
    if scenario.calibrate:
        return list(scenario.calibrate)
    return [p.name for p in reg.REGISTER if p.uncertain and "calibrated" in p.source.lower()]


def as_values(names: list[str], par) -> dict:
    return {n: (int(round(float(par[n]))) if reg.BY_NAME[n].kind is int else float(par[n])) for n in names}


# ---- one particle: the published figures it would produce ------------------------------------------------
def fit_seeds(scenario: Scenario, n: int = SEEDS) -> list[int]:
    """Seeds shared by every particle (common random numbers), from the scenario's seed."""
    return [int(np.random.SeedSequence(scenario.seed, spawn_key=(3, k)).generate_state(1, np.uint32)[0])
            for k in range(n)]


def fit_series(scenario: Scenario) -> pd.DataFrame:
    """The national series a fit needs (holders, direct payments, budgets issued in year), straight from the
    recorder: the same definitions as model/results.py's national table without building every other table
    (which took over half of a run's CPU at fit scale)."""
    from model.people import HOLDING, State
    from model.results import year_to_date
    from model.rollout import RolloutModel

    m = RolloutModel(scenario, services=False).run()
    rec, scale = m.recorder, m.agent_scale
    by_state = rec.counts.astype(np.int64).sum(axis=2) * scale  # month, state
    starts = rec.starts.sum(axis=1).astype(np.float64) * scale
    out = pd.DataFrame({"month": pd.to_datetime(pd.Series(m.months)),
                        "holders": by_state[:, list(HOLDING)].sum(axis=1),
                        "direct_payment": by_state[:, State.DIRECT_PAYMENT],
                        "issued_ytd": year_to_date(starts, rec.fy)})
    m.release()
    return out


def model_figures(scenario: Scenario, values: dict, seeds: list[int], table: pd.DataFrame) -> np.ndarray:
    """True model values of each figure, one row per seed (the seeds of a particle run in one batch)."""
    trial = scenario.with_parameters(**values)
    out = np.empty((len(seeds), len(table)))
    for i, s in enumerate(seeds):
        nat = fit_series(trial.with_(seed=s))
        out[i] = [series_value(nat, r.measure, r.period_start, r.period_end) for r in table.itertuples()]
    return out


def observe(true: np.ndarray, table: pd.DataFrame, pars: dict, rng: np.random.Generator) -> np.ndarray:
    """Log published figures that sources would print, given model values over seeds (rows)."""
    logs = np.log(np.maximum(true, 0.5))
    spread = logs.std(axis=0, ddof=1) if len(logs) > 1 else np.zeros(logs.shape[1])
    cover = np.array([float(pars[c]) for c in table["coverage"]])
    sd = np.sqrt(float(pars["observation_error"]) ** 2 + spread ** 2)
    return logs.mean(axis=0) + np.log(np.maximum(cover, 1e-6)) + rng.normal(0.0, sd)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the sampler's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _parameters_of(scenario: Scenario, values: dict) -> dict:
    base = scenario.parameters.model_dump()
    return {**base, **values}


# ---- the fit -----------------------------------------------------------------------------------------------
def fit(scenario: Scenario, *, population: int = 200, generations: int = 8, seeds: int = SEEDS,
        scale: int | None = None, min_acceptance: float = 0.03, max_minutes: float = 22.0, workers: int | None = None,
        progress=None, table: pd.DataFrame | None = None) -> "Posterior":
    """ABC-SMC over the calibrated parameters; returns the weighted posterior with its provenance.
    `table` replaces the published figures (tests fit figures the model itself generated)."""
    import logging

    import pyabc
    from pyabc.sampler import MulticoreEvalParallelSampler, SingleCoreSampler

    from model import __version__

    logging.getLogger("ABC").setLevel(logging.WARNING)
    for name in ("ABC.Sampler", "ABC.History", "ABC.Distance", "ABC.Epsilon", "ABC.Acceptor"):
        logging.getLogger(name).setLevel(logging.WARNING)
    scale = scale or (scenario.agent_scale if scenario.agent_scale > 1 else DEFAULT_SCALE)
    table = figures(vintage(scenario)) if table is None else table
    if table.empty:
        raise CalibrationError(f"no published figure is dated up to {vintage(scenario)} (the scenario's vintage: "
                               f"knowledge_date or until:); see {FIGURES_FILE.name}")
    run_as = fit_window(scenario, table, scale)
    names = calibrated_names(scenario)
    obs_names = OBSERVATION
    fixed_obs = {k: getattr(scenario.parameters, k) for k in sorted(obs_names) if k not in names}
    seed_list = fit_seeds(scenario, seeds)
    np.random.seed(scenario.seed % 2**32)  # pyabc's own draws (sampler, kernels) use numpy's global stream

    def simulate(par) -> dict:
        values = as_values(names, par)
        pars = {**_parameters_of(scenario, {}), **fixed_obs, **values}
        model_values = {k: v for k, v in values.items() if k not in obs_names}
        try:
            true = model_figures(run_as, model_values, seed_list, table)
        except (ValueError, ScenarioError):
            return {"y": np.full(len(table), 1e3)}  # a draw the model cannot run lies far from every figure
        key = np.frombuffer(json.dumps(values, sort_keys=True).encode(), np.uint8)
        rng = np.random.default_rng([scenario.seed, *key.tolist()])
        return {"y": observe(true, table, pars, rng)}

    prior = pyabc.Distribution(**{n: pyabc.RV("truncnorm", (lo - m) / s, (hi - m) / s, loc=m, scale=s)
                                  for n, (m, s, lo, hi) in ((n, prior_spec(n)) for n in names)})
    observed = {"y": np.log(table["value"].astype(float).to_numpy())}
    sampler = SingleCoreSampler() if workers == 1 else MulticoreEvalParallelSampler(n_procs=workers or 2)
    sampler.show_progress = False
    abc = pyabc.ABCSMC(simulate, prior, pyabc.PNormDistance(p=2), population_size=population, sampler=sampler)
    db = Path(tempfile.mkdtemp(prefix="phb-abc-")) / "abc.db"
    abc.new(f"sqlite:///{db}", observed)
    t0, cpu0, load0 = time.perf_counter(), _cpu_seconds(), os.getloadavg()
    stop = threading.Event()

    def watch() -> None:  # the sampler blocks: follow the generations from the database, for a progress bar
        seen = 0
        while not stop.wait(2.0):
            try:
                pops = pyabc.History(f"sqlite:///{db}", _id=abc.history.id).get_all_populations()
            except Exception:  # noqa: BLE001 (the database is being written; look again shortly)
                continue
            done = max(0, len(pops) - 1)
            if progress is not None and done > seen:
                seen = done
                progress(done, generations, pops.iloc[-1].to_dict())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        history = abc.run(max_nr_populations=generations, min_acceptance_rate=min_acceptance,
                          max_walltime=dt.timedelta(minutes=max_minutes))
    finally:
        stop.set()
        watcher.join()
    df, w = history.get_distribution()
    draws = df[names].copy()
    for n in names:
        if reg.BY_NAME[n].kind is int:
            draws[n] = draws[n].round().astype(int)
    pops = history.get_all_populations()
    provenance = {
        "scenario": scenario.name, "vintage": str(vintage(scenario)), "data_file": FIGURES_FILE.name,
        "data_sha256_16": data_hash(), "figures": len(table), "method": f"pyabc {pyabc.__version__} ABC-SMC "
        "(PNormDistance p=2 on log figures, median-quantile epsilon, multivariate normal transitions); noisy ABC "
        "with lognormal observation error plus seed-to-seed spread", "population": population,
        "generations": int(history.max_t + 1), "epsilons": [float(e) for e in pops.loc[pops["t"] >= 0, "epsilon"]],
        "simulations": int(history.total_nr_simulations), "seeds": seed_list, "agent_scale": scale,
        "calibrated": names, "fixed_observation": fixed_obs, "model_version": __version__,
        "minutes": round((time.perf_counter() - t0) / 60, 2),
        "cpu_minutes": round((_cpu_seconds() - cpu0) / 60, 2), "load_average": [list(load0), list(os.getloadavg())],
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return Posterior(draws.reset_index(drop=True), np.asarray(w, float) / np.sum(w), provenance)


def predictive(scenario: Scenario, posterior, n: int = 60, scale: int | None = None, prior: bool = False,
               seed: int = 0, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Posterior (or prior) predictive of each fitted figure as its source would print it: one row per draw."""
    table = figures(vintage(scenario)) if table is None else table
    scale = scale or int(posterior.provenance.get("agent_scale", DEFAULT_SCALE))
    run_as = fit_window(scenario, table, scale)
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(4, int(prior), seed)))
    names = list(posterior.draws.columns)
    rows = []
    for i in range(n):
        if prior:
            values = {}
            for name in names:
                m, s, lo, hi = prior_spec(name)
                values[name] = float(np.clip(rng.normal(m, s), lo, hi))
            values = as_values(names, values)
        else:
            values = posterior.sample(rng)
        pars = {**_parameters_of(scenario, {}), **values}
        model_values = {k: v for k, v in values.items() if k not in OBSERVATION}
        try:
            true = model_figures(run_as, model_values, [int(rng.integers(2**62))], table)
        except (ValueError, ScenarioError):
            continue
        rows.append(np.exp(observe(true, table, pars, rng)))
    out = pd.DataFrame(rows, columns=[f"{r.measure}@{r.period_end:%Y-%m}" for r in table.itertuples()])
    return out


if __name__ == "__main__":
    import sys

    if "--derive" in sys.argv:
        derive_figures(Path(sys.argv[-1]) if sys.argv[-1].endswith(".csv") else SOURCE_FILE)
        print(f"wrote {FIGURES_FILE}")
