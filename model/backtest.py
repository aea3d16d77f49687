"""`phb backtest SCENARIO --actuals FILE.csv`: score a forecast of a vintage against what happened later.

Each row of the actuals file (the calibration CSV's columns: period_start, period_end, measure, value, and
optionally cohort) is compared with the model's series of the same definition in every run of an ensemble
(fresh, or stored: --ensemble ID). Scores: coverage of the 50/80/95% bands, MAPE of the median, the CRPS
(a proper score: for a point forecast it is the absolute error), and bias (mean signed error of the median,
as a share of the actual). Naive forecasts made from the same published data up to the vintage are scored
alongside: a linear trend, an exponential trend, and a straight line to the published milestone.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from model.calibrate import CalibrationError, figures, series_value, vintage
from model.scenario import Scenario

MEASURES = ("phbs_held", "direct_payments_held", "phbs_received_ytd", "phbs_issued_in_year", "new_phbs_in_year")
STOCKS = ("phbs_held", "direct_payments_held")
REQUIRED = ("period_start", "period_end", "measure", "value")
MILESTONE = (50_000, dt.date(2021, 3, 31))  # NHS mandate 2016: 50,000–100,000 by March 2021 (evidence E6)
LEVELS = (0.5, 0.8, 0.95)
MAX_ROWS = 500  # figures in one actuals file


class BacktestError(CalibrationError):
    """Bad backtest input: the message names the file, the row or column, and what is allowed."""


def read_actuals(path: Path) -> pd.DataFrame:
    """The actuals file, checked: columns, dates, measures and values, with a clear message on each fault."""
    path = Path(path)
    if not path.exists():
        raise BacktestError(f"--actuals {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as e:
        raise BacktestError(f"--actuals {path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    return parse_actuals(text, f"--actuals {path}")


def parse_actuals(text: str, source: str = "actuals") -> pd.DataFrame:
    """Actual figures from CSV text in the calibration file's columns (the dashboard's upload uses this too;
    there the older two-column form `month, holders` is also read, as people holding a PHB that month)."""
    try:
        t = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise BacktestError(f"{source}: not a readable CSV ({str(e).splitlines()[0]})") from None
    t.columns = [str(c).strip().lower() for c in t.columns]
    if {"month", "holders"} <= set(t.columns) and "measure" not in t.columns:
        month = pd.to_datetime(t["month"], errors="coerce")
        if month.isna().any():
            raise BacktestError(f"{source}, row {int(month.isna().idxmax()) + 2}: month '{t['month'][month.isna()].iloc[0]}'"
                                " is not a date (YYYY-MM-DD)")
        start = month.dt.to_period("M").dt.to_timestamp()
        t = pd.DataFrame({"period_start": start.dt.strftime("%Y-%m-%d"),
                          "period_end": (start + pd.offsets.MonthEnd(0)).dt.strftime("%Y-%m-%d"),
                          "measure": "phbs_held", "value": t["holders"]})
    missing = [c for c in REQUIRED if c not in t.columns]
    if missing:
        raise BacktestError(f"{source}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}"
                            " (optional: cohort, ccgs_reporting, confidence, source)")
    if t.empty:
        raise BacktestError(f"{source}: no rows")
    if len(t) > MAX_ROWS:
        raise BacktestError(f"{source}: {len(t)} rows; allowed: at most {MAX_ROWS}")
    for i, r in t.iterrows():
        where = f"{source}, row {i + 2}"
        if r["measure"] not in MEASURES:
            raise BacktestError(f"{where}: measure '{r['measure'][:40]}' is not allowed; use one of {', '.join(MEASURES)}")
        for c in ("period_start", "period_end"):
            try:
                dt.date.fromisoformat(r[c])
            except ValueError:
                raise BacktestError(f"{where}: {c} '{r[c][:40]}' is not a date (YYYY-MM-DD)") from None
        try:
            v = float(r["value"])
        except ValueError:
            raise BacktestError(f"{where}: value '{r['value'][:40]}' is not a number") from None
        if not v > 0 or not np.isfinite(v):
            raise BacktestError(f"{where}: value {v} must be a number above 0")
        if r["period_start"] > r["period_end"]:
            raise BacktestError(f"{where}: period_start is after period_end")
    t["period_start"] = pd.to_datetime(t["period_start"])
    t["period_end"] = pd.to_datetime(t["period_end"])
    t["value"] = t["value"].astype(float)
    if "cohort" not in t.columns:
        t["cohort"] = ""
    return t


# ---- actuals in a share link: compact, and only what the standard periods can say ------------------------
LINK_CODES = {"h": "phbs_held", "d": "direct_payments_held", "r": "phbs_received_ytd", "i": "phbs_issued_in_year",
              "n": "new_phbs_in_year"}
LINK_PATTERN = re.compile(r"(?:[hdrin][0-9]{4}-[0-9]{1,9})(?:_[hdrin][0-9]{4}-[0-9]{1,9}){0,7}")


def _standard_start(measure: str, end: pd.Timestamp) -> pd.Timestamp:
    """A stock is the month's; a flow runs from the start of its financial year (1 April)."""
    if measure in STOCKS:
        return end.to_period("M").to_timestamp()
    return pd.Timestamp(end.year if end.month >= 4 else end.year - 1, 4, 1)


