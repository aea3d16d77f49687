"""Paired A/B of the patient side's per-run cost: this checkout against an earlier revision, in one session.

The unit is the dashboard fan's run: `Sim(baseline at 1:50 to March 2024).run(services=False)`, results
built. Each round runs the old and the new code in fresh processes (the order alternates), each doing a
warm-up then `--runs` runs with different seeds; the figure per process is the median CPU seconds per run
(time.process_time: a shared machine inflates wall time). The ratio is taken within each round, so load
that drifts during the session cancels. Both sides must give bit-identical counts for the same seed.

    python benchmarks/ab_patient_side.py --base 8d168df [--rounds 6] [--runs 5] [--scale 50] [--until 2024-03-31]

Another scale or horizon (e.g. full scale, `--scale 1 --until 2021-03-31`) writes patient_side_ab_scale1.json;
`--services` times runs with the service side (the 50-run ratio's unit) and writes with_services_ab*.json, its
digest covering the providers' monthly records as well as the counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics as st
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"
CHILD = """
import hashlib, json, sys, time
import numpy as np
import model
from model.scenario import load_scenario
from model.sim import Sim
import datetime as dt
runs, scale, until = int(sys.argv[1]), int(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
services = len(sys.argv) > 4 and sys.argv[4] == "services"
scenario = load_scenario("baseline").with_(agent_scale=scale, until=until)
Sim(scenario).run(services=services)  # warm-up: imports, geography, caches
cpu = []
for i in range(runs):
    c = time.process_time()
    Sim(scenario.with_(seed=1000 + i)).run(services=services)
    cpu.append(time.process_time() - c)
sim = Sim(scenario)
sim.run(services=services)
h = hashlib.sha256(np.ascontiguousarray(sim.model.recorder.counts).tobytes())
for name, v in sorted(sim.model.services.rec.items()) if services else ():  # providers' monthly records too
    h.update(name.encode() + np.ascontiguousarray(v).tobytes())
digest = h.hexdigest()
print(json.dumps({"file": model.__file__, "cpu": cpu, "digest": digest}))
"""


def checkout(rev: str, into: Path) -> Path:
    """The model, scenarios and posteriors of `rev`, unpacked into a directory of their own."""
    tar = into / "src.tar"
    subprocess.run(["git", "archive", "-o", str(tar), rev, "model", "scenarios", "posteriors"], cwd=ROOT, check=True)
    with tarfile.open(tar) as f:
        f.extractall(into, filter="data")
    return into


def one(src: Path, runs: int, scale: int, until: str, services: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(runs), str(scale), until,
                          "services" if services else "patient"], cwd=src, env=env, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not got["file"].startswith(str(src)):
        raise SystemExit(f"imported the model from {got['file']}, not {src}")
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against (the 'before')")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=50, help="people per agent (50: the dashboard fan's)")
    parser.add_argument("--until", default="2024-03-31")
    parser.add_argument("--services", action="store_true", help="runs with the service side (the 50-run ratio's)")
    args = parser.parse_args()
    base_rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    head_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    load_before, t0 = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"before": checkout(args.base, Path(tmp)), "after": ROOT}
        cpu: dict[str, list[float]] = {k: [] for k in sides}
        digests: dict[str, str] = {}
        for r in range(args.rounds):
            for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                got = one(sides[side], args.runs, args.scale, args.until, args.services)
                cpu[side].append(st.median(got["cpu"]))
                digests[side] = got["digest"]
                print(f"round {r} {side}: {cpu[side][-1]:.3f} s CPU per run (load {os.getloadavg()[0]:.1f})", flush=True)
    ratios = [a / b for a, b in zip(cpu["after"], cpu["before"])]
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "what": f"Sim(baseline, 1:{args.scale}, to "
        f"{args.until}).run(services={args.services}) incl. results: median CPU s per run in each process, "
        "old and new alternating",
        "before_revision": base_rev, "after_revision": head_rev, "rounds": args.rounds, "runs_per_process": args.runs,
        "before_cpu_s_per_run": st.median(cpu["before"]), "after_cpu_s_per_run": st.median(cpu["after"]),
        "paired_ratio_after_over_before_median": st.median(ratios), "paired_ratios": ratios,
        "before_each_round": cpu["before"], "after_each_round": cpu["after"],
        "identical_counts": digests["before"] == digests["after"],
        "load_average_1_5_15_before": load_before, "load_average_1_5_15_after": os.getloadavg(),
        "wall_s": time.perf_counter() - t0,
        "note": "CPU seconds on a shared 2-core machine (load average beside): contention inflates CPU time too, "
                "so only the ratio within a round is compared",
    }
    out = OUT / ("patient_side_ab.json" if (args.scale, args.until) == (50, "2024-03-31")
                 else f"patient_side_ab_scale{args.scale}.json")
    if args.services:
        out = out.with_name(out.stem.replace("patient_side", "with_services") + ".json")
    OUT.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"before {report['before_cpu_s_per_run']:.3f} s, after {report['after_cpu_s_per_run']:.3f} s CPU per run; "
          f"paired ratio {report['paired_ratio_after_over_before_median']:.2f}; identical: {report['identical_counts']}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
