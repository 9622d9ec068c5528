"""Celery tasks of the inventory: the capacity planner (resources.domain.capacity), on the
worker so that CP-SAT never runs in a request; `capacity_on_worker` is how a request asks it
and waits."""

import logging

from celery import shared_task
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.contrib.auth import get_user_model
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from bookings.domain.errors import DependencyUnavailable, DomainError, FieldError
from resources.domain.capacity import CapacityEdit, capacity_run, lease_displaced_offer

logger = logging.getLogger(__name__)


# At most once (acks_late off): an apply that a lost worker had committed is never re-run.
@shared_task(name="resources.tasks.capacity_plan", ignore_result=False, acks_late=False)
def capacity_plan(edit: dict, apply: bool, actor_id: int | None, proposal=None) -> dict:
    """Preview (`apply` False) or apply an edit; the impact as JSON, or {"error": …}."""
    try:
        return capacity_run(
            CapacityEdit.from_json(edit),
            apply=apply,
            actor=get_user_model().objects.filter(id=actor_id).first() if actor_id else None,
            proposal=proposal,
            after_commit=lambda ids: ids and lease_displaced_offers.delay(ids),
        )
    except DomainError as error:
        return {"error": _error_json(error)}


@shared_task(name="resources.tasks.lease_displaced_offers", ignore_result=True)
def lease_displaced_offers(lease_ids: list[str]) -> None:
    for lease_id in lease_ids:
        lease_displaced_offer(lease_id=lease_id)


def capacity_on_worker(edit: CapacityEdit, *, apply: bool, actor, proposal=None) -> dict:
    """What a request calls: ask the worker and wait (REPLAN_WAIT_SECONDS). A worker or
    broker that does not answer is a DependencyUnavailable (503 + Retry-After); a refusal
    comes back as the DomainError it was. REPLAN_IN_PROCESS (tests) runs it here."""
    if settings.REPLAN_IN_PROCESS:  # fresh offers for the displaced: here, after the commit
        try:
            result = capacity_run(edit, apply=apply, actor=actor, proposal=proposal)
        except DomainError as error:
            result = {"error": _error_json(error)}
    else:
        try:
            pending = capacity_plan.apply_async(
                (edit.as_json(), apply, getattr(actor, "pk", None), proposal)
            )
            result = pending.get(timeout=settings.REPLAN_WAIT_SECONDS)
        except (CeleryTimeout, OperationalError, RedisError, OSError) as error:
            logger.warning("capacity planner unavailable: %s", error)
            raise DependencyUnavailable(
                "The capacity planner (the Celery worker) did not answer; nothing was"
                " written. Try again shortly.",
                retry_after=10,
            ) from error
    if "error" in result:
        raise _error(result["error"])
    return result


def _error_json(error: DomainError) -> dict:
    return {
        "title": error.title,
        "status": error.status,
        "code": error.code,
        "errors": [{"path": e.path, "message": e.message} for e in error.errors],
        "extra": error.extra,
    }


def _error(data: dict) -> DomainError:
    return DomainError(
        data["title"],
        status=data["status"],
        code=data["code"],
        errors=[FieldError(e["path"], e["message"]) for e in data["errors"]],
        extra=data["extra"],
    )
