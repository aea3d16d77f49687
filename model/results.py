"""Named monthly series from a run, their summary, and writing them to disk.

Every table carries the scenario name and model version as columns (after the NHS demand model), so a
file found on its own can be traced back to what made it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from model import __version__
from model import parameters as reg
from model.counting import WHEELCHAIR, reported, year_to_date
from model.people import (
    DECLINED,
    DIED,
    DIRECT_PAYMENT,
    HOLDING_ROWS,
    IN_SCOPE,
    LOST_ELIGIBILITY,
    NOT_ELIGIBLE,
    OFFERED,
    PLANNING,
    RECOVERED,
    State,
)
from model.kept import KeptColumns
from model.provenance import code_digest
from model.scenario import Scenario
from model.state import RolloutState

N_COHORTS = len(reg.COHORTS)
HOLDING_COLUMNS = {State.NOTIONAL: "notional", State.THIRD_PARTY: "third_party",
                   State.DIRECT_PAYMENT: "direct_payment"}
TABLES = ("national", "by_cohort", "by_type", "by_ccg", "by_region", "events")
KEY_DATES = (  # (month, what the published figure or target is)
    (dt.date(2015, 10, 1), "~4,700 held (autumn 2015)", 4_700),
    (dt.date(2016, 10, 1), "10,824 held, 185 CCGs reporting (Oct 2016)", 10_824),
    (dt.date(2018, 3, 1), "", 0),
    (dt.date(2019, 3, 1), "milestone 50,000 (2019)", 50_000),
    (dt.date(2021, 3, 1), "target 50,000–100,000 (March 2021)", 50_000),
    (dt.date(2024, 3, 1), "Long Term Plan: up to 200,000 (2023/24)", 200_000),
)


@dataclass
class Results:
    scenario_name: str
    seed: int
    national: pd.DataFrame
    by_cohort: pd.DataFrame
    events: pd.DataFrame
    detail: "DetailTables | None" = None  # by_type, by_ccg, by_region: built when first asked for
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables added by other parts (services)
    kept: KeptColumns | None = None  # an ensemble member's kept tables as columns (member_results(frames=False))
    vintage: str = ""  # what policy the run knows of (its knowledge date)
    scenario: "Scenario | None" = field(default=None, repr=False)
    _yaml: str | None = field(default=None, repr=False)

    @property
    def scenario_yaml(self) -> str:
        """The scenario as YAML, written when first asked for (most ensemble runs never are: dumping it
        cost a tenth of a small run)."""
        if self._yaml is None:
            self._yaml = self.scenario.to_yaml()
        return self._yaml

    @property
    def by_type(self) -> pd.DataFrame:
        return self.detail.get("by_type")

    @property
    def by_ccg(self) -> pd.DataFrame:
        return self.detail.get("by_ccg")

    @property
    def by_region(self) -> pd.DataFrame:
        return self.detail.get("by_region")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**{name: getattr(self, name) for name in TABLES}, **self.extra}

    def holders_on(self, month: dt.date) -> float | None:
        row = self.national[self.national["month"] == pd.Timestamp(month)]
        return None if row.empty else float(row["holders"].iloc[0])

    def summary(self) -> str:
        n = self.national
        lines = [f"Scenario {self.scenario_name} (seed {self.seed}); {self.vintage}",
                 "  people holding a PHB on the date (stock), as reporting CCGs would count them, received in the",
                 "  financial year to date (official definition from 2021/22) and issued in the year to date:",
                 f"  {'month':8s} {'held':>9s} {'reported':>9s} {'received':>9s} {'issued':>9s}   published figure or target"]
        for month, what, _ in KEY_DATES:
            row = n[n["month"] == pd.Timestamp(month)]
            if row.empty:
                continue
            r = row.iloc[0]
            lines.append(f"  {month:%b %Y} {r['holders']:>9,.0f} {r['reported_holders']:>9,.0f} "
                         f"{r['received_ytd']:>9,.0f} {r['issued_ytd']:>9,.0f}   {what}")
        last = n.iloc[-1]
        lines.append(f"  end of run, {last['month']:%b %Y}: {last['holders']:,.0f} held; "
                     f"{last['direct_payment'] / max(last['holders'], 1):.0%} as direct payments; "
                     f"{last['received_ytd']:,.0f} received a PHB this financial year")
        from model.services import summary_lines
        lines += summary_lines(self.extra)
        return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The checkout's revision, asked once per process like `code_digest` (the code that runs is the code
    imported; a git call each run cost the dashboard a process start every lever change)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build_results(m: RolloutState, timings: dict[str, float] | None = None) -> Results:
    """Aggregate the recorder's snapshots into named series, scaled to real people. Counts and flows are
    whole numbers of agents, so each is summed to the level a table needs (national, by cohort, by
    commissioner) before it is scaled, and running totals are taken of the sums: the same numbers as
    scaling every cell first, at a fraction of the work. Spending is in pounds: summed in the same order as ever."""
    rec, scale = m.recorder, m.agent_scale
    months = _months_s(tuple(m.months))
    T, n_orgs = len(m.months), m.n_orgs
    national, by_cohort, spend = _headline(m)
    headline = KeptColumns(months, national, by_cohort)
    detail = DetailTables(
        months=months, fy=rec.fy, codes=np.array(m.org_codes), organisations=m.geo.organisations,
        populations=rec.population * 1.0, scale=scale, agents=rec.counts.reshape(T, -1, n_orgs, N_COHORTS),
        starts=rec.starts.reshape(T, n_orgs, N_COHORTS), offers=rec.offers.reshape(T, n_orgs, N_COHORTS),
        received=rec.received.reshape(T, n_orgs, N_COHORTS), spend=spend)

    # by date, then name: Python's stable sort of the (date, name) pairs is the order pandas' stable sort gave,
    # at a tenth of the cost (a pandas sort on a text column: a fifth of the tables' time)
    events = pd.DataFrame(sorted(m.events), columns=["date", "event"])
    events["date"] = pd.to_datetime(events["date"])
    return Results(scenario_name=m.scenario.name, scenario=m.scenario, seed=m.scenario.seed,
                   national=headline.table("national"), by_cohort=headline.table("by_cohort"),
                   events=events, detail=detail,
                   timings=dict(timings or {}),
                   extra=m.services.tables() if getattr(m, "services", None) is not None else {},
                   vintage=vintage(m.p.knowledge_date))


def kept_columns(m: RolloutState) -> KeptColumns:
    """What an ensemble keeps of a run (model/pool.py KEEP_TABLES) before it is tables: the per-month arrays
    of `national` and `by_cohort`, months as they read back from Parquet (datetime64[ms]). A worker sends
    these; the ensemble builds each table once for all runs (model/kept.py)."""
    national, by_cohort, _ = _headline(m)
    return KeptColumns(_months_ms(tuple(m.months)), national, by_cohort)


def member_results(m: RolloutState, timings: dict[str, float] | None = None, frames: bool = True) -> Results:
    """An ensemble member's results: the kept tables and the service side's tables, no events (an empty
    table) and no detail tables (`by_type`, `by_ccg`, `by_region` are not there to read). `frames=False`:
    the kept tables are left as `kept` columns (`national`, `by_cohort` are None), as a worker sends them."""
    kept = kept_columns(m)
    return Results(scenario_name=m.scenario.name, scenario=m.scenario, seed=m.scenario.seed,
                   national=kept.table("national") if frames else None,
                   by_cohort=kept.table("by_cohort") if frames else None,
                   events=_NO_EVENTS.copy(), kept=None if frames else kept,
                   timings=dict(timings or {}),
                   extra=m.services.tables() if getattr(m, "services", None) is not None else {},
                   vintage=vintage(m.p.knowledge_date))


_NO_EVENTS = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "event": pd.Series(dtype=str)})


@functools.lru_cache(maxsize=8)
def _months_s(months: tuple[dt.date, ...]) -> np.ndarray:
    """A run's months as `build_results` dates its tables (pandas' datetime64[s], read-only): worked out once
    per horizon in a process."""
    out = pd.to_datetime(pd.Series(months)).to_numpy()
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def _months_ms(months: tuple[dt.date, ...]) -> np.ndarray:
    """A run's months as datetime64[ms] (worked out once per horizon in a process; read-only)."""
    out = np.array(months, dtype="datetime64[ms]")
    out.flags.writeable = False
    return out


