"""Bot page sections, rendered for the first page load and again for live updates.

Each section is one partial whose root element carries a stable id. The websocket consumers
re-render the sections an event touched and send them with hx-swap-oob, so the page updates
in place. Reads only, always through the owner-scoped selectors.
"""

from __future__ import annotations

from django.template.loader import render_to_string

from portfolio.charts import line_chart
from portfolio.selectors import bot_valuation_get, equity_curve
from trading import selectors

# Which sections a runtime event changes (trading/events.py lists the kinds).
SECTIONS_BY_KIND = {
    "status": {"status", "events"},
    "order": {"orders", "status"},  # a market maker's status says which sides it quotes
    "fill": {"fills", "pnl"},
    "signal": {"signals"},
    "risk": {"events"},
    "error": {"status", "events"},
    "reconcile": {"events", "orders", "fills", "pnl"},
    "kill_switch": {"status", "events"},
    "equity": {"equity"},
    "history": {"events"},
}
TEMPLATES = {
    "status": "trading/_bot_status.html",
    "orders": "trading/_open_orders.html",
    "fills": "trading/_fills.html",
    "pnl": "trading/_bot_pnl.html",
    "events": "trading/_bot_events.html",
    "signals": "trading/_signals.html",
    "equity": "trading/_equity.html",
}
ALL_SECTIONS = tuple(TEMPLATES)


def _section_context(section: str, *, user, bot) -> dict:
    if section == "orders":
        return {"orders": list(selectors.order_list(user=user, bot=bot, active=True)[:50])}
    if section == "fills":
        return {"fills": list(selectors.fill_list(user=user, bot=bot)[:30])}
    if section == "pnl":
        return {"value": bot_valuation_get(user=user, bot_id=bot.pk)}
    if section == "events":
        return {"events": list(selectors.bot_event_list(user=user, bot=bot)[:15])}
    if section == "signals":
        return {"signals": list(selectors.signal_list(user=user, bot=bot)[:5])}
    if section == "equity":
        return {"chart": line_chart(equity_curve(user=user, bot_id=bot.pk, points=300))}
    return {}


def bot_sections_context(*, user, bot, sections=ALL_SECTIONS) -> dict:
    """The context the given sections of the bot page need."""
    context = {"bot": bot}
    for section in sections:
        context.update(_section_context(section, user=user, bot=bot))
    return context


def bot_sections_render(*, user, bot_id, sections, request=None) -> str:
    """The sections as out-of-band HTML fragments for the bot's page (Http404 if not the owner's).

    The status section also redraws the controls and the bot's row in the bot list.
    """
    bot = selectors.bot_get_for_user(user=user, id=bot_id)
    ordered = [section for section in ALL_SECTIONS if section in sections]
    context = {**bot_sections_context(user=user, bot=bot, sections=ordered), "oob": True}
    html = [render_to_string(TEMPLATES[section], context, request=request) for section in ordered]
    if "status" in sections:
        html.append(render_to_string("trading/_bot_controls.html", context, request=request))
    return "\n".join(html)


def bot_row_render(*, user, bot_id, request=None) -> str:
    """One row of the bot list, out of band (Http404 if not the owner's)."""
    bot = selectors.bot_get_for_user(user=user, id=bot_id)
    value = bot_valuation_get(user=user, bot_id=bot.pk)
    return render_to_string(
        "trading/_bot_row.html", {"bot": bot, "value": value, "oob": True}, request=request
    )
