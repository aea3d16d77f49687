"""`phb`: the command line. Bad input gets one clear line naming the field, never a traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
from pathlib import Path

from model.scenario import (
    LATEST_END,
    MODEL_START,
    ScenarioError,
    available_scenarios,
    load_scenario,
)

RESULTS_DIR = Path("results")


def writable_dir(path: Path, flag: str = "--out") -> Path:
    """Make sure results can be written under `path` before anything is computed (created if need be)."""
    import tempfile

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ScenarioError(f"{flag}: {path} is a file, not a directory; allowed: a directory to write results in")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ScenarioError(f"{flag}: cannot write in {path} ({e.strerror or type(e).__name__}); allowed: a "
                            "directory you can write to") from None
    return path


def writable_file(path: Path, flag: str = "--out") -> Path:
    """Make sure a single output file can be written at `path` (its directory exists and takes files)."""
    path = Path(path)
    if path.is_dir():
        raise ScenarioError(f"{flag}: {path} is a directory; allowed: a file name, e.g. results.csv")
    if path.exists() and not path.is_file():
        raise ScenarioError(f"{flag}: {path} is not a regular file; allowed: a file name, e.g. results.csv")
    writable_dir(path.parent if str(path.parent) else Path("."), flag)
    return path


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD, e.g. 2021-03-31") from None


def _until(text: str) -> dt.date:
    day = _date(text)
    if not MODEL_START < day <= LATEST_END:
        raise argparse.ArgumentTypeError(f"{day} is outside the model's span; allowed: after {MODEL_START}, "
                                         f"up to {LATEST_END}")
    return day


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; it must be 0 or more")
    return value


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


# modules that contribute subcommands (calibrate, backtest, sensitivity, ...), one line each
COMMAND_MODULES: list[str] = [
    "model.calibrate",
    "model.backtest",
    "model.sensitivity", "model.discovery", "model.reach",
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
    add_ensemble_commands(sub)
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


# ---- ensembles, comparisons and the results store (issue 4) ----------------------------------------------
def add_ensemble_commands(sub) -> None:
    from model.ensemble import MODES

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--runs", type=_positive_int, required=True, help="number of runs")
        p.add_argument("--seed", type=_nonneg_int, help="root seed of the ensemble (default: the scenario's)")
        p.add_argument("--mode", choices=MODES, default="both",
                       help="what varies between runs: both (default), randomness, parameters")
        p.add_argument("--uncertain", choices=("scenario", "all"),
                       help="uncertain parameters: the scenario's uncertain: map, or all register ranges "
                            "(default: the map if the scenario has one, else all)")
        p.add_argument("--until", type=_until, help="last month to simulate, YYYY-MM-DD (up to 2030-03-31)")
        p.add_argument("--scale", type=_positive_int, help="people per patient agent (e.g. 10 for fast runs)")
        p.add_argument("--no-services", dest="services", action="store_false",
                       help="patient side only: uptake series, no service-side outcomes (about twice as fast)")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--dask", action="store_true", help="run on a local Dask cluster")
        where.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster, e.g. tcp://host:8786")
        p.add_argument("--workers", type=_positive_int, help="worker processes (default: all cores)")
        p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results store (default: results/)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--prior", action="store_true", help="draw calibrated parameters from their register ranges "
                       "even when the scenario names a posterior (default: from the posterior)")

    ens = sub.add_parser("ensemble", help="run a Monte Carlo ensemble of one scenario: bands and probabilities")
    ens.add_argument("scenario", help="a scenario name or a YAML file")
    common(ens)
    ens.set_defaults(handler=cmd_ensemble)

    cmp_ = sub.add_parser("compare", help="compare scenarios under common random numbers (differences from the first)")
    cmp_.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="two or more scenario names or YAML files")
    cmp_.add_argument("--at", type=_date, help="month to compare (default: the last month run)")
    common(cmp_)
    cmp_.set_defaults(handler=cmd_compare)

    runs = sub.add_parser("runs", help="list, show or export stored runs and ensembles")
    runs.add_argument("action", choices=("list", "show", "export"))
    runs.add_argument("run", nargs="?", help="a run or ensemble id (or a unique prefix), from `phb runs list`")
    runs.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="export format (default: csv)")
    runs.add_argument("--table", help="table to export as CSV (default: national for a run, bands for an ensemble)")
    runs.add_argument("--out", type=Path, help="export file (default: <id>.<format> here)")
    runs.add_argument("--store", type=Path, default=RESULTS_DIR, help="results store (default: results/)")
    runs.set_defaults(handler=cmd_runs)


def _ensemble_scenario(args: argparse.Namespace, name: str):
    ns = argparse.Namespace(scenario=name, seed=args.seed, until=args.until, scale=args.scale)
    return scenario_from_args(ns)


def _ensemble_options(args: argparse.Namespace) -> dict:
    from model.store import Store

    return dict(mode=args.mode, uncertain=args.uncertain, backend="dask" if (args.dask or args.scheduler) else "local",
                scheduler=args.scheduler, workers=args.workers, store=Store(args.out), services=args.services,
                prior=args.prior)


def _bar(args: argparse.Namespace, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit="run", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return bar, progress


def cmd_ensemble(args: argparse.Namespace) -> int:
    from model.ensemble import run_ensemble

    scenario = _ensemble_scenario(args, args.scenario)
    writable_dir(args.out)
    bar, progress = _bar(args, scenario.name)
    with bar:
        ens = run_ensemble(scenario, args.runs, progress=progress, **_ensemble_options(args))
    print(ens.summary())
    m = ens.manifest
    how = "read back from the store (same inputs)" if ens.from_cache else \
        f"ran {m.get('runs_computed')} runs in {m.get('wall_seconds', 0):.1f} s on {m.get('backend')} " \
        f"({m.get('workers')} workers)" + (f"; {m['runs_resumed']} resumed" if m.get("runs_resumed") else "")
    if m.get("posterior"):
        print(f"Calibrated parameters drawn from posterior {m['posterior']} (--prior for the register ranges).")
    print(f"{how}. Results: {args.out / ens.id}/")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from model.ensemble import compare

    if len(args.scenarios) < 2:
        raise ScenarioError("compare: give two or more scenarios; differences are measured from the first")
    scenarios = [_ensemble_scenario(args, s) for s in args.scenarios]
    writable_dir(args.out)
    bar, progress = _bar(args, "compare")
    with bar:
        comp = compare(scenarios, args.runs, seed=args.seed, progress=progress, **_ensemble_options(args))
    print(comp.summary(at=args.at))
    for e in comp.ensembles:
        print(f"  {e.scenario.name}: {args.out / e.id}/")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from model.store import Store

    store = Store(args.store)
    if args.action == "list":
        cat = store.catalogue()
        if cat.empty:
            print(f"No stored runs in {store.root}/")
            return 0
        for r in cat.itertuples():
            runs = f"{int(r.runs)} runs" if r.kind != "run" else "1 run"
            print(f"{r.id:48s} {r.kind:9s} {str(r.scenario):22s} {runs:>10s} {str(r.created or ''):26s}")
        return 0
    if not args.run:
        raise ScenarioError(f"runs {args.action}: name a run or ensemble id (see `phb runs list`)")
    eid = store.resolve(args.run)
    if args.action == "show":
        return _runs_show(store, eid)
    return _runs_export(store, eid, args)


def _runs_show(store, eid: str) -> int:
    manifest = store.manifest(eid)
    if manifest.get("kind") == "ensemble":
        from model.ensemble import load_ensemble

        print(load_ensemble(eid, store).summary())
    for k in ("scenario", "seed", "runs", "mode", "uncertain", "agent_scale", "until", "input_hash", "model_version",
              "git_revision", "backend", "workers", "created", "wall_seconds", "runs_computed", "runs_resumed"):
        if k in manifest:
            print(f"  {k:16s} {manifest[k]}")
    print(f"  {'path':16s} {store.path(eid)}/")
    return 0


def _runs_export(store, eid: str, args: argparse.Namespace) -> int:
    out = writable_file(args.out or Path(f"{eid}.{args.format}"))
    manifest = store.manifest(eid)
    tables, _ = store.read_entry(eid)
    if manifest.get("kind") == "ensemble":
        from model.ensemble import load_ensemble

        ens = load_ensemble(eid, store)
        sheets = {"bands": ens.all_bands("national"), "s_curves": ens.s_curves(),
                  "bands_by_cohort": ens.all_bands("by_cohort"), "runs": ens.run_info,
                  **{f"bands_{k}": v for k, v in ens.distributions().items()}}
        if args.table in tables:
            sheets[args.table] = tables[args.table]
        if args.format == "csv":
            sheets = {**sheets, **tables}
        default = "bands"
    else:
        sheets = {k: v for k, v in tables.items()}
        default = "national"
    if args.format == "xlsx":
        with pd_excel_writer(out) as xw:
            for name, df in sheets.items():
                _excel_ready(df).to_excel(xw, sheet_name=name[:31], index=False)
        print(f"Wrote {out} ({len(sheets)} sheets: {', '.join(sheets)})")
        return 0
    name = args.table or default
    if name not in sheets:
        raise ScenarioError(f"--table: '{name}' is not in {eid}; allowed: {', '.join(sheets)}")
    sheets[name].to_csv(out, index=False, date_format="%Y-%m-%d")
    print(f"Wrote {out} ({name}, {len(sheets[name])} rows)")
    return 0


def pd_excel_writer(path: Path):
    import pandas as pd

    return pd.ExcelWriter(path, engine="openpyxl")


def _excel_ready(df):
    df = df.copy()
    for c in df.columns:
        if hasattr(df[c], "dt") and getattr(df[c].dt, "tz", None) is not None:
            df[c] = df[c].dt.tz_localize(None)
    return df


def scenario_from_args(args: argparse.Namespace):
    scenario = load_scenario(args.scenario)
    changes = {}
    if getattr(args, "seed", None) is not None:
        changes["seed"] = args.seed
    if getattr(args, "until", None) is not None:
        changes["until"] = args.until
    if getattr(args, "scale", None) is not None:
        changes["agent_scale"] = args.scale
    if changes:
        try:
            scenario = scenario.with_(**changes)
        except ValueError as e:
            raise ScenarioError(f"command line: {_first_error(e)}") from None
    return scenario


def _first_error(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        field = {"until": "--until", "seed": "--seed", "agent_scale": "--scale"}.get(str(first["loc"][0]) if first["loc"] else "", "")
        return f"{field or 'value'}: {first['msg']}"
    return str(e)


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
        print(f"{p.name:36s} {str(p.default):>12s} {p.unit:18s} {rng:24s} {p.source}")
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
