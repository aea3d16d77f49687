"""Benchmark: ensembles of the national model (issues 4 and 12).

Measured in one session, every figure also in CPU time (the machine may be shared; the load average is
recorded and timings are given in units of a fixed numpy reference loop):
- cost per run at 1:10, with and without the service side, run one at a time in this process (CPU time),
  and the 1,000-run ensemble's wall time on `--workers` cores extrapolated from it (and, when `--runs`
  is given, measured through the local process pool);
- a 50-run ensemble at 1:50 with the service side against one full-scale `phb run` (which also runs its
  counterfactual): the ratio of their CPU times (target ≤ 0.6);
- the 1:10 against the 1:1 bands of people holding a PHB (median and 80% band, and the mean) at every month,
  for each of `--band-modes` (default "both", what users' bands are, and "randomness"), with run i at both
  scales sharing its seed and drawn parameters: each month's signed gap with its standard error (paired
  bootstrap over runs), the months whose gap exceeds 2% beyond that noise, and the worst gap (target
  within 2%). Bands are compared as users' ensembles draw them (sample quantiles) and smoothed
  (Harrell–Davis quantiles: the same bands with far less noise, the test of a bias). Under "randomness" the
  1:10 band is wider by its own sampling noise (the sd ratio is reported), so its p10/p90 gaps are not a
  bias; the median and mean are the test of one.

    python benchmarks/bench_ensemble.py [--per-run 6] [--band-runs 120] [--band-modes both,randomness]
                                        [--bootstrap 2000] [--only-bands] [--save-runs DIR] [--from-runs DIR]
                                        [--runs 0] [--workers 2]

`--only-bands` measures the bands alone and merges them into the existing results file (about 1.8 CPU-s
per pair of runs to March 2021: 150 pairs × 2 modes ≈ 9 CPU-min); `--save-runs` keeps the runs' holders,
`--from-runs` recomputes the statistics from them without running.

Writes benchmarks/results/ensemble.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from band_gaps import BANDS, TARGET, band_gaps  # noqa: E402
from machine import load_average, reference_loop_seconds  # noqa: E402

from model.ensemble import run_ensemble  # noqa: E402
from model.scenario import load_scenario  # noqa: E402
from model.sim import Sim  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
UNTIL = dt.date(2021, 3, 31)
def clocked(fn, *a, **kw):
    """(wall s, CPU s of this process, result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return time.perf_counter() - t0, time.process_time() - c0, out


def serial(scenario, runs: int, services: bool, mode: str):
    """An ensemble run one at a time in this process (workers=1), so its CPU time is all counted."""
    return clocked(run_ensemble, scenario, runs, store=None, mode=mode, services=services, workers=1)


def holders_by_run(ens) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """People holding a PHB, one row per run (in run order), one column per month."""
    wide = ens.runs_table("national").pivot(index="run", columns="month", values="holders").sort_index()
    return wide.to_numpy(float), pd.DatetimeIndex(wide.columns)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-run", type=int, default=6, help="runs timed one at a time at 1:10 (each side)")
    ap.add_argument("--band-runs", type=int, default=120, help="runs per side (1:1 and 1:10) for the band comparison")
    ap.add_argument("--band-modes", default="both,randomness", help="ensemble modes of the band comparison, comma-separated")
    ap.add_argument("--bootstrap", type=int, default=2000, help="paired bootstrap resamples for each gap's standard error")
    ap.add_argument("--only-bands", action="store_true", help="measure the bands alone; merge into the results file")
    ap.add_argument("--no-bands", action="store_true",
                    help="measure the costs alone; keep the bands already in the results file")
    ap.add_argument("--also-scales", default="50", help="other coarse scales compared with the same 1:1 runs, "
                    "comma-separated, reported without a target (1:50 is the dashboard's default); '' for none")
    ap.add_argument("--save-runs", default=None, help="directory to keep the band runs' holders in (npz)")
    ap.add_argument("--from-runs", default=None, help="directory of saved band runs: recompute statistics only")
    ap.add_argument("--fan-runs", type=int, default=50,
                    help="runs of the 1:50 ensemble actually timed (its cost is scaled to 50 runs if fewer)")
    ap.add_argument("--runs", type=int, default=0, help="also time an ensemble of this many 1:10 runs on the pool")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--mode", default="randomness", choices=("both", "randomness", "parameters"))
    ap.add_argument("--out", default="ensemble.json", help="file name under benchmarks/results/")
    args = ap.parse_args()
    bad = [m for m in args.band_modes.split(",") if m not in ("both", "randomness", "parameters")]
    if bad or args.band_runs < 2 or args.bootstrap < 10:
        print(f"--band-modes: {','.join(bad) or args.band_modes} must be both, randomness or parameters; "
              "--band-runs at least 2; --bootstrap at least 10", file=sys.stderr)
        return 2
    if args.only_bands:
        return bands_only(args)
    kept_bands = None
    if args.no_bands:
        path = OUT / args.out
        kept_bands = json.loads(path.read_text()).get("bands_1to10_vs_1to1") if path.exists() else None
        if kept_bands is None:
            print(f"--no-bands: {path} holds no band comparison to keep; run without --no-bands", file=sys.stderr)
            return 2

    base = load_scenario("baseline").with_(until=UNTIL)
    s10, s50, s1 = (base.with_(agent_scale=k) for k in (10, 50, 1))
    report: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
                    "cpu_count": os.cpu_count(), "workers": args.workers, "load_average_before": load_average(),
                    "reference_loop_s": reference_loop_seconds(),
                    "reference_loop_cpu_s": reference_loop_seconds(cpu=True),
                    "scenario": f"baseline, 2014-04 to {UNTIL:%Y-%m}, mode {args.mode}",
                    "note": "machine shared with other engineers' jobs (see load averages; 2 cores): costs are CPU "
                            "seconds of runs made one at a time in this process; a wall time on W idle cores is "
                            "estimated as CPU / W (an estimate, said so where used)"}

    if kept_bands is not None:  # kept in every partial save too (and the other scales' comparisons)
        report["bands_1to10_vs_1to1"] = kept_bands
        report.update({k: v for k, v in json.loads((OUT / args.out).read_text()).items()
                       if k.startswith("bands_1to") and k != "bands_1to10_vs_1to1"})

    # 1. cost per run at 1:10, both sides; the 1,000-run ensemble extrapolated. A warm-up run first, untimed:
    # a process's first run loads the compiled steps and the geography and works out the merger plans, which
    # a pool worker does once for its hundreds of runs (timing 6 runs from cold put ~0.1 s a run on top)
    Sim(s10.with_(until=dt.date(2016, 3, 31))).run(tables="kept")
    for services in (True, False):
        wall, cpu, _ = serial(s10, args.per_run, services, args.mode)
        per_run = cpu / args.per_run
        est = 1000 * per_run / args.workers
        report["per_run_1to10_" + ("with_services" if services else "patient_side_only")] = {
            "runs_timed": args.per_run, "cpu_s_per_run": per_run, "wall_s_per_run_under_load": wall / args.per_run,
            "ensemble_1000_runs_estimated_wall_s": est, "estimated": f"1000 × CPU per run / {args.workers} workers",
            "target_s": 90, "meets_target": est <= 90, "cpu_s_per_run_in_reference_loops": per_run / report["reference_loop_cpu_s"]}
        print(f"1:10 {'with' if services else 'without'} services: {per_run:.2f} s CPU per run → 1,000 runs ≈ {est:.0f} s "
              f"on {args.workers} cores (target ≤ 90 s)", flush=True)
    if args.runs:
        wall, _, _ = clocked(run_ensemble, s10, args.runs, store=None, mode=args.mode, workers=args.workers)
        report["pool_1to10_with_services"] = {"runs": args.runs, "wall_s_under_load": wall,
                                              "extrapolated_1000_wall_s": wall * 1000 / args.runs}

    save(report, args.out)

    # 2. 50 runs at 1:50 with services against one full-scale `phb run` (with its counterfactual)
    fan_wall, fan_cpu, _ = serial(s50, args.fan_runs, True, args.mode)
    fan_wall, fan_cpu = fan_wall * 50 / args.fan_runs, fan_cpu * 50 / args.fan_runs  # per 50 runs
    # the full run three times, the median taken: one full-scale run's CPU varies by ±10% with what the process
    # did before it (memory faulted in afresh), and it is the ratio's denominator
    full = sorted((clocked(Sim(s1).run, counterfactual=True)[:2] for _ in range(3)), key=lambda wc: wc[1])
    one_wall, one_cpu = full[1]
    ratio = fan_cpu / one_cpu
    report["fan_1to50_vs_one_full_run"] = {
        "fan_runs_timed": args.fan_runs, "fan_cpu_s_for_50_runs": fan_cpu,
        "extrapolated": args.fan_runs != 50, "how": f"CPU of {args.fan_runs} runs × 50 / {args.fan_runs}", "fan_wall_s_one_at_a_time": fan_wall,
        "fan_wall_s_estimated_on_workers": fan_cpu / args.workers,
        "one_full_run_with_counterfactual_cpu_s": one_cpu, "one_full_run_wall_s": one_wall,
        "one_full_run_cpu_s_of_three": [round(c, 3) for _, c in full], "one_full_run_how": "median of 3",
        "ratio_cpu": ratio, "ratio_wall_estimated_on_workers": fan_cpu / args.workers / one_cpu,
        "target_ratio": 0.6, "meets_target_cpu": ratio <= 0.6}
    print(f"50 runs at 1:50 with services: {fan_cpu:.1f} s CPU; one full-scale run + counterfactual {one_cpu:.1f} s "
          f"CPU; ratio {ratio:.2f} (target ≤ 0.6; {fan_cpu / args.workers / one_cpu:.2f} on {args.workers} cores)", flush=True)

    save(report, args.out)

    # 3. bands at 1:10 against 1:1, same seeds (holders are the patient side's: services off)
    if kept_bands is None:
        report.update(bands_section(args, s10, s1))
    report["load_average_after"] = load_average()
    per = report["per_run_1to10_with_services"]
    fan = report["fan_1to50_vs_one_full_run"]
    pool = report.get("pool_1to10_with_services", {})
    timed = pool.get("runs", 0) >= 1000  # all 1,000 runs timed on the pool: the figure itself, not an estimate
    thousand = pool["wall_s_under_load"] * 1000 / pool["runs"] if timed else per["ensemble_1000_runs_estimated_wall_s"]
    report["targets"] = [  # each issue-12 target against its measured figure
        {"what": "1,000 runs at 1:10 with the service side, s " + (
            f"(wall, {pool['runs']} runs timed on {args.workers} pool workers)" if timed
            else "(1000 × CPU per run / workers: extrapolated)"),
         "measured": round(thousand, 1), "target": 90, "met": thousand <= 90},
        {"what": "50 runs at 1:50 with services / one full-scale phb run with its counterfactual (CPU)",
         "measured": round(fan["ratio_cpu"], 2), "target": 0.6, "met": fan["ratio_cpu"] <= 0.6},
        *band_targets(report["bands_1to10_vs_1to1"])]
    save(report, args.out)
    print(f"written to {OUT / args.out}")


