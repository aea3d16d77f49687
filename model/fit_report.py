"""The fit report: each figure against the prior and posterior predictive, prior against posterior per
parameter, which parameters the data informed, the tension between figures, and forecast bands."""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pandas as pd

from model.calibrate import OBSERVATION, as_values, figures, prior_spec, vintage
from model.posterior import Posterior
from model.scenario import Scenario

INFORMED = 0.7  # posterior sd below this share of the prior sd: the data informed the parameter
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


def forecast_bands(scenario: Scenario, post: Posterior, runs: int = 40, scale: int = 20) -> pd.DataFrame:
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


def write(path, scenario: Scenario, post: Posterior, bands: pd.DataFrame, params: pd.DataFrame,
          forecast: pd.DataFrame | None, prior_pp: pd.DataFrame, post_pp: pd.DataFrame) -> None:
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
    worst = bands.loc[bands["z_posterior"].abs().idxmax()]
    flows = bands[bands["figure"].str.startswith("new_phbs")]
    stock = bands[bands["figure"].str.startswith("phbs_held@2016-10")]
    tension = ("<p><b>Tension between figures.</b> Standardised residuals (published − posterior predictive, "
               "log scale): " + ", ".join(f"{r.figure} {r.z_posterior:+.2f}" for r in bands.itertuples())
               + f". The largest is {worst['figure']} ({worst['z_posterior']:+.2f}).")
    if len(flows) and len(stock):
        tension += (f" New starts in 2015/16 (FOI) sit at z={flows['z_posterior'].iloc[-1]:+.2f} while the "
                    f"October 2016 stock sits at z={stock['z_posterior'].iloc[0]:+.2f}: opposite signs mean "
                    "the two figures pull the fit in different directions, and the posterior settles between them "
                    "(through the FOI completeness and the reporting coverage) rather than meeting both.")
    parts.append(tension + "</p>")
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
    parts.append("<p>Parameters the scenario does not calibrate stay at their register ranges in an ensemble.</p>")
    if forecast is not None:
        parts.append("<h2>Holders in March 2019 and March 2021: calibrated parameters from prior vs posterior</h2>"
                     + forecast.to_html(index=False, float_format=lambda x: f"{x:,.0f}"))
    path.write_text("<html><head><meta charset='utf-8'><title>Fit report</title></head><body>"
                    + "\n".join(parts) + "</body></html>", encoding="utf-8")
