"""IVOA fixtures: a demo-like capacity, a token client, our example documents, and the
reference schemas and recordings.

The schemas and the recorded Calycopis walk-throughs are read from ../shared/executionbroker/
(never copied into the project). A clone without that folder skips the tests that use them,
with MISSING_REFERENCE as the reason; every other test uses our own documents in examples/.
"""

from pathlib import Path

import jsonschema
import pytest
import referencing
import yaml
from django.core.cache import cache
from django.test import Client
from referencing.jsonschema import DRAFT202012

from bookings.api.throttling import OfferSetThrottle
from bookings.models import ApiToken
from resources.domain.capacity_file import capacity_file_load

REFERENCE = Path(__file__).resolve().parents[3].parent / "shared" / "executionbroker"
RECORDINGS = REFERENCE / "calycopis-broker-tests"
# The newest Calycopis schema: the `kind` + `meta` form the recordings and we speak.
SCHEMA = REFERENCE / "uksrc-Calycopis-openapi-schema-v1.0"
MISSING_REFERENCE = (
    f"the IVOA reference folder {REFERENCE} (../shared/executionbroker beside the project) "
    "is absent: recorded-exchange replays and schema checks skipped"
)


def _reference() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(MISSING_REFERENCE)


CAPACITY = {
    "sites": [
        {"slug": "edi", "name": "Edinburgh", "timezone": "Europe/London"},
        {"slug": "cam", "name": "Cambridge", "timezone": "Europe/London"},
    ],
    "pools": [
        {
            "slug": "edi-head",
            "site": "edi",
            "kind": "compute",
            "capacity": {"cores": 54, "memory_gib": 86},
        },
        *[
            {
                "slug": f"edi-workers-{n}",
                "site": "edi",
                "kind": "compute",
                "capacity": {"cores": 52, "memory_gib": 86},
            }
            for n in (1, 2, 3)
        ],
        {"slug": "edi-scratch", "site": "edi", "kind": "storage", "capacity": {"size_gib": 51200}},
        {"slug": "edi-gaia-readers", "site": "edi", "kind": "data", "capacity": {"readers": 4}},
        {
            "slug": "cam-gpu",
            "site": "cam",
            "kind": "compute",
            "capacity": {"cores": 64, "memory_gib": 512, "gpus": 8},
        },
        {"slug": "cam-scratch", "site": "cam", "kind": "storage", "capacity": {"size_gib": 20480}},
    ],
    "datasets": [
        {
            "slug": "gaia-dr3",
            "size_gib": 3700,
            "replicas": [
                {"site": "edi", "staging_gib_per_hour": 500, "data_pool": "edi-gaia-readers"}
            ],
        }
    ],
}


@pytest.fixture
def capacity(db):
    capacity_file_load(data=CAPACITY)


@pytest.fixture
def token(user):
    return ApiToken.issue(user=user)[1]


@pytest.fixture
def fresh_rate_limit(user):
    """The offer-set rate limit counts per user id in the shared Redis, and a new test database
    numbers users from 1 again: start (and leave) this user's count empty."""
    key = OfferSetThrottle.cache_format % {"scope": OfferSetThrottle.scope, "ident": user.pk}
    cache.delete(key)
    yield
    cache.delete(key)


@pytest.fixture
def ivoa(token, capacity, fresh_rate_limit):
    """A platform calling with its API token (the way IVOA clients authenticate here)."""
    return Client(headers={"Authorization": f"Token {token}"})


class Recordings:
    """The recorded Calycopis walk-throughs, by file-name prefix ("001-006", "example-011-003")."""

    def path(self, name: str) -> Path:
        case = name.rsplit("-", 1)[0]
        return next((RECORDINGS / case).glob(f"{name}-*"))

    def data(self, name: str):
        return yaml.safe_load(self.path(name).read_text())

    def text(self, name: str) -> tuple[str, str]:
        """The file as sent (its text and its media type)."""
        path = self.path(name)
        media = "application/json" if path.suffix == ".json" else "application/yaml"
        return path.read_text(), media


@pytest.fixture(scope="session")
def recordings() -> Recordings:
    _reference()
    return Recordings()


class Schemas:
    """Validates documents against the OpenAPI components of the reference YAML files, with a
    referencing.Registry resolving their relative $refs. OpenAPI's `discriminator` is not
    JSON Schema, so each part is also checked against the schema its `kind` names."""

    PARTS = {
        "docker-container": ("kinds/executable/docker-container.yaml", "DockerContainer"),
        "jupyter-notebook": ("kinds/executable/jupyter-notebook.yaml", "JupyterNotebook"),
        "singularity-container": (
            "kinds/executable/singularity-container.yaml",
            "SingularityContainer",
        ),
        "simple-compute-resource": (
            "kinds/compute/simple-compute-resource.yaml",
            "SimpleComputeResource",
        ),
        "simple-storage-resource": (
            "kinds/storage/simple-storage-resource.yaml",
            "SimpleStorageResource",
        ),
        "simple-data-resource": ("kinds/data/simple-data-resource.yaml", "SimpleDataResource"),
        "S3-data-resource": ("kinds/data/S3-data-resource.yaml", "S3DataResource"),
        "rucio-data-resource": ("kinds/data/rucio-data-resource.yaml", "RucioDataResource"),
        "ivoa-data-resource": ("kinds/data/ivoa-data-resource.yaml", "IvoaDataResource"),
        "skao-data-resource": ("kinds/data/skao-data-resource.yaml", "SkaoDataResource"),
        "simple-volume-mount": ("kinds/volume/simple-volume-mount.yaml", "SimpleVolumeMount"),
    }

    def __init__(self, root: Path) -> None:
        self.root = root
        resources = [
            (path.as_uri(), DRAFT202012.create_resource(yaml.safe_load(path.read_text())))
            for path in root.rglob("*.yaml")
        ]
        self.registry = referencing.Registry().with_resources(resources)

    def check(self, document, file: str, schema: str) -> None:
        ref = {"$ref": f"{(self.root / file).as_uri()}#/components/schemas/{schema}"}
        jsonschema.Draft202012Validator(ref, registry=self.registry).validate(document)

    def offerset(self, body: dict) -> None:
        self.check(body, "components.yaml", "OfferSetResponse")
        for offer in body["offers"]:
            self.session(offer)

    def session(self, body: dict) -> None:
        self.check(body, "components.yaml", "ScheduledExecutionSession")
        parts = [body.get("executable"), body.get("compute")]
        parts += body.get("storage", []) + body.get("data", [])
        parts += body.get("compute", {}).get("volumes", [])
        for part in parts:
            if part is not None:
                name = part["kind"].rsplit("/", 1)[1].removesuffix("-1.0")
                self.check(part, *self.PARTS[name])
        for option in body["meta"].get("options", []):
            self.check(option, "components.yaml", "EnumValueOption")

    def update(self, body: dict) -> None:
        self.check(body, "components.yaml", "EnumValueUpdate")


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    _reference()
    return Schemas(SCHEMA)
