"""The unread count in every page's header (a template context processor)."""

from notices.domain.selectors import notices_unread_count


def unread_notices(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notices": notices_unread_count(user=user)}
