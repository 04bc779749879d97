"""Portfolio output: every amount is an exact decimal string."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers


def amount(value: Decimal | None) -> str | None:
    """A Decimal as a plain string (no exponent, trailing zeros dropped)."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class HoldingSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    asset = serializers.CharField()
    total = serializers.CharField()
    in_orders = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    value = serializers.CharField(allow_null=True)


class PositionSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    qty = serializers.CharField()
    average_price = serializers.CharField(allow_null=True)
    mark = serializers.CharField(allow_null=True)
    unrealized_pnl = serializers.CharField()
    realized_pnl = serializers.CharField()
    fills = serializers.IntegerField()


class BotPortfolioSerializer(serializers.Serializer):
    bot = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    mode = serializers.CharField()
    valuation_asset = serializers.CharField()
    total_value = serializers.CharField()
    cash = serializers.CharField()
    crypto = serializers.CharField()
    realized_pnl = serializers.CharField()
    unrealized_pnl = serializers.CharField()
    fees = serializers.CharField()
    net_pnl = serializers.CharField()
    fees_by_asset = serializers.DictField(child=serializers.CharField())
    trades = serializers.IntegerField()
    closing_trades = serializers.IntegerField()
    winning_trades = serializers.IntegerField()
    unpriced = serializers.ListField(child=serializers.CharField())
    holdings = HoldingSerializer(many=True)
    positions = PositionSerializer(many=True)


class BalanceSerializer(serializers.Serializer):
    account = serializers.UUIDField()
    account_label = serializers.CharField()
    exchange = serializers.CharField()
    asset = serializers.CharField()
    free = serializers.CharField()
    used = serializers.CharField()
    total = serializers.CharField()
    fetched_at = serializers.DateTimeField()


class PortfolioSerializer(serializers.Serializer):
    totals = serializers.DictField(child=serializers.DictField(child=serializers.CharField()))
    fees_by_asset = serializers.DictField(child=serializers.CharField())
    bots = BotPortfolioSerializer(many=True)
    balances = BalanceSerializer(many=True)


class EquityPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    total_value = serializers.CharField()
    cash = serializers.CharField()
    crypto = serializers.CharField()
    realized_pnl = serializers.CharField()
    unrealized_pnl = serializers.CharField()
    fees = serializers.CharField()
    trades = serializers.IntegerField()
    winning_trades = serializers.IntegerField()


def bot_portfolio_data(bot, value) -> dict:
    return {
        "bot": bot.pk,
        "name": bot.name,
        "status": bot.status,
        "mode": bot.mode,
        "valuation_asset": value.valuation_asset,
        "total_value": amount(value.total_value),
        "cash": amount(value.cash),
        "crypto": amount(value.crypto),
        "realized_pnl": amount(value.realized_pnl),
        "unrealized_pnl": amount(value.unrealized_pnl),
        "fees": amount(value.fees),
        "net_pnl": amount(value.net_pnl),
        "fees_by_asset": {asset: amount(fee) for asset, fee in value.fees_by_asset.items()},
        "trades": value.trades,
        "closing_trades": value.closing_trades,
        "winning_trades": value.winning_trades,
        "unpriced": value.unpriced,
        "holdings": [
            {
                "exchange": h.exchange,
                "asset": h.asset,
                "total": amount(h.total),
                "in_orders": amount(h.in_orders),
                "price": amount(h.price),
                "value": amount(h.value),
            }
            for h in value.holdings
        ],
        "positions": [
            {
                "symbol": p.symbol,
                "qty": amount(p.qty),
                "average_price": amount(p.average_price),
                "mark": amount(p.mark),
                "unrealized_pnl": amount(p.unrealized),
                "realized_pnl": amount(p.realized),
                "fills": p.fills,
            }
            for p in value.positions
        ],
    }


def balance_data(balance) -> dict:
    return {
        "account": balance.account_id,
        "account_label": balance.account.label,
        "exchange": balance.account.exchange,
        "asset": balance.asset,
        "free": amount(balance.free),
        "used": amount(balance.used),
        "total": amount(balance.total),
        "fetched_at": balance.fetched_at,
    }


def equity_point_data(row) -> dict:
    return {
        "at": row.at,
        "total_value": amount(row.total_value),
        "cash": amount(row.cash),
        "crypto": amount(row.crypto),
        "realized_pnl": amount(row.realized_pnl),
        "unrealized_pnl": amount(row.unrealized_pnl),
        "fees": amount(row.fees),
        "trades": row.trades,
        "winning_trades": row.winning_trades,
    }
