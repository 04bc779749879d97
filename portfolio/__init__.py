"""Balances, positions, realized and unrealized PnL, performance snapshots."""