def to_link(actuals: pd.DataFrame, limit: int = 100) -> str | None:
    """The figures as a link value (e.g. `h1903-71000_i2103-24000`: measure code, YYMM, whole value), or None if
    they do not fit: a cohort, a non-standard period, a year outside 2000–2099, or longer than `limit`."""
    code = {m: c for c, m in LINK_CODES.items()}
    items = []
    for r in actuals.itertuples():
        end = pd.Timestamp(r.period_end)
        if r.cohort or not 2000 <= end.year <= 2099 or pd.Timestamp(r.period_start) != _standard_start(r.measure, end):
            return None
        items.append(f"{code[r.measure]}{end:%y%m}-{int(round(r.value))}")
    out = "_".join(items)
    return out if items and len(out) <= limit and LINK_PATTERN.fullmatch(out) else None


def from_link(value: str) -> pd.DataFrame:
    """The figures back from a link value (BacktestError if it is not one)."""
    if not LINK_PATTERN.fullmatch(value or ""):
        raise BacktestError(f"link: 'actuals' is '{value[:60]}'; allowed: up to 8 figures like h1903-71000 "
                            "(measure h, d, r, i or n; year and month YYMM; whole value) joined by _")
    rows = []
    for item in value.split("_"):
        if not 1 <= int(item[3:5]) <= 12:
            raise BacktestError(f"link: 'actuals' has month {item[3:5]} in '{item[:20]}'; allowed: 01 to 12")
        measure = LINK_CODES[item[0]]
        end = pd.Timestamp(2000 + int(item[1:3]), int(item[3:5]), 1) + pd.offsets.MonthEnd(0)
        rows.append({"period_start": _standard_start(measure, end), "period_end": end, "measure": measure,
                     "cohort": "", "value": float(item.split("-")[1])})
    t = pd.DataFrame(rows)
    if (t["value"] <= 0).any():
        raise BacktestError("link: 'actuals' has a value of 0; values must be above 0")
    return t


def crps(samples: np.ndarray, y: float) -> float:
    """Continuous ranked probability score of an ensemble (empirical; lower is better)."""
    x = np.sort(np.asarray(samples, float))
    n = len(x)
    term1 = np.mean(np.abs(x - y))
    term2 = np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / n**2  # = 0.5 E|X - X'|
    return float(term1 - term2)


