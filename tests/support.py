"""Helpers shared by the test layers: a free port and a wait for a condition with a deadline."""

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    details: Callable[[], object] | None = None,
    interval: float = 0.1,
) -> T:
    """The first truthy value of `predicate()`, polled until `timeout` seconds have passed;
    then an AssertionError saying `what` did not happen, with `details()` (logs, say)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(interval)
