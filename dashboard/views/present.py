"""Presentation mode (`present=1`): the deck's charts, one per screen, sized for 1920×1080, with next and
previous. No editing form, no sidebar, no Streamlit toolbar or Deploy button."""

from __future__ import annotations

import html

import streamlit as st

from dashboard import exports, state, ui

# hide everything but the chart; the toolbar's Deploy button too (the config file's client.toolbarMode
# = "viewer" does the same for the whole app)
CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stAppDeployButton"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], #MainMenu, footer {display: none !important}
.block-container {padding: 0.6rem 1.5rem 0 1.5rem !important; max-width: 100% !important}
</style>"""
CHART_HEIGHT = 900  # 1080 less the row of buttons and the browser's margins


def show() -> None:
    st.markdown(CSS, unsafe_allow_html=True)
    scenario = ui.scenario_now()
    view = dict(state.current().view)
    slides = exports.slides(scenario, view)
    n = len(slides)
    i = min(max(int(st.session_state.get("slide", 0)), 0), n - 1)

    def go(step: int) -> None:
        st.session_state["slide"] = min(max(i + step, 0), n - 1)

    c1, c2, c3 = st.columns([1, 8, 1])
    c1.button("◀ Previous", key="slide_prev", on_click=go, args=(-1,), disabled=i == 0, width="stretch")
    c2.markdown(f"<div style='text-align:center;font-size:1.1rem'>{i + 1} of {n} · scenario "
                f"<b>{html.escape(scenario.name)}</b></div>", unsafe_allow_html=True)
    c3.button("Next ▶", key="slide_next", on_click=go, args=(1,), disabled=i == n - 1, width="stretch")
    title, build = slides[i]
    with st.spinner(f"Preparing {title.lower()}…"):
        fig = build()
    fig.update_layout(height=CHART_HEIGHT, font=dict(size=20), title_font=dict(size=28),
                      margin=dict(l=90, r=40, t=80, b=60))
    st.plotly_chart(fig, key=f"slide_{i}", config={"displaylogo": False, "displayModeBar": False}, theme=None)
