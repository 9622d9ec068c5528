"""Our leases and offer sets → IVOA documents: an offer set and its leases → an execution
offer set; a lease → a scheduled execution session, whichever interface booked it."""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bookings.choices import FINAL_PHASES, Phase, can_transition
from bookings.domain.isotime import iso
from bookings.ivoa.translate.vocabulary import (
    ENUM_OPTION,
    MESSAGE_KINDS,
    NO_NAME,
    OFFERSET_KIND,
    SESSION_KIND,
    SUGGESTION_KIND,
    UPDATABLE_PHASES,
    ivoa_path,
    kind_uri,
)

_LIFECYCLE = {
    Phase.OFFERED: "INITIALIZING",
    Phase.ACCEPTED: "WAITING",
    Phase.REJECTED: "CANCELLED",
    Phase.EXPIRED: "CANCELLED",
}


def iso_duration(delta: timedelta) -> str:
    """A length as the shortest ISO 8601 duration in days, hours, minutes and seconds."""
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
    """The storage and data parts of a session, linked by uuid: as the IVOA request described
    them, else (a lease booked natively) one per storage allocation and dataset."""
    by_component: dict[str, dict] = {}
    for a in lease["allocations"]:
        if a["kind"] == "storage":
            by_component.setdefault(a["component"], a)
    datasets = list(lease["datasets"])
    entries = _storage_entries(ivoa, by_component, datasets)
    storage = [_storage_part(entry, by_component, lease, whole) for entry in entries]
    storage_ids = {
        entry["name"]: part["meta"]["uuid"] for entry, part in zip(entries, storage, strict=True)
    }
    items = list(ivoa["data"]) if ivoa else [_native_data(slug) for slug in datasets]
    data = []
    for item in items:
        storage_name = item.get("storage")
        if item.get("dataset") and f"Storage for [{item['dataset']}]" in storage_ids:
            storage_name = f"Storage for [{item['dataset']}]"
        part = _part(item, "data", lease, whole)
        if storage_name in storage_ids:
            part["storage"] = storage_ids[storage_name]
        data.append(part)
    return storage, data


def _storage_entries(ivoa: dict | None, by_component: dict, datasets: list[str]) -> list[dict]:
    """The storage of the request (or the lease's storage allocations), then a "Storage for
    [slug]" for each dataset the lease stages a copy of."""
    entries = list(ivoa["storage"]) if ivoa else []
    if not ivoa:
        entries = [
            {"kind": "simple-storage-resource", "name": c, "spec": {}, "data": [], "component": c}
            for c in by_component
            if not c.startswith("dataset:")
        ]
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
    return entries


def _storage_part(entry: dict, by_component: dict, lease: dict, whole: dict) -> dict:
    grant = by_component.get(entry["component"]) if entry.get("component") else None
    sched = schedule(grant["start"], lease["start"], lease["end"]) if grant else whole
    part = _part(entry, "storage", lease, sched)
    if grant:
        size = grant["amounts"].get("size_gib", 0)
        part["size"] = {"min": size, "max": size}
    part["data"] = [_part_uuid(lease["id"], "data", n) for n in entry["data"]]
    return part


def _native_data(slug: str) -> dict:
    """A dataset of a natively booked lease as a data resource."""
    return {
        "kind": "simple-data-resource",
        "name": slug,
        "spec": {},
        "storage": None,
        "dataset": slug,
    }


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
