"""The `spark` adapter: a Spark standalone cluster per lease, sized to what the lease was granted.

`prepare` starts one master and one worker per allocation, each worker offering exactly the
allocation's ``cores`` and ``memory_gib``, from the Spark that the `pyspark` wheel ships
(``bin/spark-class`` and ``jars/``) on Java 17. It returns when every worker has registered,
with two connectors: the ``spark://`` URL and the master's web UI. An application that does not
set ``spark.cores.max`` gets all the lease's cores and no more.

Processes. The master and each worker run `spark-class` detached: started in the background
by a shell in a new session, so they are no children of the Celery worker that started them
and outlive it. They log into the lease's directory ``<state_dir>/spark/<uuid>/``, next to
``state.json`` (host, ports, sizes, and each daemon's pid with its start time, so a recycled pid
is never mistaken for it). Each carries the lease as ``-Dwcidt.lease=<uuid>`` on its command
line and ``WCIDT_LEASE=<uuid>`` in its environment; executors and Python workers inherit the
environment, so a scan of /proc finds every process of a lease even when ``state.json`` is lost
or stale. A file lock per lease serialises prepare and release across processes.

- `prepare` is idempotent: a second call finds the master and workers in ``state.json`` and
  only restarts what died (killing first any process of the lease that no recorded daemon
  started, such as a worker launched by a call that crashed before recording it). A dead master
  or changed sizes restart the whole cluster.
- `status`: "gone" without state; "failed" when a recorded daemon died; "ready" when the
  master answers on ``/json/`` with exactly the recorded workers alive (told apart by their
  ports) and the granted cores and memory; otherwise "preparing".
- `release` sends SIGTERM to the process groups of every process of the lease, SIGKILL after a
  grace period, checks that none is left and then deletes the lease's directory.

Allocations must give ``cores`` (>= 1) and ``memory_gib`` (>= 1). Settings (all optional):

- ``host`` (default "127.0.0.1"): address the master and workers bind to and advertise.
- ``spark_home``: a Spark distribution to use instead of the `pyspark` wheel's.
- ``setup_seconds`` (default 30): what `setup_seconds` answers.
- ``start_timeout_seconds`` (default 120): how long `prepare` waits for the cluster.
- ``stop_grace_seconds`` (default 10): how long `release` waits between SIGTERM and SIGKILL.
- ``state_dir``: see `adapters.base`.

The master's REST submission server is switched off (it accepts unauthenticated submissions).
Ports are chosen free when a daemon starts and kept in ``state.json``; ``spark.port.maxRetries``
is 0 so a port taken meanwhile fails the start (retryable) instead of moving silently. The
daemons' own heaps (``SPARK_DAEMON_MEMORY``, Spark's default 1 GiB each) come on top of the
granted memory, which is what the workers offer to executors.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from adapters.base import (
    FAILED,
    GONE,
    PREPARING,
    READY,
    AdapterError,
    BaseAdapter,
    LeaseSpec,
    lease_lock,
    read_json,
    remove_lock,
    write_json,
)

MARKER_ENV = "WCIDT_LEASE"
# A started daemon as recorded in state.json: {"pid": …, "started": …} (start time in ticks).
Process = dict[str, int]
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkAdapter(BaseAdapter):
    name = "spark"
    default_setup_seconds = 30

    def reserve(self, lease: LeaseSpec) -> None:
        # Nothing to book ahead on a standalone cluster; refuse unusable sizes at accept time.
        worker_sizes(lease)

    def prepare(self, lease: LeaseSpec) -> list[dict]:
        settings = self._settings(lease)
        sizes = worker_sizes(lease)
        home = spark_home(settings)
        grace = float(settings.get("stop_grace_seconds", 10))
        deadline = time.monotonic() + float(settings.get("start_timeout_seconds", 120))
        lease_dir = self._lease_dir(lease)
        with lease_lock(self._lock_path(lease)):
            state = read_json(lease_dir / "state.json")
            if (
                state is None
                or [w["size"] for w in state["workers"]] != sizes
                or not _alive(state["master"]["process"])
            ):
                # Resized, never started, or its master died (taking the cluster with it).
                _stop(lease, grace)
                state = _new_state(settings.get("host", "127.0.0.1"), sizes)
                lease_dir.mkdir(parents=True, exist_ok=True)
                write_json(lease_dir / "state.json", state)
                state["master"]["process"] = _start_master(home, lease, lease_dir, state)
                write_json(lease_dir / "state.json", state)
            master = state["master"]["process"]
            _wait(lambda: _master_json(state) is not None, [master], deadline, lease, lease_dir)
            dead = [i for i, w in enumerate(state["workers"]) if not _alive(w["process"])]
            if dead:
                # A worker started by a call that crashed before recording it would register twice.
                live = [master, *(w["process"] for w in state["workers"] if _alive(w["process"]))]
                _kill_strays(lease, keep=[p["pid"] for p in live])
            for index in dead:
                process = _start_worker(home, lease, lease_dir, state, index)
                state["workers"][index]["process"] = process
                write_json(lease_dir / "state.json", state)
            processes = [master, *(w["process"] for w in state["workers"])]
            _wait(lambda: _cluster_ready(state), processes, deadline, lease, lease_dir)
        return connectors(state)

    def status(self, lease: LeaseSpec) -> str:
        state = read_json(self._lease_dir(lease) / "state.json")
        if state is None:
            return GONE
        processes = [state["master"]["process"], *(w["process"] for w in state["workers"])]
        if None in processes:
            return PREPARING
        if not all(_alive(process) for process in processes):
            return FAILED
        return READY if _cluster_ready(state) else PREPARING

    def release(self, lease: LeaseSpec) -> None:
        settings = self._settings(lease)
        lock = self._lock_path(lease)
        with lease_lock(lock):
            _stop(lease, float(settings.get("stop_grace_seconds", 10)))
            shutil.rmtree(self._lease_dir(lease), ignore_errors=True)
            remove_lock(lock)

    def _lease_dir(self, lease: LeaseSpec) -> Path:
        return self._state_dir(lease) / str(lease.uuid)

    def _lock_path(self, lease: LeaseSpec) -> Path:
        return self._state_dir(lease) / f"{lease.uuid}.lock"


def worker_sizes(lease: LeaseSpec) -> list[dict[str, int]]:
    """One worker per allocation: its cores and memory in GiB."""
    if not lease.allocations:
        raise AdapterError(f"lease {lease.uuid} has no spark allocations", retryable=False)
    sizes = []
    for allocation in lease.allocations:
        cores = allocation.amounts.get("cores", 0)
        memory = allocation.amounts.get("memory_gib", 0)
        if cores < 1 or memory < 1:
            raise AdapterError(
                f"spark allocation on pool {allocation.pool!r} needs cores >= 1 and "
                f"memory_gib >= 1, got {dict(allocation.amounts)}",
                retryable=False,
            )
        sizes.append({"cores": int(cores), "memory_gib": int(memory)})
    return sizes


def spark_home(settings: Mapping[str, Any]) -> Path:
    """The Spark distribution to run: settings ``spark_home``, else the `pyspark` wheel."""
    if settings.get("spark_home"):
        home = Path(settings["spark_home"])
    else:
        spec = importlib.util.find_spec("pyspark")
        if spec is None or spec.origin is None:
            raise AdapterError("pyspark is not installed", retryable=False)
        home = Path(spec.origin).parent
    if not (home / "bin/spark-class").exists():
        raise AdapterError(f"no bin/spark-class under {home}", retryable=False)
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise AdapterError("Java 17 is needed: no java on PATH and no JAVA_HOME", retryable=False)
    return home


def connectors(state: Mapping[str, Any]) -> list[dict]:
    return [
        {"kind": "spark", "url": master_url(state), "label": "Spark master"},
        {"kind": "spark-ui", "url": ui_url(state), "label": "Spark master web UI"},
    ]


def master_url(state: Mapping[str, Any]) -> str:
    return f"spark://{state['host']}:{state['master']['port']}"


def ui_url(state: Mapping[str, Any]) -> str:
    return f"http://{state['host']}:{state['master']['webui_port']}"


def lease_pids(lease: LeaseSpec) -> list[int]:
    """Every live process that carries the lease's marker, found by scanning /proc."""
    env_marker = f"{MARKER_ENV}={lease.uuid}".encode()
    arg_marker = f"-Dwcidt.lease={lease.uuid}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if arg_marker in cmdline.split(b"\0") or env_marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _new_state(host: str, sizes: list[dict[str, int]]) -> dict[str, Any]:
    port, webui_port = _free_ports(host, 2)
    return {
        "host": host,
        "master": {"process": None, "port": port, "webui_port": webui_port},
        "workers": [{"process": None, "size": size} for size in sizes],
    }


