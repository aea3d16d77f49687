"""The command line's argument types and output checks, shared by every `phb` subcommand module.

Why a module of its own: each subcommand module (calibrate, sensitivity, ensembles, ...) needs the same
checks (a date in the model's span, a positive whole number, a writable --out) without importing model.cli,
which imports them.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from model.scenario import LATEST_END, MODEL_START, ScenarioError, load_scenario

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


def _bar(args: argparse.Namespace, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit="run", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return bar, progress


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