def _headline(m: RolloutState) -> tuple[dict, dict, np.ndarray]:
    """The national and by-cohort tables' value columns (model/kept.py) and spending by (t, org, cohort).
    Whole-number counts are first summed over commissioners once, to (t, state, cohort), and every count
    column comes from that small array (integers: any order of summing gives the same numbers)."""
    rec, scale = m.recorder, m.agent_scale
    T, n_orgs = len(m.months), m.n_orgs
    per_cohort = _sum_over_orgs(rec.counts.reshape(-1, n_orgs, N_COHORTS)).reshape(T, -1, N_COHORTS)  # t, state, cohort
    by_state = per_cohort.sum(axis=2) * scale  # t, state
    holding = per_cohort[:, HOLDING_ROWS].sum(axis=1) * scale  # t, cohort
    in_scope = per_cohort[:, IN_SCOPE].sum(axis=1) * scale
    planning = per_cohort[:, PLANNING] * scale

    def flow(arr: np.ndarray, per_person: int = scale) -> tuple[np.ndarray, np.ndarray]:
        """A flow of agents by (t, group) as people: national (t) and by cohort (t, cohort)."""
        by_c = _sum_over_orgs(arr.reshape(T, n_orgs, N_COHORTS))
        return (by_c.sum(axis=1) * per_person).astype(np.float64), (by_c * per_person).astype(np.float64)

    def ytd(levels: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        both = year_to_date(np.column_stack(levels), rec.fy)  # whole numbers: running sums are exact
        return both[:, 0].copy(), both[:, 1:].copy()

    starts, offers, declines, received = flow(rec.starts), flow(rec.offers), flow(rec.declines), flow(rec.received)
    received_ytd, issued_ytd = ytd(received), ytd(starts)
    redesignated, reviews = flow(rec.redesignated), flow(rec.reviews)
    waits, planned = flow(rec.wait_months, per_person=1), flow(rec.planned)  # months waited: a mean per person
    spend = rec.spend.reshape(T, n_orgs, N_COHORTS) / 100.0 * scale  # pounds

    holders = holding.sum(axis=1)
    wheelchair_holders = holding[:, WHEELCHAIR]
    cols = {"holders": holders}  # columns first, one DataFrame after (speed only)
    for state, col in HOLDING_COLUMNS.items():
        cols[col] = by_state[:, state]
    cols.update({
        "eligible_population": in_scope.sum(axis=1),
        "not_yet_eligible": by_state[:, NOT_ELIGIBLE],
        "offered_deciding": by_state[:, OFFERED],
        "waiting_for_support_plan": by_state[:, PLANNING],
        "declined": by_state[:, DECLINED],
        "died": by_state[:, DIED],
        "recovered": by_state[:, RECOVERED],
        "lost_eligibility": by_state[:, LOST_ELIGIBILITY],
        "new_holders": starts[0],
        "offers": offers[0],
        "declines": declines[0],
        "received_ytd": received_ytd[0],
        "issued_ytd": issued_ytd[0],
        "redesignated": redesignated[0],
        "wheelchair_reviews": reviews[0],
        "holders_wheelchair": wheelchair_holders,
        "holders_recurring": holders - wheelchair_holders,
        "spend_gbp": spend.sum(axis=(1, 2)),
        "mean_wait_months": _ratio(waits[0], planned[0]),
        "reported_holders": reported(holders, wheelchair_holders, m.p),
    })

    def column(by_cohort: np.ndarray) -> np.ndarray:  # t, cohort -> one column, cohort by cohort
        return by_cohort.T.ravel()

    by_cohort = {
        "holders": column(holding), "eligible_population": column(in_scope),
        "new_holders": column(starts[1]), "offers": column(offers[1]), "declines": column(declines[1]),
        "waiting_for_support_plan": column(planning), "received_ytd": column(received_ytd[1]),
        "issued_ytd": column(issued_ytd[1]), "redesignated": column(redesignated[1]),
        "spend_gbp": column(_by_cohort(spend)),
    }
    return cols, by_cohort, spend


def vintage(knowledge_date: dt.date) -> str:
    """How a run names its forecast vintage (model/policy.py drops events announced after the date)."""
    if knowledge_date >= reg.get("knowledge_date").default:
        return "vintage: current (all policy announced to date)"
    return f"vintage: as known on {knowledge_date:%d %b %Y} (later policy unknown to the run)"


@dataclass
class DetailTables:
    """The arrays behind the detailed tables, which most ensemble runs never read: summed by commissioner
    and built on first use."""

    months: np.ndarray
    fy: np.ndarray  # financial year of each month
    codes: np.ndarray
    organisations: pd.DataFrame  # the geography's table: names, regions, open and close dates
    populations: np.ndarray  # t, org: registered population as the model carried it through mergers
    scale: int  # people per agent
    agents: np.ndarray  # t, state, org, cohort: agents (× scale for people)
    starts: np.ndarray  # t, org, cohort: agents (and so on below)
    offers: np.ndarray
    received: np.ndarray
    spend: np.ndarray  # t, org, cohort: pounds
    built: dict[str, pd.DataFrame] = field(default_factory=dict)

    def get(self, name: str) -> pd.DataFrame:
        if name not in self.built:
            self.built[name] = getattr(self, f"_{name}")()
        return self.built[name]

    def _by_type(self) -> pd.DataFrame:
        frames = []
        for i, col in enumerate(HOLDING_COLUMNS.values()):
            for k, name in enumerate(reg.COHORTS):
                held = self.agents[:, HOLDING_ROWS.start + i, :, k].sum(axis=1, dtype=np.int64) * self.scale
                frames.append(pd.DataFrame({"month": self.months, "type": col, "cohort": name, "holders": held}))
        return pd.concat(frames, ignore_index=True)

    def _by_ccg(self) -> pd.DataFrame:
        """One row per commissioner open in the month (so the table follows the mergers)."""
        orgs = self.organisations
        opened, closed = pd.to_datetime(orgs["open_date"]).to_numpy(), pd.to_datetime(orgs["close_date"]).to_numpy()
        open_now = (opened[None, :] <= self.months[:, None]) & (
            pd.isna(closed)[None, :] | (closed[None, :] >= self.months[:, None]))
        t, o = np.nonzero(open_now)

        def people(states: slice) -> np.ndarray:  # t, org
            return self.agents[:, states].sum(axis=(1, 3), dtype=np.int64) * self.scale

        def flow(agents: np.ndarray) -> np.ndarray:  # t, org
            return (agents.sum(axis=2) * self.scale).astype(np.float64)

        by_ccg = pd.DataFrame({
            "month": self.months[t], "code": self.codes[o], "name": orgs["name"].to_numpy()[o],
            "region": orgs["region"].to_numpy()[o], "population": self.populations[t, o],
            "holders": people(HOLDING_ROWS)[t, o], "direct_payment": people(slice(DIRECT_PAYMENT, DIRECT_PAYMENT + 1))[t, o],
            "eligible_population": people(IN_SCOPE)[t, o], "waiting_for_support_plan": people(slice(PLANNING, PLANNING + 1))[t, o],
            "new_holders": flow(self.starts)[t, o], "offers": flow(self.offers)[t, o],
            "received_ytd": year_to_date(flow(self.received), self.fy)[t, o], "spend_gbp": self.spend.sum(axis=2)[t, o],
        })
        by_ccg["holders_per_100k"] = by_ccg["holders"] / by_ccg["population"] * 100_000
        return by_ccg

    def _by_region(self) -> pd.DataFrame:
        by_ccg = self.get("by_ccg")
        value_cols = [c for c in by_ccg.columns if c not in ("month", "code", "name", "region", "holders_per_100k")]
        by_region = by_ccg.groupby(["month", "region"], as_index=False)[value_cols].sum()
        by_region["holders_per_100k"] = by_region["holders"] / by_region["population"] * 100_000
        return by_region


def _by_cohort(x: np.ndarray) -> np.ndarray:
    """(t, org, cohort) summed over commissioners, a cohort at a time: numpy sums over a middle axis with a
    short last one several times more slowly, and in another order (pounds would differ in the last bit)."""
    return np.stack([x[:, :, k].sum(axis=1) for k in range(x.shape[2])], axis=1)


@numba.njit(cache=True, nogil=True)
def _sum_over_orgs(x):  # pragma: no cover (compiled)
    """(rows, org, cohort) whole numbers summed over commissioners, as int64 (rows, cohort): one pass, where
    numpy's sums over the middle axis were most of the cost of an ensemble member's tables. Integers: the
    same numbers in any order (tests/test_member_overhead.py)."""
    rows, orgs, cohorts = x.shape
    out = np.zeros((rows, cohorts), np.int64)
    for r in range(rows):
        for c in range(cohorts):  # one running sum at a time (the compiler keeps it in a register)
            total = 0
            for o in range(orgs):
                total += x[r, o, c]
            out[r, c] = total
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full(len(a), np.nan), where=b > 0)


def write_results(res: Results, out_dir: Path, manifest_extra: dict | None = None) -> Path:
    """Write every table as Parquet and CSV plus a manifest, atomically: a crash leaves no partial run."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, table in res.tables().items():
            table = table.copy()
            table.insert(0, "scenario", res.scenario_name)
            table.insert(1, "model_version", __version__)
            table.to_parquet(tmp / f"{name}.parquet", index=False)
            table.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6g", date_format="%Y-%m-%d")
        (tmp / "scenario.yaml").write_text(res.scenario_yaml, encoding="utf-8")
        manifest = {
            "scenario": res.scenario_name, "seed": res.seed, "model_version": __version__,
            "model_code": code_digest(), "git_revision": git_revision(), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "timings_seconds": res.timings, "tables": sorted(res.tables()), **(manifest_extra or {}),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
