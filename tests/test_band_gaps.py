"""The 1:10 against 1:1 band comparison (benchmarks/band_gaps.py, used by bench_ensemble.py; issue 12) tells a bias from
sampling noise: a planted bias is found beyond noise, none is found where there is none, its standard errors
are the size sampling theory gives, and runs are resampled in pairs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from band_gaps import band_gaps  # noqa: E402

MONTHS = pd.date_range("2014-04-01", "2021-03-01", freq="MS")
RUNS = 200


def runs(seed: int, level: float = 10_000.0, spread: float = 0.05) -> np.ndarray:
    """Holders by run and month: a rising path, each run off it by its own factor and monthly noise."""
    rng = np.random.default_rng(seed)
    path = level * np.linspace(1, 20, len(MONTHS))
    return path * (1 + spread * rng.standard_normal((RUNS, 1))) * (1 + 0.005 * rng.standard_normal((RUNS, len(MONTHS))))


def test_a_planted_bias_is_found_beyond_noise():
    full = runs(1)
    coarse = full * 1.05 * (1 + 0.01 * np.random.default_rng(2).standard_normal(full.shape))
    g = band_gaps(coarse, full, MONTHS, boot=200)
    for band in ("median", "p10", "p90"):
        assert len(g[band]["months_exceeding_2pct_beyond_noise"]) == len(MONTHS)
        assert len(g[band]["smoothed"]["months_exceeding_2pct_beyond_noise"]) == len(MONTHS)
    assert abs(g["paired_ratio"]["mean_signed_gap_2016_on"] - 0.05) < 0.005
    assert g["paired_ratio"]["months_biased_beyond_noise"] == len(MONTHS)


def test_no_bias_no_month_beyond_noise():
    """Two independent ensembles from one distribution: gaps are noise, and said to be."""
    g = band_gaps(runs(3), runs(4), MONTHS, boot=200)
    for band in ("median", "p10", "p90"):
        assert g[band]["months_exceeding_2pct_beyond_noise"] == []
        assert g[band]["smoothed"]["months_exceeding_2pct_beyond_noise"] == []
    assert g["mean"]["months_biased_beyond_noise"] < 0.2 * len(MONTHS)  # 5% expected; months are correlated


def test_standard_errors_are_sampling_theory_s():
    """Unpaired, the mean's gap has se sqrt(2) × sd / (mean √n); the bootstrap gives that within 25%."""
    full, coarse = runs(5), runs(6)
    g = band_gaps(coarse, full, MONTHS, boot=400)
    last = str(MONTHS[-1].date())
    theory = np.sqrt(full[:, -1].var(ddof=1) / RUNS + coarse[:, -1].var(ddof=1) / RUNS) / full[:, -1].mean()
    assert abs(g["mean"]["every_month"][last]["se"] / theory - 1) < 0.25


def test_runs_are_resampled_in_pairs():
    """Identical runs at both scales: every gap and every standard error is zero (a pair moves together)."""
    full = runs(7)
    g = band_gaps(full.copy(), full, MONTHS, boot=50)
    for band in ("median", "p10", "p90"):
        assert g[band]["max_all_months"] == 0 and g[band]["se_max"] == 0
        assert g[band]["smoothed"]["se_max"] < 1e-12
    assert g["paired_ratio"]["se_max"] == 0


def test_wider_coarse_band_shows_in_the_sd_ratio_not_the_median():
    """A band widened by sampling noise alone: p10 and p90 move apart, the median does not."""
    full = runs(8, spread=0.03)
    rng = np.random.default_rng(9)
    coarse = full * (1 + 0.06 * rng.standard_normal((RUNS, 1)))
    g = band_gaps(coarse, full, MONTHS, boot=200)
    assert g["sd_ratio_coarse_to_full"]["median_over_months"] > 1.5
    assert g["median"]["months_exceeding_2pct_beyond_noise"] == []
    assert len(g["p10"]["months_exceeding_2pct_beyond_noise"]) > 0
