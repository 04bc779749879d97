"""Compliance pages: the user's own security log."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from compliance.selectors import audit_event_list


@login_required
def security_log(request):
    """The user's audit events, newest first, 50 a page."""
    page = Paginator(audit_event_list(user=request.user), 50).get_page(request.GET.get("page"))
    template = (
        "compliance/_security_log_rows.html" if request.htmx else "compliance/security_log.html"
    )
    return render(request, template, {"page": page})
