import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from adapters import ADAPTER_NAMES
from bookings.choices import Phase
from bookings.domain.errors import DomainError
from bookings.domain.isotime import iso
from bookings.domain.leases import lease_accepted_fields
from bookings.domain.lifecycle import PREPARE, RELEASE, RESERVE, leases_tick
from bookings.models import Allocation, Lease, LeaseEvent
from resources.domain.capacity_file import capacity_file_dump, capacity_file_load
from resources.models import CapacityChange, Dataset, Pool, Site, Template

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def good_file() -> dict:
    return {
        "sites": [
            {"slug": "edi", "name": "Edinburgh", "timezone": "Europe/London", "description": ""}
        ],
        "pools": [
            {
                "slug": "edi-scratch",
                "site": "edi",
                "kind": "storage",
                "capacity": {"size_gib": 51200},
                "adapter": "simulated",
                "adapter_settings": {},
                "enabled": True,
                "description": "",
            },
            {
                "slug": "edi-workers-1",
                "site": "edi",
                "kind": "compute",
                "capacity": {"cores": 52, "memory_gib": 86, "gpus": 0},
                "adapter": "simulated",
                "adapter_settings": {"prepare_seconds": 1},
                "enabled": True,
                "description": "",
            },
        ],
        "capacity_changes": [
            {
                "pool": "edi-workers-1",
                "start": "2026-12-01T08:00:00Z",
                "end": "2026-12-01T20:00:00Z",
                "capacity": {"cores": 0, "memory_gib": 0},
                "reason": "maintenance",
            },
        ],
        "datasets": [
            {
                "slug": "gaia-dr3",
                "name": "",
                "size_gib": 3700,
                "replicas": [{"site": "edi", "staging_gib_per_hour": 500.0}],
            }
        ],
        "templates": [
            {
                "slug": "gaia-spark-large",
                "name": "Gaia DMP Spark — large",
                "description": "",
                "request": {"components": [], "duration": "PT9H"},
            }
        ],
        "leases": [
            {
                "id": "0b7c9a3e-5d1f-4e8e-9f65-0f4a2c7d1e01",
                "owner": "astro",
                "phase": "ACCEPTED",
                "name": "",
                "start": "2026-12-01T00:00:00Z",
                "end": "2026-12-01T02:00:00Z",
                "preparation_start": "2026-12-01T00:00:00Z",
                "allocations": [
                    {
                        "pool": "edi-workers-1",
                        "amounts": {"cores": 26},
                        "start": "2026-12-01T00:00:00Z",
                        "end": "2026-12-01T02:00:00Z",
                        "component": "",
                        "replica": 0,
                    }
                ],
            },
        ],
    }


def test_a_file_round_trips_through_load_and_dump():
    counts = capacity_file_load(data=good_file())
    assert counts == {
        "sites": 1,
        "pools": 2,
        "capacity_changes": 1,
        "datasets": 1,
        "templates": 1,
        "leases": 1,
    }
    assert capacity_file_dump() == good_file()


def test_loading_twice_changes_nothing():
    capacity_file_load(data=good_file())
    capacity_file_load(data=good_file())
    assert capacity_file_dump() == good_file()
    assert (Pool.objects.count(), CapacityChange.objects.count(), Lease.objects.count()) == (
        2,
        1,
        1,
    )


def test_loaded_lease_gets_its_allocation_site_and_an_event():
    capacity_file_load(data=good_file())
    lease = Lease.objects.get()
    assert lease.site.slug == "edi"
    assert lease.owner.username == "astro"
    assert Allocation.objects.get().amounts(nonzero=True) == {"cores": 26}
    assert list(LeaseEvent.objects.values_list("to_phase", "actor_kind")) == [
        ("ACCEPTED", "operator")
    ]


def test_allocation_interval_defaults_to_the_lease():
    data = good_file()
    del data["leases"][0]["allocations"][0]["start"]
    del data["leases"][0]["allocations"][0]["end"]
    del data["leases"][0]["id"]
    capacity_file_load(data=data)
    allocation = Allocation.objects.get()
    assert (allocation.start.isoformat(), allocation.end.isoformat()) == (
        "2026-12-01T00:00:00+00:00",
        "2026-12-01T02:00:00+00:00",
    )


def errors_of(data) -> list[str]:
    with pytest.raises(DomainError) as info:
        capacity_file_load(data=data)
    return [str(e) for e in info.value.errors]


def nothing_written() -> bool:
    models = (Site, Pool, CapacityChange, Dataset, Template, Lease, Allocation)
    return all(model.objects.count() == 0 for model in models)


