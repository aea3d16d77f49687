"""Units and constants the money, outcome, service, ensemble and calibration modules share, in a module that
imports nothing of the project: so they can all use them without importing one another (no import circles)."""

from statistics import NormalDist

PENCE = 100  # the ledger's unit: every amount is whole pence, so the books balance exactly
MONTHS_PER_YEAR = 12
WEEKS_PER_YEAR = 52.0
Z80 = NormalDist().inv_cdf(0.9)  # 1.2816: half-width of an 80% interval in sds (register ranges are 80% intervals)
