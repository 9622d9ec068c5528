"""`make run`: the whole service in the foreground on one terminal.

Starts the embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set, migrates,
seeds the demo, then runs the web server, a Celery worker and Celery beat. Ctrl-C (or
SIGTERM) stops all three and then the embedded services this run started, so nothing of ours
is left running; the data stays under .data/ for the next run.
"""

import os
import signal
import subprocess
import sys
import time

from scheduler import embedded

PY = sys.executable


def _manage(*args: str, env: dict) -> None:
    subprocess.run([PY, "manage.py", *args], check=True, env=env, cwd=embedded.ROOT)


def main() -> int:
    port = os.environ.get("PORT", "8000")
    urls, stops = embedded.up()
    env = {**os.environ, **urls}
    children: list[subprocess.Popen] = []

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        _manage("migrate", "--no-input", "-v", "0", env=env)
        _manage("seed_demo", env=env)
        embedded.DATA.mkdir(exist_ok=True)
        commands = {
            "web": [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            "worker": [
                PY,
                "-m",
                "celery",
                "-A",
                "scheduler.celery",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "wcidt@%h",
            ],
            "beat": [
                PY,
                "-m",
                "celery",
                "-A",
                "scheduler.celery",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(embedded.DATA / "celerybeat-schedule"),
            ],
        }
        for command in commands.values():
            # Own process groups: Ctrl-C reaches only us, and we stop the children in order.
            children.append(
                subprocess.Popen(command, env=env, cwd=embedded.ROOT, start_new_session=True)
            )
        print(f"\nWhenCanIDoThis? is running at http://127.0.0.1:{port}/  (Ctrl-C stops it)")
        print(f"  health: http://127.0.0.1:{port}/healthz   admin: http://127.0.0.1:{port}/admin/")
        print("  demo logins: admin / admin (operator), astro / astro (astronomer)\n", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [name for name, c in zip(commands, children, strict=True) if c.poll() is not None]
        print(f"run: {', '.join(failed)} stopped; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nrun: stopping…", file=sys.stderr)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"run: {' '.join(exc.cmd[1:3])} failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        for stop_service in reversed(stops):
            stop_service()


if __name__ == "__main__":
    sys.exit(main())