def _free_ports(host: str, count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _environment(home: Path, lease: LeaseSpec, state: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": state["host"],
            "SPARK_DAEMON_JAVA_OPTS": (
                f"-Dwcidt.lease={lease.uuid} -Dspark.master.rest.enabled=false "
                "-Dspark.port.maxRetries=0"
            ),
            MARKER_ENV: str(lease.uuid),
        }
    )
    return env


# Starts the command in the background and prints its pid: the daemon is then no child of ours
# (no zombie, nothing to wait for) and leads no group, but shares the new session's group.
LAUNCH = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


def _spawn(home: Path, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> Process:
    command = ["/bin/sh", "-c", LAUNCH, "sh", str(log), str(home / "bin/spark-class"), *args]
    launched = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        start_new_session=True,
    )
    pid = int(launched.stdout)
    return {"pid": pid, "started": _stat(pid)["started"]}


def _start_master(
    home: Path, lease: LeaseSpec, lease_dir: Path, state: Mapping[str, Any]
) -> Process:
    master = state["master"]
    args = [MASTER_CLASS, "--host", state["host"], "--port", str(master["port"])]
    args += ["--webui-port", str(master["webui_port"])]
    env = _environment(home, lease, state)
    return _spawn(home, args, env, lease_dir / "master.log", lease_dir)


