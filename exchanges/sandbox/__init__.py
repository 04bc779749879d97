"""The sandbox exchange: a local server speaking Binance spot REST over tradecore's matching engine."""
