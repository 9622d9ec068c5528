"""Lease phases (the IVOA ExecutionBroker 2026 names) and their transitions (DESIGN §5)."""

from django.db import models


class Phase(models.TextChoices):
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    WAITING = "WAITING"
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    RUNNING = "RUNNING"
    RELEASING = "RELEASING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


FINAL_PHASES = frozenset(
    {Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED, Phase.REJECTED, Phase.EXPIRED}
)
# Phases whose allocations consume capacity (an OFFERED one only until its hold expires).
LOAD_PHASES = frozenset(
    {
        Phase.OFFERED,
        Phase.ACCEPTED,
        Phase.WAITING,
        Phase.PREPARING,
        Phase.AVAILABLE,
        Phase.RUNNING,
        Phase.RELEASING,
    }
)
ACTIVE_PHASES = LOAD_PHASES - {Phase.OFFERED}

TRANSITIONS: dict[str, frozenset[str]] = {
    Phase.OFFERED: frozenset({Phase.ACCEPTED, Phase.REJECTED, Phase.EXPIRED}),
    Phase.ACCEPTED: frozenset({Phase.WAITING, Phase.PREPARING, Phase.CANCELLED, Phase.FAILED}),
    Phase.WAITING: frozenset({Phase.PREPARING, Phase.CANCELLED, Phase.FAILED}),
    Phase.PREPARING: frozenset({Phase.AVAILABLE, Phase.RELEASING, Phase.CANCELLED, Phase.FAILED}),
    Phase.AVAILABLE: frozenset({Phase.RUNNING, Phase.RELEASING, Phase.CANCELLED, Phase.FAILED}),
    Phase.RUNNING: frozenset({Phase.RELEASING, Phase.CANCELLED, Phase.FAILED}),
    Phase.RELEASING: frozenset({Phase.COMPLETED, Phase.FAILED}),
}


def can_transition(from_phase: str, to_phase: str) -> bool:
    return to_phase in TRANSITIONS.get(from_phase, frozenset())


class OfferSetResult(models.TextChoices):
    YES = "YES"
    NO = "NO"


class ActorKind(models.TextChoices):
    USER = "user"
    WORKER = "worker"
    OPERATOR = "operator"
    SYSTEM = "system"
