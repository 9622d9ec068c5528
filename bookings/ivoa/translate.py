"""IVOA ExecutionBroker documents ⇄ our booking model (DESIGN §4, §7). Pure functions.

Requests: an offer-set request (the newest Calycopis `kind` + `meta` form; the older `type`,
top-level `name`, `computer` and `resources: {compute: [..], storage, data}` spellings are
accepted too) becomes our request dict (`bookings.domain.requests`):

- `compute` (one simple compute resource) → component "compute": `cores` → cores,
  `memory` (GiB) → memory_gib; a number or {min, max}; only `max` → min 1; missing → 2 / 2 GiB,
  the size the Calycopis prototype grants by default. No compute block → that default.
- each `storage` resource with a `size` (GiB) → a storage component "storage-<i>"; without a
  size, the sum of the known sizes of the data it holds, else no capacity is held for it.
- each `data` resource named like one of our datasets (`meta.name` = dataset slug) → that
  dataset (the engine finds a replica or stages a copy). Other data resources are passed to
  the adapters; one outside every named storage gets its own "Storage for [name]", sized
  from `skao.datasize` (bytes) when given.
- `schedule.requested.start` (an ISO 8601 interval a/b, a/duration, duration/b, an instant, or
  a one-element list of these) → our start window; `duration` → duration (default PT4H, the
  prototype's session length).
- the IVOA description itself (executable, names, volumes, data) is kept in our request's
  `executable` under "ivoa", so sessions render it back and adapters see what to run.

Every problem is reported with its path in the IVOA document (`compute.cores.min`).
Rendering: an offer set and its leases → an execution offer set; a lease → a scheduled
execution session, whichever interface booked it.
"""

import re
import uuid
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bookings.choices import FINAL_PHASES, Phase, can_transition
from bookings.domain import policy
from bookings.domain.errors import DomainError, FieldError, FieldErrors
from bookings.domain.isotime import parse_duration, parse_instant

EB = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types"
OFFERSET_KIND = f"{EB}/offerset/execution-offerset-1.0"
SESSION_KIND = f"{EB}/session/scheduled-execution-session-1.0"
ENUM_UPDATE = "uri:enum-value-update"
ENUM_OPTION = "uri:enum-value-option"
UPDATABLE_PHASES = (Phase.ACCEPTED, Phase.REJECTED, Phase.CANCELLED)

DEFAULT_CORES = 2
DEFAULT_MEMORY_GIB = 2
DEFAULT_DURATION = "PT4H"
DEFAULT_COMPUTE = "Default compute resource"  # the prototype's name for it
NO_NAME = "no-name"  # the prototype's name for an unnamed offer set
GIB = 1024**3
MAX_PARTS = policy.MAX_COMPONENTS  # per list (storage, data, volumes)

