"""Unit tests of the IVOA translation and formats: pure functions, no database."""

import io
from datetime import UTC, datetime, timedelta

import pytest

from bookings.domain.errors import DomainError, FieldError
from bookings.ivoa import formats, translate
from tests.bookings.ivoa.ivoadata import example

pytestmark = [pytest.mark.unit]

EB = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types"
NOTEBOOK = f"{EB}/executable/jupyter-notebook-1.0"
COMPUTE = f"{EB}/compute/simple-compute-resource-1.0"


def parse(data, datasets=()):
    return translate.offerset_request_parse(data, datasets=set(datasets))


def test_the_newest_form_maps_onto_our_request():
    request, paths = parse(example("notebook.yaml"))

    assert paths == {"compute": "compute"}
    assert request == {
        "name": "",
        "components": [
            {
                "name": "compute",
                "kind": "compute",
                "amounts": {"cores": {"min": 4, "max": 12}, "memory_gib": {"min": 6, "max": 10}},
            }
        ],
        "datasets": [],
        "duration": "PT2H",
        "max_offers": 4,
        "executable": {
            "ivoa": {
                "executable": {
                    "kind": "jupyter-notebook",
                    "name": "spectra-notebook",
                    "spec": {"location": "https://example.org/notebooks/spectra.ipynb"},
                },
                "compute": {
                    "kind": "simple-compute-resource",
                    "name": "spectra-compute",
                    "spec": {},
                    "volumes": [],
                },
                "storage": [],
                "data": [],
                "volumes": [],
                "paths": {"compute": "compute"},
            }
        },
    }


def test_a_minimal_request_gets_the_prototypes_defaults():
    request, _ = parse(example("minimal.json"))

    assert request["components"] == [
        {
            "name": "compute",
            "kind": "compute",
            "amounts": {"cores": {"min": 2, "max": 2}, "memory_gib": {"min": 2, "max": 2}},
        }
    ]
    assert request["duration"] == "PT4H"
    assert request["executable"]["ivoa"]["compute"]["name"] == "Default compute resource"
    assert request["executable"]["ivoa"]["executable"]["name"] is None


def test_older_spellings_name_type_and_computer():
    request, paths = parse(example("container-older-spelling.yaml"))

    assert paths == {"compute": "computer"}
    assert request["name"] == "lightcurves"
    assert request["components"][0]["amounts"] == {
        "cores": {"min": 6, "max": 6},
        "memory_gib": {"min": 1, "max": 12},
    }
    ivoa = request["executable"]["ivoa"]
    assert (ivoa["executable"]["kind"], ivoa["executable"]["name"]) == (
        "docker-container",
        "lightcurves-container",
    )
    assert ivoa["executable"]["spec"]["entrypoint"] == "run-lightcurves"
    assert ivoa["compute"]["name"] == "lightcurves-compute"


def test_the_standard_drafts_resources_block():
    request, paths = parse(
        {
            "name": "std",
            "resources": {
                "compute": [{"type": COMPUTE, "name": "c", "cores": {"min": 3}}],
                "storage": [
                    {
                        "type": f"{EB}/storage/simple-storage-resource-1.0",
                        "name": "s",
                        "size": {"min": 10, "max": 20},
                    }
                ],
            },
        }
    )

    assert [c["amounts"] for c in request["components"]] == [
        {"cores": {"min": 3, "max": 3}, "memory_gib": {"min": 2, "max": 2}},
        {"size_gib": {"min": 10, "max": 20}},
    ]
    assert paths == {"compute": "compute", "storage-0": "storage[0]"}


def test_data_named_like_our_dataset_books_it():
    data = {
        "data": [
            {"kind": f"{EB}/data/ivoa-data-resource-1.0", "meta": {"name": "gaia-dr3"}},
            {
                "kind": f"{EB}/data/simple-data-resource-1.0",
                "meta": {"name": "cat"},
                "location": "https://example.org/cat.vot",
            },
        ]
    }

    request, _ = parse(data, datasets={"gaia-dr3"})

    assert request["datasets"] == ["gaia-dr3"]
    ivoa = request["executable"]["ivoa"]
    assert [(d["name"], d["storage"], d["dataset"]) for d in ivoa["data"]] == [
        ("gaia-dr3", None, "gaia-dr3"),
        ("cat", "Storage for [cat]", None),
    ]
    assert [(s["name"], s["component"]) for s in ivoa["storage"]] == [("Storage for [cat]", None)]


def test_skao_data_sizes_become_storage_holds():
    request, paths = parse(example("skao-data.json"))

    assert request["components"][1] == {
        "name": "storage-0",
        "kind": "storage",
        "amounts": {"size_gib": {"min": 5, "max": 5}},  # 5368709120 bytes
    }
    assert paths == {"compute": "compute", "storage-0": "data[0]"}


