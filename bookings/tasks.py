"""Celery tasks: thin — take ids, call one domain function, log.

The tick claims due leases and enqueues the steps; a step enqueues the next one when it is due
within a tick (bookings/domain/lifecycle.py). Arguments are lease ids as strings.
"""

import logging

from celery import shared_task

from bookings.domain import lifecycle
from scheduler.health import record_tick

logger = logging.getLogger(__name__)


@shared_task(name="bookings.tasks.lease_tick", ignore_result=True)
def lease_tick() -> None:
    """Every LEASE_TICK_SECONDS (Celery beat): heartbeat, expire holds, claim due leases."""
    record_tick()
    result = lifecycle.leases_tick()
    logger.info("lease tick: %d hold(s) expired, %d step(s)", result.expired, len(result.steps))
    _enqueue(result.steps)


@shared_task(name="bookings.tasks.lease_reserve", ignore_result=True)
def lease_reserve(lease_id: str) -> None:
    _enqueue([lifecycle.lease_reserve_run(lease_id=lease_id)])


@shared_task(name="bookings.tasks.lease_prepare", ignore_result=True)
def lease_prepare(lease_id: str) -> None:
    _enqueue([lifecycle.lease_prepare_run(lease_id=lease_id)])


@shared_task(name="bookings.tasks.lease_release", ignore_result=True)
def lease_release(lease_id: str) -> None:
    _enqueue([lifecycle.lease_release_run(lease_id=lease_id)])


def _enqueue(steps: list[lifecycle.Step | None]) -> None:
    for step in steps:
        if step is None:
            continue
        logger.info("lease %s: %s enqueued (eta %s)", step.lease_id, step.kind, step.eta)
        TASKS[step.kind].apply_async((str(step.lease_id),), eta=step.eta)


TASKS = {
    lifecycle.RESERVE: lease_reserve,
    lifecycle.PREPARE: lease_prepare,
    lifecycle.RELEASE: lease_release,
}
