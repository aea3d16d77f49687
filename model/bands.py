"""An ensemble's runs read together: bands over runs, chances of reaching a target, and paired differences
between scenarios run under common random numbers. Reductions are over runs sorted by index, so results are
byte-identical whatever the backend or worker count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.draws import EnsembleError
from model.scenario import Scenario

QUANTILES = {"p2_5": 0.025, "p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90, "p97_5": 0.975}
BAND_COLUMNS = ("median", "p2_5", "p10", "p25", "p75", "p90", "p97_5")
THRESHOLDS = (50_000, 100_000, 200_000)


# ---- summaries ---------------------------------------------------------------------------------------------
def _key_columns(df: pd.DataFrame) -> list[str]:
    skip = {"run", "scenario", "model_version"}  # (read from the dtypes: a column each is costly to build)
    return [c for c, t in df.dtypes.items() if c not in skip and (c == "month" or not pd.api.types.is_numeric_dtype(t))]


def _value_columns(df: pd.DataFrame) -> list[str]:
    keys = set(_key_columns(df)) | {"run"}
    return [c for c, t in df.dtypes.items() if c not in keys and pd.api.types.is_numeric_dtype(t)
            and not pd.api.types.is_bool_dtype(t)]


def bands_of(df: pd.DataFrame, measure: str, grid: "_Grid | None" = None) -> pd.DataFrame:
    """Median and 50/80/95% bands of one column over runs, by the table's keys (month, cohort, …).
    `grid`: the table's `_grid` when the caller has it (bands_long works it out once for every measure)."""
    keys = _key_columns(df)
    fast = _grid_bands(df, measure, grid if grid is not None else _grid(df, keys)) if keys else None
    if fast is not None:
        return fast
    ordered = df.sort_values(keys + ["run"], kind="stable") if keys else df.sort_values("run", kind="stable")
    if keys:
        g = ordered.groupby(keys, sort=True, observed=True)[measure]
        out = g.quantile(list(QUANTILES.values())).unstack()
        out.columns = list(QUANTILES)
        out = out.reset_index()
        out["mean"] = g.mean().to_numpy()
    else:
        v = ordered[measure].to_numpy(float)
        out = pd.DataFrame({k: [np.nanquantile(v, q)] for k, q in QUANTILES.items()})
        out["mean"] = np.nanmean(v)
    return out[keys + list(BAND_COLUMNS) + ["mean"]]


def bands_long(df: pd.DataFrame) -> pd.DataFrame:
    """Bands for every numeric column of a per-run table, long format with a `measure` column."""
    frames = []
    grid = _grid(df, _key_columns(df))
    for m in _value_columns(df):
        b = bands_of(df, m, grid)
        b.insert(0, "measure", m)
        frames.append(b)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ---- the same bands from a (key, run) matrix ------------------------------------------------------------
# A per-run table with every run once under every key (month, or month and cohort: what the model writes)
# is a matrix, and its bands are worked out on the matrix at once instead of group by group. The arithmetic
# is pandas' own, so the numbers are the same to the last bit (tests/test_member_overhead.py compares them
# with the groupby path on the model's tables and on random ones): a quantile is the sorted values' element
# at floor(q (n-1)) plus (next - it) × the fraction; the mean is pandas' group mean over the rows in run order.
# Anything else (a run missing a key, a missing value, other key types) takes the groupby path.
@dataclass(frozen=True)
class _Grid:
    order: np.ndarray  # rows in (key, run) order
    groups: int
    runs: int
    keys: pd.DataFrame  # one row per group, in sorted key order, as the groupby path gives them


def _grid(df: pd.DataFrame, keys: list[str]) -> _Grid | None:
    if not keys or "run" not in df.columns or len(df) == 0:
        return None
    codes, uniques = [], []
    for k in keys:
        dtype = df[k].dtype
        if not ((isinstance(dtype, np.dtype) and dtype.kind == "M") or isinstance(dtype, pd.StringDtype)):
            return None
        c, u = pd.factorize(df[k], sort=True)
        if (c < 0).any():  # a missing key: the groupby path drops it
            return None
        codes.append(c)
        uniques.append(u)
    sizes = tuple(len(u) for u in uniques)
    groups = int(np.prod(sizes))
    if len(df) % groups:
        return None
    n = len(df) // groups
    g = np.ravel_multi_index(codes, sizes)
    run = df["run"].to_numpy()
    order = np.lexsort((run, g))
    g_sorted, run_sorted = g[order].reshape(groups, n), run[order].reshape(groups, n)
    if not ((g_sorted == np.arange(groups)[:, None]).all() and (np.diff(run_sorted, axis=1) > 0).all()):
        return None  # a key without every run, or a run twice under a key
    idx = np.unravel_index(np.arange(groups), sizes)
    key_frame = pd.DataFrame({k: u.take(i) for k, u, i in zip(keys, uniques, idx)})
    return _Grid(order, groups, n, key_frame)