def test_unknown_dimension_names_the_entry_and_writes_nothing():
    data = good_file()
    data["pools"][0]["capacity"] = {"cores": 8}
    assert errors_of(data) == [
        "pools[0].capacity.cores: unknown dimension for a storage pool (known: size_gib)"
    ]
    assert nothing_written()


def test_negative_capacity_is_refused():
    data = good_file()
    data["pools"][1]["capacity"]["cores"] = -4
    assert errors_of(data) == ["pools[1].capacity.cores: -4 is negative; capacities are ≥ 0"]
    assert nothing_written()


def test_end_before_start_is_refused():
    data = good_file()
    data["capacity_changes"][0]["end"] = "2026-12-01T07:00:00Z"
    assert errors_of(data) == ["capacity_changes[0].end: must be after the start"]
    assert nothing_written()


def test_unknown_pool_and_site_are_named():
    data = good_file()
    data["pools"][1]["site"] = "atlantis"
    data["leases"][0]["allocations"][0]["pool"] = "nowhere"
    # edi-workers-1 is in the file, so only its own entry is reported, not every use of it.
    assert errors_of(data) == [
        "pools[1].site: unknown site 'atlantis'",
        "leases[0].allocations[0].pool: unknown pool 'nowhere'",
    ]
    assert nothing_written()


def test_overbooking_leases_roll_back_the_whole_file():
    data = good_file()
    second = json.loads(json.dumps(data["leases"][0]))
    second["id"] = "0b7c9a3e-5d1f-4e8e-9f65-0f4a2c7d1e02"
    second["allocations"][0]["amounts"] = {"cores": 30}
    data["leases"].append(second)
    assert errors_of(data) == [
        "leases (pool edi-workers-1): 56 cores booked at 2026-12-01T00:00:00Z"
        " but the capacity is 52"
    ]
    assert nothing_written()


def test_a_lease_inside_a_maintenance_window_does_not_fit():
    data = good_file()
    lease = data["leases"][0]
    lease["start"] = lease["allocations"][0]["start"] = "2026-12-01T07:00:00Z"
    lease["end"] = lease["allocations"][0]["end"] = "2026-12-01T09:00:00Z"
    lease["preparation_start"] = lease["start"]
    assert errors_of(data) == [
        "leases (pool edi-workers-1): 26 cores booked at 2026-12-01T08:00:00Z but the capacity is 0"
    ]
    assert nothing_written()


def test_command_loads_a_file_and_rejects_a_bad_one(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(good_file()))
    out = StringIO()
    call_command("load_capacity", str(good), stdout=out)
    assert out.getvalue().strip() == (
        f"Loaded 1 sites, 2 pools, 1 capacity changes, 1 datasets, 1 templates, 1 leases"
        f" from {good}."
    )
    bad = tmp_path / "bad.json"
    data = good_file()
    data["sites"][0]["timezone"] = "Mars/Olympus"
    data["pools"][1]["slug"] = "edi-workers-new"
    bad.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"sites\[0\].timezone: 'Mars/Olympus' is not an IANA"):
        call_command("load_capacity", str(bad))
    assert not Pool.objects.filter(slug="edi-workers-new").exists()