# The type names each slot accepts, spelled as we write them back.
KINDS = {
    "executable": ("docker-container", "jupyter-notebook", "singularity-container"),
    "compute": ("simple-compute-resource",),
    "storage": ("simple-storage-resource",),
    "data": (
        "simple-data-resource",
        "S3-data-resource",
        "rucio-data-resource",
        "ivoa-data-resource",
        "skao-data-resource",
    ),
    "volume": ("simple-volume-mount",),
}
_FAMILIES = {
    "executable": {"executable", "executables"},
    "compute": {"compute", "computer"},
    "storage": {"storage"},
    "data": {"data"},
    "volume": {"volume"},
}
# The type URIs of the drafts: EB/schema[/v1.0]/types[/resources]/<family>/<name>-1.0
# (standard, older and newest Calycopis) and Calycopis-openapi/.../kinds/<family>/<name>.yaml.
_KIND_URI = re.compile(
    r"^https?://www\.purl\.org/ivoa\.net/(?:"
    r"EB/schema/(?:v1\.0/)?types/(?:resources/)?(?P<f1>[a-z]+)/(?P<n1>[A-Za-z0-9-]+)-1\.0"
    r"|Calycopis-openapi/schema/v1\.0/kinds/(?P<f2>[a-z]+)/(?P<n2>[A-Za-z0-9-]+)\.yaml"
    r")$"
)
_COMMON_KEYS = {"kind", "type", "meta", "name", "description"}
_SPEC_KEYS = {
    "docker-container": {"image", "privileged", "command", "entrypoint", "environment", "network"},
    "jupyter-notebook": {"location"},
    "singularity-container": {"location"},
    "simple-data-resource": {"location"},
    "S3-data-resource": {"endpoint", "template", "bucket", "object"},
    "rucio-data-resource": {"rucio"},
    "ivoa-data-resource": {"ivoa"},
    "skao-data-resource": {"ivoa", "skao"},
    "simple-volume-mount": {"path", "mode", "cardinality", "resource", "resources"},
}
_REQUEST_KEYS = {
    "meta",
    "name",
    "description",
    "executable",
    "compute",
    "computer",
    "storage",
    "data",
    "volumes",
    "schedule",
    "resources",
    "costs",
    "metrics",
}
# Our reason kinds (engine and offer set) → the message kinds of the standard.
MESSAGE_KINDS = {
    "insufficient-capacity": "urn:resource-limit",
    "busy": "urn:resource-limit",
    "packing": "urn:resource-limit",
    "taken": "urn:resource-limit",
    "no-eligible-pool": "urn:functionality-not-supported",
    "no-site": "urn:invalid-value",
    "dataset": "urn:invalid-value",
    "window": "urn:invalid-value",
}
SUGGESTION_KIND = "urn:suggestion"
_DIMENSION_NAMES = {"cores": "cores", "memory_gib": "memory", "size_gib": "size"}
_LIFECYCLE = {
    Phase.OFFERED: "INITIALIZING",
    Phase.ACCEPTED: "WAITING",
    Phase.REJECTED: "CANCELLED",
    Phase.EXPIRED: "CANCELLED",
}


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _shown(value: Any, limit: int = 120) -> str:
    """`repr(value)` cut short for a message: never the whole of a huge input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def kind_name(value: Any, slot: str) -> str | None:
    """The canonical type name of a kind URI for `slot`, or None if we do not know it."""
    match = _KIND_URI.match(value) if isinstance(value, str) else None
    if not match:
        return None
    family = match["f1"] or match["f2"]
    name = (match["n1"] or match["n2"]).lower()
    if family not in _FAMILIES[slot]:
        return None
    return next((k for k in KINDS[slot] if k.lower() == name), None)


def kind_uri(slot: str, name: str) -> str:
    return f"{EB}/{slot}/{name}-1.0"


def _component(value: Any, path: str, slot: str, problems: FieldErrors) -> dict | None:
    """The common part of a component: its kind and its name; spec keys checked per kind."""
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return None
    if "kind" in value and "type" in value and value["kind"] != value["type"]:
        problems.add(_join(path, "type"), "disagrees with kind; give one of them")
    raw_kind = value.get("kind", value.get("type"))
    name = kind_name(raw_kind, slot)
    if raw_kind is None:
        problems.add(_join(path, "kind"), "is required")
    elif name is None:
        known = ", ".join(kind_uri(slot, k) for k in KINDS[slot])
        message = f"{_shown(raw_kind)} is not a known {slot} kind ({known})"
        problems.add(_join(path, "kind"), message)
    meta = value.get("meta", {})
    if not isinstance(meta, dict):
        problems.add(_join(path, "meta"), "must be an object")
        meta = {}
    for key in sorted(set(meta) - {"name", "description"}):
        problems.add(_join(path, f"meta.{key}"), "is assigned by the server, not the client")
    label = meta.get("name", value.get("name"))
    longest = policy.MAX_NAME_LENGTH
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= longest):
        problems.add(_join(path, "meta.name"), f"must be a string of 1 to {longest} characters")
        label = None
    spec_keys = _SPEC_KEYS.get(name, set()) if name else set(value) - _COMMON_KEYS
    extra = {"compute": {"cores", "memory", "volumes"}, "storage": {"size", "data", "resources"}}
    allowed = _COMMON_KEYS | spec_keys | extra.get(slot, set())
    if slot == "data":
        allowed |= {"storage"}
    for key in sorted(set(value) - allowed):
        message = "is assigned by the server" if key == "access" else "is not a known field"
        problems.add(_join(path, key), message)
    if name is None:
        return None
    out = {"kind": name, "name": label, "spec": {k: value[k] for k in spec_keys if k in value}}
    description = meta.get("description", value.get("description"))
    if isinstance(description, str):
        out["description"] = description
    return out


def _text(spec: dict, key: str, path: str, problems: FieldErrors) -> None:
    if not isinstance(spec.get(key), str) or not spec[key].strip():
        problems.add(_join(path, key), "is required (a non-empty string)")


def _executable(value: Any, problems: FieldErrors) -> dict | None:
    out = _component(value, "executable", "executable", problems)
    if out is None:
        return None
    spec = out["spec"]
    if out["kind"] in ("jupyter-notebook", "singularity-container"):
        _text(spec, "location", "executable", problems)
    else:
        locations = (
            spec.get("image", {}).get("locations") if isinstance(spec.get("image"), dict) else None
        )
        if (
            not isinstance(locations, list)
            or not locations
            or not all(isinstance(x, str) and x for x in locations)
        ):
            problems.add("executable.image.locations", "is required (a list of image locations)")
    return out


def _min_max(
    value: Any, path: str, problems: FieldErrors, *, default: int | None, units: bool
) -> dict | None:
    """A number or {min, max}; only max → min 1; only min → max = min; None → default."""
    if value is None:
        return None if default is None else {"min": default, "max": default}
    if _whole(value):
        low = high = value
    elif isinstance(value, dict):
        allowed = {"min", "max", "units"} if units else {"min", "max"}
        for key in sorted(set(value) - allowed):
            problems.add(_join(path, key), "is not a known field (min, max)")
        if units and value.get("units", "GiB") != "GiB":
            problems.add(_join(path, "units"), "only GiB is supported")
        if "min" not in value and "max" not in value:
            problems.add(path, "give min, max or both")
            return None
        low, high = value.get("min"), value.get("max")
        low = 1 if low is None and _whole(high) else low
        high = low if high is None else high
        if not _whole(low) or not _whole(high):
            problems.add(path, "min and max must be whole numbers")
            return None
    else:
        problems.add(path, "must be a whole number or {min, max}")
        return None
    if low < 0:
        problems.add(_join(path, "min"), f"{low} is negative")
        return None
    if high < low:
        problems.add(_join(path, "max"), f"{high} is less than min {low}")
        return None
    return {"min": low, "max": high}


def _names(value: Any, path: str, problems: FieldErrors) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(path, "must be a list of names")
        return []
    return list(value)


def _list(value: Any, path: str, problems: FieldErrors) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(path, "must be a list")
        return []
    if len(value) > MAX_PARTS:
        problems.add(path, f"at most {MAX_PARTS} entries")
        return []
    return value


def _instant_or_date(text: str) -> datetime | None:
    instant = parse_instant(text)
    if instant is not None:
        return instant
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)  # a bare date: midnight UTC


def _interval(value: Any, path: str, problems: FieldErrors) -> str | None:
    """An ISO 8601 interval (a/b, a/P.., P../b), an instant or a date → "a/b" in UTC."""
    if isinstance(value, list):
        if len(value) != 1:
            problems.add(path, "give one start interval (several are not supported)")
            return None
        value, path = value[0], _join(path, 0)
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "must be an ISO 8601 interval such as 2026-12-01T08:00Z/PT6H")
        return None
    parts = [p.strip() for p in value.split("/")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        problems.add(path, f"{_shown(value)} is not an ISO 8601 interval")
        return None
    first, second = parts
    try:
        if first.upper().startswith("P") and not second.upper().startswith("P"):
            end, length = _instant_or_date(second), parse_duration(first)
            start = end - length if end is not None and length is not None else None
        elif second.upper().startswith("P"):
            start, length = _instant_or_date(first), parse_duration(second)
            end = start + length if start is not None and length is not None else None
        else:
            start, end = _instant_or_date(first), _instant_or_date(second)
    except OverflowError:
        problems.add(path, f"{_shown(value)} reaches past the years 1 to 9999")
        return None
    if start is None or end is None:
        problems.add(
            path,
            f"{_shown(value)} is not an ISO 8601 interval of date-times with a time zone "
            "and durations without years or months",
        )
        return None
    return f"{iso(start)}/{iso(end)}"


def _duration(value: Any, path: str, problems: FieldErrors) -> Any:
    if value is None:
        return DEFAULT_DURATION
    if isinstance(value, str) or (
        isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    ):
        return value  # request_normalise parses it and reports errors on this path
    problems.add(path, "must be an ISO 8601 duration such as PT2H, or {min, max} of them")
    return None


def _unwrap_resources(data: dict, problems: FieldErrors) -> dict:
    """The standard draft's `resources: {compute: [one], storage: [..], data: [..]}`."""
    resources = data.get("resources")
    if resources is None:
        return data
    flat = {k: v for k, v in data.items() if k != "resources"}
    if not isinstance(resources, dict):
        problems.add("resources", "must be an object of compute, storage and data lists")
        return flat
    for key in sorted(set(resources) - {"compute", "storage", "data"}):
        problems.add(f"resources.{key}", "is not a known field")
    compute = resources.get("compute")
    if isinstance(compute, list):
        if len(compute) > 1:
            problems.add("resources.compute", "one compute resource per session")
        compute = compute[0] if compute else None
    for key, value in (("compute", compute), ("storage", resources.get("storage"))):
        if value is not None:
            flat[key] = value
    if resources.get("data") is not None:
        flat["data"] = resources["data"]
    return flat


