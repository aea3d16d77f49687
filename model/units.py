"""Units the money, outcome and service modules share, in a module that imports nothing: so they can all
use them without importing one another (no import circles)."""

PENCE = 100  # the ledger's unit: every amount is whole pence, so the books balance exactly
MONTHS_PER_YEAR = 12
WEEKS_PER_YEAR = 52.0
