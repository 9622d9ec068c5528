"""The layer rule of tests/layers.py fails collection, naming the offending tests."""

import pytest

pytestmark = pytest.mark.unit

MARKERS_INI = """
[pytest]
markers =
    unit: no database
    integration: PostgreSQL
    browser: Chromium
"""


def run_collection(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makeini(MARKERS_INI)
    pytester.makepyfile(test_sample=source)
    return pytester.runpytest_inprocess(
        "-p", "tests.layers", "--strict-markers", "--collect-only", "-q"
    )


def test_an_unmarked_test_fails_collection_and_is_named(pytester):
    result = run_collection(pytester, "def test_nothing():\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_sample.py::test_nothing: no layer marker*"])


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\n\n@pytest.mark.unit\n@pytest.mark.django_db\ndef test_rows():\n    pass\n",
        "import pytest\n\n@pytest.mark.unit\ndef test_rows(db):\n    pass\n",
        "import pytest\n\n@pytest.mark.unit\ndef test_rows(transactional_db):\n    pass\n",
        "import pytest\n\n@pytest.mark.unit\ndef test_rows(live_server):\n    pass\n",
        # Both layers: `-m unit` would still pick it.
        "import pytest\n\n@pytest.mark.unit\n@pytest.mark.integration\n"
        "def test_rows(db):\n    pass\n",
        # Through another fixture: the closure counts.
        "import pytest\n\n@pytest.fixture\ndef user(db):\n    return 1\n\n"
        "@pytest.mark.unit\ndef test_rows(user):\n    pass\n",
    ],
    ids=["django_db", "db", "transactional_db", "live_server", "unit-and-integration", "indirect"],
)
def test_a_unit_test_that_uses_the_database_fails_collection(pytester, source):
    result = run_collection(pytester, source)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_sample.py::test_rows: marked unit but uses the database*"])


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\n\npytestmark = pytest.mark.unit\n\ndef test_ok():\n    pass\n",
        "import pytest\n\n@pytest.mark.integration\n@pytest.mark.django_db\n"
        "def test_ok():\n    pass\n",
        "import pytest\n\n@pytest.mark.browser\ndef test_ok(db):\n    pass\n",
    ],
    ids=["unit", "integration-db", "browser-db"],
)
def test_a_marked_test_is_collected(pytester, source):
    result = run_collection(pytester, source)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*1 test collected*"])
