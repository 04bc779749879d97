"""The sandbox exchange: Binance spot REST over tradecore's matching engine, on loopback."""
