"""`phb`: the command line. Bad input gets one clear line naming the field, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from model.arguments import (
    RESULTS_DIR,
    _nonneg_int,
    _positive_int,
    _until,
    scenario_from_args,
    writable_dir,
)
from model.scenario import ScenarioError, available_scenarios, load_scenario

# modules that contribute subcommands (calibrate, backtest, sensitivity, ...), one line each
COMMAND_MODULES: list[str] = [
    "model.ensemble_commands",
    "model.calibrate_commands",
    "model.backtest",
    "model.sensitivity", "model.discovery", "model.reach",
    "model.contrast",
    "model.findings",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phb", description="Simulate the roll-out of NHS personal health budgets.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one scenario and write its monthly series under results/")
    run.add_argument("scenario", help=f"a scenario name ({', '.join(available_scenarios())}) or a YAML file")
    run.add_argument("--seed", type=_nonneg_int, help="random seed (default: the scenario's)")
    run.add_argument("--until", type=_until, help="last month to simulate, YYYY-MM-DD (up to 2030-03-31)")
    run.add_argument("--scale", type=_positive_int, help="people per patient agent (default 1: full scale)")
    run.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for results (default: results/)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=cmd_run)

    scen = sub.add_parser("scenarios", help="list the scenarios shipped in scenarios/")
    scen.set_defaults(handler=cmd_scenarios)

    params = sub.add_parser("parameters", help="print the parameter register")
    params.set_defaults(handler=cmd_parameters)
    for name in COMMAND_MODULES:  # each adds its own subcommand(s): add_commands(sub), handler via set_defaults
        importlib.import_module(name).add_commands(sub)

    dash = sub.add_parser("dashboard", help="open the Streamlit dashboard (dashboard/app.py)")
    dash.add_argument("--port", type=_positive_int, help="port to serve on (default: Streamlit's, 8501)")
    dash.add_argument("--address", help="address to listen on (default: 127.0.0.1, this machine only, from "
                                        ".streamlit/config.toml; 0.0.0.0 serves every interface)")
    dash.set_defaults(handler=cmd_dashboard)
    return parser


def cmd_dashboard(args: argparse.Namespace) -> int:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    app = root / "dashboard" / "app.py"
    # run from the checkout so Streamlit reads .streamlit/config.toml: localhost only, no error details,
    # a small upload limit, XSRF protection on
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true"]
    if args.port:
        cmd += ["--server.port", str(args.port)]
    if args.address:
        cmd += ["--server.address", args.address]
    return subprocess.call(cmd, cwd=root)


def run_id(scenario) -> str:
    return f"{scenario.name}-seed{scenario.seed}-{scenario.digest()[:8]}"


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from model.results import write_results
    from model.sim import Sim

    scenario = scenario_from_args(args)
    writable_dir(args.out)
    with tqdm(total=1, desc=f"{scenario.name}", unit="month", disable=args.quiet, leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
        results = Sim(scenario).run(progress=progress, counterfactual=True)  # services vs no PHBs
    out = write_results(results, args.out / run_id(scenario), {"run_id": run_id(scenario)})
    print(results.summary())
    t = results.timings
    print(f"Ran in {t['setup'] + t['run']:.1f} s. Results: {out}/ (national, by_cohort, by_type, by_ccg, "
          "by_region, events, services_*; Parquet and CSV; manifest.json)")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    for name in available_scenarios():
        s = load_scenario(name)
        print(f"{name:24s} {' '.join(s.description.split())[:100]}")
    return 0


def cmd_parameters(args: argparse.Namespace) -> int:
    from model import parameters as reg

    for p in reg.REGISTER:
        rng = f"{p.low}–{p.high}" if p.low is not None else ""
        print(f"{p.name:36s} {p.default!s:>12s} {p.unit:18s} {rng:24s} {p.source}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ScenarioError as e:
        print(f"phb: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phb: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except OSError as e:  # a disk, permission or path problem met while writing
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"phb: error: {e.strerror or type(e).__name__}{where}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - never a traceback for the user; PHB_DEBUG=1 shows it
        import os
        import traceback

        if os.environ.get("PHB_DEBUG"):
            traceback.print_exc()
        print(f"phb: error: unexpected {type(e).__name__}: {str(e)[:300]} (set PHB_DEBUG=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