def bands_section(args, s10, s1) -> dict:
    """The 1:10 against 1:1 comparison for each of `--band-modes`, `--band-runs` runs per side. With
    `--save-runs DIR` each mode's holders by run and month are kept there (npz); `--from-runs DIR` reads them
    back instead of running (to recompute the statistics; the CPU figures are then the saved ones)."""
    n, modes = args.band_runs, [m for m in args.band_modes.split(",") if m]
    by_mode, extras = {}, {}
    for mode in modes:
        saved = Path(args.from_runs or args.save_runs or ".") / f"bands_holders_{mode}.npz"
        if args.from_runs:
            z = np.load(saved)
            h10, h1, months, c10, c1 = z["coarse"], z["full"], pd.DatetimeIndex(z["months"]), float(z["cpu"][0]), float(z["cpu"][1])
            load = z["load"].tolist() if "load" in z.files else None
        else:
            _, c10, e10 = serial(s10, n, False, mode)
            _, c1, e1 = serial(s1, n, False, mode)
            (h10, months), (h1, _) = holders_by_run(e10), holders_by_run(e1)
            load = load_average()
            if args.save_runs:
                saved.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(saved, coarse=h10, full=h1, months=months.to_numpy(), cpu=np.array([c10, c1]),
                                    load=np.array(load))
        for k in also_scales(args):  # the same full-scale runs against another coarse scale
            extra = Path(args.from_runs or args.save_runs or ".") / f"bands_holders_{mode}_1to{k}.npz"
            if args.from_runs and extra.exists():
                z = np.load(extra)
                hk, ck = z["coarse"], float(z["cpu"][0])
            else:
                _, ck, ek = serial(s10.with_(agent_scale=k), n, False, mode)
                hk = holders_by_run(ek)[0]
                if args.save_runs:
                    np.savez_compressed(extra, coarse=hk, cpu=np.array([ck]))
            g = band_gaps(hk, h1, months, boot=args.bootstrap)
            extras.setdefault(k, {})[mode] = {"cpu_s_per_run": ck / len(hk), **g}
            print(f"bands 1:{k} vs 1:1, mode {mode}: worst |gap| " + ", ".join(
                f"{c} {g[c]['max_all_months']:.1%} (se {g[c]['se_at_max_all']:.1%}, {g[c]['month_of_max_all'][:7]})"
                for c in BANDS) + f"; mean {g['mean']['max_all_months']:.1%}", flush=True)
        gaps = band_gaps(h10, h1, months, boot=args.bootstrap)
        by_mode[mode] = {"cpu_s_1to10": c10, "cpu_s_1to1": c1, "cpu_s_per_run_1to10": c10 / len(h10),
                         "cpu_s_per_run_1to1": c1 / len(h1), **gaps, "load_average_after_runs": load,
                         "meets_target_2016_19": gaps["worst_max_2016_19"] <= TARGET,
                         "meets_target_all_months": gaps["worst_max_all_months"] <= TARGET,
                         "meets_target_all_months_smoothed": gaps["worst_max_all_months_smoothed"] <= TARGET,
                         "exceeds_target_beyond_noise": any(gaps["months_exceeding_2pct_beyond_noise"].values()),
                         "exceeds_target_beyond_noise_smoothed":
                             any(gaps["months_exceeding_2pct_beyond_noise_smoothed"].values())}
        for how, pick in (("sample quantiles", lambda c: gaps[c]), ("smoothed (Harrell-Davis)", lambda c: gaps[c]["smoothed"])):
            parts = ", ".join(f"{c} {pick(c)['max_all_months']:.1%} (se {pick(c)['se_at_max_all']:.1%}, "
                              f"{pick(c)['month_of_max_all'][:7]}; {len(pick(c)['months_exceeding_2pct_beyond_noise'])} "
                              f"months over 2% beyond noise)" for c in BANDS)
            print(f"bands 1:10 vs 1:1, mode {mode}, {len(h10)} runs each, {how}: worst |gap| {parts}", flush=True)
        pr = gaps["paired_ratio"]
        print(f"  mean {gaps['mean']['max_all_months']:.1%} (se {gaps['mean']['se_at_max_all']:.1%}, "
              f"{gaps['mean']['month_of_max_all'][:7]}); run-by-run ratio {pr['max_all_months']:.1%} (se "
              f"{pr['se_at_max_all']:.1%}, {pr['month_of_max_all'][:7]}; {pr['months_biased_beyond_noise']} months "
              f"biased beyond noise); sd ratio 1:10/1:1 "
              f"{gaps['sd_ratio_coarse_to_full']['from_2016_04_median']:.2f}; CPU {c10:.0f} s (1:10) + {c1:.0f} s (1:1)",
              flush=True)
    first = by_mode[modes[0]]
    return {"bands_1to10_vs_1to1": {
        "runs_each": n, "same_seeds": True, "modes": modes, "services": False,
        "planning_rule": "shared capacity over an expected queue (model/planning.py)",
        "how": "run i at both scales has the same seed and (mode both) the same drawn parameters; each gap's "
               "standard error is the sd over paired bootstrap resamples of the runs; bands as sample quantiles "
               "(what users see) and smoothed (Harrell-Davis: the bias test)",
        "top_level_keys_are_mode": modes[0], **{k: v for k, v in first.items()}, "by_mode": by_mode},
        **{f"bands_1to{k}_vs_1to1": {
            "runs_each": n, "same_seeds": True, "modes": modes, "services": False, "target": None,
            "why": f"no target (issue 12's 2% is for 1:10): reported because 1:{k} is what the dashboard's fan "
                   "and the calibration run at; the same 1:1 runs as the 1:10 comparison", "by_mode": by}
           for k, by in extras.items()}}