def model_values(ensemble, actuals: pd.DataFrame) -> np.ndarray:
    """Per actual (rows) and run (columns): the model's value of the same definition."""
    nat = ensemble.runs_table("national")
    coh = ensemble.tables.get("by_cohort")
    out = np.empty((len(actuals), ensemble.runs))
    runs = sorted(nat["run"].unique())
    for i, r in enumerate(actuals.itertuples()):
        for j, run in enumerate(runs):
            if r.cohort:
                if coh is None or r.cohort not in set(coh["cohort"]):
                    raise BacktestError(f"cohort '{r.cohort}' has no model series; allowed: "
                                        f"{', '.join(sorted(set(coh['cohort']))) if coh is not None else 'none'}")
                table = coh[(coh["run"] == run) & (coh["cohort"] == r.cohort)]
            else:
                table = nat[nat["run"] == run]
            try:
                out[i, j] = series_value(table, r.measure, r.period_start, r.period_end)
            except KeyError as e:
                raise BacktestError(f"the model's series lack {e} needed for {r.measure}; this model version does "
                                    "not produce it") from None
    return out


def naive_forecasts(scenario: Scenario, actuals: pd.DataFrame) -> dict[str, np.ndarray]:
    """Point forecasts from the published figures up to the vintage: linear, exponential, line to milestone."""
    pub = figures(vintage(scenario))
    held = pub[pub["measure"] == "phbs_held"]
    flows = pub[pub["measure"] == "new_phbs_in_year"]
    dp = pub[pub["measure"] == "direct_payments_held"]
    dp_share = float(dp["value"].iloc[-1] / held[held["period_end"] == dp["period_end"].iloc[-1]]["value"].iloc[0]) \
        if len(dp) and len(held) else 0.8

    def years(d) -> np.ndarray:
        return (pd.to_datetime(d) - pd.Timestamp("2014-04-01")).dt.days.to_numpy() / 365.25 \
            if hasattr(d, "dt") else np.array([(pd.Timestamp(d) - pd.Timestamp("2014-04-01")).days / 365.25])

    def trend(points: pd.DataFrame, log: bool):
        x, y = years(points["period_end"]), points["value"].to_numpy(float)
        if len(points) < 2:
            return lambda t: np.full_like(np.atleast_1d(t), y[-1] if len(y) else np.nan, dtype=float)
        b, a = np.polyfit(x, np.log(y) if log else y, 1)
        return (lambda t: np.exp(a + b * t)) if log else (lambda t: a + b * t)

    last_t, last_v = years(held["period_end"].iloc[[-1]])[0], float(held["value"].iloc[-1])
    goal, goal_day = MILESTONE
    goal_t = years(pd.Series([pd.Timestamp(goal_day)]))[0]

    def line(t):
        return last_v + (goal - last_v) * (np.asarray(t) - last_t) / (goal_t - last_t)

    out = {}
    for name, stock_f, flow_f in (("linear trend", trend(held, False), trend(flows, False)),
                                  ("exponential trend", trend(held, True), trend(flows, True)),
                                  ("line to milestone", line, None)):
        vals = []
        for r in actuals.itertuples():
            t_end = years(pd.Series([r.period_end]))[0]
            t_start = years(pd.Series([r.period_start]))[0]
            if r.measure in STOCKS:
                v = float(np.mean(stock_f(np.array([t_start, t_end]))))
                vals.append(v * (dp_share if r.measure == "direct_payments_held" else 1.0))
            elif flow_f is not None:
                vals.append(float(flow_f(np.array([t_end]))[0]))
            else:  # a year's new budgets on the line: its rise over the year, plus leavers ignored
                vals.append(float(line(t_end) - line(t_end - 1.0)))
        out[name] = np.array(vals)
    return out


