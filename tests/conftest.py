"""Debug mode is on in the tests: every model run checks people, money and stocks each month
(model/checks.py, called from `RolloutModel.step` when `PHB_CHECKS=1`)."""

from __future__ import annotations

import os

os.environ.setdefault("PHB_CHECKS", "1")
