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
