"""`make run` end to end: a fresh data dir, embedded services, web + worker + beat, and SIGINT
or SIGTERM to a supervisor started as a background job of a script (SIGINT ignored)."""

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest

from scheduler.embedded import ROOT
from tests.support import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ours(data_dir: Path) -> list[psutil.Process]:
    """Processes whose command line mentions our data dir or our run (postgres, redis, celery)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except psutil.Error:
            continue
        if str(data_dir) in cmdline or environ.get("WCIDT_DATA_DIR") == str(data_dir):
            found.append(proc)
    return found


def _request(port: int, path: str, *, body: str | None = None, cookies: dict | None = None):
    """One HTTP request on its own connection, always closed; returns (status, text, cookies)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Referer": f"http://127.0.0.1:{port}{path}"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request("POST" if body is not None else "GET", path, body, headers)
        response = connection.getresponse()
        jar = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return response.status, response.read().decode(), {k: m.value for k, m in jar.items()}
    finally:
        connection.close()


def _wait_for_health(port: int, seconds: float, log: Path) -> str:
    last = []

    def healthy() -> str | None:
        try:
            status, text, _ = _request(port, "/healthz")
        except OSError as exc:  # not up yet
            last[:] = [exc]
            return None
        last[:] = [text]
        return text if status == 200 else None

    def details() -> str:
        tail = log.read_text()[-3000:] if log.exists() else ""
        return f"last answer: {last[-1] if last else None}\n{tail}"

    return wait_until(healthy, seconds, "/healthz to be healthy", details, interval=0.5)


def _worker_of(proc: subprocess.Popen) -> psutil.Process | None:
    """The Celery worker that `make run` started (its main process), if it runs."""
    for child in psutil.Process(proc.pid).children():
        try:
            if "worker" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.Error:
            continue
    return None


def _as_background_job() -> None:
    """What a non-interactive shell does to `make run &` before exec: SIGINT and SIGQUIT
    ignored (POSIX; make keeps them so, and the supervisor inherits that)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def _start(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.pop("LOG_LEVEL", None)  # the default: quiet
    env.update(WCIDT_DATA_DIR=str(data_dir), PORT=str(port), LEASE_TICK_SECONDS="1")
    with (data_dir.parent / "run.log").open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "scheduler.run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_as_background_job,
        )


def _read(opener, request) -> str:
    with opener.open(request) as response:
        return response.read().decode()


def _stop(proc: subprocess.Popen, data_dir: Path, signum=signal.SIGINT) -> str:
    proc.send_signal(signum)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()  # it ignored the signal: the test fails, but leaves no supervisor running
        raise
    return (data_dir.parent / "run.log").read_text()


@pytest.fixture
def run_dir():
    """Under .data/: pytest's own tmp dirs are private to root, and PostgreSQL runs as another
    user when we are root."""
    (ROOT / ".data").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="test-run-", dir=ROOT / ".data"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_make_run_serves_health_and_admin_and_leaves_nothing_behind(run_dir):
    data_dir, port = run_dir / "data", free_port()
    started = time.monotonic()
    proc = _start(data_dir, port)
    try:
        health = _wait_for_health(port, 120, run_dir / "run.log")
        first_start = time.monotonic() - started
        assert '"status": "ok"' in health

        _, page, cookies = _request(port, "/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urlencode(
            {
                "username": "admin",
                "password": "admin",
                "csrfmiddlewaretoken": token,
                "next": "/admin/",
            }
        )
        status, _, login_cookies = _request(port, "/admin/login/", body=form, cookies=cookies)
        assert status == 302
        status, sites, _ = _request(
            port, "/admin/resources/site/", cookies={**cookies, **login_cookies}
        )
        assert status == 200
        assert "Edinburgh (Gaia DMP cloud)" in sites

        # A worker that dies (as it does when Redis restarts under it) is started again.
        worker = _worker_of(proc)
        os.killpg(worker.pid, signal.SIGKILL)
        wait_until(
            lambda: (w := _worker_of(proc)) is not None and w.pid != worker.pid,
            30,
            "make run to start a new worker after the old one was killed",
        )
    finally:
        output = _stop(proc, data_dir)
    assert proc.returncode == 0, output
    assert "demo logins: admin / admin" in output
    # Quiet by default: none of the tick's or Celery's INFO lines, nor the worker's banner.
    chatter = ["lease tick:", "Sending due task", "succeeded in", "[config]", "ready."]
    assert [line for line in output.splitlines() if any(c in line for c in chatter)] == []
    assert first_start < 180
    # As long as the old sleep: the stopped run's processes are gone within a second.
    wait_until(
        lambda: _ours(data_dir) == [],
        1,
        "every process of make run to be gone",
        lambda: _ours(data_dir),
    )

    started = time.monotonic()
    proc = _start(data_dir, port)
    try:
        _wait_for_health(port, 60, run_dir / "run.log")
        second_start = time.monotonic() - started
    finally:
        output = _stop(proc, data_dir, signal.SIGTERM)  # SIGTERM stops it alike
    assert proc.returncode == 0, output
    assert second_start < 30
    # As long as the old sleep: the stopped run's processes are gone within a second.
    wait_until(
        lambda: _ours(data_dir) == [],
        1,
        "every process of make run to be gone",
        lambda: _ours(data_dir),
    )
