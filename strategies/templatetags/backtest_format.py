"""Template filters of the backtest pages."""

from django import template

register = template.Library()


@register.filter
def pct(value, places=2):
    """A fraction as a percentage: 0.1234 -> "12.34%"; "–" for no number; never "-0.00%"."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "–"
    number = round(value * 100, int(places))
    return f"{0.0 if number == 0 else number:.{int(places)}f}%"


@register.filter
def paper_comparable(strategy: str) -> bool:
    """Whether a bot of this strategy has a "compare with backtest" page that can answer."""
    from strategies.paper_compare import paper_comparison_applies

    return paper_comparison_applies(strategy)
