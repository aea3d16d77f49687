"""Start: what the dashboard answers and where; the landing page, so every other page has its own
address (a link to /scenario opens the Scenario page)."""

from __future__ import annotations

import streamlit as st

from dashboard import text, ui

st.title("PHB roll-out simulator")
ui.intro("about")
st.markdown(text.md("home"))
for path, label in (("views/uptake.py", "Uptake: will the targets be met?"),
                    ("views/services.py", "Traditional services: what happens to everyone else's services?"),
                    ("views/ccg.py", "CCG variation: where is it working?"),
                    ("views/compare.py", "Compare: what difference does a choice make?"),
                    ("views/scenario.py", "Scenario: every lever, upload and download"),
                    ("views/assumptions.py", "Assumptions: every number with its source"),
                    ("views/backtest.py", "Backtest: the forecast against actual figures you upload"),
                    ("views/stress.py", "Stress test: which assumptions matter, and where the target fails")):
    st.page_link(path, label=label)
