"""Offer sets, leases (an offer is a lease in phase OFFERED), allocations and events (DESIGN §3).

An `Allocation` is what consumes capacity: an amount per dimension on one pool over a
`tstzrange`, GiST-indexed on (pool, period) so the booking guard can load the overlapping
load of a window with one indexed range query. The database also keeps a `load_xid` column
on it and the triggers that set it (migration 0005, not a model field: Django never writes
it), from which each process keeps its copy of the load current
(bookings.domain.planning.cache). `LoadGeneration` and `PoolsGeneration` are tables that only
migrations and their triggers write (0005, 0008): unmanaged models, read by the planning.
"""

import copy
import hashlib
import secrets
import uuid

from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField
from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import F, Q

from bookings.choices import LOAD_PHASES, ActorKind, OfferSetResult, Phase
from resources.models import Dimensions, Pool, Site, validate_timezone


class OfferSet(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offer_sets"
    )
    # The platform account that made the call on the owner's behalf, if any.
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="offer_sets_made",
    )
    request = models.JSONField(help_text="The normalised request (DESIGN §4).")
    result = models.CharField(max_length=3, choices=OfferSetResult.choices)
    messages = models.JSONField(default=list, blank=True)
    suggestions = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "-created"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(result__in=OfferSetResult.values), name="offer_set_result_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'offer set'} ({self.result}, {self.created:%Y-%m-%d %H:%M})"