def test_storage_without_size_holds_what_its_data_need():
    skao = f"{EB}/data/skao-data-resource-1.0"
    request, _ = parse(
        {
            "storage": [
                {
                    "kind": f"{EB}/storage/simple-storage-resource-1.0",
                    "meta": {"name": "s"},
                    "data": ["a", "b"],
                }
            ],
            "data": [
                {"kind": skao, "meta": {"name": "a"}, "skao": {"datasize": 3 * 1024**3}},
                {"kind": skao, "meta": {"name": "b"}, "skao": {"datasize": 1}},
            ],
        }
    )

    assert request["components"][1]["amounts"] == {"size_gib": {"min": 4, "max": 4}}
    assert [d["storage"] for d in request["executable"]["ivoa"]["data"]] == ["s", "s"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T08:00:00Z/2026-12-04T00:00:00Z", "2026-12-01T08:00:00Z/2026-12-04T00:00:00Z"),
        ("2026-12-01T08:00:00+01:00/PT6H", "2026-12-01T07:00:00Z/2026-12-01T13:00:00Z"),
        ("PT6H/2026-12-01T08:00:00Z", "2026-12-01T02:00:00Z/2026-12-01T08:00:00Z"),
        ("2026-12-01T08:00:00Z", "2026-12-01T08:00:00Z/2026-12-01T08:00:00Z"),
        ("2026-12-01/2026-12-02", "2026-12-01T00:00:00Z/2026-12-02T00:00:00Z"),
        (["2026-12-01/P1D"], "2026-12-01T00:00:00Z/2026-12-02T00:00:00Z"),
    ],
)
def test_start_intervals(value, expected):
    request, _ = parse({"schedule": {"requested": {"start": value}}})

    assert request["start"] == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            ["2026-12-01/P1D", "2026-12-03/P1D"],
            FieldError(
                "schedule.requested.start", "give one start interval (several are not supported)"
            ),
        ),
        (
            "2026-12-01T08:00:00/PT1H",
            FieldError(
                "schedule.requested.start",
                "'2026-12-01T08:00:00/PT1H' is not an ISO 8601 interval of date-times with a time "
                "zone and durations without years or months",
            ),
        ),
        ("a/b/c", FieldError("schedule.requested.start", "'a/b/c' is not an ISO 8601 interval")),
    ],
)
def test_bad_start_intervals(value, error):
    with pytest.raises(DomainError) as raised:
        parse({"schedule": {"requested": {"start": value}}})

    assert raised.value.errors == [error]


@pytest.mark.parametrize(
    ("uri", "slot", "name"),
    [
        (NOTEBOOK, "executable", "jupyter-notebook"),
        (
            "https://www.purl.org/ivoa.net/EB/schema/types/executables/docker-container-1.0",
            "executable",
            "docker-container",
        ),
        (
            "https://www.purl.org/ivoa.net/EB/schema/types/resources/data/Rucio-data-resource-1.0",
            "data",
            "rucio-data-resource",
        ),
        (
            "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/data/"
            "S3-data-resource.yaml",
            "data",
            "S3-data-resource",
        ),
        (
            "https://www.purl.org/ivoa.net/EB/schema/types/computer/simple-compute-resource-1.0",
            "compute",
            "simple-compute-resource",
        ),
        (
            "https://www.purl.org/ivoa.net/EB/schema/v1.0//types/volume/simple-volume-mount-1.0",
            "volume",
            None,
        ),
        (NOTEBOOK, "compute", None),
        (f"{EB}/executable/kubernetes-pod-1.0", "executable", None),
        (42, "executable", None),
    ],
)
def test_kind_uris_of_every_draft(uri, slot, name):
    assert translate.kind_name(uri, slot) == name


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("components[0].amounts.cores.min", "compute.cores.min"),
        ("components[0].amounts.memory_gib", "compute.memory"),
        ("components[1].amounts.size_gib", "storage[2].size"),
        ("components[1].name", "storage[2].meta.name"),
        ("duration.max", "schedule.requested.duration.max"),
        ("start", "schedule.requested.start"),
        ("datasets[0]", "data[0]"),
        ("", ""),
    ],
)
def test_our_error_paths_in_ivoa_terms(ours, theirs):
    paths = {"compute": "compute", "storage-1": "storage[2]"}

    assert translate.ivoa_path(ours, list(paths), paths) == theirs


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "PT0S"),
        (45, "PT45S"),
        (3600, "PT1H"),
        (51260, "PT14H14M20S"),
        (90000, "P1DT1H"),
        (86400, "P1D"),
    ],
)
def test_iso_durations(seconds, text):
    assert translate.iso_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("phase", "values"),
    [
        ("OFFERED", ["ACCEPTED", "REJECTED"]),
        ("ACCEPTED", ["CANCELLED"]),
        ("PREPARING", ["CANCELLED"]),
        ("RUNNING", ["CANCELLED"]),
        ("RELEASING", []),
        ("REJECTED", []),
        ("COMPLETED", []),
    ],
)
def test_options_list_the_updates_allowed_now(phase, values):
    expected = [{"kind": "uri:enum-value-option", "path": "phase", "values": values}]
    assert translate.session_options(phase) == (expected if values else [])


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"},
        {"type": "uri:enum-value-update", "path": "state", "value": "ACCEPTED"},
        {"update": {"type": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}},
    ],
)
def test_update_spellings(body):
    assert translate.update_parse(body) == "ACCEPTED"


