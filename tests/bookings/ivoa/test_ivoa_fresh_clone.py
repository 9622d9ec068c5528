"""A clone without ../shared (issue 11, 7): the IVOA tests pass there, the replays and schema
checks skip with one message naming the missing folder, and nothing else needs it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bookings.ivoa.conftest import MISSING_REFERENCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def _database_beside(url: str, suffix: str) -> str:
    """The same server, another database name: this session's test database is in use."""
    base, _, name = url.rpartition("/")
    return f"{base}/{name}{suffix}"


def test_the_ivoa_tests_pass_in_a_clone_without_shared(tmp_path):
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    assert not (clone.parent / "shared").exists()
    env = {
        **os.environ,
        "DATABASE_URL": _database_beside(os.environ["DATABASE_URL"], "_clone"),
        "REDIS_URL": os.environ["REDIS_URL"],
    }

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            # The modules that read ../shared; the others never touch it and run in the main
            # suite already (the whole folder here took two minutes of the CI budget).
            "tests/bookings/ivoa/test_ivoa_replay.py",
            "tests/bookings/ivoa/test_ivoa_endpoints.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            "-rs",
        ],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )

    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    missing = MISSING_REFERENCE.replace(str(ROOT.parent), str(tmp_path))
    assert missing in output, output[-4000:]
    assert " skipped" in output.splitlines()[-1]
