"""Our own example IVOA documents (tests/bookings/ivoa/examples/): a module, not conftest, so
tests can import it. They need nothing outside the repository."""

from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parent / "examples"


def example(name: str):
    """One of our example requests, as data."""
    return yaml.safe_load((EXAMPLES / name).read_text())


def example_text(name: str) -> tuple[str, str]:
    """The example as sent: its text and its media type."""
    path = EXAMPLES / name
    return path.read_text(), "application/json" if path.suffix == ".json" else "application/yaml"


def example_names() -> list[str]:
    return sorted(path.name for path in EXAMPLES.iterdir())
