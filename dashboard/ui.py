"""Pieces every page uses: the current scenario, model results for it, and how a chart is shown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, exports, model_calls, state, text
from model.scenario import Scenario, ScenarioError

# a progress bar is redrawn at most this often: each redraw re-renders the page in the browser,
# and on a 2-core machine that CPU comes out of the workers' share (50 redraws a lever change cost Chromium
# ~0.4 CPU-s; 4 a second still show the runs moving; every 0.6 s measured no cheaper)
PROGRESS_EVERY_S = 0.25
# stale elements dim at once instead of fading over a second, and the progress bar jumps instead of gliding:
# while a lever change runs, those animations kept headless Chromium compositing frames (~0.3 CPU-s a change)
# on the same 2 cores as the workers; the dimming that says "stale" stays. Streamlit's running man in the
# header is not shown: it changes picture five times a second (a new SVG each time), which cost a fan lever
# change ~45 ms (16 alternating changes on one server, median 2.11 → 2.07 s); "Stop" beside it stays, and
# the pages' progress bars and spinners say what is running
STILL_CSS = ('[data-testid="stElementContainer"], [data-testid="stProgress"] * { transition: none !important; }'
             ' [data-testid="stStatusWidgetRunningIcon"] { display: none !important; }')


def present() -> bool:
    return bool(state.current().view.get("present"))


def scenario_now() -> Scenario:
    """The scenario the user has built; if it no longer validates, say why and fall back to its preset."""
    choice = state.current()
    try:
        return state.build_scenario(choice)
    except ScenarioError as e:
        st.error(text.plain(f"{e}\nShowing the preset '{choice.preset}' instead."))
        return state.preset_scenario(choice.preset)


def intro(name: str) -> None:
    if not present():
        st.markdown(text.md(name))


# a page's ensemble waits on the worker pool from one of these threads while the page draws what does not need it
_FANS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="phb-fan")


def fan_data(scenario: Scenario, meanwhile: Callable[[], None] | None = None) -> dict:
    """The ensemble's bands and chances, with a progress bar. `meanwhile` (drawing that needs no ensemble)
    runs while the ensemble does, so its charts reach the browser during the runs rather than after them."""
    view = dict(state.current().view)
    capped = state.cap_cost(view)  # widgets can ask for as much as a link; the same cap applies
    if capped:
        st.warning(text.plain(capped.replace("link: ", "")))
    runs, scale = int(view["runs"]), int(view["scale"])
    targets = tuple(v for v, _ in text.targets())
    bar, progress = progress_bar(f"Running the ensemble (one agent per {scale} people)", "runs")
    call = (scenario.to_yaml(), runs, scale, targets, view["mode"])
    if meanwhile is None:
        out = model_calls.fan(*call, _progress=progress)
    else:
        pending = _FANS.submit(model_calls.fan, *call, _progress=model_calls.from_any_thread(progress))
        meanwhile()
        out = pending.result()
    bar.empty()
    return out


def progress_bar(label: str, unit: str = "") -> tuple:
    """A progress bar and the report to hand a long computation: drawn at the start, at the end and at most
    every PROGRESS_EVERY_S between, whichever thread reports (comparisons report from one thread each)."""
    bar = st.progress(0.0, text=label)
    lock, last_drawn = threading.Lock(), [float("-inf")]

    def report(done: int, total: int) -> None:
        with lock:
            now = time.monotonic()
            if 0 < done < total and now - last_drawn[0] < PROGRESS_EVERY_S:
                return
            last_drawn[0] = now
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label}: {done} of {total}{' ' + unit if unit else ''}")

    return bar, report


def single_ahead(scenario: Scenario, scale: int | None = None) -> None:
    """Start the run `single` will return in the background, before the page waits on its ensemble."""
    s = scenario if scale is None else scenario.with_(agent_scale=scale)
    model_calls.run_ahead("single", s.to_yaml())


def single(scenario: Scenario, scale: int | None = None) -> "model_calls.Results":
    s = scenario if scale is None else scenario.with_(agent_scale=scale)
    with st.spinner("Running the model…"):
        return model_calls.single_run(s.to_yaml())


def show_chart(fig: go.Figure, key: str) -> None:
    """Draw a chart (full screen height in presentation mode) with a PNG download beside it."""
    if present():
        fig.update_layout(height=max(780, fig.layout.height or 0), font=dict(size=20), title_font=dict(size=30))
    # theme=None: the figure's own template, as its PNG export draws it; Streamlit's theme restyles every axis in
    # the browser (about 0.3 s of Chromium's CPU on the services page, whose grid has 26 axes)
    st.plotly_chart(fig, key=key, config={"displaylogo": False}, theme=None)
    if not present():
        if exports_available():
            st.download_button("PNG of this chart", data=lambda f=fig: exports.png(f), file_name=f"{key}.png",
                               mime="image/png", key=f"png_{key}", on_click="ignore")
        else:
            st.caption(exports_unavailable_reason())


def exports_available() -> bool:
    try:
        exports._kaleido_ready()
        return True
    except exports.ExportError:
        return False


def exports_unavailable_reason() -> str:
    try:
        exports._kaleido_ready()
        return ""
    except exports.ExportError as e:
        return str(e)


def headline_figures(scenario: Scenario, view: dict) -> list[tuple[str, go.Figure]]:
    """The charts that go into the report and the deck. No Streamlit calls here: download buttons run
    this on another thread, after the page script, where session state is out of reach."""
    targets = tuple(v for v, _ in text.targets())
    view = dict(view)
    state.cap_cost(view)
    data = model_calls.fan(scenario.to_yaml(), int(view["runs"]), int(view["scale"]), targets, view["mode"])
    labels = dict(text.targets())
    pts = text.calibration_points()
    held = pts[pts["measure"] == "phbs_held"]
    fan = charts.fan_chart(data["bands"]["holders"], "People holding a PHB (people)", "People",
                           targets=text.targets(), points=held)
    prob = charts.probability_chart(data["prob"], labels, "Chance of reaching each target by date (%)")
    b = data["bands"]
    share = pd.DataFrame({"month": b["holders"]["month"],
                          "share": b["direct_payment"]["median"] / b["holders"]["median"].where(b["holders"]["median"] > 0)})
    dp = charts.lines_chart(share.assign(g="dp"), "share", "g", {"dp": "Direct payments (median run)"},
                            "Share held as direct payments (%)", "Share", percent=True)
    return [("People holding a PHB", fan), ("Chance of reaching each target", prob),
            ("Share held as direct payments", dp)]


def table(df: pd.DataFrame, **kw) -> None:
    st.dataframe(df, hide_index=True, width="stretch", **kw)
