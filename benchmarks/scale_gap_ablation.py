"""Where a coarse scale's gap comes from: rerun the runs with the fewest holders at 1:1 and 1:S with a rule
switched off, and see whether the run-by-run gap goes (issue 12, the 1:10 bands' lower edge).

Reads the runs that `bench_ensemble.py --save-runs DIR` kept (`bands_holders_<mode>.npz`: holders by run and
month at both scales, run i with the same seed and drawn parameters). Picks the `--low` runs with the fewest
full-scale holders in `--month`, takes their seeds and parameters from the ensemble's plan (`plan_run`), so
they are the same runs (the "as drawn" variant reproduces the saved gap), and reruns them at both scales for
each variant: parameter overrides on top of each run's draw. Prints each variant's mean run-by-run gap
(coarse / full − 1) with its standard error at a few months.

    .venv/bin/python benchmarks/scale_gap_ablation.py --saved DIR [--low 40] [--scale 10] [--month 2018-12]
        [--variant "no wheelchair offers: offer_rate_wheelchair=0"] ...
    .venv/bin/python benchmarks/scale_gap_ablation.py --fresh 400 --first 9000 --scale 50 --until 2016-09-30 \
        --show 2015-04,2016-09 --variant "..."     # fresh runs (ensemble indices first..first+N-1), no selection

With `--fresh N` the runs are the ensemble's runs `--first` to `--first + N − 1` (their own seeds and draws), not a
selection: the way to confirm a variant. Measured with it on 24 Nov 2026 (400 fresh pairs at 1:50 to Sept 2016,
after the plan gap's change; gap in Apr 2015 / Sept 2016): as drawn −2.5% ± 0.6% / −2.2% ± 0.4%; support
planning not binding (`coordinators_per_100k=10`) −1.2% / −0.7%; 24 months' carry-over −1.4% / −0.8%;
re-designation off −2.5% / −1.4%; word of mouth off −1.9% / −2.1%.

Measured on 24 Nov 2026 (40 lowest of 600 draws, mode both, to March 2021; gap in Dec 2018): as drawn +2.0% ±
0.7%; no wheelchair offers +0.9%; every assurance response off +1.8%; support term of the expected match off
(`support_match_loss=0`) +1.0% ± 0.5%; word of mouth off +2.2%. After take-up's support term came to read the
expected planning queue (same 40 draws): as drawn +1.2% ± 0.5%, support term off +1.0% (it no longer adds to
the gap), no wheelchair offers +0.1% ± 0.8%; but with 200 fresh seed pairs on the same parameters the gap is
+1.3% ± 0.3% with or without wheelchair offers: a few selected seeds can mislead, so confirm on fresh seeds
(mode "design" with new seeds) before trusting a variant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.draws import plan_run  # noqa: E402
from model.ensemble import run_ensemble  # noqa: E402
from model.scenario import load_scenario  # noqa: E402

UNTIL = dt.date(2021, 3, 31)  # bench_ensemble's band comparison runs to here
SHOWN = ("2016-03", "2017-03", "2018-03", "2018-12", "2019-03", "2020-03", "2021-03")


def variant(text: str) -> tuple[str, dict[str, float]]:
    """'label: name=value, name=value' -> (label, overrides)."""
    label, _, body = text.partition(":")
    try:
        pairs = [p.split("=") for p in body.split(",") if p.strip()]
        return label.strip(), {k.strip(): float(v) for k, v in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': allowed: 'label: parameter=number, parameter=number'") from None


def lowest_runs(saved: Path, mode: str, month: str, n: int) -> tuple[np.ndarray, float]:
    """The `n` runs with the fewest full-scale holders in `month`, and their saved mean gap then."""
    path = saved / f"bands_holders_{mode}.npz"
    if not path.is_file():
        raise SystemExit(f"scale_gap_ablation: {path} not found; allowed: a directory written by "
                         "bench_ensemble.py --save-runs")
    z = np.load(path)
    months = list(pd.DatetimeIndex(z["months"]).strftime("%Y-%m"))
    if month not in months:
        raise SystemExit(f"scale_gap_ablation: --month {month} not in {path.name}; allowed: {months[0]} to {months[-1]}")
    t = months.index(month)
    low = np.sort(np.argsort(z["full"][:, t])[:n])
    return low, float((z["coarse"][low, t] / z["full"][low, t] - 1).mean())


def designs(base, mode: str, low: np.ndarray) -> list[dict]:
    """The seeds and drawn parameters of runs `low`, as the ensemble planned them (`model.draws.plan_run`: a
    function of the scenario's seed and the run's index alone)."""
    specs = [plan_run(base, int(i), mode) for i in low]
    return [{"seed": s.seed, "parameters": dict(s.parameters)} for s in specs]


def gaps(base, design: list[dict], scale: int, workers: int = 1) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Mean run-by-run gap (coarse / full − 1) by month and its standard error."""
    holders = {}
    for s in (1, scale):
        e = run_ensemble(base.with_(agent_scale=s), len(design), mode="design", design=design, store=None,
                         services=False, workers=workers)
        t = e.runs_table("national")
        holders[s] = t.pivot(index="month", columns="run", values="holders").to_numpy(float)
        months = [str(m)[:7] for m in t["month"].unique()]
    rel = holders[scale] / holders[1] - 1
    return rel.mean(axis=1), rel.std(axis=1, ddof=1) / np.sqrt(rel.shape[1]), months


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--saved", type=Path, help="directory of bench_ensemble.py --save-runs (or --fresh)")
    ap.add_argument("--fresh", type=int, default=0, help="rerun this many fresh runs instead of the saved lowest")
    ap.add_argument("--first", type=int, default=9000, help="with --fresh: the first run's ensemble index")
    ap.add_argument("--until", type=dt.date.fromisoformat, default=UNTIL, help="last month (YYYY-MM-DD)")
    ap.add_argument("--show", default=",".join(SHOWN), help="months shown (YYYY-MM, comma-separated)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--mode", default="both", choices=("both", "parameters"))
    ap.add_argument("--low", type=int, default=40, help="how many of the lowest runs to rerun")
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--month", default="2018-12", help="month (YYYY-MM) that ranks the runs")
    ap.add_argument("--variant", type=variant, action="append", default=[],
                    help="'label: parameter=number, ...' (repeatable); 'as drawn' always runs first")
    a = ap.parse_args()
    if (a.saved is None) == (a.fresh <= 0):
        raise SystemExit("scale_gap_ablation: allowed: --saved DIR (the lowest saved runs) or --fresh N (N > 0), "
                         "one of them")
    base = load_scenario("baseline").with_(until=a.until)
    for label, overrides in a.variant:  # every variant checked against the register before anything runs
        try:
            base.with_parameters(**overrides)
        except ValidationError as e:
            err = e.errors()[0]
            raise SystemExit(f"scale_gap_ablation: --variant '{label}': {'.'.join(map(str, err['loc']))}: "
                             f"{err['msg']}") from None
    if a.fresh > 0:
        runs = np.arange(a.first, a.first + a.fresh)
        print(f"{a.fresh} fresh runs (ensemble indices {a.first} to {a.first + a.fresh - 1})", flush=True)
    else:
        runs, saved_gap = lowest_runs(a.saved, a.mode, a.month, a.low)
        print(f"{len(runs)} runs with the fewest holders in {a.month}; their saved gap {saved_gap:+.2%}", flush=True)
    design = designs(base, a.mode, runs)
    shown = [m.strip() for m in a.show.split(",") if m.strip()]
    for label, overrides in [("as drawn", {}), *a.variant]:
        mean, se, months = gaps(base, [{**d, "parameters": {**d["parameters"], **overrides}} for d in design], a.scale,
                                a.workers)
        print(f"{label}: " + " ".join(f"{m} {mean[months.index(m)]:+.2%} ± {se[months.index(m)]:.2%}"
                                      for m in shown if m in months), flush=True)


if __name__ == "__main__":
    main()