def also_scales(args) -> list[int]:
    return [int(k) for k in str(args.also_scales).split(",") if k.strip()]


def band_targets(bands: dict) -> list[dict]:
    """The bands target, for each mode measured: worst gap over all months, and months beyond noise."""
    n, out = bands["runs_each"], []
    for mode, g in bands["by_mode"].items():
        out.append({"what": f"1:10 vs 1:1 bands of holders (median, p10, p90), mode {mode}, worst relative gap over all "
                            f"months ({n} runs each; se of that gap beside it)",
                    "measured": round(g["worst_max_all_months"], 4), "target": TARGET,
                    "se": round(max(g[c]["se_at_max_all"] for c in BANDS), 4), "met": g["worst_max_all_months"] <= TARGET,
                    "months_over_2pct_beyond_noise": g["months_exceeding_2pct_beyond_noise"]})
        out.append({"what": f"the same gap, median only, mode {mode}, worst month", "measured":
                    round(g["median"]["max_all_months"], 4), "se": round(g["median"]["se_at_max_all"], 4),
                    "target": TARGET, "met": g["median"]["max_all_months"] <= TARGET})
        out.append({"what": f"the same bands smoothed (Harrell-Davis quantiles: the bias, less noise), mode {mode}, "
                            "worst relative gap over all months", "measured": round(g["worst_max_all_months_smoothed"], 4),
                    "se": round(max(g[c]["smoothed"]["se_at_max_all"] for c in BANDS), 4), "target": TARGET,
                    "met": g["worst_max_all_months_smoothed"] <= TARGET,
                    "months_over_2pct_beyond_noise": g["months_exceeding_2pct_beyond_noise_smoothed"]})
    return out


def bands_only(args) -> None:
    """`--only-bands`: measure the bands alone and merge them into the existing results file."""
    path = OUT / args.out
    report = json.loads(path.read_text()) if path.exists() else {}
    base = load_scenario("baseline").with_(until=UNTIL)
    report.update(bands_section(args, base.with_(agent_scale=10), base.with_(agent_scale=1)))
    report["bands_1to10_vs_1to1"]["date"] = dt.datetime.now().isoformat(timespec="seconds")
    keep = [t for t in report.get("targets", []) if not any(k in t["what"] for k in ("1:10 vs 1:1", "the same gap", "the same bands"))]
    report["targets"] = keep + band_targets(report["bands_1to10_vs_1to1"])
    save(report, args.out)
    print(f"written to {path}")


def save(report: dict, name: str) -> None:
    """Write what is measured so far (a long benchmark on a busy machine keeps its finished parts)."""
    OUT.mkdir(exist_ok=True)
    (OUT / name).write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    sys.exit(main())
