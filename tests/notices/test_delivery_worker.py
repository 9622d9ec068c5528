"""Notices delivered by real Celery workers (lease steps and the notices queue) and beat, to a
real SMTP server and a real webhook receiver: a short lease's whole life, and a worker killed
while it sends."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bookings.domain.leases import lease_accept
from bookings.models import Lease
from notices.choices import DeliveryState
from notices.domain.selectors import notices_for_user
from notices.domain.webhooks import webhook_endpoint_create
from notices.models import Delivery, Notice
from resources.models import Site
from tests.bookings.lifecycle.lifecycle_support import (
    LIFECYCLE_ENV,
    Cluster,
    database_url,
    make_offer,
    make_pool,
    settled,
)
from tests.notices.support import Receiver, SmtpSink
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUEUES = "celery,notices"
LIFE = [
    "lease.accepted",
    "lease.preparing",
    "lease.available",
    "lease.ending_soon",
    "lease.completed",
]


@pytest.fixture(scope="module")
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker, tmp_path_factory, smtp_sink):
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    env = {
        **LIFECYCLE_ENV,
        "EMAIL_URL": smtp_sink.url,
        "NOTICE_SWEEP_SECONDS": "1",
        "NOTICE_BEFORE_END": "PT4S",
        "NOTICE_CLAIM_SECONDS": "3",
        "NOTICE_RETRY_BASE_SECONDS": "1",
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "WEBHOOK_TIMEOUT_SECONDS": "10",
    }
    cluster = Cluster(tmp_path_factory.mktemp("notices"), url, lifecycle_env=env)
    try:
        cluster.start_redis()
        cluster.start_worker(queues=QUEUES)
        cluster.start_beat()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def owner(transactional_db, django_user_model):
    return django_user_model.objects.create_user("astro", email="astro@example.org")


@pytest.fixture
def sim_pool(transactional_db):
    return make_pool(Site.objects.create(slug="lab", name="Lab"), "sim", "simulated", {})


def by_notice(smtp_sink, user) -> list[str]:
    """The kinds of the messages the sink got, in the order of their notices."""
    order = {f"<{n.id}@127.0.0.1>": (n.created, n.kind) for n in Notice.objects.filter(user=user)}
    return [
        order[m["Message-ID"]][1]
        for m in sorted(
            (m for m in smtp_sink.messages if m["Message-ID"] in order),
            key=lambda m: order[m["Message-ID"]][0],
        )
    ]


def test_a_short_lease_notices_its_whole_life_on_every_channel_once(
    cluster, smtp_sink, owner, sim_pool
):
    receiver = Receiver().start()
    try:
        endpoint = webhook_endpoint_create(user=owner, url=receiver.url)
        receiver.secret = endpoint.secret
        start = timezone.now() + timedelta(seconds=4)
        lease = make_offer(owner, sim_pool, start=start, seconds=7)
        lease_accept(lease_id=lease.id, user=owner)
        wait_until(lambda: settled(lease), 40, "the lease to complete", cluster.logs)
        every = lambda: Delivery.objects.filter(notice__user=owner)  # noqa: E731
        wait_until(
            lambda: (
                every().count() == 2 * len(LIFE)
                and not every().exclude(state=DeliveryState.SENT).exists()
            ),
            20,
            "every delivery sent",
            cluster.logs,
        )
        written = list(Notice.objects.filter(user=owner).order_by("created"))
        assert [n.kind for n in written] == LIFE
        assert [n.kind for n in notices_for_user(user=owner)] == LIFE[::-1]  # the web list
        assert by_notice(smtp_sink, owner) == LIFE  # each once by e-mail
        assert [r.get("error") for r in receiver.requests] == [None] * len(LIFE)
        acted = receiver.acted()
        assert sorted(p["type"] for p in acted) == sorted(LIFE)
        assert len(receiver.requests) == len(LIFE)  # each once by webhook
        available = next(p for p in acted if p["type"] == "lease.available")
        assert available["data"]["connectors"][0]["url"] == f"simulated://{lease.id}"
        ending = next(n for n in written if n.kind == "lease.ending_soon")
        assert ending.data["end"] == Lease.objects.get(id=lease.id).end.isoformat().replace(
            "+00:00", "Z"
        )
    finally:
        receiver.stop()


def test_a_worker_killed_while_it_sends_leads_to_one_delivered_notice(cluster, owner, sim_pool):
    receiver = Receiver().start()
    try:
        owner.email = ""
        owner.save()
        endpoint = webhook_endpoint_create(user=owner, url=receiver.url)
        receiver.secret = endpoint.secret
        receiver.delay = 30  # the first request hangs: the worker is in the middle of it
        lease = make_offer(owner, sim_pool, start=timezone.now() + timedelta(hours=1), seconds=60)
        lease_accept(lease_id=lease.id, user=owner)
        wait_until(lambda: receiver.requests, 20, "the first request", cluster.logs)
        cluster.kill_worker(cluster.workers[-1])
        receiver.delay = 0
        killed_at = time.monotonic()
        cluster.start_worker(queues=QUEUES)
        delivery = wait_until(
            lambda: Delivery.objects.filter(notice__user=owner, state=DeliveryState.SENT).first(),
            90,
            "the delivery sent after the restart",
            cluster.logs,
        )
        ids = receiver.ids()
        notice = Notice.objects.get(user=owner)
        assert ids == [str(notice.id)] * len(ids) and len(ids) >= 2  # sent again, same id
        assert [p["type"] for p in receiver.acted()] == ["lease.accepted"]  # acted on once
        assert delivery.attempts == 1  # the killed attempt never finished
        # Taken over when the claim lapses (NOTICE_CLAIM_SECONDS = 3), not after the broker's
        # visibility timeout (an hour): worker start-up and a sweep on top.
        assert time.monotonic() - killed_at < 30
    finally:
        receiver.stop()
        cluster.stop_workers()
        cluster.start_worker(queues=QUEUES)
