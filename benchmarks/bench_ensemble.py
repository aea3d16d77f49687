"""Benchmark: ensembles of the national model (issue 4).

Reports runs per second (baseline scenario, April 2014 – March 2021, 1 agent = 10 people) on the local
process pool and on a local Dask cluster; the wall time of a 1,000-run ensemble at 1:10 against the
≤ 3 minute target; and how far its median and bands of people holding a PHB are from a full-scale (1:1)
ensemble's (target: within 2%). The full-scale ensemble has fewer runs (`--full-runs`); both use the same
root seed, so run i at 1:10 and at 1:1 share parameter draws and seeds. To separate agent scaling from
Monte Carlo noise, the 1:10 ensemble's first `--full-runs` runs are compared with the 1:1 ensemble too.
Timings are also given in units of a fixed numpy reference loop, so machines compare.

    python benchmarks/bench_ensemble.py [--runs 1000] [--full-runs 100] [--speed-runs 20]

Writes benchmarks/results/ensemble.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import reference_loop_seconds  # noqa: E402

from model.ensemble import bands_of, run_ensemble  # noqa: E402
from model.scenario import load_scenario  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
FROM = pd.Timestamp("2016-04-01")  # compare bands from the national push on (earlier counts are small)
BANDS = ("median", "p2_5", "p10", "p25", "p75", "p90", "p97_5")


MODE = "both"
SERVICES = True


def timed(scenario, runs, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    ens = run_ensemble(scenario, runs, store=None, mode=MODE, services=SERVICES, **kw)
    return time.perf_counter() - t0, ens


def band_distance(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Relative distance |a − b| / b of each band of holders, over months from April 2016."""
    a, b = a.set_index("month"), b.set_index("month")
    months = b.index[b.index >= FROM]
    out = {}
    for col in BANDS:
        rel = (a.loc[months, col] - b.loc[months, col]).abs() / b.loc[months, col]
        out[col] = {"max": float(rel.max()), "mean": float(rel.mean()),
                    "at_2021_03": float(rel.loc[pd.Timestamp("2021-03-01")])}
    out["worst_max"] = max(v["max"] for v in out.values() if isinstance(v, dict))
    out["worst_mean"] = max(v["mean"] for v in out.values() if isinstance(v, dict) and "mean" in v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--full-runs", type=int, default=100)
    ap.add_argument("--speed-runs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--mode", default="both", choices=("both", "randomness", "parameters"))
    ap.add_argument("--no-services", dest="services", action="store_false",
                    help="patient side only (uptake series), as the dashboard's fan chart runs")
    ap.add_argument("--out", default="ensemble.json", help="file name under benchmarks/results/")
    args = ap.parse_args()
    global MODE, SERVICES
    MODE, SERVICES = args.mode, args.services

    base = load_scenario("baseline")
    s10 = base.with_(agent_scale=10)
    ref = reference_loop_seconds()
    report: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
                    "cpu_count": os.cpu_count(), "workers": args.workers, "reference_loop_s": ref,
                    "services": args.services, "scenario": f"baseline, 2014-04 to 2021-03, mode {args.mode}"
                    + (", all register ranges uncertain" if args.mode != "randomness" else "")}

    # runs per second (1:10)
    n = args.speed_runs
    t_serial, _ = timed(s10, max(4, n // 4), workers=1)
    report["serial_runs_per_s_1to10"] = max(4, n // 4) / t_serial
    t_local, e_local = timed(s10, n, workers=args.workers)
    report["local_runs_per_s_1to10"] = n / t_local
    t_dask, e_dask = timed(s10, n, backend="dask", workers=args.workers)
    report["dask_runs_per_s_1to10"] = n / t_dask
    report["dask_includes_cluster_start"] = True
    report["local_equals_dask"] = bool(e_local.tables["national"].equals(e_dask.tables["national"]))
    print(f"runs/s at 1:10 — serial {report['serial_runs_per_s_1to10']:.2f}, local pool "
          f"{report['local_runs_per_s_1to10']:.2f}, Dask LocalCluster {report['dask_runs_per_s_1to10']:.2f} "
          f"({args.workers} workers, {n} runs; Dask time includes starting the cluster)", flush=True)

    # the 1,000-run ensemble at 1:10, through the store (as `phb ensemble` does)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        big = run_ensemble(s10, args.runs, workers=args.workers, store=tmp, mode=MODE, services=SERVICES)
        t_big = time.perf_counter() - t0
    report["big"] = {"runs": args.runs, "agent_scale": 10, "wall_s": t_big, "target_s": 180,
                     "meets_target": t_big <= 180, "runs_per_s": args.runs / t_big,
                     "wall_in_reference_loops": t_big / ref}
    print(f"{args.runs} runs at 1:10: {t_big:.0f} s (target ≤ 180 s)", flush=True)

    # full scale
    s1 = base.with_(agent_scale=1)
    t_full, full = timed(s1, args.full_runs, workers=args.workers)
    report["full"] = {"runs": args.full_runs, "agent_scale": 1, "wall_s": t_full, "runs_per_s": args.full_runs / t_full}
    b_full = full.bands("holders")
    b_big = big.bands("holders")
    nat = big.runs_table("national")
    b_big_same = bands_of(nat[nat["run"] < args.full_runs], "holders")
    report["distance_1to10_x%d_vs_1to1_x%d" % (args.runs, args.full_runs)] = band_distance(b_big, b_full)
    report["distance_1to10_vs_1to1_same_%d_runs" % args.full_runs] = band_distance(b_big_same, b_full)
    report["noise_1to10_x%d_vs_1to10_x%d" % (args.full_runs, args.runs)] = band_distance(b_big_same, b_big)
    report["holders_2021_03"] = {
        "1to10": b_big.set_index("month").loc[pd.Timestamp("2021-03-01"), list(BANDS)].to_dict(),
        "1to1": b_full.set_index("month").loc[pd.Timestamp("2021-03-01"), list(BANDS)].to_dict(),
    }
    d = report["distance_1to10_vs_1to1_same_%d_runs" % args.full_runs]
    report["bands_within_2pct"] = d["worst_max"] <= 0.02
    print(f"1:10 vs 1:1, same {args.full_runs} runs: worst band distance max {d['worst_max']:.1%}, "
          f"mean {d['worst_mean']:.1%} (median: max {d['median']['max']:.1%})", flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / args.out).write_text(json.dumps(report, indent=2, default=float))
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    sys.exit(main())
