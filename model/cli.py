"""`phb`: the command line. Bad input gets one clear line naming the field, never a traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from model.scenario import LATEST_END, MODEL_START, ScenarioError, available_scenarios, load_scenario

RESULTS_DIR = Path("results")


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
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
