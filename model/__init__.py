"""PHB roll-out simulator: an agent-based model of personal health budgets in England."""

__version__ = "0.1.0"