class Lease(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    offer_set = models.ForeignKey(
        OfferSet, on_delete=models.CASCADE, null=True, blank=True, related_name="leases"
    )
    rank = models.PositiveSmallIntegerField(default=0, help_text="Position in its offer set.")
    name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="leases"
    )
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.OFFERED)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="leases")
    start = models.DateTimeField()
    end = models.DateTimeField()
    preparation_start = models.DateTimeField()
    expires = models.DateTimeField(null=True, blank=True, help_text="End of the hold (OFFERED).")
    connectors = models.JSONField(default=list, blank=True)
    executable = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every change (ETag).")
    next_action_at = models.DateTimeField(null=True, blank=True)
    # Life-cycle bookkeeping (bookings/domain/lifecycle.py): kept here, not in the broker, so
    # a crashed worker or a restarted Redis loses nothing.
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker owns the current step until then."
    )
    claimed_by = models.CharField(
        max_length=200,
        blank=True,
        help_text="The worker running the current step (host:pid); empty while it is queued.",
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Failed tries of the current step."
    )
    last_error = models.TextField(blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    # Consent to move (the request's `flex`, DESIGN §8a): {"before": s, "after": s, "pools":
    # [slug] or None}; None: the lease may not move in time (it may change pool).
    flex = models.JSONField(null=True, blank=True)
    # Flags, not phases (DESIGN §8a), set by resources.domain.capacity: `displaced` — a
    # capacity change left no room for it within its consent, its allocations are gone
    # (kept in `displaced_allocations` for the release and the record), fresh offers are in
    # `displaced_offer_set`, and at `displaced_deadline` it is cancelled unless the owner
    # chose one; `degraded` — it had started when a drop took capacity it was using.
    displaced = models.BooleanField(default=False)
    displaced_deadline = models.DateTimeField(null=True, blank=True)
    displaced_offer_set = models.ForeignKey(
        OfferSet, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    displaced_allocations = models.JSONField(default=list, blank=True)
    # On a fresh offer made for a displaced lease: accepting it cancels that lease.
    replaces = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    degraded = models.BooleanField(default=False)
    # Fair share (projects/): the project it charges, its price quoted with the offer (SU,
    # frozen: a rate change does not reprice it), the rates the price was made at (to price
    # an extension or the used part the same way), and what its ledger entries sum to.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, null=True, blank=True, related_name="leases"
    )
    cost_su = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    rates = models.JSONField(default=dict, blank=True)
    charged_su = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    released_at = models.DateTimeField(
        null=True, blank=True, help_text="When the adapters last made everything gone."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "rank"]
        indexes = [
            models.Index(
                fields=["next_action_at"],
                name="lease_due_idx",
                condition=Q(next_action_at__isnull=False),
            ),
            models.Index(fields=["owner", "start"]),
            # A user's live holds, counted and superseded before every offer set.
            models.Index(
                fields=["owner", "expires"],
                name="lease_holds_idx",
                condition=Q(phase="OFFERED"),
            ),
            models.Index(fields=["phase", "start"]),
            # The counting-load join (bookings.domain.planning.load) reads phase and expiry of
            # the live leases from this index alone: a hash join over the ~10k live leases
            # instead of one primary-key probe per overlapping allocation (bench/api.py).
            models.Index(
                fields=["id"],
                include=["phase", "expires"],
                name="lease_load_idx",
                condition=Q(phase__in=sorted(LOAD_PHASES)),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(phase__in=Phase.values),
                name="lease_phase_valid",
                violation_error_message="Unknown lease phase.",
            ),
            models.CheckConstraint(
                condition=Q(end__gt=F("start")),
                name="lease_end_after_start",
                violation_error_message="A lease must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(preparation_start__lte=F("start")),
                name="lease_preparation_before_start",
                violation_error_message="Preparation cannot begin after the start.",
            ),
            models.CheckConstraint(
                condition=~Q(phase=Phase.OFFERED) | Q(expires__isnull=False),
                name="lease_offer_has_expiry",
                violation_error_message="An offer must say when its hold expires.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'lease'} {str(self.id)[:8]} ({self.phase})"

    # Leases are written by bookings.domain.leases.leases_write only, which writes the fields
    # that differ from what was read (`changed_fields`): a worker's bookkeeping never
    # overwrites a field another transaction changed meanwhile.

    @classmethod
    def from_db(cls, db, field_names, values):
        lease = super().from_db(db, field_names, values)
        lease._written = dict(zip(field_names, map(_copied, values), strict=True))
        return lease

    def changed_fields(self) -> list[str]:
        """The attnames whose values differ from those read or last written (every field of
        a lease never read)."""
        written = getattr(self, "_written", None)
        fields = [f.attname for f in self._meta.concrete_fields if not f.primary_key]
        if written is None:
            return fields
        return [
            name for name in fields if name not in written or written[name] != getattr(self, name)
        ]

    def mark_written(self, names) -> None:
        written = self.__dict__.setdefault("_written", {})
        written.update((name, _copied(getattr(self, name))) for name in names)


class Allocation(Dimensions):
    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="allocations")
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="allocations")
    component = models.CharField(max_length=100, blank=True)
    replica = models.PositiveSmallIntegerField(default=0)
    period = DateTimeRangeField(help_text="[from, to) during which the amounts are consumed.")

    class Meta:
        ordering = ["lease", "component", "replica"]
        indexes = [GistIndex(fields=["pool", "period"], name="allocation_pool_period_gist")]
        constraints = [
            models.CheckConstraint(
                condition=Q(period__isempty=False)
                & Q(period__lower_inf=False)
                & Q(period__upper_inf=False),
                name="allocation_period_bounded",
                violation_error_message="An allocation needs a start before its end.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pool}: {self.amounts(nonzero=True)}"

    @property
    def start(self):
        return self.period.lower

    @property
    def end(self):
        return self.period.upper


class LeaseEvent(models.Model):
    """One transition or notable step of a lease; written for every change, never edited."""

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True, db_index=True)
    from_phase = models.CharField(max_length=16, choices=Phase.choices, blank=True)
    to_phase = models.CharField(max_length=16, choices=Phase.choices, blank=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.from_phase or '·'} → {self.to_phase or '·'}: {self.message}"


def _copied(value):
    # JSON values are mutable: keep a copy, so an in-place change still shows as a change.
    return copy.deepcopy(value) if isinstance(value, dict | list) else value


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """`Authorization: Token <key>` for platforms; only a SHA-256 of the key is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="To recognise a key.")
    name = models.CharField(max_length=100, blank=True)
    # A platform token acts for its user and, if set, charges this project only.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, *, user, name: str = "") -> tuple["ApiToken", str]:
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, key_hash=_hash_key(key), prefix=key[:8], name=name)
        return token, key

    @classmethod
    def find(cls, key: str) -> "ApiToken | None":
        return cls.objects.select_related("user").filter(key_hash=_hash_key(key)).first()


class Profile(models.Model):
    """Per-user preferences: the time zone the UI shows, and the secret iCal feed token."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    ical_token = models.CharField(max_length=64, unique=True, default=secrets.token_urlsafe)

    def __str__(self) -> str:
        return f"profile of {self.user}"


class IdempotencyKey(models.Model):
    """A claimed `Idempotency-Key` of a POST and the answer it got, replayed on a retry.

    The unique (user, key) row is inserted before the work runs, in the same transaction, so
    a concurrent duplicate waits on it and then replays the first answer instead of booking.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    # Empty only inside the claiming transaction: nobody else ever sees a row without them.
    status = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.user})"


class Generation(models.Model):
    """A one-row table whose uuid triggers change (migrations 0005 and 0008)."""

    id = models.SmallIntegerField(primary_key=True)
    generation = models.UUIDField()

    class Meta:
        abstract = True
        managed = False

    def __str__(self) -> str:
        return str(self.generation)


class LoadGeneration(Generation):
    """Changes when allocations are deleted or truncated (migration 0005): then every
    process's copy of the load starts again from scratch."""

    class Meta(Generation.Meta):
        db_table = "bookings_loadgeneration"


class PoolsGeneration(Generation):
    """Changes with every pool, site or capacity-change write (migration 0008): the key
    under which each process caches its planning pools."""

    class Meta(Generation.Meta):
        db_table = "bookings_poolsgeneration"