def scores(actuals: pd.DataFrame, samples: np.ndarray, naive: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per forecast: coverage of the bands (model only), MAPE, CRPS, bias."""
    y = actuals["value"].to_numpy(float)
    med = np.median(samples, axis=1)
    row = {"forecast": "model (ensemble)", "n": len(y)}
    for lev in LEVELS:
        lo, hi = np.quantile(samples, [(1 - lev) / 2, 1 - (1 - lev) / 2], axis=1)
        row[f"coverage_{int(lev * 100)}"] = float(np.mean((y >= lo) & (y <= hi)))
    row.update(mape=float(np.mean(np.abs(med - y) / y)), crps=float(np.mean([crps(s, v) for s, v in zip(samples, y)])),
               bias=float(np.mean((med - y) / y)))
    rows = [row]
    for name, point in naive.items():
        rows.append({"forecast": f"naive: {name}", "n": len(y), "mape": float(np.mean(np.abs(point - y) / y)),
                     "crps": float(np.mean(np.abs(point - y))), "bias": float(np.mean((point - y) / y))})
    return pd.DataFrame(rows)


def backtest(scenario: Scenario, actuals: pd.DataFrame, ensemble=None, runs: int = 40, prior: bool = False,
             store=None, progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, per-figure detail) of a stored or fresh ensemble against the actuals."""
    from model.ensemble import run_ensemble

    if ensemble is None:
        until = max(scenario.until, actuals["period_end"].max().date())
        ensemble = run_ensemble(scenario.with_(until=until), runs, services=False, prior=prior, store=store,
                                progress=progress)
    last = ensemble.runs_table("national")["month"].max()
    late = actuals[actuals["period_end"].dt.to_period("M").dt.to_timestamp() > last]
    if len(late):
        raise BacktestError(f"the ensemble ends {last:%Y-%m}; actuals run to {late['period_end'].max():%Y-%m-%d}: "
                            "run a longer ensemble (scenario until:)")
    samples = model_values(ensemble, actuals)
    naive = naive_forecasts(scenario, actuals)
    detail = actuals[["period_start", "period_end", "measure", "cohort", "value"]].copy()
    detail["model_p10"], detail["model_median"], detail["model_p90"] = np.quantile(samples, [0.1, 0.5, 0.9], axis=1)
    for name, point in naive.items():
        detail[name] = point
    return scores(actuals, samples, naive), detail


def add_commands(sub) -> None:
    from model.arguments import _positive_int

    p = sub.add_parser("backtest", help="score a vintage's forecast against figures published later (CSV)")
    p.add_argument("scenario", help="the forecast's scenario (a vintage, e.g. as_known_2016) or YAML file")
    p.add_argument("--actuals", type=Path, required=True, help="CSV: period_start, period_end, measure, value "
                   f"[, cohort]; measures {', '.join(MEASURES)}")
    p.add_argument("--ensemble", help="a stored ensemble id (default: run a fresh one)")
    p.add_argument("--runs", type=_positive_int, default=40, help="runs of a fresh ensemble (default 40)")
    p.add_argument("--scale", type=_positive_int, default=20, help="people per agent of a fresh ensemble (20)")
    p.add_argument("--prior", action="store_true", help="draw calibrated parameters from the prior, not the posterior")
    p.add_argument("--out", type=Path, default=Path("results"), help="results store (default: results/)")
    p.set_defaults(handler=cmd_backtest)


def cmd_backtest(args) -> int:
    from tqdm import tqdm

    from model.ensemble import load_ensemble
    from model.scenario import load_scenario
    from model.store import Store

    actuals = read_actuals(args.actuals)
    store = Store(args.out)
    if args.ensemble:
        ens = load_ensemble(args.ensemble, store)
        scenario = ens.scenario
    else:
        scenario = load_scenario(args.scenario).with_(agent_scale=args.scale)
        ens = None
    with tqdm(total=args.runs, desc=f"backtest {scenario.name}", unit="run") as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)
        table, detail = backtest(scenario, actuals, ens, runs=args.runs, prior=args.prior, store=store,
                                 progress=progress)
    pd.set_option("display.width", 160)
    print(detail.to_string(index=False, float_format=lambda x: f"{x:,.0f}"))
    print()
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="–"))
    best = table.loc[table["crps"].idxmin(), "forecast"]
    print(f"\nLowest CRPS (mean absolute error for the naive point forecasts): {best}")
    return 0
