"""The projects pages: the caller's projects, and each one's budget (issue 15)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from projects.domain.ledger import project_left
from projects.domain.projects import projects_of
from projects.domain.usage import project_usage
from projects.models import Membership
from projects.web.chart import budget_chart


@login_required
@require_GET
def project_list(request):
    mine = {m.project_id: m for m in Membership.objects.filter(user=request.user)}
    rows = []
    for project in projects_of(request.user).distinct().order_by("slug"):
        allocated, left = project_left(project.id)
        rows.append(
            {
                "project": project,
                "membership": mine.get(project.id),
                "allocated": allocated,
                "left": left,
            }
        )
    return render(request, "projects/list.html", {"rows": rows})


@login_required
@require_GET
def project_detail(request, slug):
    project = projects_of(request.user).filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    usage = project_usage(project)
    now = timezone.now()
    context = {
        "usage": usage,
        "project": project,
        "members": project.memberships.select_related("user").order_by("role", "user__username"),
        "remaining": usage["now"].left + usage["now"].committed,
        "chart": budget_chart(usage["series"], now=now, zone=timezone.get_current_timezone()),
    }
    return render(request, "projects/project.html", context)
