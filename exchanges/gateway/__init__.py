"""The exchange gateway: one small interface over ccxt, its error policy and rate budget."""