def _start_worker(
    home: Path, lease: LeaseSpec, lease_dir: Path, state: dict[str, Any], index: int
) -> Process:
    worker = state["workers"][index]
    size = worker["size"]
    # A fixed port tells this worker's registration apart from one of a killed predecessor.
    (worker["port"],) = _free_ports(state["host"], 1)
    work_dir = lease_dir / f"work-{index}"
    work_dir.mkdir(exist_ok=True)
    args = [WORKER_CLASS, "--host", state["host"], "--port", str(worker["port"])]
    args += ["--webui-port", "0"]
    args += ["--cores", str(size["cores"]), "--memory", f"{size['memory_gib']}g"]
    args += ["--work-dir", str(work_dir), master_url(state)]
    env = _environment(home, lease, state)
    env["SPARK_LOCAL_DIRS"] = str(work_dir)
    return _spawn(home, args, env, lease_dir / f"worker-{index}.log", lease_dir)


def _alive(process: Process | None) -> bool:
    """Whether the recorded process still runs: same pid and start time, not a zombie."""
    if process is None:
        return False
    stat = _stat(process["pid"])
    return stat["started"] == process["started"] and stat["state"] not in ("Z", "X")


def _stat(pid: int) -> dict[str, Any]:
    """State, parent and start time (clock ticks after boot) of a process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {"state": "X", "ppid": None, "started": None}
    # The command name in parentheses may contain spaces; fields 3 onwards follow its ")".
    fields = text[text.rindex(")") + 2 :].split()
    return {"state": fields[0], "ppid": int(fields[1]), "started": int(fields[19])}


def _kill_strays(lease: LeaseSpec, keep: list[int]) -> None:
    """SIGKILL processes of the lease that are neither in `keep` nor descend from one of them."""
    roots = set(keep)
    for pid in lease_pids(lease):
        ancestor: int | None = pid
        while ancestor and ancestor not in roots:
            ancestor = _stat(ancestor)["ppid"]
        if not ancestor:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _master_json(state: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{ui_url(state)}/json/", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _cluster_ready(state: Mapping[str, Any]) -> bool:
    info = _master_json(state)
    if info is None:
        return False
    sizes = [w["size"] for w in state["workers"]]
    alive = [w for w in info.get("workers", []) if w.get("state") == "ALIVE"]
    return (
        info.get("status") == "ALIVE"
        and sorted(w["port"] for w in alive) == sorted(w.get("port") for w in state["workers"])
        and info.get("cores") == sum(s["cores"] for s in sizes)
        and info.get("memory") == sum(s["memory_gib"] for s in sizes) * 1024
    )


def _wait(
    condition: Callable[[], bool],
    processes: list[Process],
    deadline: float,
    lease: LeaseSpec,
    logs: Path,
) -> None:
    """Poll `condition` until it holds; fail early when one of `processes` died."""
    while not condition():
        dead = [p["pid"] for p in processes if not _alive(p)]
        if dead or time.monotonic() > deadline:
            why = f"processes {dead} exited" if dead else "timed out"
            raise AdapterError(
                f"spark cluster of lease {lease.uuid} did not start ({why}); "
                f"logs in {logs}:\n{_log_tail(logs)}",
                retryable=True,
            )
        time.sleep(0.5)


def _log_tail(lease_dir: Path, lines: int = 5) -> str:
    tails = []
    for log in sorted(lease_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"== {log.name}\n" + "\n".join(tail))
    return "\n".join(tails)


def _stop(lease: LeaseSpec, grace: float) -> None:
    """Kill every process of the lease: SIGTERM to their groups, SIGKILL after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        pids = lease_pids(lease) or _second_look(lease)
        if not pids:
            return
        _signal(pids, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = lease_pids(lease)
    if pids:
        raise AdapterError(f"processes {pids} of lease {lease.uuid} survived SIGKILL")


def _second_look(lease: LeaseSpec) -> list[int]:
    # A process caught inside execve shows no command line nor environment for a moment.
    time.sleep(0.1)
    return lease_pids(lease)


def _signal(pids: list[int], sig: signal.Signals) -> None:
    """Signal the process group a lease's session began with, else the process alone.

    A daemon's group is the session `_spawn` created for it, so no foreign process is in it;
    a process that moved to a group of its own (PySpark's daemon does) is signalled by pid.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            pgid = os.getpgid(pid)
            if pgid == os.getsid(pid):
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
