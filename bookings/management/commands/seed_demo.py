import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bookings.domain.errors import DomainError
from bookings.models import Lease
from projects.choices import Role
from projects.domain.allocations import allocation_save
from projects.models import Membership, Project, Rate, SUAllocation
from resources.domain.capacity_file import capacity_file_load
from resources.models import Pool

DEMO_USERS = [("admin", "admin", True), ("astro", "astro", False)]
_LEASE_NAMESPACE = uuid.UUID("6f1c1d0e-8d8a-4a53-9d0a-2f4f0d1c9e11")

GAIA_SPARK_LARGE = {
    "name": "DR3 analysis (Spark, large)",
    "components": [
        {
            "name": "head",
            "kind": "compute",
            "replicas": 1,
            "amounts": {"cores": 54, "memory_gib": {"min": 86}},
        },
        {
            "name": "workers",
            "kind": "compute",
            "replicas": 6,
            "amounts": {"cores": {"min": 13, "max": 26}, "memory_gib": 43},
        },
        {"name": "scratch", "kind": "storage", "amounts": {"size_gib": 2000}},
    ],
    "datasets": ["gaia-dr3"],
    "duration": "PT9H",
    "max_offers": 4,
}


def demo_capacity(day: datetime) -> dict:
    """The demo site as a capacity file; lease times are anchored to `day` (midnight UTC)."""

    def at(hours: float) -> str:
        return (day + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")

    def lease(key: str, owner: str, start: float, end: float, allocations: list) -> dict:
        return {
            "id": str(uuid.uuid5(_LEASE_NAMESPACE, f"{day:%Y-%m-%d}/{key}")),
            "owner": owner,
            "phase": "ACCEPTED",
            "name": key,
            "start": at(start),
            "end": at(end),
            "allocations": allocations,
        }

    def alloc(pool: str, component: str, **amounts: int) -> dict:
        return {"pool": pool, "component": component, "amounts": amounts}

    return {
        "sites": [
            {
                "slug": "edi",
                "name": "Edinburgh (Gaia DMP cloud)",
                "timezone": "Europe/London",
                "description": "A Gaia-DMP-like cloud: Zeppelin head node and Spark workers.",
            },
            {
                "slug": "cam",
                "name": "Cambridge GPU cluster",
                "timezone": "Europe/London",
                "description": "GPU nodes for notebooks and machine learning; no Gaia replica.",
            },
        ],
        "pools": [
            {
                "slug": "edi-head",
                "site": "edi",
                "kind": "compute",
                "capacity": {"cores": 54, "memory_gib": 86},
                "adapter": "simulated",
                "description": "High-memory node for the Zeppelin/Spark head.",
            },
            *[
                {
                    "slug": f"edi-workers-{n}",
                    "site": "edi",
                    "kind": "compute",
                    "capacity": {"cores": 52, "memory_gib": 86},
                    "adapter": "simulated",
                    "description": "Room for two 26-core / 43 GiB Spark workers.",
                }
                for n in (1, 2, 3)
            ],
            {
                "slug": "edi-scratch",
                "site": "edi",
                "kind": "storage",
                "capacity": {"size_gib": 51200},
                "adapter": "simulated",
            },
            {
                "slug": "edi-gaia-readers",
                "site": "edi",
                "kind": "data",
                "capacity": {"readers": 4},
                "adapter": "simulated",
                "description": "Concurrent readers of the local gaia-dr3 replica.",
            },
            {
                "slug": "cam-gpu",
                "site": "cam",
                "kind": "compute",
                "capacity": {"cores": 64, "memory_gib": 512, "gpus": 8},
                "adapter": "simulated",
            },
            {
                "slug": "cam-scratch",
                "site": "cam",
                "kind": "storage",
                "capacity": {"size_gib": 20480},
                "adapter": "simulated",
            },
        ],
        "capacity_changes": [
            {
                "pool": "edi-workers-3",
                "start": at(24 + 8),
                "end": at(24 + 14),
                "capacity": {"cores": 0, "memory_gib": 0},
                "reason": "maintenance: firmware",
            },
        ],
        "datasets": [
            {
                "slug": "gaia-dr3",
                "name": "Gaia Data Release 3",
                "size_gib": 3700,
                "replicas": [
                    {"site": "edi", "staging_gib_per_hour": 500, "data_pool": "edi-gaia-readers"}
                ],
            },
        ],
        "templates": [
            {
                "slug": "gaia-spark-large",
                "name": "Gaia DMP Spark — large",
                "description": "Zeppelin head + six 26-core Spark workers over Gaia DR3, 9 hours.",
                "request": GAIA_SPARK_LARGE,
            },
            {
                "slug": "gpu-notebook",
                "name": "GPU notebook session",
                "description": "One GPU, 8 cores, 64 GiB for an interactive notebook.",
                "request": {
                    "name": "GPU notebook",
                    "duration": "PT4H",
                    "components": [
                        {
                            "name": "notebook",
                            "kind": "compute",
                            "amounts": {"cores": 8, "memory_gib": 64, "gpus": 1},
                        }
                    ],
                },
            },
            {
                "slug": "gaia-staging",
                "name": "Stage Gaia DR3 to scratch",
                "description": "Copy DR3 to scratch storage for a later run.",
                "request": {
                    "name": "DR3 staging",
                    "duration": "PT8H",
                    "datasets": ["gaia-dr3"],
                    "components": [
                        {"name": "scratch", "kind": "storage", "amounts": {"size_gib": 4000}}
                    ],
                },
            },
        ],
        "leases": [
            lease(
                "survey-crossmatch",
                "astro",
                6,
                15,
                [
                    alloc("edi-workers-1", "workers", cores=26, memory_gib=43),
                    alloc("edi-workers-2", "workers", cores=26, memory_gib=43),
                ],
            ),
            lease(
                "variable-stars",
                "astro",
                20,
                30,
                [
                    alloc("edi-head", "head", cores=54, memory_gib=86),
                    alloc("edi-workers-1", "workers", cores=52, memory_gib=86),
                ],
            ),
            lease(
                "nightly-ml",
                "astro",
                22,
                26,
                [alloc("cam-gpu", "trainer", cores=32, memory_gib=256, gpus=4)],
            ),
        ],
    }


# SU per unit-hour: cores everywhere, GPUs dear (and dearer in Cambridge's working day).
DEMO_RATES = {
    "edi-head": {"cores": "1", "memory_gib": "0.02"},
    "edi-workers-1": {"cores": "1", "memory_gib": "0.02"},
    "edi-workers-2": {"cores": "1", "memory_gib": "0.02"},
    "edi-workers-3": {"cores": "1", "memory_gib": "0.02"},
    "edi-scratch": {"size_gib": "0.0005"},
    "cam-gpu": {"cores": "1", "memory_gib": "0.02", "gpus": "20", "peak_factor": "1.5"},
}


def demo_fair_share(day: datetime) -> None:
    """Project gaia-dmp (astro its PI, 25,000 SU for a year) and the demo pools' rates;
    an allocation or rate already there is left as it is."""
    astro = get_user_model().objects.get(username="astro")
    project, _ = Project.objects.get_or_create(
        slug="gaia-dmp",
        defaults={"name": "Gaia DMP", "description": "Gaia DR3 analyses on the Edinburgh cloud."},
    )
    Membership.objects.get_or_create(
        project=project, user=astro, defaults={"role": Role.PI, "default": True}
    )
    if not project.allocations.exists():
        allocation_save(
            SUAllocation(
                project=project,
                su=Decimal(25_000),
                valid_from=day - timedelta(days=30),
                valid_to=day + timedelta(days=335),
                note="demo allocation",
            )
        )
    for slug, values in DEMO_RATES.items():
        pool = Pool.objects.filter(slug=slug).first()
        if pool is None or Rate.objects.filter(pool=pool).exists():
            continue
        peak = {"peak_start": time(9), "peak_end": time(17)} if "peak_factor" in values else {}
        Rate.objects.create(pool=pool, **values, **peak)


class Command(BaseCommand):
    help = "Create (or update) the demo site, pools, dataset, templates, users and leases."

    def handle(self, *args, **options):
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        data = demo_capacity(day)
        with transaction.atomic():
            user_model = get_user_model()
            for username, password, staff in DEMO_USERS:
                user, created = user_model.objects.get_or_create(
                    username=username,
                    defaults={
                        "is_staff": staff,
                        "is_superuser": staff,
                        # Where the notices go: the embedded mail sink of `make run` takes all.
                        "email": f"{username}@example.org",
                    },
                )
                if created:
                    user.set_password(password)
                    user.save()
            # Leases already seeded stay as they are (they may have moved on since).
            existing = {str(i) for i in Lease.objects.values_list("id", flat=True)}
            data["leases"] = [lease for lease in data["leases"] if lease["id"] not in existing]
            try:
                capacity_file_load(data=data)
            except DomainError as exc:
                raise CommandError(f"seed_demo: {exc}") from exc
            demo_fair_share(day)
        self.stdout.write(self.style.SUCCESS("Demo data ready: sites edi and cam."))
        self.stdout.write("Demo logins: admin / admin (operator), astro / astro (astronomer)")
