"""Fit: a stored posterior's check against the published figures (from posteriors/NAME-fit.json, no runs)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import text, ui
from model import fit_report
from model.calibrate import prior_spec
from model.posterior import INFORMED, POSTERIOR_DIR, PosteriorError, load_posterior

st.title("Fit")
ui.intro("fit")
names = sorted(p.stem for p in POSTERIOR_DIR.glob("*.csv"))
if not names:
    st.info("No posterior is stored yet: run `phb calibrate as_known_2016`.")
    st.stop()
scenario = ui.scenario_now()
default = scenario.posterior if scenario.posterior in names else names[0]
name = st.selectbox("Posterior", names, index=names.index(default), key="fit_posterior")
try:
    post = load_posterior(name)
except PosteriorError as e:
    st.error(text.plain(e))
    st.stop()
data = fit_report.load(name)
prov = post.provenance
st.caption(f"{prov.get('method', '')}. Vintage {prov.get('vintage', '?')}; {prov.get('figures', '?')} figures; "
           f"{prov.get('generations', '?')} generations of {prov.get('population', '?')} particles, "
           f"{prov.get('simulations', '?')} simulated, {len(prov.get('seeds', []))} seeds each, one agent per "
           f"{prov.get('agent_scale', '?')} people; {prov.get('minutes', '?')} minutes; model "
           f"{prov.get('model_version', '?')}; digest {post.digest()}.")
if data is None or data.get("posterior_digest") != post.digest():
    st.warning(f"The stored fit check does not match this posterior: run `phb calibrate --report-only "
               f"{prov.get('scenario', name)}`.")
    st.stop()

st.subheader("Each published figure against the predictive band")
bands = data["bands"]
fig = go.Figure()
x = [f.replace("@", " ") for f in bands["figure"]]
for which, lo, hi, colour, shift in (("prior 80%", "prior_p10", "prior_p90", "grey", -0.15),
                                     ("posterior 80%", "post_p10", "post_p90", "teal", 0.15)):
    mid = (bands[lo] + bands[hi]) / 2
    fig.add_trace(go.Scatter(x=x, y=mid, mode="markers", marker=dict(size=1, color=colour), name=which,
                             error_y=dict(type="data", symmetric=False, array=bands[hi] - mid,
                                          arrayminus=mid - bands[lo], thickness=8, width=0, color=colour),
                             offsetgroup=which))
fig.add_trace(go.Scatter(x=x, y=bands["post_median"], mode="markers", name="posterior median",
                         marker=dict(symbol="line-ew-open", size=18, color="teal")))
fig.add_trace(go.Scatter(x=x, y=bands["published"], mode="markers", name="published",
                         marker=dict(symbol="diamond", size=11, color="crimson")))
fig.update_layout(height=460, yaxis_title="People (as the source would print it)", yaxis_type="log",
                  title="Published figures against the prior and posterior predictive 80% bands")
ui.show_chart(fig, "fit_bands")
covered = int(bands["covered_80"].sum())
st.metric("Published figures inside the posterior's 80% band", f"{covered} of {len(bands)}")
ui.table(bands.rename(columns={"post_p10": "posterior p10", "post_median": "posterior median",
                               "post_p90": "posterior p90", "prior_p10": "prior p10", "prior_p90": "prior p90",
                               "covered_80": "inside 80%", "z_posterior": "z"}).round(2))

st.subheader("Tension between the figures")
st.text(data["tension"])

st.subheader("Prior against posterior, per parameter")
params = data["parameters"]
for row in params.itertuples():
    m, s, lo, hi = prior_spec(row.parameter)
    f = go.Figure()
    f.add_trace(go.Histogram(x=post.draws[row.parameter], y=post.weights, histfunc="sum", histnorm="probability density",
                             name="posterior", marker_color="teal", opacity=0.7, nbinsx=25))
    xs = pd.Series([lo + (hi - lo) * i / 80 for i in range(81)])
    f.add_trace(go.Scatter(x=xs, y=(-0.5 * ((xs - m) / s) ** 2).map(lambda v: 2.718281828 ** v) / (s * 2.5066283),
                           name="prior", line=dict(color="grey")))
    tag = "informed by the data" if row.informed else "not informed (stays about its register range)"
    f.update_layout(height=260, title=f"{row.parameter}: {tag} (posterior sd = {row.sd_ratio:.0%} of prior)",
                    margin=dict(t=40, b=20), showlegend=False)
    st.plotly_chart(f, key=f"fit_param_{row.parameter}", config={"displaylogo": False}, theme=None)
st.caption(f"Informed: posterior sd below {INFORMED:.0%} of the prior sd. An ensemble on a calibrated scenario "
           "draws the calibrated parameters jointly from the posterior; every other uncertain parameter stays at "
           "its register range.")
ui.table(params.round(4))
if data.get("forecast") is not None and len(data["forecast"]):
    st.subheader("People holding a PHB in March 2019 and March 2021: prior against posterior")
    ui.table(data["forecast"].round(0))
