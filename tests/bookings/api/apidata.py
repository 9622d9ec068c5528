"""Data shared by the API tests (a module, not conftest, so tests can import it)."""

# Far enough ahead that no window is ever in the past, fixed so bodies can be compared exactly.
DAY = "2030-01-07"
WINDOW = f"{DAY}T08:00:00Z/{DAY}T12:00:00Z"
CAPACITY = {
    "sites": [{"slug": "edi", "name": "Edinburgh", "timezone": "Europe/London"}],
    "pools": [
        {
            "slug": "edi-workers-1",
            "site": "edi",
            "kind": "compute",
            "capacity": {"cores": 52, "memory_gib": 86},
            "adapter": "simulated",
        },
        {
            "slug": "edi-scratch",
            "site": "edi",
            "kind": "storage",
            "capacity": {"size_gib": 1000},
            "adapter": "simulated",
        },
    ],
    "capacity_changes": [
        {
            "pool": "edi-workers-1",
            "start": f"{DAY}T20:00:00Z",
            "end": f"{DAY}T22:00:00Z",
            "capacity": {"cores": 0, "memory_gib": 0},
            "reason": "maintenance",
        }
    ],
}


def worker_request(**changes) -> dict:
    """Half of edi-workers-1 for two hours, some time in WINDOW."""
    return {
        "name": "crossmatch",
        "components": [{"name": "workers", "amounts": {"cores": 26, "memory_gib": 43}}],
        "duration": "PT2H",
        "start": WINDOW,
        "max_offers": 2,
        **changes,
    }


def problem(status: int, code: str, title: str, detail: str = "", errors=(), **extra) -> dict:
    """The problem+json body the API answers with."""
    return {
        "type": f"urn:whencanidothis:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "errors": [{"path": p, "message": m} for p, m in errors],
        **extra,
    }


def allocation(start: str, end: str, *, cores=26, memory_gib=43, pool="edi-workers-1") -> dict:
    return {
        "component": "workers",
        "replica": 0,
        "pool": pool,
        "amounts": {"cores": cores, "memory_gib": memory_gib},
        "start": start,
        "end": end,
    }


def lease_json(
    lease_id, *, phase, start, end, expires=None, allocations=None, cost="0.00", charged="0.00"
) -> dict:
    """A lease as lists and offer sets show it (times as HH:MM on DAY)."""
    start, end = f"{DAY}T{start}:00Z", f"{DAY}T{end}:00Z"
    return {
        "id": str(lease_id),
        "phase": phase,
        "site": "edi",
        "start": start,
        "end": end,
        "preparation_start": start,
        "expires": expires,
        "allocations": allocations if allocations is not None else [allocation(start, end)],
        "connectors": [],
        "cost": {"su": cost, "charged_su": charged},  # no pool of these tests has a rate
        "url": f"/api/v1/leases/{lease_id}/",
    }
