"""The fit report: each figure against the prior and posterior predictive, prior against posterior per
parameter, which parameters the data informed, the tension between figures, and forecast bands."""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pandas as pd

from model.calibrate import OBSERVATION, as_values, figures, prior_spec, vintage
from model.posterior import INFORMED, Posterior
from model.scenario import Scenario

FORECAST_DATES = (dt.date(2019, 3, 1), dt.date(2021, 3, 1))


def parameter_table(post: Posterior) -> pd.DataFrame:
    rows = []
    for n in post.names:
        m, s, lo, hi = prior_spec(n)
        x = post.draws[n].to_numpy(float)
        mean = float(np.sum(post.weights * x))
        sd = float(np.sqrt(np.sum(post.weights * (x - mean) ** 2)))
        q = post.quantiles().loc[n]
        rows.append({"parameter": n, "prior_mean": m, "prior_sd": s, "posterior_q10": q["q10"],
                     "posterior_median": q["q50"], "posterior_q90": q["q90"], "posterior_sd": sd,
                     "sd_ratio": sd / s, "informed": sd / s < INFORMED})
    return pd.DataFrame(rows)


def band_table(scenario: Scenario, prior_pp: pd.DataFrame, post_pp: pd.DataFrame) -> pd.DataFrame:
    t = figures(vintage(scenario))
    rows = []
    for col, r in zip(post_pp.columns, t.itertuples()):
        lo, med, hi = np.quantile(post_pp[col], [0.1, 0.5, 0.9])
        plo, phi = np.quantile(prior_pp[col], [0.1, 0.9])
        z = (np.log(r.value) - np.log(post_pp[col]).mean()) / np.log(post_pp[col]).std()
        rows.append({"figure": col, "published": r.value, "evidence": r.evidence, "post_p10": lo, "post_median": med,
                     "post_p90": hi, "covered_80": lo <= r.value <= hi, "prior_p10": plo, "prior_p90": phi,
                     "z_posterior": z})
    return pd.DataFrame(rows)


def forecast_bands(scenario: Scenario, post: Posterior, runs: int = 40, scale: int = 50) -> pd.DataFrame:
    """Holders in March 2019 and March 2021, calibrated parameters from the prior and from the posterior
    (every other parameter at the scenario's value), one seed per run."""
    from model.sim import Sim

    out = []
    until = max(FORECAST_DATES)
    base = scenario.with_(agent_scale=scale, until=dt.date(until.year, until.month, 31))
    for which in ("prior", "posterior"):
        rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(5, which == "prior")))
        for _ in range(runs):
            if which == "prior":
                v = {}
                for n in post.names:
                    m, s, lo, hi = prior_spec(n)
                    v[n] = float(np.clip(rng.normal(m, s), lo, hi))
                v = as_values(post.names, v)
            else:
                v = post.sample(rng)
            v = {k: x for k, x in v.items() if k not in OBSERVATION}
            try:
                nat = Sim(base.with_parameters(**v).with_(seed=int(rng.integers(2**62)))).run(services=False).national
            except ValueError:
                continue
            for d in FORECAST_DATES:
                out.append({"draws": which, "month": d, "holders": float(nat.loc[nat["month"] == pd.Timestamp(d),
                                                                                    "holders"].iloc[0])})
    df = pd.DataFrame(out)
    g = df.groupby(["month", "draws"])["holders"]
    res = g.quantile([0.1, 0.5, 0.9]).unstack()
    res.columns = ["p10", "median", "p90"]
    res["width_80"] = res["p90"] - res["p10"]
    return res.reset_index()



def tension(bands: pd.DataFrame, post: Posterior) -> str:
    """The tension between the 2015/16 FOI new starts and the October 2016 stock, in figures, not averaged away."""
    def row(prefix):
        r = bands[bands["figure"].str.startswith(prefix)]
        return r.iloc[-1] if len(r) else None

    flow, stock, early = row("new_phbs_in_year@2016-03"), row("phbs_held@2016-10"), row("phbs_held@2015-11")
    parts = ["Standardised residuals (published − posterior predictive mean, log scale, in predictive sds): "
             + ", ".join(f"{r.figure} {r.z_posterior:+.1f}" for r in bands.itertuples()) + "."]
    if flow is not None and stock is not None:
        med = post.quantiles().loc[:, "q50"]
        share = {k: float(med[k]) if k in med else None for k in ("reporting_share", "early_reporting_share",
                                                                  "foi_completeness")}
        def side(r):
            return "above" if r.z_posterior > 0 else "below"
        text = (f"The FOI count of new budgets in 2015/16 ({flow.published:,.0f}) lies {side(flow)} the posterior "
                f"predictive (median {flow.post_median:,.0f}, z {flow.z_posterior:+.1f}); the October 2016 stock "
                f"({stock.published:,.0f} from 185 of 209 CCGs) lies {side(stock)} it (median "
                f"{stock.post_median:,.0f}, z {stock.z_posterior:+.1f}).")
        if early is not None and all(share.values()):
            months = 11
            rise = stock.published / share["reporting_share"] - early.published / share["early_reporting_share"]
            text += (f" At the posterior's median coverages the stock rose by about {rise:,.0f} true holders in the "
                     f"{months} months from November 2015 to October 2016 ({rise * 12 / months:,.0f} a year, before "
                     f"anyone left), while the FOI count implies {flow.published / share['foi_completeness']:,.0f} "
                     "new budgets in 2015/16 at the median FOI completeness.")
        if np.sign(flow.z_posterior) != np.sign(stock.z_posterior):
            text += (" The two figures pull in opposite directions: the stock asks for faster growth than the FOI "
                     "new starts allow (or the reverse), and the fit settles between them, through the coverages, "
                     "without meeting both. Either the FOI returns missed more budgets than the completeness prior "
                     "allows, or the October 2016 return counted budgets the earlier statements did not "
                     "(notional and wheelchair budgets, re-designated packages).")
        else:
            text += " Both lie on the same side of the fit: here they do not pull against each other."
        parts.append(text)
    return " ".join(parts)


