"""Which project a request charges, and who may charge it (issue 15)."""

from bookings.domain.errors import DomainError, FieldError
from projects.models import Membership, Project


def project_for_request(*, user, slug: str | None, token=None) -> Project | None:
    """The project a request of `user` charges: the one it names, else the token's, else
    the user's default project (their only one if they have just one); None if they belong
    to none. Naming a project the user is not a member of (or one other than the token's)
    is 403 naming it."""
    bound = getattr(token, "project", None) if getattr(token, "project_id", None) else None
    if slug is None and bound is not None:
        slug = bound.slug
    if slug is not None:
        if bound is not None and slug != bound.slug:
            raise _forbidden(slug, f"this token charges project {bound.slug!r} only")
        membership = (
            Membership.objects.select_related("project")
            .filter(user=user, project__slug=slug)
            .first()
        )
        if membership is None:
            raise _forbidden(slug, "you are not a member of it")
        return membership.project
    memberships = list(Membership.objects.select_related("project").filter(user=user)[:2])
    default = next((m for m in memberships if m.default), None)
    if default is None and len(memberships) == 1:
        default = memberships[0]
    return default.project if default else None


def _forbidden(slug: str, why: str) -> DomainError:
    return DomainError(
        f"You may not charge project {slug!r}: {why}.",
        status=403,
        code="project-forbidden",
        errors=[FieldError("project", f"{slug!r}: {why}")],
        extra={"project": slug},
    )


def projects_of(user):
    """The projects `user` may see (staff: every one)."""
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)
