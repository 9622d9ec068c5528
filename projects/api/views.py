"""/api/v1/projects/: the caller's projects, their balance and their usage over time."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from bookings.api.views import ProblemAPIView, problems
from bookings.domain.errors import DomainError
from projects.domain.ledger import project_left
from projects.domain.projects import projects_of
from projects.domain.usage import project_usage, usage_json
from projects.models import Membership

PROJECT_FIELDS = {
    "id": serializers.CharField(help_text="The project's slug."),
    "name": serializers.CharField(),
    "role": serializers.CharField(allow_null=True),
    "default": serializers.BooleanField(),
    "allocated_su": serializers.CharField(help_text="In allocations valid now or later."),
    "left_su": serializers.CharField(),
    "usage": serializers.CharField(),
}
ProjectSchema = inline_serializer("Project", fields=PROJECT_FIELDS)
ProjectListSchema = inline_serializer("ProjectList", many=True, fields=PROJECT_FIELDS)
PointSchema = inline_serializer(
    "UsagePoint",
    many=True,
    fields={
        "time": serializers.DateTimeField(),
        "allocated_su": serializers.CharField(),
        "used_su": serializers.CharField(),
        "committed_su": serializers.CharField(),
        "left_su": serializers.CharField(),
    },
)
UsageSchema = inline_serializer(
    "ProjectUsage",
    fields={
        "project": serializers.CharField(),
        "name": serializers.CharField(),
        "time": serializers.DateTimeField(),
        "allocated_su": serializers.CharField(),
        "used_su": serializers.CharField(),
        "committed_su": serializers.CharField(),
        "left_su": serializers.CharField(help_text="allocated - committed - used"),
        "allocations": serializers.ListField(child=serializers.DictField()),
        "leases": serializers.ListField(child=serializers.DictField()),
        "series": PointSchema,
    },
)


def _project_json(project, membership) -> dict:
    allocated, left = project_left(project.id)
    return {
        "id": project.slug,
        "name": project.name,
        "role": membership.role if membership else None,
        "default": bool(membership and membership.default),
        "allocated_su": str(allocated),
        "left_su": str(left),
        "usage": f"/api/v1/projects/{project.slug}/usage",
    }


def _project(user, slug):
    project = projects_of(user).filter(slug=slug).first()
    if project is None:  # not a member: 404, leaking nothing
        raise DomainError("No such project.", status=404, code="not-found")
    return project


class ProjectList(ProblemAPIView):
    """The projects the caller belongs to (staff: every one), with what is left."""

    @extend_schema(
        operation_id="v1_projects_list", responses={200: ProjectListSchema, **problems(401)}
    )
    def get(self, request):
        mine = {m.project_id: m for m in Membership.objects.filter(user=request.user)}
        projects = projects_of(request.user).distinct().order_by("slug")
        return Response([_project_json(p, mine.get(p.id)) for p in projects])


class ProjectDetail(ProblemAPIView):
    @extend_schema(responses={200: ProjectSchema, **problems(404)})
    def get(self, request, id):
        project = _project(request.user, id)
        membership = Membership.objects.filter(user=request.user, project=project).first()
        return Response(_project_json(project, membership))


class ProjectUsage(ProblemAPIView):
    """Used, committed and left now, per allocation and lease, and over time."""

    @extend_schema(responses={200: UsageSchema, **problems(404)})
    def get(self, request, id):
        return Response(usage_json(project_usage(_project(request.user, id))))
