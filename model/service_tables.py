"""Results of the service side: national, per-provider, per-CCG and per-outcome tables, the comparison with
the no-PHB counterfactual (`compare`) and the lines `phb run` prints (`summary_lines`).
Takes the service side (model/services.py) as an argument and never imports it."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from model import parameters as reg
from model.catalogue import SERVICES
from model.money import LEDGER_ITEMS
from model.outcomes import HOLD_TYPES, OUTCOME_KEYS, cost_effectiveness
from model.units import MONTHS_PER_YEAR, PENCE


def tables(side) -> "ServiceTables":
    m, r = side.m, side.rec
    months = pd.to_datetime(pd.Series(m.months))
    T = len(m.months)
    gbp = lambda x: x / PENCE
    nat = {"month": months}  # columns first, one DataFrame after (speed only)
    nat["open_providers"] = r["open"].sum(axis=(1, 2))
    nat["closures"] = (~r["open"]).sum(axis=(1, 2))
    nat["capacity_per_week"] = r["capacity"].sum(axis=(1, 2))
    nat["provider_income_gbp"] = gbp(r["income"].sum(axis=(1, 2)))
    nat["provider_cost_gbp"] = r["cost"].sum(axis=(1, 2)) / PENCE
    nat["users"] = r["users"].sum(axis=(1, 2))
    nat["waiting"] = r["waiting"].sum(axis=(1, 2))
    weighted = _Weighted(r)
    w, u = weighted(None)
    nat["mean_wait_weeks"], nat["utilisation"] = w, u
    for s, name in enumerate(SERVICES):
        ws, _ = weighted(s)
        nat[f"wait_weeks_{name}"] = ws
    nat["inpatient_bed_days"] = side.org_rec["inpatient_bed_days"].sum(axis=1)
    for k in LEDGER_ITEMS:
        nat[f"{k}_gbp"] = gbp(side.ledger.items[k].sum(axis=1))
    nat["decommissioned_recurring_gbp"] = nat["decommissioned_gbp"].cumsum()
    # the net-cost split's two combined parts, so that paired differences can be taken column by column
    nat["budgets_less_reclaimed_gbp"] = nat["phb_payments_gbp"] - nat["phb_reclaimed_gbp"]
    nat["contracts_other_gbp"] = nat["contracts_gbp"] - nat["contracts_inpatient_gbp"]
    nat["holders"] = side.org_rec["holders"].sum(axis=1)
    nat["ascot_gain_vs_without"] = _ratio(side.org_rec["ascot_gain_sum"].sum(axis=1), nat["holders"])

    clos = pd.DataFrame(side.closures, columns=["date", "ccg", "service", "cause", "provider", "users",
                                                "waiting_moved", "moved_to"])
    by_budgets = np.zeros(T, int)
    if side.closures:  # counted from the records (a few dozen): cheaper than string methods on the table
        t_of = {d: i for i, d in enumerate(m.months)}
        for c in side.closures:
            if c["cause"].startswith("budgets"):
                by_budgets[t_of[c["date"]]] += 1
    nat["closures_budgets"] = np.cumsum(by_budgets)
    nat["closures_not_budgets"] = nat["closures"] - nat["closures_budgets"]
    nat["contracts_rebased"] = side.rebased.sum(axis=(1, 2))
    nat = pd.DataFrame(nat)
    clos["date"] = pd.to_datetime(clos["date"])
    big = _ProviderArrays(months=months.to_numpy(), codes=np.array(m.org_codes), start_orgs=side.start_orgs,
                          n_services=side.n_services, rec=r, ledger=side.ledger.items, org_rec=side.org_rec)
    return ServiceTables({"services_national": nat, "services_closures": clos,
                          "services_outcomes": outcome_table(side, months)}, big)


@dataclass
class _ProviderArrays:
    """What the per-provider and per-CCG tables are built from (arrays only: no model, so a kept result
    does not keep its run's people alive)."""

    months: np.ndarray
    codes: np.ndarray
    start_orgs: np.ndarray
    n_services: int
    rec: dict
    ledger: dict
    org_rec: dict

    def by_provider(self) -> pd.DataFrame:
        r, months, codes = self.rec, self.months, self.codes
        T = len(months)
        s_grid, j_grid = np.meshgrid(np.arange(self.n_services), np.arange(len(self.start_orgs)), indexing="ij")
        gbp = lambda x: x / PENCE
        # labels as categoricals: 100,000+ rows of repeated codes cost more as strings than the run itself
        prov = pd.DataFrame({
            "month": np.repeat(months, s_grid.size),
            "code": pd.Categorical.from_codes(r["home"].reshape(T, -1).ravel(), categories=codes),
            "provider": pd.Categorical.from_codes(np.tile(self.start_orgs[j_grid].ravel(), T), categories=codes),
            "service": pd.Categorical.from_codes(np.tile(s_grid.ravel(), T), categories=list(SERVICES)),
        })
        for k in ("open", "capacity", "users", "waiting", "mean_wait", "utilisation"):
            prov[k if k != "mean_wait" else "mean_wait_weeks"] = r[k].reshape(T, -1).ravel()
        prov = prov.rename(columns={"capacity": "capacity_per_week"})
        for k in ("income", "block", "double_running", "decommissioned"):
            prov[f"{k}_gbp"] = gbp(r[k].reshape(T, -1).ravel())
        prov["cost_gbp"] = r["cost"].reshape(T, -1).ravel() / PENCE
        return prov

    def ledger_table(self) -> pd.DataFrame:
        """Month × CCG holding contracts that month: the ledger's items and the per-CCG outcome sums."""
        r, T = self.rec, len(self.months)
        homes = np.zeros((T, len(self.codes)), bool)
        for t in range(T):
            homes[t, np.unique(r["home"][t])] = True
        t_idx, o_idx = np.nonzero(homes)
        led = pd.DataFrame({"month": self.months[t_idx], "code": self.codes[o_idx]})
        for k in LEDGER_ITEMS:
            led[f"{k}_gbp"] = self.ledger[k][t_idx, o_idx] / PENCE
        for k, v in self.org_rec.items():
            led[k] = v[t_idx, o_idx]
        return led


ORDER = ("services_national", "services_by_provider", "services_ledger", "services_closures", "services_outcomes")
LARGE = ("services_by_provider", "services_ledger")  # ~150,000 and ~19,000 rows a run: built when first read


class ServiceTables(MutableMapping):
    """The service side's tables by name, like a dict. The two large ones are built when first read: an
    ensemble run keeps only small tables, and building these cost about a tenth of a run at 1:50."""

    def __init__(self, built: dict[str, pd.DataFrame], arrays: _ProviderArrays):
        self._built, self._arrays = dict(built), arrays

    def _build(self, name: str) -> pd.DataFrame:
        table = self._arrays.by_provider() if name == "services_by_provider" else self._arrays.ledger_table()
        self._built[name] = table
        return table

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._built and name in LARGE:
            return self._build(name)
        return self._built[name]

    def __setitem__(self, name: str, table: pd.DataFrame) -> None:
        self._built[name] = table

    def __delitem__(self, name: str) -> None:
        if name in LARGE and name not in self._built:
            self._build(name)
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        names = [n for n in ORDER if n in self._built or n in LARGE]
        return iter(names + [n for n in self._built if n not in names])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def is_large(self, name: str) -> bool:
        """True for a table not yet built because it is large (readers that keep only small tables skip it)."""
        return name in LARGE and name not in self._built

def outcome_table(side, months: pd.Series) -> pd.DataFrame:
    """Month × cohort × way held: holders, mean match, ASCOT gain over a year against no budget, inpatient
    bed-days avoided, and the money (£ a month)."""
    r, p = side.outcomes.rec, side.p
    T, n_c, n_k = r["holders"].shape
    out = {  # columns first, one DataFrame after (speed only)
        "month": np.repeat(months.to_numpy(), n_c * n_k),
        "cohort": np.tile(np.repeat(np.array(reg.COHORTS), n_k), T),
        "held_as": np.tile(np.array(HOLD_TYPES), T * n_c),
    }
    for k in OUTCOME_KEYS:
        out[k] = r[k].ravel()
    out["mean_match"] = _ratio(out["match_sum"], out["holders"])
    out["ascot_gain_vs_without"] = _ratio(out["ascot_gain_sum"], out["holders"])
    out["inpatient_saved_gbp"] = out["bed_days_saved"] * p.inpatient_cost_per_bed_day
    for k in ("budget", "support", "cash", "notional", "reclaimed"):
        out[f"{k}_gbp"] = out.pop(f"{k}_pence") / PENCE
    # the traditional care a third-party or direct-payment holder no longer uses: their own package, whose cost
    # the budget was set at (pricing it at the cohort's mean package instead booked holders' larger-than-
    # average packages as a cost of budgets: holders are not a random draw of the cohort's packages)
    out["displaced_care_gbp"] = out["cash_gbp"]
    return pd.DataFrame(out)


class _Weighted:
    """National mean wait (weeks) and utilisation, weighting providers by people served, for the nation
    (`s` None) or one service: people served and their weeks waited worked out once for all providers
    (each sum is over the same numbers, in the same order, as when worked out per call)."""

    def __init__(self, r: dict):
        self.cap = r["capacity"]
        self.served, self.waited = np.empty(self.cap.shape), np.empty(self.cap.shape)
        served_and_waited(r["utilisation"].reshape(-1), r["mean_wait"].reshape(-1), self.cap.reshape(-1),
                          np.finfo(float).max, self.served.reshape(-1), self.waited.reshape(-1))

    def __call__(self, s: int | None) -> tuple[np.ndarray, np.ndarray]:
        cut = slice(None) if s is None else slice(s, s + 1)
        served, waited, cap = self.served[:, cut], self.waited[:, cut], self.cap[:, cut]
        total = served.sum(axis=(1, 2))
        wait = _ratio(waited.sum(axis=(1, 2)), total)
        return wait, _ratio(total, cap.sum(axis=(1, 2)))


@numba.njit(cache=True, nogil=True)
def served_and_waited(utilisation, mean_wait, capacity, largest, served, waited):  # pragma: no cover (compiled)
    """People served (utilisation × capacity) and their weeks waited (mean wait × served), provider-month by
    provider-month, in one pass: np.nan_to_num's numbers (NaN 0, ±inf ±`largest`), then the same products."""
    for i in range(len(capacity)):
        served[i] = _finite(utilisation[i], largest) * capacity[i]
        waited[i] = _finite(mean_wait[i], largest) * served[i]


@numba.njit(cache=True, nogil=True, inline="always")
def _finite(x, largest):  # pragma: no cover (compiled)
    """np.nan_to_num of one number."""
    if np.isnan(x):
        return 0.0
    if np.isinf(x):
        return largest if x > 0 else -largest
    return x


def _ratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.full(len(a), np.nan), where=b > 0)


