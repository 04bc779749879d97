"""Template filters of the arbitrage tracker."""

from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as people read them: 0 -> 'under 1 s', 75 -> '1 min 15 s', 3700 -> '1 h 1 min'."""
    if seconds is None:
        return "–"
    total = int(seconds)
    if total < 1:
        return "under 1 s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
