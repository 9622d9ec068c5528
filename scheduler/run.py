"""`make run`: the whole service in the foreground on one terminal.

Starts the embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set (and the
mail sink unless EMAIL_URL / EMAIL_HOST are), migrates, seeds the demo, then runs the web
server, a Celery worker, the notices' worker and Celery beat. A process that
dies is started again (a Celery worker exits when Redis restarts under it), unless it keeps
dying, which stops the run. SIGINT (Ctrl-C) and SIGTERM alike stop all three and then the
embedded services this run started, so nothing of ours is left running; the data stays under
.data/. The handlers are installed explicitly: a background job of a non-interactive shell
(`make run &` in a script) starts with SIGINT ignored, and Python would keep ignoring it.

Quiet by default: Celery logs at LOG_LEVEL (default WARNING, as settings.LOGGING) without its
banner, so the URL and the demo logins stay on the screen; LOG_LEVEL=INFO shows every tick.
"""

import os
import signal
import subprocess
import sys
import time

from scheduler import embedded

PY = sys.executable
# A process that dies this many times within RESTART_WINDOW seconds stops the run.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def _manage(*args: str, env: dict) -> None:
    subprocess.run([PY, "manage.py", *args], check=True, env=env, cwd=embedded.ROOT)


def _commands(port: str) -> dict[str, list[str]]:
    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    celery = [PY, "-m", "celery", "-A", "scheduler.celery", "--quiet"]

    def worker(hostname: str, queue: str) -> list[str]:
        return [
            *celery,
            *("worker", "--loglevel", level, "--concurrency", "2"),
            *("--hostname", hostname, "--queues", queue),
        ]

    return {
        "web": [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": worker("wcidt@%h", "celery"),
        # Notices have a worker of their own: a slow webhook receiver delays no lease step.
        "notices": worker("wcidt-notices@%h", "notices"),
        "beat": [
            *celery,
            "beat",
            "--loglevel",
            level,
            "--schedule",
            str(embedded.DATA / "celerybeat-schedule"),
        ],
    }


def _start(command: list[str], env: dict) -> subprocess.Popen:
    # Own process group: Ctrl-C reaches only us, and we stop the children in order.
    return subprocess.Popen(command, env=env, cwd=embedded.ROOT, start_new_session=True)


def _supervise(commands: dict[str, list[str]], env: dict, children: dict) -> int:
    """Keep every child running; return 1 when one keeps dying."""
    deaths: dict[str, list[float]] = {name: [] for name in commands}
    while True:
        time.sleep(0.5)
        for name, child in children.items():
            code = child.poll()
            if code is None:
                continue
            now = time.monotonic()
            deaths[name] = [t for t in deaths[name] if now - t < RESTART_WINDOW] + [now]
            if len(deaths[name]) > MAX_RESTARTS:
                print(f"run: {name} keeps stopping (exit {code}); shutting down", file=sys.stderr)
                return 1
            print(f"run: {name} stopped (exit {code}); starting it again", file=sys.stderr)
            children[name] = _start(commands[name], env)


def _stop_all(children: dict) -> None:
    for child in children.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _banner(port: str, *, mail: bool) -> None:
    print(f"\nWhenCanIDoThis? is running at http://127.0.0.1:{port}/  (Ctrl-C stops it)")
    print(f"  health: http://127.0.0.1:{port}/healthz   admin: http://127.0.0.1:{port}/admin/")
    print("  demo logins: admin / admin (operator), astro / astro (astronomer)")
    if mail:
        print(f"  mail: kept, not sent; staff read it at http://127.0.0.1:{port}/dev/mail/")
    print(flush=True)


def main() -> int:
    port = os.environ.get("PORT", "8000")
    # A signal while the embedded services start is kept and acted on once they are up (an
    # interrupt inside embedded.up would leave a server running that nobody stops).
    requested: list[int] = []
    armed = False

    def stop(signum, _frame):
        requested.append(signum)
        if armed:
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    urls, stops = embedded.up(mail=True)
    env = {**os.environ, **urls}
    children: dict[str, subprocess.Popen] = {}
    try:
        armed = True
        if requested:
            raise KeyboardInterrupt
        _manage("migrate", "--no-input", "-v", "0", env=env)
        _manage("seed_demo", env=env)
        embedded.DATA.mkdir(exist_ok=True)
        commands = _commands(port)
        for name, command in commands.items():
            children[name] = _start(command, env)
        _banner(port, mail="EMAIL_URL" in urls)
        return _supervise(commands, env, children)
    except KeyboardInterrupt:
        print("\nrun: stopping…", file=sys.stderr)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"run: {' '.join(exc.cmd[1:3])} failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        _stop_all(children)
        for stop_service in reversed(stops):
            stop_service()


if __name__ == "__main__":
    sys.exit(main())
