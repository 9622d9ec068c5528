"""What a user sees of their notices in the web: the kinds they have not turned off."""

from django.db.models import QuerySet
from django.utils import timezone

from notices.choices import Choice, Kind
from notices.domain.preferences import preferences_for_user
from notices.models import Notice


def web_kinds(user) -> list[str]:
    preferences = preferences_for_user(user=user)
    return [k.value for k in Kind if preferences.choice(k) != Choice.OFF]


def notices_for_user(*, user) -> QuerySet[Notice]:
    return (
        Notice.objects.filter(user=user, kind__in=web_kinds(user))
        .select_related("lease__site", "offer_set", "user")
        .order_by("-created", "id")
    )


def notices_unread_count(*, user) -> int:
    return Notice.objects.filter(user=user, read_at=None, kind__in=web_kinds(user)).count()


def notices_mark_read(*, user, ids) -> int:
    """Mark the user's notices `ids` read (others' ids are ignored); how many changed."""
    return Notice.objects.filter(user=user, id__in=list(ids), read_at=None).update(
        read_at=timezone.now()
    )
