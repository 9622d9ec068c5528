"""Celery tasks of the notices queue: thin — take ids, call one domain function, log."""

import logging

from celery import shared_task

from notices.domain import deliveries

logger = logging.getLogger(__name__)


@shared_task(name="notices.tasks.notices_sweep", ignore_result=True)
def notices_sweep() -> None:
    """Every NOTICE_SWEEP_SECONDS (beat): ending-soon notices, routing, claim due deliveries."""
    result = deliveries.notices_sweep()
    if result.ending_soon or result.routed or result.claimed:
        logger.info(
            "notices: %d ending soon, %d routed, %d to send",
            result.ending_soon,
            result.routed,
            len(result.claimed),
        )
    for delivery_id in result.claimed:
        delivery_send.delay(delivery_id)


@shared_task(name="notices.tasks.delivery_send", ignore_result=True)
def delivery_send(delivery_id: int) -> None:
    state = deliveries.delivery_send(delivery_id=delivery_id)
    logger.info("delivery %s: %s", delivery_id, state)
