"""The layer rule, as a pytest plugin (registered by tests/conftest.py).

Every test says which layer it belongs to, so `-m unit` (as in `make test-fast`) is exactly
the tests that need no PostgreSQL, Redis or worker; a unit test that reaches the database
fails the run.
"""

import pytest

LAYERS = ("unit", "integration", "browser")
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "live_server"}
)


def uses_database(item: pytest.Item) -> bool:
    # fixturenames is the closure, so `user` (which asks for `db`) counts too.
    names = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("django_db") is not None or bool(names & DATABASE_FIXTURES)


def layer_violations(items: list[pytest.Item]) -> list[str]:
    problems = []
    for item in items:
        layers = [name for name in LAYERS if item.get_closest_marker(name) is not None]
        if not layers:
            problems.append(f"{item.nodeid}: no layer marker (one of {', '.join(LAYERS)})")
        elif "unit" in layers and uses_database(item):
            # `-m unit` must run without PostgreSQL: such a test is integration.
            problems.append(f"{item.nodeid}: marked unit but uses the database")
    return problems


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: check every collected test, before `-m` deselects some of them.
    problems = layer_violations(items)
    if problems:
        raise pytest.UsageError("tests break the layer rule:\n  " + "\n  ".join(problems))
