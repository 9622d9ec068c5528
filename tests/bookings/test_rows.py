"""rows.insert_values writes what bulk_create would: every field, read back through the ORM."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange

from bookings.domain.sql.rows import insert_values
from bookings.models import Allocation, Lease, LeaseEvent, OfferSet
from resources.domain.capacity_file import capacity_file_load
from resources.models import Pool, Site
from tests.bookings.loads import one_site

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

START = datetime(2030, 1, 7, 8, 0, 0, 123456, tzinfo=UTC)


def concrete(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_insert_values_writes_every_field_as_the_orm_reads_it(user):
    capacity_file_load(data=one_site(["edi-a"], {"cores": 8, "memory_gib": 8}))
    offer_set = OfferSet(
        name="Gaia DR3: proper motions ✓ Ω",
        owner=user,
        request={"name": "x", "nested": {"list": [1, 2.5, None, "é"]}},
        result="YES",
        messages=[{"kind": "k", "path": "", "message": 'quote " and \\ backslash'}],
        suggestions=[],
        expires=START + timedelta(minutes=5),
    )
    lease = Lease(
        offer_set=offer_set,
        rank=1,
        name="naïve",
        owner=user,
        phase="OFFERED",
        site=Site.objects.get(),
        start=START,
        end=START + timedelta(hours=2),
        preparation_start=START - timedelta(minutes=10),
        expires=START + timedelta(minutes=5),
        executable={"kind": "spark", "args": ["--x", 1]},
        connectors=[{"kind": "ssh", "host": "h"}],
    )
    allocation = Allocation(
        lease=lease,
        pool=Pool.objects.get(),
        component="workers",
        replica=3,
        period=DateTimeTZRange(START, START + timedelta(hours=2), "[)"),
        cores=4,
        memory_gib=2,
    )
    event = LeaseEvent(lease=lease, to_phase="OFFERED", actor_kind="user", actor=user, message="")
    parts, params = [], []
    for name, model, rows in (
        ("s", OfferSet, [offer_set]),
        ("l", Lease, [lease]),
        ("a", Allocation, [allocation]),
        ("e", LeaseEvent, [event]),
    ):
        sql, values = insert_values(model, rows)
        parts.append(f"{name} AS ({sql})")
        params += values
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT 1", params)

    assert concrete(OfferSet.objects.get()) == concrete(offer_set)
    assert concrete(Lease.objects.get()) == concrete(lease)
    stored = Allocation.objects.get()
    assert {**concrete(stored), "id": None} == {**concrete(allocation), "id": None}
    stored = LeaseEvent.objects.get()
    assert {**concrete(stored), "id": None} == {**concrete(event), "id": None}
