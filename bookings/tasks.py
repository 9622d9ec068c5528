"""Celery tasks: thin — take ids, call one domain function, log."""

from celery import shared_task

from scheduler.health import record_tick


@shared_task(name="bookings.tasks.lease_tick", ignore_result=True)
def lease_tick() -> None:
    """Every LEASE_TICK_SECONDS (Celery beat): record the heartbeat."""
    record_tick()
