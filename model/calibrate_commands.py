"""`phb calibrate`: the command that fits a scenario's vintage (model/calibrate.py) and checks the fit
(model/fit_report.py). Kept apart so the fit and its report never import each other."""

from __future__ import annotations

import time

from model.calibrate import DEFAULT_SCALE, SEEDS, fit


def add_commands(sub) -> None:
    from model.arguments import _positive_int

    p = sub.add_parser("calibrate", help="fit a scenario's uncertain parameters to the published figures (ABC-SMC): "
                       "writes posteriors/NAME.csv/.json and a fit report")
    p.add_argument("scenario", help="a scenario name or YAML file; its knowledge_date (or until) is the vintage")
    p.add_argument("--population", type=_positive_int, default=200, help="particles per generation (default 200)")
    p.add_argument("--generations", type=_positive_int, default=8, help="most ABC-SMC generations (default 8)")
    p.add_argument("--seeds", type=_positive_int, default=SEEDS, help=f"model seeds per particle (default {SEEDS})")
    p.add_argument("--scale", type=_positive_int, help=f"people per agent (default {DEFAULT_SCALE})")
    p.add_argument("--minutes", type=float, default=12.0, help="wall-time budget of the sampler, checked between "
                   "generations (one more may run past it; default 12)")
    p.add_argument("--workers", type=_positive_int, help="processes (default 2)")
    p.add_argument("--predictive", type=_positive_int, default=60, help="predictive draws for the report (60)")
    p.add_argument("--forecast-runs", type=int, default=40, help="runs per band of the 2019/2021 forecast (40; 0: none)")
    p.add_argument("--name", help="posterior name (default: the scenario's posterior: key, else its name)")
    p.add_argument("--report-only", action="store_true", help="no new fit: check the stored posterior and rewrite "
                   "its fit report (posteriors/NAME-report.html, NAME-fit.json)")
    p.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args) -> int:
    from tqdm import tqdm

    from model import fit_report
    from model.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    name = args.name or scenario.posterior or scenario.name
    t0 = time.perf_counter()
    if args.report_only:
        from model.posterior import load_posterior

        post = load_posterior(name)
    else:
        bar = tqdm(total=args.generations, desc=f"calibrate {scenario.name} (ABC-SMC generations)", unit="gen")

        def progress(done, total, row):
            bar.update(done - bar.n)
            bar.set_postfix(epsilon=f"{row.get('epsilon', float('nan')):.3f}",
                            accepted=f"{row['particles']}/{row['samples']}")

        post = fit(scenario, population=args.population, generations=args.generations, seeds=args.seeds,
                   scale=args.scale, max_minutes=args.minutes, workers=args.workers, progress=progress)
        bar.update(bar.total - bar.n)
        bar.close()
        path = post.save(name)
        print(f"posterior: {path} ({len(post.weights)} weighted draws, {post.provenance['generations']} generations, "
              f"{post.provenance['simulations']} particles simulated)")
    print("checking the fit (prior and posterior predictive) ...", flush=True)
    fit_data = fit_report.check(scenario, post, args.predictive, args.forecast_runs)
    report = fit_report.save(name, scenario, post, fit_data)
    params, bands, forecast = fit_data["parameters"], fit_data["bands"], fit_data["forecast"]
    print(params[["parameter", "prior_mean", "posterior_q10", "posterior_median", "posterior_q90", "sd_ratio",
                  "informed"]].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(bands[["figure", "published", "post_p10", "post_median", "post_p90", "covered_80", "z_posterior"]]
          .to_string(index=False, float_format=lambda x: f"{x:,.1f}"))
    if forecast is not None:
        print(forecast.to_string(index=False, float_format=lambda x: f"{x:,.0f}"))
    print(fit_data["tension"])
    print(f"fit report: {report}\ntotal {(time.perf_counter() - t0) / 60:.1f} min")
    return 0