def check(scenario: Scenario, post: Posterior, predictive_n: int = 60, forecast_runs: int = 40) -> dict:
    """Everything the report and the dashboard's Fit page show, computed once (predictive draws, bands, tables)."""
    from model.calibrate import predictive

    post_pp = predictive(scenario, post, n=predictive_n)
    prior_pp = predictive(scenario, post, n=predictive_n, prior=True)
    bands = band_table(scenario, prior_pp, post_pp)
    forecast = forecast_bands(scenario, post, runs=forecast_runs) if forecast_runs > 0 else None
    return {"bands": bands, "parameters": parameter_table(post), "forecast": forecast, "prior_pp": prior_pp,
            "post_pp": post_pp, "tension": tension(bands, post)}


def save(name: str, scenario: Scenario, post: Posterior, data: dict, directory=None):
    """posteriors/NAME-report.html and NAME-fit.json (the tables the dashboard's Fit page reads)."""
    import json

    from model.posterior import POSTERIOR_DIR

    directory = directory or POSTERIOR_DIR
    report = directory / f"{name}-report.html"
    write(report, scenario, post, data["bands"], data["parameters"], data["forecast"], data["prior_pp"],
          data["post_pp"], data["tension"])
    body = {k: (v.to_dict(orient="list") if isinstance(v, pd.DataFrame) else v) for k, v in data.items()}
    body["posterior_digest"] = post.digest()
    (directory / f"{name}-fit.json").write_text(json.dumps(body, default=str) + "\n", encoding="utf-8")
    return report


def load(name: str, directory=None) -> dict | None:
    """The stored fit check of a posterior (None if it has none)."""
    import json

    from model.posterior import POSTERIOR_DIR

    path = (directory or POSTERIOR_DIR) / f"{name}-fit.json"
    if not path.exists():
        return None
    body = json.loads(path.read_text(encoding="utf-8"))
    return {k: (pd.DataFrame(v) if isinstance(v, dict) else v) for k, v in body.items()}


def write(path, scenario: Scenario, post: Posterior, bands: pd.DataFrame, params: pd.DataFrame,
          forecast: pd.DataFrame | None, prior_pp: pd.DataFrame, post_pp: pd.DataFrame, tension_text: str = "") -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    parts = [f"<h1>Fit report: {html.escape(scenario.name)}</h1>",
             "<p>Provenance: <code>" + html.escape(str(post.provenance)) + "</code></p>"]
    fig = make_subplots(rows=1, cols=len(bands), subplot_titles=list(bands["figure"]))
    for k, r in enumerate(bands.itertuples(), start=1):
        fig.add_trace(go.Box(y=prior_pp[r.figure], name="prior", marker_color="grey", showlegend=k == 1), 1, k)
        fig.add_trace(go.Box(y=post_pp[r.figure], name="posterior", marker_color="teal", showlegend=k == 1), 1, k)
        fig.add_trace(go.Scatter(x=["prior", "posterior"], y=[r.published] * 2, mode="lines+markers",
                                 name="published", line=dict(color="red"), showlegend=k == 1), 1, k)
    fig.update_layout(height=420, title="Each published figure against the prior and posterior predictive "
                      "(as its source would have printed it)")
    parts.append(fig.to_html(full_html=False, include_plotlyjs="cdn"))
    parts.append("<h2>Calibration figures: posterior predictive 80% band</h2>" + bands.to_html(index=False,
                 float_format=lambda x: f"{x:,.2f}"))
    parts.append("<h2>Tension between figures</h2><p>" + html.escape(tension_text) + "</p>")
    fig2 = make_subplots(rows=1, cols=len(post.names), subplot_titles=post.names)
    for k, n in enumerate(post.names, start=1):
        m, s, lo, hi = prior_spec(n)
        xs = np.linspace(lo, hi, 80)
        fig2.add_trace(go.Scatter(x=xs, y=np.exp(-0.5 * ((xs - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)),
                                  name="prior", line=dict(color="grey"), showlegend=k == 1), 1, k)
        fig2.add_trace(go.Histogram(x=post.draws[n], histnorm="probability density", name="posterior",
                                    marker_color="teal", opacity=0.6, showlegend=k == 1), 1, k)
    fig2.update_layout(height=320, title="Prior against posterior, per parameter")
    parts.append(fig2.to_html(full_html=False, include_plotlyjs=False))
    parts.append(f"<h2>Parameters: informed by the data (posterior sd &lt; {INFORMED:.0%} of prior sd) or not</h2>"
                 + params.to_html(index=False, float_format=lambda x: f"{x:,.4g}"))
    parts.append("<p>An ensemble on this scenario draws the calibrated parameters jointly from the posterior (those "
                 "the data did not inform keep a posterior about as wide as their register range); every other "
                 "uncertain parameter stays at its register range.</p>")
    if forecast is not None:
        parts.append("<h2>Holders in March 2019 and March 2021: calibrated parameters from prior vs posterior</h2>"
                     + forecast.to_html(index=False, float_format=lambda x: f"{x:,.0f}"))
    path.write_text("<html><head><meta charset='utf-8'><title>Fit report</title></head><body>"
                    + "\n".join(parts) + "</body></html>", encoding="utf-8")
