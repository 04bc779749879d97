"""Trading services: bots and their state machine, orders and fills, reconciliation, risk."""
