"""`phb ensemble`, `phb compare` and `phb runs`: Monte Carlo ensembles and the results store from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from model.arguments import (
    RESULTS_DIR,
    _bar,
    _date,
    _nonneg_int,
    _positive_int,
    _until,
    scenario_from_args,
    writable_dir,
    writable_file,
)
from model.scenario import ScenarioError


def add_commands(sub) -> None:
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
        print(f"Calibrated parameters drawn from posterior {m['posterior']} (--prior for the register ranges): "
              f"informed by the data {', '.join(m.get('from_posterior_informed', [])) or 'none'}; not informed "
              f"(posterior ≈ register range) {', '.join(m.get('from_posterior_not_informed', [])) or 'none'}; "
              f"{len(m.get('at_register_ranges', []))} other uncertain parameters at their register ranges.")
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
            print(f"{r.id:48s} {r.kind:9s} {r.scenario!s:22s} {runs:>10s} {r.created or ''!s:26s}")
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
