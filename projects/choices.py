"""Roles in a project and the kinds of ledger entries (fair share, issue 15)."""

from django.db import models


class Role(models.TextChoices):
    PI = "pi", "principal investigator"
    MEMBER = "member", "member"


class EntryKind(models.TextChoices):
    CHARGE = "charge", "charge"  # accepting, extending: the cost committed
    REFUND = "refund", "refund"  # cancelling, releasing early, failing, shortening