def _grid_bands(df: pd.DataFrame, measure: str, grid: _Grid | None) -> pd.DataFrame | None:
    if grid is None:
        return None
    v = df[measure].to_numpy()
    if v.dtype.kind not in "iuf" or (v.dtype.kind == "f" and not np.isfinite(v).all()) or \
            (v.dtype.kind in "iu" and len(v) and np.abs(v).max() >= 2**53):
        return None
    x = v[grid.order].reshape(grid.groups, grid.runs).astype(np.float64)
    srt = np.sort(x, axis=1)
    n = grid.runs
    out = grid.keys.copy()
    for name in BAND_COLUMNS:
        at = QUANTILES[name] * (n - 1)
        i, frac = int(at), at % 1
        out[name] = srt[:, i] if frac == 0.0 else srt[:, i] + (srt[:, i + 1] - srt[:, i]) * frac
    # the mean by pandas' own group mean, over the rows in the same order within each group
    out["mean"] = pd.Series(v[grid.order]).groupby(np.repeat(np.arange(grid.groups), n), sort=True).mean().to_numpy()
    return out


def _month(at: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(at)
    return ts.to_period("M").to_timestamp()


# ---- the ensemble --------------------------------------------------------------------------------------
@dataclass
class Ensemble:
    scenario: Scenario
    runs: int
    mode: str
    id: str
    tables: dict[str, pd.DataFrame]  # per-run tables, each with a `run` column, sorted by run
    manifest: dict = field(default_factory=dict)
    from_cache: bool = False

    def runs_table(self, name: str = "national") -> pd.DataFrame:
        if name not in self.tables:
            raise EnsembleError(f"table '{name}' is not kept per run; available: {', '.join(sorted(self.tables))}")
        return self.tables[name]

    @property
    def run_info(self) -> pd.DataFrame:
        """One row per run: its seed, drawn parameters and draw attempts."""
        return self.tables["runs"]

    def bands(self, measure: str, table: str = "national") -> pd.DataFrame:
        df = self.runs_table(table)
        if measure not in _value_columns(df):
            raise EnsembleError(f"measure '{measure}' is not a numeric series of {table}; available: "
                                f"{', '.join(_value_columns(df))}")
        return bands_of(df, measure)

    def all_bands(self, table: str = "national") -> pd.DataFrame:
        return bands_long(self.runs_table(table))

    def reached(self, threshold: float, measure: str = "holders") -> pd.DataFrame:
        """Per run and month: whether `measure` has reached `threshold` by that month."""
        df = self.runs_table("national")[["run", "month", measure]].sort_values(["run", "month"], kind="stable")
        hit = df.groupby("run", sort=True)[measure].cummax() >= threshold
        return df.assign(reached=hit.to_numpy())

    def prob_reaching(self, threshold: float, measure: str = "holders") -> pd.DataFrame:
        """Probability that `measure` has reached `threshold` by each month (an S-curve)."""
        grid = self._month_by_run(measure)
        if grid is not None:  # every run has every month once: the share of runs, month by month
            months, values = grid
            hit = np.maximum.accumulate(values, axis=1) >= threshold
            return pd.DataFrame({"month": months, "probability": hit.sum(axis=0) / hit.shape[0]})
        r = self.reached(threshold, measure)
        out = r.groupby("month", sort=True)["reached"].mean().reset_index(name="probability")
        return out

    def _month_by_run(self, measure: str) -> tuple[np.ndarray, np.ndarray] | None:
        """`measure` as a (run, month) matrix in run and month order, with the months, when the national
        table holds every run's every month exactly once and no value is missing (worked out once per measure;
        None otherwise, and `reached` does the work row by row)."""
        cache = self.__dict__.setdefault("_grids", {})
        if measure not in cache:
            df = self.runs_table("national")
            run, month = df["run"].to_numpy(), df["month"].to_numpy()
            values = df[measure].to_numpy()
            runs, months = np.unique(run), np.unique(month) if month.dtype.kind == "M" else month
            grid = None
            if len(df) == len(runs) * len(months) and month.dtype.kind == "M" and run.dtype.kind in "iu" \
                    and values.dtype.kind in "iuf" and not np.isnan(values).any():
                order = np.lexsort((month, run))
                r, mo = run[order].reshape(len(runs), len(months)), month[order].reshape(len(runs), len(months))
                if (r == runs[:, None]).all() and (mo == months[None, :]).all():
                    grid = (months, values[order].reshape(len(runs), len(months)))
            cache[measure] = grid
        return cache[measure]

    def s_curves(self, thresholds=THRESHOLDS, measure: str = "holders") -> pd.DataFrame:
        frames = [self.prob_reaching(t, measure).assign(threshold=t) for t in thresholds]
        return pd.concat(frames, ignore_index=True)[["threshold", "month", "probability"]]

    def value_at(self, at, measure: str = "holders", table: str = "national") -> np.ndarray:
        """`measure` in the month containing `at`, one value per run (in run order)."""
        df = self.runs_table(table)
        month = _month(at)
        rows = df[df["month"] == month].sort_values("run", kind="stable")
        if rows.empty:
            raise EnsembleError(f"{month:%Y-%m} is outside the runs ({df['month'].min():%Y-%m} to "
                                f"{df['month'].max():%Y-%m})")
        return rows[measure].to_numpy(float)

    def distributions(self) -> dict[str, pd.DataFrame]:
        """Bands of every numeric column of every extra (service-side) table kept per run."""
        return {name: bands_long(df) for name, df in self.tables.items() if name.startswith("extra_")}

    def summary(self, dates=None) -> str:
        from model.results import KEY_DATES

        nat = self.runs_table("national")
        first, last = nat["month"].min(), nat["month"].max()
        lines = [f"Ensemble {self.id}: {self.runs} runs of {self.scenario.name} ({self.mode}; seed "
                 f"{self.scenario.seed}; 1 agent = {self.scenario.agent_scale} people)",
                 "  People holding a PHB: median [80% band]"]
        b = self.bands("holders").set_index("month")
        dates = dates or [d for d, _, _ in KEY_DATES]
        for d in dates:
            m = _month(d)
            if first <= m <= last:
                r = b.loc[m]
                lines.append(f"  {m:%b %Y}: {r['median']:>9,.0f} [{r['p10']:>9,.0f} – {r['p90']:>9,.0f}]")
        r = b.iloc[-1]
        lines.append(f"  {b.index[-1]:%b %Y}: {r['median']:>9,.0f} [{r['p10']:>9,.0f} – {r['p90']:>9,.0f}]  (last month)")
        by = min(pd.Timestamp("2021-03-01"), last)
        label = "March 2021" if by == pd.Timestamp("2021-03-01") else f"{by:%B %Y} (the last month run)"
        probs = []
        for t in THRESHOLDS:
            p = self.prob_reaching(t).set_index("month")["probability"].loc[by]
            probs.append(f"≥{t // 1000}k {p:.0%}")
        lines.append(f"  Probability of reaching, by {label}: {', '.join(probs)}")
        return "\n".join(lines)


# ---- comparing scenarios under common random numbers -----------------------------------------------------
@dataclass
class Comparison:
    ensembles: list[Ensemble]

    @property
    def names(self) -> list[str]:
        return [e.scenario.name for e in self.ensembles]

    def differences(self, measure: str = "holders", at=None, table: str = "national",
                    level: float = 0.95) -> pd.DataFrame:
        """Each scenario minus the first at one month: paired (same run seeds) and unpaired intervals."""
        base = self.ensembles[0]
        if at is None:
            at = base.runs_table(table)["month"].max()
        a = base.value_at(at, measure, table)
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        rows = []
        for e in self.ensembles[1:]:
            b = e.value_at(at, measure, table)
            d = b - a
            allpairs = (b[:, None] - a[None, :]).ravel()  # as if the runs had independent seeds
            rows.append({
                "scenario": e.scenario.name, "versus": base.scenario.name, "measure": measure, "month": _month(at),
                "median_first": float(np.median(a)), "median_scenario": float(np.median(b)),
                "median_diff": float(np.median(d)), "mean_diff": float(np.mean(d)),
                "lo": float(np.quantile(d, lo_q)), "hi": float(np.quantile(d, hi_q)),
                "unpaired_lo": float(np.quantile(allpairs, lo_q)), "unpaired_hi": float(np.quantile(allpairs, hi_q)),
                "share_higher": float(np.mean(d > 0)), "level": level, "runs": len(d),
            })
        return pd.DataFrame(rows)

    def summary(self, at=None, measure: str = "holders") -> str:
        df = self.differences(measure, at)
        month = df["month"].iloc[0] if len(df) else None
        lines = [f"Differences from {self.names[0]} in {measure}"
                 + (f", {month:%b %Y}" if month is not None else "")
                 + f" ({self.ensembles[0].runs} runs each, common random numbers; 95% intervals):"]
        for r in df.itertuples():
            lines.append(f"  {r.scenario:24s} {r.median_diff:>+10,.0f}  paired [{r.lo:+,.0f}, {r.hi:+,.0f}]   "
                         f"unpaired [{r.unpaired_lo:+,.0f}, {r.unpaired_hi:+,.0f}]")
        return "\n".join(lines)
