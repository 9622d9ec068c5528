"""The IVOA ExecutionBroker vocabulary: kind URIs, the type names each part of a session
accepts, message kinds, the defaults we share with the Calycopis prototype, and our request
paths in IVOA terms (`components[0].amounts.cores` → `compute.cores`)."""

import re
from collections.abc import Iterable
from typing import Any

from bookings.choices import Phase
from bookings.domain import policy
from bookings.domain.errors import FieldError

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
