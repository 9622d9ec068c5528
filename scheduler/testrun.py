"""`make test` after lint: migrations are checked in, then the whole pytest suite.

Run inside `scheduler.embedded exec`, so DATABASE_URL and REDIS_URL are set.
"""

import subprocess
import sys


def main(args: list[str]) -> int:
    steps = [
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        [sys.executable, "-m", "pytest", *args],
    ]
    for step in steps:
        code = subprocess.run(step).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
