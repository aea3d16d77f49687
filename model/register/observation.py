"""Parameter register: the observation model. How a published figure relates to the model's true count.

Published counts of budgets were voluntary CCG returns (not every CCG reported), NHS England statements
of unknown coverage, and FOI "new in year" totals that miss CCGs which did not answer. These rows turn
the model's true series into what such a source would have printed; calibration fits the coverages
alongside the model's own parameters (they are nuisance parameters: uncertain, and not policy).
"""

from model.register.base import PT, P

ROWS = (
    P("reporting_share", "Share of the true count that voluntary CCG returns captured (Oct 2016)", PT, "share",
      0.885, 0.8, 0.95, "D: 185 of 209 CCGs reported in Oct 2016 (evidence E5); calibrated as a nuisance "
      "parameter (model/calibrate.py)", 0.0, 1.0),
    P("early_reporting_share", "Share of the true count captured by NHS England's 2015–16 statements", PT,
      "share", 0.9, 0.75, 1.0, "assumption: coverage of the 2015–16 statements is not published (evidence E2, "
      "E4); calibrated as a nuisance parameter (model/calibrate.py)", 0.0, 1.0),
    P("foi_completeness", "Share of budgets issued in a year that FOI 'new in year' totals captured", PT,
      "share", 0.85, 0.65, 1.0, "assumption: FOI returns miss CCGs that did not answer (evidence E1); "
      "calibrated as a nuisance parameter (model/calibrate.py)", 0.0, 1.0),
    P("observation_error", "Error of a published figure against what its source counted", PT, "log sd", 0.1,
      0.05, 0.2, "assumption: figures rounded to hundreds and quoted second-hand (V2; evidence E1–E5)",
      0.0, 2.0),
)
