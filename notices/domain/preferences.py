"""Which notices a user wants where (Preferences), and the signed one-click unsubscribe."""

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction

from bookings.domain.errors import FieldErrors
from notices.choices import CHOOSABLE_KINDS, Choice
from notices.models import Preferences

UNSUBSCRIBE_SALT = "notices.unsubscribe"


def preferences_for_user(*, user) -> Preferences:
    """The user's preferences (the defaults, unsaved, until they change one)."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


def preferences_by_user(user_ids) -> dict[int, Preferences]:
    ids = set(user_ids)
    found = {p.user_id: p for p in Preferences.objects.filter(user_id__in=ids)}
    return {uid: found.get(uid) or Preferences(user_id=uid) for uid in ids}


def preferences_set(*, user, choices: dict[str, str]) -> Preferences:
    """Set the choice of each kind in `choices` (a kind left out keeps its choice)."""
    errors = FieldErrors()
    for kind, choice in choices.items():
        if kind not in CHOOSABLE_KINDS:
            errors.add(kind, "is not a kind of notice")
        elif choice not in Choice.values:
            errors.add(kind, f"must be one of {', '.join(Choice.values)}")
    errors.raise_if_any("These notice preferences cannot be saved.")
    with transaction.atomic():
        preferences, _ = Preferences.objects.select_for_update().get_or_create(user=user)
        preferences.choices = {**preferences.choices, **choices}
        preferences.save(update_fields=["choices"])
    return preferences


def preferences_unsubscribe(*, user) -> Preferences:
    """No more e-mail: every kind that went by e-mail stays in the web only."""
    current = preferences_for_user(user=user)
    return preferences_set(
        user=user,
        choices={k: Choice.WEB for k in CHOOSABLE_KINDS if current.choice(k) == Choice.EMAIL},
    )


def unsubscribe_token(user) -> str:
    return signing.dumps(user.pk, salt=UNSUBSCRIBE_SALT)


def user_for_unsubscribe_token(token: str):
    """The user a token of `unsubscribe_token` was made for; None if it is not one."""
    try:
        pk = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return get_user_model().objects.filter(pk=pk, is_active=True).first()
