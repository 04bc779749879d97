"""The sandbox exchange: a local Binance spot REST server over tradecore's matching engine."""
