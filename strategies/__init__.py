"""Strategy catalog, saved configurations, backtest runs and results."""