def test_schedule_of_a_lease():
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)

    assert translate.schedule(start - timedelta(minutes=10), start, start + timedelta(hours=9)) == {
        "preparing": {"start": "2026-12-01T07:50:00Z", "duration": "PT10M"},
        "available": {"start": "2026-12-01T08:00:00Z/PT0S", "duration": "PT9H"},
        "releasing": {"start": "2026-12-01T17:00:00Z", "duration": "PT0S"},
    }


def test_yaml_keeps_no_and_instants_as_text():
    body = io.BytesIO(b"result: NO\nstart: 2026-12-01T08:00:00Z\nflag: yes\nreal: true\n")

    assert formats.YamlParser().parse(body) == {
        "result": "NO",
        "start": "2026-12-01T08:00:00Z",
        "flag": "yes",
        "real": True,
    }


def test_yaml_output_has_no_aliases_and_quotes_no():
    part = {"start": "2026-12-01T08:00:00Z"}

    text = formats.YamlRenderer().render({"a": part, "b": part, "result": "NO"})

    assert text.decode() == (
        "a:\n  start: '2026-12-01T08:00:00Z'\nb:\n  start: '2026-12-01T08:00:00Z'\nresult: 'NO'\n"
    )


@pytest.mark.parametrize(
    ("phase", "executable", "resource"),
    [
        ("OFFERED", "INITIALIZING", "INITIALIZING"),
        ("ACCEPTED", "WAITING", "WAITING"),
        ("REJECTED", "CANCELLED", "CANCELLED"),
        ("EXPIRED", "CANCELLED", "CANCELLED"),
        ("PREPARING", "PREPARING", "PREPARING"),
        ("RUNNING", "RUNNING", "AVAILABLE"),
        ("COMPLETED", "COMPLETED", "COMPLETED"),
    ],
)
def test_phases_of_the_parts_of_a_session(phase, executable, resource):
    assert translate.component_phase(phase, executable=True) == executable
    assert translate.component_phase(phase) == resource


def test_names_that_link_parts_must_exist():
    simple = f"{EB}/data/simple-data-resource-1.0"
    data = {
        "compute": {"kind": COMPUTE, "volumes": ["missing-volume"]},
        "storage": [{"kind": f"{EB}/storage/simple-storage-resource-1.0", "data": ["nope"]}],
        "data": [
            {"kind": simple, "meta": {"name": "d"}, "location": "https://x/d", "storage": "s"},
            {"kind": simple, "meta": {"name": "d"}, "location": "https://x/e"},
        ],
    }

    with pytest.raises(DomainError) as raised:
        parse(data)

    assert raised.value.errors == [
        FieldError("data[1].meta.name", "'d' is also the name of data[0]"),
        FieldError("compute.volumes", "'missing-volume' is not the name of a volume"),
        FieldError("storage[0].data", "'nope' is not the name of a data resource"),
        FieldError("data[0].storage", "'s' is not the name of a storage resource"),
    ]


def test_a_session_from_a_native_lease_with_connectors(schemas):
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    end = start + timedelta(hours=9)
    lease = {
        "id": "5ec79894-814f-4f81-9561-2fe4bfc6010d",
        "name": "survey",
        "phase": "AVAILABLE",
        "created": start - timedelta(days=1),
        "expires": None,
        "start": start,
        "end": end,
        "preparation_start": start - timedelta(minutes=5),
        "executable": None,
        "connectors": [{"kind": "spark", "url": "spark://edi:7077", "label": "Spark master"}],
        "datasets": [],
        "allocations": [
            {
                "component": "workers",
                "replica": r,
                "kind": "compute",
                "amounts": {"cores": 26, "memory_gib": 43},
                "start": start - timedelta(minutes=5),
                "end": end,
            }
            for r in (0, 1)
        ],
    }

    session = translate.session_render(lease, url=lambda kind, id_: f"https://b/{kind}/{id_}")

    schemas.session(session)
    assert session["meta"]["url"] == "https://b/sessions/5ec79894-814f-4f81-9561-2fe4bfc6010d"
    assert session["meta"]["options"] == [
        {"kind": "uri:enum-value-option", "path": "phase", "values": ["CANCELLED"]}
    ]
    compute = session["compute"]
    assert (compute["meta"]["name"], compute["phase"]) == ("workers", "AVAILABLE")
    assert (compute["cores"], compute["memory"]) == (
        {"min": 52, "max": 52},
        {"min": 86, "max": 86},
    )
    assert session["connectors"] == [
        {
            "kind": "spark",
            "status": "AVAILABLE",
            "protocol": "SPARK",
            "location": "spark://edi:7077",
        }
    ]
    assert "expires" not in session and "executable" not in session
