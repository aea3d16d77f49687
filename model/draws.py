"""Seeds and parameter draws of an ensemble's runs: a function of (seed, run index) alone.

    SeedSequence(seed, spawn_key=(0, i))   run i's parameter draws
    SeedSequence(seed, spawn_key=(1, i))   run i's model seed (the model spawns one stream per process)
    SeedSequence(seed, spawn_key=(2, i))   run i's resample from a posterior

These are exactly `SeedSequence(seed).spawn(3)[k].spawn(n)[i]`, so two scenarios compared with the same seed
share every run's random streams and parameter quantiles (common random numbers), and any run can be re-run
alone by index (`run_scenario`). How ranges are read is in model/ensemble.py's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from model import parameters as reg
from model.scenario import Scenario, ScenarioError, Uncertainty
from model.units import Z80

MODES = ("both", "randomness", "parameters")
UNCERTAIN_CHOICES = ("scenario", "all")
MAX_DRAW_ATTEMPTS = 100
CANDIDATES = tuple(p.name for p in reg.REGISTER if p.uncertain)  # draw order: the register's
_POSITION = {name: i for i, name in enumerate(CANDIDATES)}  # each candidate's uniform in a run's draw
_REGISTER_RANGE = Uncertainty()  # a register range read as an 80% interval (frozen: one serves every name)


class EnsembleError(ScenarioError):
    """Bad ensemble input: the message names the option and what is allowed."""


def _seq(seed: int, branch: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(branch, index))


def run_seed(seed: int, index: int) -> int:
    """The model seed of run `index` (a 63-bit integer, as `Scenario.seed` takes)."""
    hi, lo = _seq(seed, 1, index).generate_state(2, np.uint32)
    return int((int(hi) << 32 | int(lo)) & (2**63 - 1))


def uncertain_parameters(scenario: Scenario, which: str | None = None) -> dict[str, Uncertainty]:
    """The parameters an ensemble draws, and how: the scenario's map, or all register ranges."""
    which = resolve_uncertain(scenario, which)
    if which == "scenario":
        return dict(scenario.uncertain)
    overridden = scenario.overrides()
    out = {name: _REGISTER_RANGE for name in CANDIDATES if name not in overridden}
    out.update(scenario.uncertain)
    return {name: out[name] for name in CANDIDATES if name in out}


def resolve_uncertain(scenario: Scenario, which: str | None) -> str:
    if which is None:
        return "scenario" if scenario.uncertain else "all"
    if which not in UNCERTAIN_CHOICES:
        raise EnsembleError(f"uncertain: '{which}' is not allowed; use one of {', '.join(UNCERTAIN_CHOICES)}")
    return which


_STANDARD_NORMAL = NormalDist()  # made once: a fan draws some seven thousand quantiles


def _quantile(how: Uncertainty, p: reg.Parameter, current: float, u: float) -> float:
    lo = float(p.low if how.low is None else how.low)
    hi = float(p.high if how.high is None else how.high)
    u = min(max(u, 1e-12), 1 - 1e-12)
    if hi <= lo:
        x = lo
    elif how.distribution == "uniform":
        x = lo + u * (hi - lo)
    elif how.distribution == "triangular":  # mode: the scenario's value, inside the range
        c = min(max(float(current), lo), hi)
        f = (c - lo) / (hi - lo)
        x = lo + np.sqrt(u * (hi - lo) * (c - lo)) if u < f else hi - np.sqrt((1 - u) * (hi - lo) * (hi - c))
    else:  # normal80: the range as an 80% interval
        x = (lo + hi) / 2 + (hi - lo) / (2 * Z80) * _STANDARD_NORMAL.inv_cdf(u)
    x = max(x, float(p.min if p.min is not None else 0.0))
    if p.max is not None:
        x = min(x, float(p.max))
    return int(round(x)) if p.kind is int else float(x)


def posterior_draws(scenario: Scenario, seed: int, index: int, prior: bool = False):
    """Where the scenario names a posterior (and the prior is not asked for): a function giving run `index`'s
    calibrated parameter values, a weighted resample from the posterior's own stream (seed, (2, index))."""
    if prior or not getattr(scenario, "posterior", None):
        return None
    from model.posterior import posterior_of

    post = posterior_of(scenario)
    rng = np.random.default_rng(_seq(seed, 2, index))
    return lambda: post.sample(rng)


def draw_parameters(scenario: Scenario, index: int, which: str | None = None,
                    seed: int | None = None, prior: bool = False,
                    spec: dict[str, Uncertainty] | None = None) -> tuple[dict[str, Any], int]:
    """Run `index`'s drawn parameter values (a function of seed and index alone) and the attempts taken;
    calibrated parameters come from the scenario's posterior unless `prior`. `spec`: the scenario's
    `uncertain_parameters(scenario, which)` when the caller has it already (the same for every run)."""
    from model.rollout import cohort_flows

    spec = uncertain_parameters(scenario, which) if spec is None else spec
    seed = scenario.seed if seed is None else seed
    from_posterior = posterior_draws(scenario, seed, index, prior)
    if not spec and from_posterior is None:
        return {}, 0
    rng = np.random.default_rng(_seq(seed, 0, index))
    current = scenario.parameters
    for attempt in range(1, MAX_DRAW_ATTEMPTS + 1):
        u = rng.random(len(CANDIDATES))  # one uniform per candidate, so quantiles line up across scenarios
        values = {name: _quantile(how, reg.BY_NAME[name], getattr(current, name), float(u[_POSITION[name]]))
                  for name, how in spec.items()}
        if from_posterior is not None:
            values.update(from_posterior())
        try:
            cohort_flows(scenario.with_parameters(**values).parameters)
        except (ScenarioError, ValueError):
            continue
        return values, attempt
    raise EnsembleError(f"run {index}: no usable parameter draw in {MAX_DRAW_ATTEMPTS} attempts; narrow the "
                        f"ranges in uncertain: ({', '.join(spec)})")


@dataclass(frozen=True)
class RunSpec:
    index: int
    seed: int
    parameters: dict[str, Any]
    draw_attempts: int


def plan_run(scenario: Scenario, index: int, mode: str = "both", uncertain: str | None = None,
             prior: bool = False, spec: dict[str, Uncertainty] | None = None) -> RunSpec:
    _check_mode(mode)
    seed = scenario.seed if mode == "parameters" else run_seed(scenario.seed, index)
    values, attempts = draw_parameters(scenario, index, uncertain, prior=prior, spec=spec) \
        if mode != "randomness" else ({}, 0)
    return RunSpec(index, seed, values, attempts)


def plan_runs(scenario: Scenario, runs: int, mode: str = "both", uncertain: str | None = None,
              prior: bool = False) -> list[RunSpec]:
    """Every run's `plan_run`, with what is the same for all (which parameters are drawn, and how) worked
    out once: the same specs."""
    _check_mode(mode)
    spec = uncertain_parameters(scenario, uncertain) if mode != "randomness" else None
    return [plan_run(scenario, i, mode, uncertain, prior, spec) for i in range(runs)]


def run_scenario(scenario: Scenario, index: int, mode: str = "both", uncertain: str | None = None,
                 prior: bool = False) -> Scenario:
    """The scenario of run `index` exactly as the ensemble ran it: re-run it alone with `Sim(...)`."""
    spec = plan_run(scenario, index, mode, uncertain, prior)
    return scenario.with_parameters(**spec.parameters).with_(seed=spec.seed)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise EnsembleError(f"mode: '{mode}' is not allowed; use one of {', '.join(MODES)}")