def _compute(raw: Any, path: str, problems: FieldErrors) -> tuple[dict, dict]:
    """The one compute resource (the prototype's default when absent) and its amounts."""
    compute = {"kind": "simple-compute-resource", "name": DEFAULT_COMPUTE, "spec": {}}
    amounts = {
        "cores": {"min": DEFAULT_CORES, "max": DEFAULT_CORES},
        "memory_gib": {"min": DEFAULT_MEMORY_GIB, "max": DEFAULT_MEMORY_GIB},
    }
    parsed = _component(raw, path, "compute", problems) if raw is not None else None
    if parsed is None:
        return {**compute, "volumes": []}, amounts
    cores = _min_max(
        raw.get("cores"), f"{path}.cores", problems, default=DEFAULT_CORES, units=False
    )
    memory = _min_max(
        raw.get("memory"), f"{path}.memory", problems, default=DEFAULT_MEMORY_GIB, units=True
    )
    if cores and memory and cores["max"] == 0 and memory["max"] == 0:
        problems.add(path, "asks for nothing (no cores and no memory)")
    volumes = _names(raw.get("volumes"), f"{path}.volumes", problems)
    zero = {"min": 0, "max": 0}
    return {**parsed, "volumes": volumes}, {"cores": cores or zero, "memory_gib": memory or zero}


