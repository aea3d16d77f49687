"""The coarse-against-full band comparison of benchmarks/bench_ensemble.py (issue 12): each band's gap at every
month with its sampling error, from runs paired by seed, so a bias can be told from noise
(tests/test_band_gaps.py checks it finds a planted bias and reports none where there is none)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist

BANDS = {"median": 0.5, "p10": 0.1, "p90": 0.9}  # the median and the 80% band
TARGET = 0.02  # issue 12: within 2% of full scale at every month
Z95 = 1.96
PUSH = (pd.Timestamp("2016-04-01"), pd.Timestamp("2019-03-01"))


def _quantile(x: np.ndarray, q: float, smoothed: bool) -> np.ndarray:
    """Quantile q over runs (axis −2): linear between order statistics, as Ensemble.bands draws it, or the
    Harrell–Davis estimate (a Beta-weighted mean of all order statistics: the same quantile, far less noisy
    with paired runs, since it does not hang on which one or two runs happen to sit at the quantile)."""
    if not smoothed:
        return np.quantile(x, q, axis=-2)
    n = x.shape[-2]
    edges = beta_dist.cdf(np.arange(n + 1) / n, (n + 1) * q, (n + 1) * (1 - q))
    return np.einsum("...rm,r->...m", np.sort(x, axis=-2), np.diff(edges))


def _gaps(coarse: np.ndarray, full: np.ndarray, smoothed: bool = False) -> dict[str, np.ndarray]:
    """Signed relative gap (coarse − full) / full of the mean and of each band, month by month; runs are
    axis −2, so a stack of bootstrap resamples (…, runs, months) gives one gap per resample."""
    out = {}
    for col, q in BANDS.items():
        a, b = _quantile(coarse, q, smoothed), _quantile(full, q, smoothed)
        out[col] = np.divide(a - b, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)
    a, b = coarse.mean(axis=-2), full.mean(axis=-2)
    out["mean"] = np.divide(a - b, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)
    return out


def _with_errors(coarse: np.ndarray, full: np.ndarray, boot: int, seed: int, smoothed: bool):
    """Point gaps and their standard errors: the sd over `boot` paired bootstrap resamples of the runs."""
    n = coarse.shape[0]
    point = _gaps(coarse, full, smoothed)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in point}
    for chunk in np.array_split(np.arange(boot), max(1, boot // 100)):  # 100 resamples at a time: memory
        pick = rng.integers(0, n, (len(chunk), n))
        for k, v in _gaps(coarse[pick], full[pick], smoothed).items():
            draws[k].append(v)
    return point, {k: np.nanstd(np.concatenate(v), axis=0, ddof=1) for k, v in draws.items()}


def _summary(g: np.ndarray, e: np.ndarray, months: pd.DatetimeIndex) -> dict:
    """One series of monthly gaps with their errors: worst month, and months beyond 2% beyond noise."""
    rel, ok = np.abs(g), ~np.isnan(g)
    push = (months >= PUSH[0]) & (months <= PUSH[1])
    later = months >= PUSH[0]
    worst = int(np.nanargmax(np.where(ok, rel, -1)))
    exceeds = ok & (rel - Z95 * e > TARGET)
    within = ok & (rel + Z95 * e <= TARGET)
    bias = ok & (rel > Z95 * e) & (e > 0)
    label = [str(m.date()) for m in months]
    return {
        "max_2016_19": float(np.nanmax(rel[push])), "mean_2016_19": float(np.nanmean(rel[push])),
        "max_all_months": float(rel[worst]), "month_of_max_all": label[worst], "se_at_max_all": float(e[worst]),
        "max_from_2016_04": float(np.nanmax(rel[later])),
        "at_2021_03": float(rel[months.get_loc(pd.Timestamp("2021-03-01"))]),
        "se_median_over_months": float(np.nanmedian(e[ok])), "se_max": float(np.nanmax(e[ok])),
        "months_exceeding_2pct_beyond_noise": [label[i] for i in np.flatnonzero(exceeds)],
        "months_not_shown_within_2pct": int((ok & ~within).sum()),
        "months_biased_beyond_noise": int(bias.sum()),
        "mean_signed_gap_2016_on": float(np.nanmean(g[later])),
        "every_month": {label[i]: {"gap": round(float(g[i]), 5), "se": round(float(e[i]), 5)}
                        for i in range(len(months)) if ok[i]},
    }


def band_gaps(coarse: np.ndarray, full: np.ndarray, months: pd.DatetimeIndex, boot: int = 2000,
              seed: int = 12) -> dict:
    """Gap of each band of holders (and of the mean) at every month with its sampling error.

    `coarse` and `full` hold one row per run; row i of both is run i (same seed and, in mode "both", the same
    drawn parameters), so runs are resampled in pairs: the bootstrap keeps whatever the pairing shares. The
    standard error of a gap is the sd of `boot` paired resamples. A month "exceeds 2% beyond noise" when
    |gap| − 1.96 se > 2%; it is "within 2% beyond noise" when |gap| + 1.96 se ≤ 2%; a gap "is a bias" (not
    noise) when |gap| > 1.96 se. Each band is given as users' bands draw it (linear sample quantiles: what
    an ensemble of this many runs shows) and, under "smoothed", as Harrell–Davis quantiles (the same band,
    estimated with far less noise: the test of a bias). The sd ratio (coarse / full, over runs) says how much
    wider the coarse band is by its own sampling noise: under mode "randomness" p10/p90 gaps follow from it."""
    point, se = _with_errors(coarse, full, boot, seed, smoothed=False)
    hd_point, hd_se = _with_errors(coarse, full, boot, seed, smoothed=True)
    out: dict = {"runs_each": int(coarse.shape[0]), "bootstrap_resamples": boot,
                 "rule": "exceeds: |gap| - 1.96 se > 2%; within: |gap| + 1.96 se <= 2%; "
                 "bias: |gap| > 1.96 se (gaps are (coarse - full) / full, signed)"}
    for col in (*BANDS, "mean"):
        out[col] = _summary(point[col], se[col], months)
        if col in BANDS:
            out[col]["smoothed"] = _summary(hd_point[col], hd_se[col], months)
    # run by run: run i at 1:10 against run i at 1:1 (the sharpest test of a bias when the pair shares its draws)
    paired = np.divide(coarse, full, out=np.full(coarse.shape, np.nan), where=full > 0) - 1.0
    n_ok = np.maximum((~np.isnan(paired)).sum(axis=0), 1)
    out["paired_ratio"] = _summary(np.nanmean(paired, axis=0) if n_ok.max() > 1 else paired[0],
                                   np.nanstd(paired, axis=0, ddof=1) / np.sqrt(n_ok), months)
    out["paired_ratio"]["what"] = "mean over runs of holders at 1:10 / holders at 1:1 in the same run, minus 1"
    sd_c, sd_f = coarse.std(axis=0, ddof=1), full.std(axis=0, ddof=1)
    ratio = np.divide(sd_c, sd_f, out=np.full(len(months), np.nan), where=sd_f > 0)
    later = months >= PUSH[0]
    out["sd_ratio_coarse_to_full"] = {"median_over_months": float(np.nanmedian(ratio)),
                                      "from_2016_04_median": float(np.nanmedian(ratio[later]))}
    out["worst_max_2016_19"] = max(out[c]["max_2016_19"] for c in BANDS)
    out["worst_max_all_months"] = max(out[c]["max_all_months"] for c in BANDS)
    out["worst_max_all_months_smoothed"] = max(out[c]["smoothed"]["max_all_months"] for c in BANDS)
    out["months_exceeding_2pct_beyond_noise"] = {c: len(out[c]["months_exceeding_2pct_beyond_noise"]) for c in BANDS}
    out["months_exceeding_2pct_beyond_noise_smoothed"] = {
        c: len(out[c]["smoothed"]["months_exceeding_2pct_beyond_noise"]) for c in BANDS}
    return out
