"""A posterior: weighted parameter draws with their provenance (data, vintage, method, seeds, model version).

Stored as two files under posteriors/: NAME.csv (a `weight` column and one column per calibrated parameter)
and NAME.json (the provenance). A scenario names its posterior with `posterior: NAME`; `phb ensemble`
then draws those parameters from it (a weighted resample, from each run's own seed stream) and every
other uncertain parameter from its register range, as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model import parameters as reg
from model.scenario import ScenarioError
from model.units import Z80

POSTERIOR_DIR = Path(__file__).resolve().parent.parent / "posteriors"
INFORMED = 0.7  # posterior sd below this share of the prior sd: the data informed the parameter


class PosteriorError(ScenarioError):
    """A posterior that is missing or does not fit the register: the message names the file."""


@dataclass
class Posterior:
    draws: pd.DataFrame  # one column per calibrated parameter
    weights: np.ndarray  # sum to 1
    provenance: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.draws.columns)

    def sample(self, rng: np.random.Generator) -> dict:
        """One weighted draw, as parameter values of the right type."""
        i = int(rng.choice(len(self.weights), p=self.weights))
        row = self.draws.iloc[i]
        return {n: (int(row[n]) if reg.BY_NAME[n].kind is int else float(row[n])) for n in self.names}

    def quantiles(self, qs=(0.1, 0.5, 0.9)) -> pd.DataFrame:
        """Weighted quantiles of each parameter."""
        order = {}
        for n in self.names:
            x = self.draws[n].to_numpy(float)
            idx = np.argsort(x)
            cw = np.cumsum(self.weights[idx])
            order[n] = [float(x[idx][min(np.searchsorted(cw, q), len(x) - 1)]) for q in qs]
        return pd.DataFrame(order, index=[f"q{int(q * 100)}" for q in qs]).T

    def sd_ratios(self) -> dict[str, float]:
        """Posterior sd over prior sd, per parameter (the prior: the register range as an 80% interval)."""
        out = {}
        for n in self.names:
            x = self.draws[n].to_numpy(float)
            mean = float(np.sum(self.weights * x))
            out[n] = float(np.sqrt(np.sum(self.weights * (x - mean) ** 2))) / prior_spec(n)[1]
        return out

    def informed(self) -> list[str]:
        """Calibrated parameters the data narrowed (posterior sd < INFORMED × prior sd)."""
        return [n for n, r in self.sd_ratios().items() if r < INFORMED]

    def digest(self) -> str:
        body = self.draws.to_csv(index=False) + json.dumps(self.weights.round(12).tolist())
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def save(self, name: str, directory: Path | None = None) -> Path:
        directory = directory or POSTERIOR_DIR
        directory.mkdir(parents=True, exist_ok=True)
        table = self.draws.copy()
        table.insert(0, "weight", self.weights)
        table.to_csv(directory / f"{name}.csv", index=False, lineterminator="\n")
        prov = {**self.provenance, "name": name, "draws": len(table), "digest": self.digest(),
                "informed": self.informed(), "not_informed": [n for n in self.names if n not in self.informed()]}
        (directory / f"{name}.json").write_text(json.dumps(prov, indent=2, default=str) + "\n", encoding="utf-8")
        return directory / f"{name}.csv"


def load_posterior(name: str, directory: Path | None = None) -> Posterior:
    directory = directory or POSTERIOR_DIR
    path = directory / f"{name}.csv"
    if not path.exists():
        raise PosteriorError(f"posterior '{name}' (the scenario's posterior: key): no file {path}; run `phb "
                             f"calibrate` on the scenario first, or use --prior to draw from the register ranges")
    table = pd.read_csv(path)
    unknown = [c for c in table.columns if c != "weight" and c not in reg.BY_NAME]
    if "weight" not in table.columns or unknown:
        raise PosteriorError(f"{path}: needs a weight column and register parameters only"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    meta = directory / f"{name}.json"
    prov = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    w = table.pop("weight").to_numpy(float)
    return Posterior(table, w / w.sum(), prov)


def ensemble_note(scenario, uncertain: list[str]) -> dict:
    """What an ensemble on a calibrated scenario draws from where (for its manifest): the calibrated set jointly
    from the posterior (keeping the correlations the data impose), split into those the data informed and those
    they did not (their posterior is about their register range); every other uncertain parameter from its
    register range."""
    post = posterior_of(scenario)
    if post is None:
        return {}
    informed = post.informed()
    return {"from_posterior_informed": informed,
            "from_posterior_not_informed": [n for n in post.names if n not in informed],
            "at_register_ranges": [n for n in uncertain if n not in post.names]}


def posterior_of(scenario) -> Posterior | None:
    """The posterior a scenario names, or None."""
    name = getattr(scenario, "posterior", None)
    return load_posterior(name) if name else None


def prior_spec(name: str) -> tuple[float, float, float, float]:
    """(mean, sd, lower, upper): the register range read as an 80% interval, cut at what validation accepts."""
    p = reg.BY_NAME[name]
    lo, hi = float(p.low), float(p.high)
    mean, sd = (lo + hi) / 2, (hi - lo) / (2 * Z80)
    lower = float(p.min) if p.min is not None else 0.0
    upper = float(p.max) if p.max is not None else mean + 8 * sd
    return mean, sd, max(lower, mean - 4 * sd), min(upper, mean + 4 * sd)