def _data_parts(data: dict, datasets: Collection[str], problems: FieldErrors) -> list[dict]:
    items = []
    for i, raw in enumerate(_list(data.get("data"), "data", problems)):
        item = _component(raw, f"data[{i}]", "data", problems)
        if item is None:
            continue
        if item["kind"] == "simple-data-resource":
            _text(item["spec"], "location", f"data[{i}]", problems)
        skao = item["spec"].get("skao")
        size = skao.get("datasize") if isinstance(skao, dict) else None
        if size is not None and (not _whole(size) or size < 0):
            problems.add(f"data[{i}].skao.datasize", "must be a whole number of bytes")
            size = None
        storage = raw.get("storage")
        if storage is not None and not isinstance(storage, str):
            problems.add(f"data[{i}].storage", "must be the name of a storage resource")
            storage = None
        item.update(
            path=f"data[{i}]",
            size_gib=-(-size // GIB) if size else None,  # exact: a float overflows
            storage=storage,
            dataset=item["name"] if item["name"] in datasets else None,
        )
        item["name"] = item["name"] or f"data-{i}"
        items.append(item)
    return items


def _storage_parts(data: dict, problems: FieldErrors) -> list[dict]:
    items = []
    for i, raw in enumerate(_list(data.get("storage"), "storage", problems)):
        item = _component(raw, f"storage[{i}]", "storage", problems)
        if item is None:
            continue
        if "data" in raw and "resources" in raw:
            problems.add(f"storage[{i}].resources", "give data or resources, not both")
        held = _names(raw.get("data", raw.get("resources")), f"storage[{i}].data", problems)
        size = _min_max(raw.get("size"), f"storage[{i}].size", problems, default=None, units=True)
        item.update(path=f"storage[{i}]", data=held, size=size)
        item["name"] = item["name"] or f"storage-{i}"
        items.append(item)
    return items


def _storage_components(storage_items, data_items, components, paths) -> None:
    """Storage components for the storage that has a size (given, or the sum of its data's),
    and a "Storage for [name]" for each data resource outside every named storage."""

    def hold(item: dict, size: dict | None, path: str) -> None:
        item["component"] = None
        if size is not None and size["max"] > 0:
            item["component"] = f"storage-{len(paths) - 1}"
            amounts = {"size_gib": size}
            components.append({"name": item["component"], "kind": "storage", "amounts": amounts})
            paths[item["component"]] = path

    sizes = {d["name"]: d["size_gib"] for d in data_items}
    for item in storage_items:
        size = item["size"]
        known = [sizes[n] for n in item["data"] if n in sizes]
        if size is None and known and None not in known:
            size = {"min": sum(known), "max": sum(known)}
        hold(item, size, item["path"])
    for item in data_items:
        holder = next((s["name"] for s in storage_items if item["name"] in s["data"]), None)
        item["storage"] = item["storage"] or holder
        if item["storage"] is not None or item["dataset"]:
            continue
        item["storage"] = f"Storage for [{item['name']}]"
        own = {"kind": "simple-storage-resource", "name": item["storage"], "spec": {}}
        own["data"] = [item["name"]]
        size = item["size_gib"]
        hold(own, {"min": size, "max": size} if size else None, item["path"])
        storage_items.append(own)


def _requested(schedule: Any, problems: FieldErrors) -> tuple[str | None, Any]:
    """schedule.requested → (our start window "a/b" or None, our duration)."""
    schedule = schedule or {}
    requested = schedule.get("requested") if isinstance(schedule, dict) else None
    if not isinstance(schedule, dict) or not isinstance(requested or {}, dict):
        problems.add("schedule", "must be {requested: {start, duration}}")
        requested = {}
    requested = requested or {}
    for key in sorted(set(requested) - {"start", "duration"}):
        problems.add(f"schedule.requested.{key}", "is not a known field")
    start = None
    if requested.get("start") is not None:
        start = _interval(requested["start"], "schedule.requested.start", problems)
    duration = _duration(requested.get("duration"), "schedule.requested.duration", problems)
    return start, duration


def offerset_request_parse(
    data: Any, *, datasets: Collection[str], max_offers: int = 4
) -> tuple[dict, dict]:
    """An IVOA offer-set request → (our request dict, its path map for error messages).

    `datasets` are the slugs of our datasets; a data resource named like one books it.
    Raises DomainError (400) listing every problem by its IVOA path."""
    problems = FieldErrors()
    if not isinstance(data, dict):
        raise DomainError(
            "The offer-set request must be an object.", errors=[FieldError("", "not an object")]
        )
    for key in sorted(set(data) - _REQUEST_KEYS):
        problems.add(key, "is not a known field")
    for key in ("costs", "metrics"):
        if data.get(key):
            problems.add(key, "is not supported by this broker")
    data = _unwrap_resources(data, problems)
    if "compute" in data and "computer" in data:
        problems.add("computer", "give compute or computer (its older spelling), not both")
    compute_key = "computer" if "computer" in data else "compute"
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    name = meta.get("name", data.get("name")) or ""
    if not isinstance(name, str) or len(name) > 200:
        problems.add("name", "must be a string of at most 200 characters")
        name = ""

    executable = None
    if data.get("executable") is not None:
        executable = _executable(data["executable"], problems)
    compute, amounts = _compute(data.get(compute_key), compute_key, problems)
    data_items = _data_parts(data, datasets, problems)
    storage_items = _storage_parts(data, problems)
    volume_items = []
    for i, raw in enumerate(_list(data.get("volumes"), "volumes", problems)):
        item = _component(raw, f"volumes[{i}]", "volume", problems)
        if item is not None:
            item.update(path=f"volumes[{i}]", name=item["name"] or f"volume-{i}")
            volume_items.append(item)
    _check_names(executable, data_items, storage_items, volume_items, problems)
    declared = {
        key: {
            _label(raw, f"{slot}-{i}")
            for i, raw in enumerate(_list(data.get(key), key, FieldErrors()))
        }
        for key, slot in (("data", "data"), ("storage", "storage"), ("volumes", "volume"))
    }
    items = (data_items, storage_items, volume_items)
    _check_references(compute_key, compute["volumes"], items, declared, problems)
    components = [{"name": "compute", "kind": "compute", "amounts": amounts}]
    paths = {"compute": compute_key}
    _storage_components(storage_items, data_items, components, paths)
    start, duration = _requested(data.get("schedule"), problems)

    problems.raise_if_any("The offer-set request is not valid.")
    request = {
        "name": name,
        "components": components,
        "datasets": sorted({d["dataset"] for d in data_items if d["dataset"]}),
        "duration": duration,
        "max_offers": max_offers,
        "executable": {
            "ivoa": {
                "executable": _stored(executable),
                "compute": {**_stored(compute), "volumes": compute["volumes"]},
                "storage": [
                    {**_stored(s), "data": s["data"], "component": s["component"]}
                    for s in storage_items
                ],
                "data": [
                    {**_stored(d), "storage": d["storage"], "dataset": d["dataset"]}
                    for d in data_items
                ],
                "volumes": [_stored(v) for v in volume_items],
                "paths": paths,
            }
        },
    }
    if start is not None:
        request["start"] = start
    return request, paths


def _label(raw: Any, default: str) -> Any:
    """The name a part is referred to by, read even from a part with other problems (so that
    one mistake is not reported again at every reference to it)."""
    if not isinstance(raw, dict):
        return default
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    return meta.get("name", raw.get("name")) or default


def _stored(item: dict | None) -> dict | None:
    if item is None:
        return None
    keep = ("kind", "name", "description", "spec")
    return {k: item[k] for k in keep if k in item}


def _check_names(executable, data_items, storage_items, volume_items, problems) -> None:
    seen: dict[str, str] = {}
    for item in [executable, *data_items, *storage_items, *volume_items]:
        if item is None or not item["name"]:
            continue
        path = item.get("path", "executable")
        if item["name"] in seen:
            problems.add(
                f"{path}.meta.name", f"{item['name']!r} is also the name of {seen[item['name']]}"
            )
        seen.setdefault(item["name"], path)


def _check_references(compute_key, compute_volumes, items, declared, problems) -> None:
    """Names that link the parts (volumes, storage ↔ data) must name a part of this request."""
    data_items, storage_items, volume_items = items
    for name in compute_volumes:
        if name not in declared["volumes"]:
            problems.add(f"{compute_key}.volumes", f"{_shown(name)} is not the name of a volume")
    for s in storage_items:
        for name in s["data"]:
            if name not in declared["data"]:
                message = f"{_shown(name)} is not the name of a data resource"
                problems.add(f"{s['path']}.data", message)
    for d in data_items:
        if d["storage"] is not None and d["storage"] not in declared["storage"]:
            message = f"{d['storage']!r} is not the name of a storage resource"
            problems.add(f"{d['path']}.storage", message)
    for v in volume_items:
        spec = v["spec"]
        path = f"{v['path']}.resources"
        for name in _names(spec.get("resources", spec.get("resource")), path, problems):
            if name not in declared["data"] | declared["storage"]:
                problems.add(path, f"{_shown(name)} is not a data or storage resource")


def ivoa_errors(errors: Iterable[FieldError], paths: dict[str, str]) -> list[FieldError]:
    """Our request's error paths (components[0].amounts.cores.min) in IVOA terms."""
    names = list(paths)
    result = []
    for error in errors:
        result.append(FieldError(ivoa_path(error.path, names, paths), error.message))
    return result


def ivoa_path(path: str, names: list[str], paths: dict[str, str]) -> str:
    match = re.match(r"^components\[(\d+)\](.*)$", path)
    if match:
        index, rest = int(match[1]), match[2]
        base = paths[names[index]] if index < len(names) else "compute"
        for ours, theirs in _DIMENSION_NAMES.items():
            rest = rest.replace(f".amounts.{ours}", f".{theirs}")
        rest = rest.replace(".amounts", "").replace(".name", ".meta.name")
        if base.startswith("data["):  # storage held for a data resource: its skao.datasize
            rest = rest.replace(".size", ".skao.datasize", 1)
        return base + rest
    for ours, theirs in (
        ("duration", "schedule.requested.duration"),
        ("start", "schedule.requested.start"),
        ("datasets", "data"),
        ("name", "meta.name"),
    ):
        if path == ours or path.startswith((f"{ours}.", f"{ours}[")):
            return theirs + path[len(ours) :]
    return path


def update_parse(data: Any) -> str:
    """An enum update of the session phase → the phase asked for. Accepts the newest
    `{kind, path, value}`, the older `type` discriminator and `update:` wrapper, and `state`
    as the older name of `phase`. DomainError (400) naming the offending field otherwise."""
    prefix = ""
    if isinstance(data, dict) and "update" in data:
        extra = sorted(set(data) - {"update"})
        if extra:
            errors = [FieldError(key, "is not a known field") for key in extra]
            raise DomainError("The update is not valid.", errors=errors)
        data, prefix = data["update"], "update."
    if not isinstance(data, dict):
        raise DomainError(
            "The update is not valid.", errors=[FieldError(prefix.rstrip("."), "must be an object")]
        )
    problems = FieldErrors()
    for key in sorted(set(data) - {"kind", "type", "path", "value"}):
        problems.add(prefix + key, "is not a known field")
    if "kind" in data and "type" in data and data["kind"] != data["type"]:
        problems.add(prefix + "type", "disagrees with kind; give one of them")
    kind = data.get("kind", data.get("type"))
    if kind is None:
        problems.add(prefix + "kind", f"is required ({ENUM_UPDATE})")
    elif kind != ENUM_UPDATE:
        message = f"{_shown(kind)} is not supported; use {ENUM_UPDATE} on phase"
        problems.add(prefix + "kind", message)
    if data.get("path") not in ("phase", "state"):
        problems.add(prefix + "path", "must be phase (the only field a client may update)")
    value = data.get("value")
    if value not in UPDATABLE_PHASES:
        allowed = ", ".join(UPDATABLE_PHASES)
        problems.add(
            prefix + "value", f"{_shown(value)} is not an update a client can ask for ({allowed})"
        )
    problems.raise_if_any("The update is not valid.")
    return value


# --- rendering ---------------------------------------------------------------------------


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return "PT0S" if text == "P" else text


def schedule(preparation_start: datetime, start: datetime, end: datetime) -> dict:
    return {
        "preparing": {
            "start": iso(preparation_start),
            "duration": iso_duration(start - preparation_start),
        },
        "available": {"start": f"{iso(start)}/PT0S", "duration": iso_duration(end - start)},
        "releasing": {"start": iso(end), "duration": "PT0S"},
    }


def session_options(phase: str) -> list[dict]:
    values = [p.value for p in UPDATABLE_PHASES if can_transition(phase, p)]
    return [{"kind": ENUM_OPTION, "path": "phase", "values": values}] if values else []


def component_phase(phase: str, *, executable: bool = False) -> str:
    if phase == Phase.RUNNING and not executable:
        return Phase.AVAILABLE.value
    return _LIFECYCLE.get(phase, str(phase))


def _part_uuid(lease_id: str, slot: str, name: str) -> str:
    """Stable ids for the parts of a session (they link data to storage, as the prototype's
    do); parts are not separately addressable, so they carry no url."""
    return str(uuid.uuid5(uuid.UUID(lease_id), f"{slot}:{name}"))


def _meta(uuid_: str | None, name: str | None, **more: Any) -> dict:
    meta = {"uuid": uuid_} if uuid_ else {}
    if name:
        meta["name"] = name
    meta.update({k: v for k, v in more.items() if v is not None})
    return meta


def session_render(lease: dict, *, url: Callable[[str, str], str]) -> dict:
    """A lease (see `bookings.ivoa.selectors.lease_source`) as a scheduled execution session.

    Granted amounts are reported as min = max = what the lease holds: all compute
    allocations add up to the session's one compute resource."""
    lid, phase = lease["id"], lease["phase"]
    whole = schedule(lease["preparation_start"], lease["start"], lease["end"])
    ivoa = (
        (lease.get("executable") or {}).get("ivoa")
        if isinstance(lease.get("executable"), dict)
        else None
    )
    allocations = lease["allocations"]
    session: dict[str, Any] = {
        "kind": SESSION_KIND,
        "meta": _meta(
            lid,
            lease["name"],
            url=url("sessions", lid),
            created=iso(lease["created"]),
            options=session_options(phase),
        ),
    }
    if ivoa and ivoa.get("executable"):
        session["executable"] = _part(ivoa["executable"], "executable", lease, whole)
    compute = [a for a in allocations if a["kind"] == "compute"]
    if compute:
        described = (ivoa or {}).get("compute") or {
            "kind": "simple-compute-resource",
            "name": ", ".join(sorted({a["component"] for a in compute})),
            "spec": {},
        }
        sched = schedule(min(a["start"] for a in compute), lease["start"], lease["end"])
        part = _part(described, "compute", lease, sched)
        cores = sum(a["amounts"].get("cores", 0) for a in compute)
        memory = sum(a["amounts"].get("memory_gib", 0) for a in compute)
        part["cores"] = {"min": cores, "max": cores}
        part["memory"] = {"min": memory, "max": memory}
        volumes = {v["name"]: v for v in (ivoa or {}).get("volumes", [])}
        mounted = [volumes[n] for n in described.get("volumes", []) if n in volumes]
        if mounted:
            part["volumes"] = [_part(v, "volume", lease, None) for v in mounted]
        session["compute"] = part

    storage, data = _storage_and_data(lease, ivoa, whole)
    if storage:
        session["storage"] = storage
    if data:
        session["data"] = data
    if lease.get("connectors"):
        session["connectors"] = [connector_render(c, phase) for c in lease["connectors"]]
    session["phase"] = str(phase)
    if lease["expires"] is not None:
        session["expires"] = iso(lease["expires"])
    session["schedule"] = whole
    return session


def connector_render(connector: dict, phase: str) -> dict:
    """An adapter's connector ({kind, url, label}) as a session connector."""
    if phase in (Phase.AVAILABLE, Phase.RUNNING):
        status = "AVAILABLE"
    elif phase in (Phase.RELEASING, *FINAL_PHASES):
        status = "FINISHED"
    else:
        status = "PREPARING"
    location = str(connector.get("url", ""))
    return {
        "kind": str(connector.get("kind", "")),
        "status": status,
        "protocol": location.split("://", 1)[0].upper() if "://" in location else "",
        "location": location,
    }


def _part(item: dict, slot: str, lease: dict, sched: dict | None) -> dict:
    """One part of a session (executable, compute, storage, data, volume) in the newest form."""
    name = item["name"]
    part: dict[str, Any] = {
        "kind": kind_uri(slot, item["kind"]),
        "meta": _meta(
            _part_uuid(lease["id"], slot, name or slot),
            name,
            description=item.get("description"),
            created=iso(lease["created"]),
        ),
    }
    if slot != "volume":
        part["phase"] = component_phase(lease["phase"], executable=slot == "executable")
    if sched is not None:
        part["schedule"] = sched
    part.update(item.get("spec", {}))
    return part


def _storage_and_data(lease: dict, ivoa: dict | None, whole: dict) -> tuple[list, list]:
    lid = lease["id"]
    by_component: dict[str, dict] = {}
    for a in lease["allocations"]:
        if a["kind"] == "storage":
            by_component.setdefault(a["component"], a)
    storage, data, used = [], [], set()
    entries = list(ivoa["storage"]) if ivoa else []
    if not ivoa:
        entries = [
            {"kind": "simple-storage-resource", "name": c, "spec": {}, "data": [], "component": c}
            for c in by_component
            if not c.startswith("dataset:")
        ]
    datasets = list(lease["datasets"])
    for slug in datasets:
        copy = f"dataset:{slug}"
        if copy in by_component:
            entries.append(
                {
                    "kind": "simple-storage-resource",
                    "name": f"Storage for [{slug}]",
                    "spec": {},
                    "data": [slug],
                    "component": copy,
                }
            )
    storage_ids = {}
    for entry in entries:
        grant = by_component.get(entry["component"]) if entry.get("component") else None
        sched = schedule(grant["start"], lease["start"], lease["end"]) if grant else whole
        part = _part(entry, "storage", lease, sched)
        if grant:
            size = grant["amounts"].get("size_gib", 0)
            part["size"] = {"min": size, "max": size}
            used.add(entry["component"])
        part["data"] = [_part_uuid(lid, "data", n) for n in entry["data"]]
        storage_ids[entry["name"]] = part["meta"]["uuid"]
        storage.append(part)
    items = list(ivoa["data"]) if ivoa else []
    if not ivoa:
        items = [
            {
                "kind": "simple-data-resource",
                "name": slug,
                "spec": {},
                "storage": None,
                "dataset": slug,
            }
            for slug in datasets
        ]
    for item in items:
        storage_name = item.get("storage")
        if item.get("dataset") and f"Storage for [{item['dataset']}]" in storage_ids:
            storage_name = f"Storage for [{item['dataset']}]"
        part = _part(item, "data", lease, whole)
        if storage_name in storage_ids:
            part["storage"] = storage_ids[storage_name]
        data.append(part)
    return storage, data


def messages_render(offer_set: dict, *, paths: dict[str, str], names: list[str]) -> list[dict]:
    """Our reasons (and suggestions) as IVOA messages, each naming the IVOA path at fault."""
    time = iso(offer_set["created"])
    items = []
    for message in offer_set["messages"]:
        path = ivoa_path(message.get("path", ""), names, paths)
        items.append(
            _message(
                MESSAGE_KINDS.get(message["kind"], "urn:resource-limit"),
                "WARN",
                time,
                path,
                message["message"],
                message["kind"],
            )
        )
    for suggestion in offer_set["suggestions"]:
        items.append(
            _message(SUGGESTION_KIND, "INFO", time, "", suggestion["message"], suggestion["kind"])
        )
    return items


def _message(kind: str, level: str, time: str, path: str, text: str, reason: str) -> dict:
    """A Message Templates item: the values name the IVOA path at fault and our reason."""
    values = {"reason": reason}
    template = "${reason}: " + text.replace("$", "$$")
    if path:
        values["path"] = path
        template = "[${path}] " + template
    return {
        "kind": kind,
        "time": time,
        "level": level,
        "template": template,
        "values": values,
        "message": f"[{path}] {reason}: {text}" if path else f"{reason}: {text}",
    }


def offerset_render(offer_set: dict, leases: list[dict], *, url: Callable[[str, str], str]) -> dict:
    """An offer set and its offers (leases, whatever their phase now) as an IVOA offer set."""
    executable = offer_set["request"].get("executable")
    ivoa = executable.get("ivoa") if isinstance(executable, dict) else None
    paths = _paths(offer_set["request"], ivoa)
    names = [c["name"] for c in offer_set["request"]["components"]]
    body: dict[str, Any] = {
        "kind": OFFERSET_KIND,
        "meta": _meta(
            offer_set["id"],
            offer_set["name"] or NO_NAME,
            url=url("offersets", offer_set["id"]),
            created=iso(offer_set["created"]),
            messages=messages_render(offer_set, paths=paths, names=names) or None,
        ),
        "result": offer_set["result"],
        "expires": iso(offer_set["expires"]),
        "offers": [session_render(lease, url=url) for lease in leases],
    }
    return body


def _paths(request: dict, ivoa: dict | None) -> dict[str, str]:
    """Component name → IVOA path: as parsed from the IVOA request, else the native names."""
    if ivoa:
        return ivoa["paths"]
    return {c["name"]: f"components[{i}]" for i, c in enumerate(request["components"])}
