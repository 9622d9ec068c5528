"""IVOA offer-set requests and session updates → our request dict and phases (DESIGN §4, §7).

An offer-set request (the newest Calycopis `kind` + `meta` form; the older `type`, top-level
`name`, `computer` and `resources: {compute: [..], storage, data}` spellings are accepted too)
becomes our request dict (`bookings.domain.requests`):

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
"""

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from bookings.domain import policy
from bookings.domain.errors import DomainError, FieldError, FieldErrors
from bookings.domain.isotime import iso, parse_duration, parse_instant
from bookings.ivoa.translate.vocabulary import (
    DEFAULT_COMPUTE,
    DEFAULT_CORES,
    DEFAULT_DURATION,
    DEFAULT_MEMORY_GIB,
    ENUM_UPDATE,
    GIB,
    KINDS,
    MAX_PARTS,
    UPDATABLE_PHASES,
    kind_name,
    kind_uri,
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
# The fields a slot has beside its kind's own (a data resource names its storage).
_SLOT_KEYS = {
    "compute": {"cores", "memory", "volumes"},
    "storage": {"size", "data", "resources"},
    "data": {"storage"},
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


def _component(value: Any, path: str, slot: str, problems: FieldErrors) -> dict | None:
    """The common part of a component: its kind and its name; spec keys checked per kind."""
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return None
    name = _kind(value, path, slot, problems)
    meta = _meta(value, path, problems)
    label = _name(meta.get("name", value.get("name")), path, problems)
    spec_keys = _SPEC_KEYS.get(name, set()) if name else set(value) - _COMMON_KEYS
    _unknown_fields(value, path, slot, spec_keys, problems)
    if name is None:
        return None
    out = {"kind": name, "name": label, "spec": {k: value[k] for k in spec_keys if k in value}}
    description = meta.get("description", value.get("description"))
    if isinstance(description, str):
        out["description"] = description
    return out


def _kind(value: dict, path: str, slot: str, problems: FieldErrors) -> str | None:
    """The type name of a component's `kind` (or older `type`) URI, or None if unknown."""
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
    return name


def _meta(value: dict, path: str, problems: FieldErrors) -> dict:
    """A component's `meta`: the client gives only its name and description."""
    meta = value.get("meta", {})
    if not isinstance(meta, dict):
        problems.add(_join(path, "meta"), "must be an object")
        return {}
    for key in sorted(set(meta) - {"name", "description"}):
        problems.add(_join(path, f"meta.{key}"), "is assigned by the server, not the client")
    return meta


def _name(label: Any, path: str, problems: FieldErrors) -> str | None:
    longest = policy.MAX_NAME_LENGTH
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= longest):
        problems.add(_join(path, "meta.name"), f"must be a string of 1 to {longest} characters")
        return None
    return label


def _unknown_fields(
    value: dict, path: str, slot: str, spec_keys: set[str], problems: FieldErrors
) -> None:
    allowed = _COMMON_KEYS | spec_keys | _SLOT_KEYS.get(slot, set())
    for key in sorted(set(value) - allowed):
        message = "is assigned by the server" if key == "access" else "is not a known field"
        problems.add(_join(path, key), message)


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
    data = _request_fields(data, problems)
    compute_key = "computer" if "computer" in data else "compute"
    name = _request_name(data, problems)

    executable = None
    if data.get("executable") is not None:
        executable = _executable(data["executable"], problems)
    compute, amounts = _compute(data.get(compute_key), compute_key, problems)
    data_items = _data_parts(data, datasets, problems)
    storage_items = _storage_parts(data, problems)
    volume_items = _volume_parts(data, problems)
    _check_names(executable, data_items, storage_items, volume_items, problems)
    items = (data_items, storage_items, volume_items)
    _check_references(compute_key, compute["volumes"], items, _declared(data), problems)
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
        "executable": {"ivoa": _description(executable, compute, items, paths)},
    }
    if start is not None:
        request["start"] = start
    return request, paths


def _request_fields(data: dict, problems: FieldErrors) -> dict:
    """The request's top-level fields checked, and the standard draft's `resources` unwrapped."""
    for key in sorted(set(data) - _REQUEST_KEYS):
        problems.add(key, "is not a known field")
    for key in ("costs", "metrics"):
        if data.get(key):
            problems.add(key, "is not supported by this broker")
    data = _unwrap_resources(data, problems)
    if "compute" in data and "computer" in data:
        problems.add("computer", "give compute or computer (its older spelling), not both")
    return data


def _request_name(data: dict, problems: FieldErrors) -> str:
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    name = meta.get("name", data.get("name")) or ""
    if not isinstance(name, str) or len(name) > 200:
        problems.add("name", "must be a string of at most 200 characters")
        return ""
    return name


def _volume_parts(data: dict, problems: FieldErrors) -> list[dict]:
    items = []
    for i, raw in enumerate(_list(data.get("volumes"), "volumes", problems)):
        item = _component(raw, f"volumes[{i}]", "volume", problems)
        if item is not None:
            item.update(path=f"volumes[{i}]", name=item["name"] or f"volume-{i}")
            items.append(item)
    return items


def _declared(data: dict) -> dict[str, set]:
    """The names of the data, storage and volumes of the request, those with problems too."""
    return {
        key: {
            _label(raw, f"{slot}-{i}")
            for i, raw in enumerate(_list(data.get(key), key, FieldErrors()))
        }
        for key, slot in (("data", "data"), ("storage", "storage"), ("volumes", "volume"))
    }


def _description(executable: dict | None, compute: dict, items: tuple, paths: dict) -> dict:
    """The IVOA description kept in the request, for sessions and adapters."""
    data_items, storage_items, volume_items = items
    return {
        "executable": _stored(executable),
        "compute": {**_stored(compute), "volumes": compute["volumes"]},
        "storage": [
            {**_stored(s), "data": s["data"], "component": s["component"]} for s in storage_items
        ],
        "data": [
            {**_stored(d), "storage": d["storage"], "dataset": d["dataset"]} for d in data_items
        ],
        "volumes": [_stored(v) for v in volume_items],
        "paths": paths,
    }


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
    _check_storage_links(storage_items, data_items, declared, problems)
    for v in volume_items:
        spec = v["spec"]
        path = f"{v['path']}.resources"
        for name in _names(spec.get("resources", spec.get("resource")), path, problems):
            if name not in declared["data"] | declared["storage"]:
                problems.add(path, f"{_shown(name)} is not a data or storage resource")


def _check_storage_links(storage_items, data_items, declared, problems) -> None:
    """Storage names the data it holds, and data the storage it is in, both ways by name."""
    for s in storage_items:
        for name in s["data"]:
            if name not in declared["data"]:
                message = f"{_shown(name)} is not the name of a data resource"
                problems.add(f"{s['path']}.data", message)
    for d in data_items:
        if d["storage"] is not None and d["storage"] not in declared["storage"]:
            message = f"{d['storage']!r} is not the name of a storage resource"
            problems.add(f"{d['path']}.storage", message)


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