def test_command_reports_malformed_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{sites: ")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("load_capacity", str(bad))


def _one_lease_file(phase: str, start: datetime, end: datetime) -> dict:
    data = good_file()
    data["capacity_changes"] = []
    lease = data["leases"][0]
    lease.update(phase=phase, start=iso(start), end=iso(end), preparation_start=iso(start))
    lease["allocations"][0].update(start=iso(start), end=iso(end))
    if phase == Phase.OFFERED:
        lease["expires"] = iso(start)
    return data


# When the life cycle first acts on a lease loaded in each phase, and what it does then; a
# phase missing here (OFFERED and the final ones) is never due.
LOADED_DUE = {
    Phase.ACCEPTED: ("loaded", RESERVE),
    Phase.WAITING: ("start", PREPARE),
    Phase.PREPARING: ("loaded", PREPARE),
    Phase.AVAILABLE: ("end", RELEASE),
    Phase.RUNNING: ("end", RELEASE),
    Phase.RELEASING: ("loaded", RELEASE),
}


@pytest.mark.parametrize("phase", Phase.values)
def test_a_loaded_lease_is_due_when_a_lease_of_its_phase_would_be(phase, settings):
    settings.LEASE_TICK_SECONDS = 2
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    end = start + timedelta(hours=2)
    before = datetime.now(UTC)
    capacity_file_load(data=_one_lease_file(phase, start, end))
    lease = Lease.objects.get()
    times = {"loaded": before, "start": start, "end": end}

    if phase not in LOADED_DUE:
        assert lease.next_action_at is None
        assert leases_tick(now=end + timedelta(days=1)).steps == []
        return
    when, kind = LOADED_DUE[phase]
    # Before its due time (beyond the tick's look-ahead) nothing happens; at it, its step does.
    assert lease.next_action_at >= times[when]
    assert leases_tick(now=times[when] - timedelta(seconds=3)).steps == []
    due = lease.next_action_at
    assert [(s.kind, s.lease_id) for s in leases_tick(now=due).steps] == [(kind, lease.id)]


def test_an_accepted_lease_is_loaded_as_lease_accept_leaves_it():
    before = datetime.now(UTC)
    capacity_file_load(data=good_file())
    lease = Lease.objects.get()
    fields = lease_accepted_fields(now=lease.next_action_at)
    assert {name: getattr(lease, name) for name in fields} == fields
    assert before <= lease.next_action_at <= datetime.now(UTC)
    assert (lease.claimed_until, lease.attempts) == (None, 0)


def test_every_unknown_adapter_name_is_refused_with_its_path_and_the_known_names():
    for name in ["simulatd", "", "Simulated", "kubernetes", " simulated", None, 3]:
        data = good_file()
        data["pools"][1]["adapter"] = name
        with pytest.raises(DomainError) as info:
            capacity_file_load(data=data)
        known = ", ".join(ADAPTER_NAMES)
        assert [(e.path, e.message) for e in info.value.errors] == [
            ("pools[1].adapter", f"{name!r} is not a known adapter (known: {known})")
        ]
        assert (Pool.objects.count(), Lease.objects.count()) == (0, 0)
    for name in ADAPTER_NAMES:
        data = good_file()
        data["pools"][1]["adapter"] = name
        capacity_file_load(data=data)
        assert Pool.objects.get(slug="edi-workers-1").adapter == name


def a_file_wrong_in_every_section() -> dict:
    data = good_file()
    data["sites"].append({"slug": "bad slug", "name": 3, "timezone": "Mars/Olympus", "x": 1})
    data["sites"].append("not an object")
    data["pools"][0].update(kind="tape", capacity={"size_gib": -1}, adapter_settings=[])
    data["pools"].append({"slug": "p", "site": "atlantis"})
    data["capacity_changes"][0].update(pool="nowhere", start="soon", end="later", capacity={})
    data["capacity_changes"].append(
        {
            "pool": "edi-workers-1",
            "start": "2026-12-02T00:00:00Z",
            "end": "2026-12-01T00:00:00Z",
            "capacity": {"gpus": None, "size_gib": 1, "cores": 1.5},
        }
    )
    data["datasets"][0].update(size_gib=-3, replicas={})
    data["datasets"].append(
        {
            "slug": "d2",
            "size_gib": 1,
            "replicas": [
                {"site": "nowhere", "staging_gib_per_hour": 0, "data_pool": "edi-workers-1"},
                {"site": "edi"},
            ],
        }
    )
    data["templates"][0].update(slug="", request=[])
    data["templates"].append({"name": "no slug"})
    lease = data["leases"][0]
    lease.update(phase="OFFERED", id="not-a-uuid", owner="", end=lease["start"])
    lease["allocations"].append({"pool": "edi-scratch", "amounts": {"cores": 1}, "end": "x"})
    data["leases"].append(
        {"owner": "astro", "phase": "DONE", "start": 1, "end": 2, "allocations": []}
    )
    return data


def a_file_wrong_in_its_replicas_and_allocations() -> dict:
    data = good_file()
    data["sites"].append({"slug": "cam", "name": "Cambridge"})
    data["pools"].append(
        {"slug": "cam-data", "site": "cam", "kind": "data", "capacity": {"readers": 2}}
    )
    data["datasets"][0]["replicas"] = [
        {"site": "nowhere", "staging_gib_per_hour": 0, "data_pool": "edi-workers-1"},
        {"site": "edi"},
        {"site": "edi", "staging_gib_per_hour": True, "data_pool": "cam-data"},
        {"site": "cam", "staging_gib_per_hour": 1, "data_pool": "cam-data", "extra": 0},
    ]
    data["leases"][0]["allocations"] = [
        {"pool": "edi-workers-1", "amounts": {"size_gib": 1}, "start": "2026-12-01T03:00:00Z"},
        {"pool": "edi-scratch", "amounts": {"size_gib": 5}, "end": "nope"},
        {"pool": "cam-data", "amounts": {"readers": 1}, "component": "c"},
        {"pool": "ghost", "amounts": {}},
        {"amounts": {"cores": 1}},
    ]
    return data


def test_every_problem_of_a_file_is_listed_in_file_order_and_nothing_is_written():
    # Entries are written only while the file has no error yet: later entries are checked
    # against what the file declares (no unknown-pool cascade), not against the database.
    assert errors_of(a_file_wrong_in_every_section()) == [
        "sites[1].x: is not a known key",
        "sites[1].slug: 'bad slug' is not a slug (letters, digits, '-' and '_')",
        "sites[1].timezone: 'Mars/Olympus' is not an IANA time zone",
        "sites[2]: must be an object",
        "pools[0].kind: 'tape' is not one of compute, storage, data",
        "pools[0].capacity.size_gib: -1 is negative; capacities are ≥ 0",
        "pools[0].adapter_settings: must be an object",
        "pools[2].capacity: is required",
        "pools[2].kind: is required",
        "capacity_changes[0].pool: unknown pool 'nowhere'",
        "capacity_changes[0].start: 'soon' is not an ISO 8601 date-time with a time zone",
        "capacity_changes[0].end: 'later' is not an ISO 8601 date-time with a time zone",
        "capacity_changes[0].capacity: must be a non-empty object of dimension: amount",
        "capacity_changes[1].end: must be after the start",
        "capacity_changes[1].capacity.cores: 1.5 is not a whole number",
        "datasets[0].size_gib: -3 is not a whole number ≥ 0",
        "datasets[0].replicas: must be a list",
        "templates[0].slug: '' is not a slug (letters, digits, '-' and '_')",
        "templates[0].request: must be an object (a request, DESIGN §4)",
        "templates[1].request: is required",
        "templates[1].slug: is required",
        "leases[0].end: must be after the start",
        "leases[0].expires: is required for an OFFERED lease",
        "leases[0].id: 'not-a-uuid' is not a UUID",
        "leases[0].owner: must be a user name",
        "leases[1].phase: 'DONE' is not a lease phase",
        "leases[1].start: 1 is not an ISO 8601 date-time with a time zone",
        "leases[1].end: 2 is not an ISO 8601 date-time with a time zone",
        "leases[1].allocations: must be a non-empty list",
    ]
    assert nothing_written()


def test_problems_in_replicas_and_allocations_are_listed_in_file_order():
    assert errors_of(a_file_wrong_in_its_replicas_and_allocations()) == [
        "datasets[0].replicas[0].site: unknown site 'nowhere'",
        "datasets[0].replicas[0].staging_gib_per_hour: 0 is not a positive number",
        "datasets[0].replicas[0].data_pool: 'edi-workers-1' is no data pool",
        "datasets[0].replicas[1].staging_gib_per_hour: is required",
        "datasets[0].replicas[2].staging_gib_per_hour: True is not a positive number",
        "datasets[0].replicas[2].data_pool: must be at the replica's site",
        "datasets[0].replicas[3].extra: is not a known key",
        "leases[0].allocations[0].amounts.size_gib: unknown dimension for a compute pool"
        " (known: cores, memory_gib, gpus)",
        "leases[0].allocations[0].end: must be after the start",
        "leases[0].allocations[1].end: 'nope' is not an ISO 8601 date-time with a time zone",
        "leases[0].allocations[3].pool: unknown pool 'ghost'",
        "leases[0].allocations[4].pool: is required",
        "leases[0].allocations: all allocations of a lease must be at one site",
    ]
    assert nothing_written()


INSTANT_PATHS = [
    ("capacity_changes", 0, "start"),
    ("capacity_changes", 0, "end"),
    ("leases", 0, "start"),
    ("leases", 0, "end"),
    ("leases", 0, "expires"),
    ("leases", 0, "preparation_start"),
    ("leases", 0, "allocations", 0, "start"),
    ("leases", 0, "allocations", 0, "end"),
]
# Shaped like date-times but no instant: an impossible day, an offset of a day or more, and
# one past the last instant UTC can hold (it could be written but never read back).
NO_INSTANTS = ["2026-02-30T00:00:00Z", "2026-12-01T08:00:00+25:00", "9999-12-31T23:59:59-05:00"]


@pytest.mark.parametrize("value", NO_INSTANTS)
@pytest.mark.parametrize("where", INSTANT_PATHS, ids=lambda w: ".".join(map(str, w)))
def test_every_instant_that_is_no_instant_is_named_and_nothing_is_written(where, value):
    data = good_file()
    *entry_path, key = where
    entry = data
    for step in entry_path:
        entry = entry[step]
    entry[key] = value
    path = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in entry_path)[1:]
    assert errors_of(data) == [
        f"{path}.{key}: {value!r} is not an ISO 8601 date-time with a time zone"
    ]
    assert nothing_written()