NATIONAL_KEYS = ("month",)
COMPARED = ("open_providers", "closures", "capacity_per_week", "provider_income_gbp", "users", "waiting",
            "mean_wait_weeks", "utilisation", *(f"wait_weeks_{s}" for s in SERVICES), "inpatient_bed_days",
            "closures_budgets", "closures_not_budgets",
            *(f"{k}_gbp" for k in LEDGER_ITEMS), "decommissioned_recurring_gbp")


# the net cost to the NHS, split (adds up exactly to the difference in CCG spend)
NET_PARTS = ("budgets", "support", "double_running", "inpatient", "other_services")


def compare(run: dict[str, pd.DataFrame], cf: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Service tables with the no-PHB counterfactual beside the run: `x`, `x_cf`, `x_diff`."""
    out = dict(run)
    nat = run["services_national"].copy()
    c = cf["services_national"]
    for k in COMPARED:
        nat[f"{k}_cf"] = c[k].to_numpy()
        nat[f"{k}_diff"] = nat[k].to_numpy() - c[k].to_numpy()
    nat["net_cost_to_nhs_gbp"] = nat["total_gbp_diff"]
    # the split (adds up exactly): budgets paid out less money reclaimed, support, double running, and the
    # change in traditional contracts (negative: savings, inpatient beds among them)
    nat["net_budgets_gbp"] = nat["phb_payments_gbp_diff"] - nat["phb_reclaimed_gbp_diff"]
    nat["net_support_gbp"] = nat["support_gbp_diff"]
    nat["net_double_running_gbp"] = nat["double_running_gbp_diff"]
    nat["net_traditional_gbp"] = nat["contracts_gbp_diff"]
    nat["net_inpatient_gbp"] = nat["contracts_inpatient_gbp_diff"]
    nat["net_other_services_gbp"] = nat["contracts_gbp_diff"] - nat["contracts_inpatient_gbp_diff"]
    out["services_national"] = nat
    prov = run["services_by_provider"].copy()
    cp = cf["services_by_provider"]
    for k in ("open", "capacity_per_week", "mean_wait_weeks", "income_gbp", "users"):
        prov[f"{k}_cf"] = cp[k].to_numpy()
        if k != "open":
            prov[f"{k}_diff"] = prov[k].to_numpy() - cp[k].to_numpy()
    out["services_by_provider"] = prov
    led = run["services_ledger"].copy()
    merged = led[["month", "code"]].merge(cf["services_ledger"][["month", "code", "total_gbp"]], how="left",
                                          on=["month", "code"])
    led["total_gbp_cf"] = merged["total_gbp"].to_numpy()
    led["net_cost_to_nhs_gbp"] = led["total_gbp"] - led["total_gbp_cf"]
    out["services_ledger"] = led
    return out


def summary_lines(extra: dict[str, pd.DataFrame]) -> list[str]:
    """A few lines for `phb run`: the service side at the end of the run, against no PHBs if run."""
    nat = extra.get("services_national")
    if nat is None or nat.empty:
        return []
    last, year = nat.iloc[-1], nat.tail(MONTHS_PER_YEAR)
    has_cf = "total_gbp_cf" in nat
    lines = [f"Traditional services ({last['month']:%b %Y}; last 12 months; "
             + ("difference from the same run with no PHBs)" if has_cf else "no counterfactual run)")]

    def fmt(label: str, col: str, how: str, unit: str, scale: float = 1.0, dp: int = 1) -> None:
        def get(c):
            return (year[c].sum() if how == "sum" else year[c].mean() if how == "mean" else last[c]) / scale
        val = get(col)
        if has_cf:
            cf = get(f"{col}_cf")
            lines.append(f"  {label:46s} {val:>9,.{dp}f} {unit:9s} (no PHBs {cf:>9,.{dp}f}; {val - cf:>+8,.{dp}f})")
        else:
            lines.append(f"  {label:46s} {val:>9,.{dp}f} {unit}")

    fmt("mean wait for a traditional service", "mean_wait_weeks", "mean", "weeks", dp=2)
    fmt("providers closed since Apr 2014", "closures", "last", "providers", dp=0)
    fmt("  of which caused by budgets", "closures_budgets", "last", "providers", dp=0)
    fmt("double running (block paid, care not used)", "double_running_gbp", "sum", "£m a year", 1e6)
    fmt("contracts decommissioned (recurring)", "decommissioned_recurring_gbp", "last", "£m a year", 1e6 / 12)
    fmt("inpatient bed-days", "inpatient_bed_days", "sum", "thousand", 1e3)
    fmt("CCG spend on these cohorts' services", "total_gbp", "sum", "£m a year", 1e6)
    if has_cf:
        if last["closures_not_budgets_cf"] > 0:
            lines.append(f"  no-PHB run: {last['closures_not_budgets_cf']:.0f} closures, cause not budgets "
                         "(activity drifting from contracts as the population changes)")
        parts = {k: year[f"net_{k}_gbp"].sum() / 1e6 for k in NET_PARTS}
        lines.append("  net cost to the NHS £{:+,.1f}m a year = budgets {:+,.1f} + support {:+,.1f} + double running "
                     "{:+,.1f} + inpatient care {:+,.1f} + other services {:+,.1f}".format(sum(parts.values()),
                                                                                        *parts.values()))
    paid = max(year["phb_payments_gbp"].sum(), 1)
    lines.append(f"  budget money spent outside the NHS {year['phb_outside_gbp'].sum() / paid:.0%}, reclaimed unspent "
                 f"{year['phb_reclaimed_gbp'].sum() / paid:.0%}; on items a critic calls non-evidence-based "
                 f"{year['non_evidence_gbp'].sum() / paid:.1%}")
    out = extra.get("services_outcomes")
    if out is not None and not out.empty:
        ce = cost_effectiveness(out)
        lines.append("  quality of life (ASCOT gain a year vs without a budget) and net cost, by cohort:")
        for c, r in ce.iterrows():
            if r["holders"] > 0:
                per = "saves money" if r["net_cost_per_holder_year"] <= 0 else f"£{r['gbp_per_ascot_point']:,.0f} an ASCOT point"
                lines.append(f"    {c:20s} {r['ascot_gain']:+.3f}  £{r['net_cost_per_holder_year']:>+8,.0f} a holder a "
                             f"year, {per}  ({r['verdict']})")
    return lines
